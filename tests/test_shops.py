"""Several shops in one service (issue 13): each shop's own library, profile and index under shops/<id>/,
built on its own, sharing the bundled shop's encoder and models; tokens reach only their shop."""

from __future__ import annotations

import pytest
import yaml

from app.errors import IndexMissingError, IndexStaleError, NotFoundError
from app.replies import ReplyRequest
from app.shops import build_shop, load_shop, shop_ids
from app.tokens import TokenRegistry
from tests.api import running

SHOP_B = [
    {"id": "price.bargain.shop_b", "scenario": "price", "topic": "price.bargain",
     "reply": "B店的价格已经是最低折扣了，拍下后{returns.no_reason_days}天无理由退换。",
     "examples": ["能便宜点吗", "少点呗", "还能优惠不", "打个折吧", "便宜点就买"],
     "platforms": ["taobao", "tmall", "jd"], "source": "team"},
    {"id": "logistics.ship_time.shop_b", "scenario": "logistics", "topic": "logistics.ship_time",
     "reply": "B店当天下单次日发货。", "examples": ["什么时候发货", "今天能发吗", "几天发货", "咋还不发货", "明天能发吗"],
     "platforms": ["taobao", "tmall", "jd"], "source": "team"},
]


@pytest.fixture
def shops(fake_index, fake_embedder, tmp_path):
    folder = tmp_path / "shops" / "shop-b"
    folder.mkdir(parents=True)
    (folder / "templates.yaml").write_text(yaml.safe_dump(SHOP_B, allow_unicode=True), encoding="utf-8")
    (folder / "shop.yaml").write_text("returns:\n  no_reason_days: 15\n", encoding="utf-8")
    (tmp_path / "shops" / "shop-c").mkdir()  # no library file: not a shop
    (tmp_path / "shops" / "shop-c" / "notes.txt").write_text("x", encoding="utf-8")
    settings = fake_index.model_copy(update={"shops_dir": tmp_path / "shops",
                                             "feedback_url": f"sqlite:///{tmp_path / 'shop.sqlite3'}"})
    report = build_shop(settings, "shop-b", embedder=fake_embedder)
    assert report.counts == {"examples": 10, "replies": 2, "templates": 2}
    return settings


def test_a_shop_is_served_from_its_own_library_and_profile_with_the_shared_encoder(shops, fake_service):
    assert shop_ids(shops) == ["default", "shop-b"]
    shop_b = load_shop(fake_service, shops, "shop-b")
    assert shop_b.retriever.embedder is fake_service.retriever.embedder  # one encoder in memory
    assert shop_b.classifier is fake_service.classifier and shop_b.retriever.passages is fake_service.retriever.passages
    result = shop_b.reply(ReplyRequest(message="能便宜点吗", platform="taobao", top_k=3))
    ids = {reply.template_id for reply in result.replies}
    assert ids <= {"price.bargain.shop_b", "logistics.ship_time.shop_b"} and "price.bargain.shop_b" in ids
    top = next(reply for reply in result.replies if reply.template_id == "price.bargain.shop_b")
    assert "15天无理由" in top.text  # the shop's own profile fills the slot
    bundled = fake_service.reply(ReplyRequest(message="能便宜点吗", platform="taobao", top_k=3))
    assert not {reply.template_id for reply in bundled.replies} & ids


def test_a_changed_or_unbuilt_shop_is_refused_naming_its_build_command(shops, fake_service, tmp_path):
    path = shops.shops_dir / "shop-b" / "templates.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("次日发货", "当天发货"), encoding="utf-8")
    with pytest.raises(IndexStaleError, match=r"shop shop-b: .*kefu build --shop shop-b"):
        load_shop(fake_service, shops, "shop-b")
    other = shops.shops_dir / "shop-d"
    other.mkdir()
    (other / "templates.yaml").write_text(yaml.safe_dump(SHOP_B[:1], allow_unicode=True), encoding="utf-8")
    with pytest.raises(IndexMissingError, match="kefu build --shop shop-d"):
        load_shop(fake_service, shops, "shop-d")
    with pytest.raises(NotFoundError, match="shops: default, shop-b, shop-d"):
        load_shop(fake_service, shops, "nope")


def test_the_api_serves_each_token_its_own_shop(shops, fake_service, tmp_path):
    from app.api import create_app

    registry = TokenRegistry(tmp_path / "tokens.yaml")
    a_agent = {"Authorization": f"Bearer {registry.add('a-agent', 'default', 'agent')}"}
    b_agent = {"Authorization": f"Bearer {registry.add('b-agent', 'shop-b', 'agent')}"}
    b_editor = {"Authorization": f"Bearer {registry.add('b-editor', 'shop-b', 'editor')}"}
    broken = shops.shops_dir / "shop-e"
    broken.mkdir()
    (broken / "quick_phrases.yaml").write_text("[]\n", encoding="utf-8")  # never built
    settings = shops.model_copy(update={"tokens_file": registry.path})
    with running(create_app(settings, service_factory=lambda s: fake_service)) as client:
        ready = client.get("/readyz").json()
        assert ready["shops"] == {"default": len(fake_service.retriever.templates), "shop-b": 2}
        assert "kefu build --shop shop-e" in ready["shops_failed"]["shop-e"]
        answer = client.post("/v1/reply", json={"message": "能便宜点吗"}, headers=b_agent).json()
        assert {reply["template_id"] for reply in answer["replies"]} <= {"price.bargain.shop_b",
                                                                        "logistics.ship_time.shop_b"}
        assert client.post("/v1/reply?shop=shop-b", json={"message": "能便宜点吗"}, headers=a_agent).status_code == 403
        assert client.get("/v1/shops/shop-b/templates", headers=a_agent).status_code == 403
        assert client.post("/v1/reply", json={"message": "能便宜点吗"}, headers=a_agent).status_code == 200
        assert client.get("/v1/me", headers=b_editor).json() == {"name": "b-editor", "shop": "shop-b", "role": "editor"}
        listing = client.get("/v1/shops/shop-b/templates", headers=b_agent).json()
        assert [item["template"]["id"] for item in listing["templates"]] == [t["id"] for t in SHOP_B]
        # An edit in shop B is served in shop B, and the bundled shop's library does not move.
        item = client.get("/v1/shops/shop-b/templates/logistics.ship_time.shop_b", headers=b_editor)
        body = item.json()["template"] | {"reply": "B店改过的：周末也发货。"}
        assert client.put("/v1/shops/shop-b/templates/logistics.ship_time.shop_b", json=body,
                          headers=b_editor | {"If-Match": item.headers["etag"]}).status_code == 200
        for _ in range(200):
            texts = [r["text"] for r in client.post("/v1/reply", json={"message": "什么时候发货", "top_k": 5},
                                                    headers=b_agent).json()["replies"]]
            if any("周末也发货" in text for text in texts):
                break
            __import__("time").sleep(0.05)
        else:
            raise AssertionError("shop B's edit was not served")
        default = client.post("/v1/reply", json={"message": "什么时候发货", "top_k": 5}, headers=a_agent).json()
        assert not any("周末也发货" in reply["text"] for reply in default["replies"])
        assert client.post("/v1/reply?shop=shop-e", json={"message": "能便宜点吗"}).status_code in (401, 403)
        feedback = client.post("/v1/feedback", headers=b_agent, json={"events": [
            {"action": "copied", "message": "能便宜点吗", "template_id": "price.bargain.shop_b"}]})
        assert feedback.status_code == 201
        assert client.get("/v1/feedback/stats", headers=b_editor).json()["shop"] == "shop-b"
