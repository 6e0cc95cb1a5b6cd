"""Scoped tokens (issue 13): a token belongs to a shop and a role. A shop's token neither reads nor
writes another shop's feedback, an agent's token cannot read the shop's figures, and tokens added or
removed with `kefu token` take effect in a running server."""

from __future__ import annotations

import pytest

from app.errors import ConfigError, InputError
from app.tokens import Principal, TokenRegistry, digest
from tests.test_cli import run_kefu


@pytest.fixture
def registry(tmp_path) -> TokenRegistry:
    return TokenRegistry(tmp_path / "tokens.yaml")


def test_a_token_is_shown_once_and_stored_as_a_digest(registry):
    token = registry.add("小美", "shop-a", "agent")
    stored = registry.path.read_text(encoding="utf-8")
    assert token not in stored and digest(token) in stored
    assert registry.identify(token) == Principal("小美", "shop-a", "agent")
    assert registry.identify(token + "x") is None
    with pytest.raises(InputError, match="already a token named"):
        registry.add("小美", "shop-b", "editor")
    with pytest.raises(InputError, match="unknown role"):
        registry.add("老王", "shop-a", "owner")
    registry.remove("小美")
    assert registry.identify(token) is None
    with pytest.raises(InputError, match="no token named"):
        registry.remove("小美")


def test_a_broken_tokens_file_is_refused_naming_the_entry(tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text("- name: a\n  shop: s\n  role: agent\n  sha256: nothex\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="entry 1: sha256 must be 64 hex digits"):
        TokenRegistry(path)
    path.write_text("name: a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="YAML list"):
        TokenRegistry(path)


EVENT = {"action": "copied", "message": "能便宜点吗", "template_id": "price.bargain.no_discount", "scenario": "price"}


@pytest.fixture
def shops(make_client, tmp_path):
    registry = TokenRegistry(tmp_path / "tokens.yaml")
    tokens = {"a-agent": registry.add("a-agent", "shop-a", "agent"),
              "a-editor": registry.add("a-editor", "shop-a", "editor"),
              "b-editor": registry.add("b-editor", "shop-b", "editor")}
    # The bundled shop is shop A here; shop B has no library on this server, but its figures are its own.
    client = make_client(tokens_file=registry.path, shop="shop-a",
                         feedback_url=f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
    return client, registry, tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_feedback_stays_in_the_token_s_shop_and_only_editors_read_it(shops):
    client, _, tokens = shops
    assert client.post("/v1/feedback", json={"events": [EVENT]}, headers=bearer(tokens["a-agent"])).status_code == 201
    assert client.post("/v1/reply", json={"message": "能便宜点吗"}, headers=bearer(tokens["a-agent"])).status_code == 200

    shop_a = client.get("/v1/feedback/stats", headers=bearer(tokens["a-editor"])).json()
    assert shop_a["shop"] == "shop-a" and shop_a["events"] == 1
    shop_b = client.get("/v1/feedback/stats", headers=bearer(tokens["b-editor"])).json()
    assert shop_b["shop"] == "shop-b" and shop_b["events"] == 0  # shop B sees nothing of shop A

    refused = client.get("/v1/feedback/stats", headers=bearer(tokens["a-agent"]))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"


def test_no_token_or_a_wrong_one_is_401_before_the_body_is_read(shops):
    client, _, tokens = shops
    assert client.post("/v1/feedback", json={"events": [EVENT]}).status_code == 401
    wrong = client.post("/v1/feedback", json={"events": [EVENT]}, headers=bearer(tokens["a-agent"] + "x"))
    assert wrong.status_code == 401 and "wrong" in wrong.json()["error"]["message"]
    huge = client.post("/v1/reply", content=b"x" * 2_000_000, headers={"Content-Type": "application/json"})
    assert huge.status_code == 401  # not 413: nothing about the body is told to a caller without a token


def test_tokens_added_or_removed_take_effect_without_a_restart(shops):
    client, registry, _ = shops
    late = registry.add("late", "shop-c", "editor")
    assert client.get("/v1/feedback/stats", headers=bearer(late)).json()["shop"] == "shop-c"
    registry.remove("late")
    assert client.get("/v1/feedback/stats", headers=bearer(late)).status_code == 401


def test_the_server_token_still_acts_as_an_editor_of_kefu_shop(make_client, tmp_path):
    registry = TokenRegistry(tmp_path / "tokens.yaml")
    agent = registry.add("agent", "main-shop", "agent")
    stranger = registry.add("stranger", "shop-x", "agent")
    client = make_client(api_token="s3cret", tokens_file=registry.path, shop="main-shop",
                         feedback_url=f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
    assert client.get("/v1/feedback/stats", headers=bearer("s3cret")).json()["shop"] == "main-shop"
    assert client.post("/v1/reply", json={"message": "在吗"}, headers=bearer(agent)).status_code == 200
    unserved = client.post("/v1/reply", json={"message": "在吗"}, headers=bearer(stranger))
    assert unserved.status_code == 404 and "no shop 'shop-x'" in unserved.json()["error"]["message"]


def test_kefu_token_add_list_remove(tmp_path, fake_index, monkeypatch):
    path = tmp_path / "tokens.yaml"
    monkeypatch.setenv("KEFU_TOKENS_FILE", str(path))
    added = run_kefu("token", "add", "小美", "--shop", "shop-a", settings=fake_index)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert TokenRegistry(path).identify(token) == Principal("小美", "shop-a", "agent")
    listed = run_kefu("token", "list", settings=fake_index)
    assert listed.stdout.split() == ["小美", "shop-a", "agent"] and token not in listed.stdout
    assert run_kefu("token", "remove", "小美", settings=fake_index).returncode == 0
    assert run_kefu("token", "list", settings=fake_index).stdout == ""
    assert run_kefu("token", "remove", "小美", settings=fake_index).returncode == 1
