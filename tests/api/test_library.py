"""Editing a shop's library at run time (issue 13): templates and the shop profile changed over the API
with If-Match, every change in the audit log, served within seconds without a restart, refused across
shops and to agents, and still served after a restart (the edits live in the shop database)."""

from __future__ import annotations

import threading
import time

import pytest

from app.tokens import TokenRegistry
from tests.api import running

BASE = "/v1/shops/default"
NEW = {"id": "logistics.ship_time.weekend_test", "scenario": "logistics", "topic": "logistics.ship_time",
       "reply": "周末照常发货，仓库周六周日都有同事打包。", "examples": ["礼拜天仓库上班不上班"],
       "platforms": ["taobao", "tmall", "jd"]}


@pytest.fixture
def editing(fake_index, fake_service, database_url):
    from app.api import create_app

    settings = fake_index.model_copy(update={"feedback_url": database_url})
    with running(create_app(settings, service_factory=lambda s: fake_service)) as client:
        yield client


def served(client, message: str, fragment: str, *, present: bool = True, seconds: float = 10.0) -> float:
    """How long until a reply to `message` does (or no longer does) suggest a text holding `fragment`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        answer = client.post("/v1/reply", json={"message": message, "top_k": 5})
        assert answer.status_code == 200, answer.text
        if any(fragment in reply["text"] for reply in answer.json()["replies"]) == present:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{fragment} {'never' if present else 'still'} served for {message}")


def test_an_edited_template_is_served_within_seconds_and_audited(editing):
    read = editing.get(f"{BASE}/templates/price.bargain.value")
    assert read.status_code == 200 and read.json()["origin"] == "built" and read.json()["version"] == 0
    body = read.json()["template"] | {"reply": "这款已经是活动价了，实在抱歉不能再少了。",
                                       "examples": ["价钱上能不能再松一松"]}
    changed = editing.put(f"{BASE}/templates/price.bargain.value", json=body,
                          headers={"If-Match": read.headers["etag"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 1 and changed.json()["origin"] == "edited"
    assert changed.headers["etag"] != read.headers["etag"]
    assert served(editing, "价钱上能不能再松一松", "实在抱歉不能再少了") < 5
    listing = editing.get(f"{BASE}/templates").json()
    assert listing["served_revision"] == listing["revision"] >= 1
    change = editing.get(f"{BASE}/audit").json()["changes"][0]
    assert change["action"] == "update" and change["id"] == "price.bargain.value" and change["version"] == 1
    assert change["actor"] == "anonymous" and change["before"]["reply"] != change["after"]["reply"]
    assert change["after"]["reply"] == "这款已经是活动价了，实在抱歉不能再少了。"


def test_two_editors_cannot_overwrite_each_other(editing):
    url = f"{BASE}/templates/price.bargain.value"
    read = editing.get(url)
    body = read.json()["template"]
    first = editing.put(url, json=body | {"reply": "第一位编辑的版本。"}, headers={"If-Match": read.headers["etag"]})
    assert first.status_code == 200
    second = editing.put(url, json=body | {"reply": "第二位编辑的版本。"}, headers={"If-Match": read.headers["etag"]})
    assert second.status_code == 412 and second.json()["error"]["code"] == "version_conflict"
    assert second.json()["error"]["details"] == [{"current_version": 1}]
    assert editing.get(url).json()["template"]["reply"] == "第一位编辑的版本。"
    blind = editing.put(url, json=body)
    assert blind.status_code == 428 and "If-Match" in blind.json()["error"]["message"]
    other = editing.put(url, json=body, headers={"If-Match": '"profile-1"'})
    assert other.status_code == 412
    renamed = editing.put(url, json=body | {"id": "price.bargain.other"}, headers={"If-Match": first.headers["etag"]})
    assert renamed.status_code == 422 and renamed.json()["error"]["code"] == "invalid_template"


def test_a_template_is_created_checked_and_deleted(editing):
    bad = editing.post(f"{BASE}/templates", json=NEW | {"reply": "您的{no_such_slot}已经安排。"})
    assert bad.status_code == 422 and "no_such_slot" in bad.json()["error"]["message"]
    created = editing.post(f"{BASE}/templates", json=NEW)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{BASE}/templates/{NEW['id']}" and created.json()["origin"] == "created"
    assert editing.post(f"{BASE}/templates", json=NEW).status_code == 409
    assert editing.post(f"{BASE}/templates", json=NEW | {"id": "price.bargain.value"}).status_code == 409
    served(editing, "礼拜天仓库上班不上班", "仓库周六周日都有同事打包")
    gone = editing.delete(f"{BASE}/templates/{NEW['id']}", headers={"If-Match": created.headers["etag"]})
    assert gone.status_code == 204
    assert editing.get(f"{BASE}/templates/{NEW['id']}").status_code == 404
    served(editing, "礼拜天仓库上班不上班", "仓库周六周日都有同事打包", present=False)
    again = editing.post(f"{BASE}/templates", json=NEW)
    assert again.status_code == 201 and again.json()["version"] == 3
    actions = [change["action"] for change in editing.get(f"{BASE}/audit", params={"id": NEW["id"]}).json()["changes"]]
    assert actions == ["create", "delete", "create"]


def test_the_shop_profile_is_edited_live_and_checked(editing):
    read = editing.get(f"{BASE}/profile")
    assert read.status_code == 200 and read.json()["origin"] == "built"
    profile = read.json()["profile"]
    bad = editing.put(f"{BASE}/profile", json=profile | {"returns": {"no_reason_days": "seven"}},
                      headers={"If-Match": read.headers["etag"]})
    assert bad.status_code == 422 and "returns.no_reason_days" in bad.json()["error"]["message"]
    changed = editing.put(f"{BASE}/profile", json=profile | {"shop": profile["shop"] | {"name": "小林家居旗舰店"}},
                          headers={"If-Match": read.headers["etag"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["profile"]["shop"]["name"] == "小林家居旗舰店" and changed.json()["version"] == 1
    deadline = time.monotonic() + 10
    while editing.get(f"{BASE}/templates").json()["served_revision"] < changed.json()["version"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_profile_form_names_every_key_the_profile_can_set(editing):
    """The panel draws its profile editor from this: every key of shop.yaml's schema, with a label a
    shop recognises (what a reply shows while the fact is unset) and the kind of input it takes."""
    form = editing.get(f"{BASE}/profile/form")
    assert form.status_code == 200
    fields = {field["key"]: field for field in form.json()["fields"]}
    assert fields["returns.postage.quality"] == {
        "key": "returns.postage.quality", "section": "returns", "label": "质量问题退货运费承担方", "kind": "payer",
        "columns": [], "choices": {"seller": "店铺承担", "buyer": "买家承担"}}
    assert fields["shop.platforms"]["choices"] == {"taobao": "淘宝", "tmall": "天猫", "jd": "京东"}
    assert [c["key"] for c in fields["size_charts.clothing"]["columns"]] == ["height_cm", "weight_kg"]
    assert fields["payment_methods.jd"]["kind"] == "texts" and fields["delivery.typical_days"]["kind"] == "days"
    assert fields["dispatch.within_hours"]["label"] == "发货时效（小时）"
    assert set(form.json()["sections"]) == {field["section"] for field in fields.values()}
    # Every key of the bundled profile is a field of the form: a save from the form loses nothing.
    profile = editing.get(f"{BASE}/profile").json()["profile"]

    def keys(node, prefix=""):
        for name, value in node.items():
            key = f"{prefix}{name}"
            if key in fields or not isinstance(value, dict):
                yield key
            else:
                yield from keys(value, f"{key}.")

    assert set(keys(profile)) <= set(fields) and len(set(keys(profile))) > 10


def test_edits_survive_a_restart(fake_index, fake_service, database_url):
    from app.api import create_app

    settings = fake_index.model_copy(update={"feedback_url": database_url})
    with running(create_app(settings, service_factory=lambda s: fake_service)) as client:
        assert client.post(f"{BASE}/templates", json=NEW).status_code == 201
    with running(create_app(settings, service_factory=lambda s: fake_service)) as client:
        listing = client.get(f"{BASE}/templates").json()
        assert listing["served_revision"] == listing["revision"] == 1  # served from the start, not after a poll
        answer = client.post("/v1/reply", json={"message": "礼拜天仓库上班不上班", "top_k": 5}).json()
        assert NEW["id"] in [reply["template_id"] for reply in answer["replies"]]


def test_replies_never_fail_while_the_library_is_swapped(editing):
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def ask() -> None:
        nonlocal answered
        while not stop.is_set():
            answer = editing.post("/v1/reply", json={"message": "礼拜天仓库上班不上班"})
            if answer.status_code != 200:
                failures.append(answer.text)
            answered += 1

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        etag = editing.post(f"{BASE}/templates", json=NEW).headers["etag"]
        for i in range(6):
            time.sleep(0.2)
            etag = editing.put(f"{BASE}/templates/{NEW['id']}", json=NEW | {"examples": [f"周末发货吗{i}"]},
                               headers={"If-Match": etag}).headers["etag"]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert answered > 20 and failures == []


def scoped(make_client, tmp_path):
    """A client with tokens for an agent and an editor of the default shop and an editor of shop-b, and how to
    send each."""
    registry = TokenRegistry(tmp_path / "tokens.yaml")
    tokens = (registry.add("a-agent", "default", "agent"), registry.add("a-editor", "default", "editor"),
              registry.add("b-editor", "shop-b", "editor"))
    client = make_client(tokens_file=registry.path, feedback_url=f"sqlite:///{tmp_path / 'shop.sqlite3'}")

    def as_(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    return client, tokens, as_


def test_tokens_are_scoped_to_their_shop_and_role(make_client, tmp_path):
    client, (agent, owner, stranger), as_ = scoped(make_client, tmp_path)

    assert client.get(f"{BASE}/templates", headers=as_(agent)).status_code == 200
    assert client.post(f"{BASE}/templates", json=NEW, headers=as_(agent)).status_code == 403
    assert client.get(f"{BASE}/audit", headers=as_(agent)).status_code == 403
    assert client.get(f"{BASE}/templates", headers=as_(stranger)).status_code == 403
    assert client.get(f"{BASE}/profile/form", headers=as_(stranger)).status_code == 403
    assert client.get(f"{BASE}/profile/form", headers=as_(agent)).status_code == 200
    assert client.post(f"{BASE}/templates", json=NEW, headers=as_(stranger)).status_code == 403
    assert client.get("/v1/shops/shop-b/templates", headers=as_(stranger)).status_code == 404  # not served here
    created = client.post(f"{BASE}/templates", json=NEW, headers=as_(owner))
    assert created.status_code == 201
    assert client.get(f"{BASE}/audit", headers=as_(owner)).json()["changes"][0]["actor"] == "a-editor"


def test_learnt_questions_are_proposed_accepted_into_the_library_and_dismissed(make_client, tmp_path):
    client, (agent, owner, stranger), as_ = scoped(make_client, tmp_path)

    used = [{"action": "copied", "message": "价钱上能不能再松一松", "template_id": "price.bargain.value", "rank": 2},
            {"action": "edited", "message": "价钱上能不能 再松一松", "template_id": "price.bargain.value", "rank": 1,
             "sent_text": "亲，已经是最低价了"},
            {"action": "ignored", "message": "价钱上能不能再松一松", "template_id": "price.coupon.general", "rank": 1},
            {"action": "copied", "message": "礼拜天仓库上班不上班", "template_id": "price.bargain.value", "rank": 1}]
    assert client.post("/v1/feedback", json={"events": used}, headers=as_(agent)).status_code == 201

    assert client.get("/v1/feedback/learnt", headers=as_(agent)).status_code == 403
    assert client.get("/v1/feedback/learnt?shop=default", headers=as_(stranger)).status_code == 403
    proposals = client.get("/v1/feedback/learnt", headers=as_(owner)).json()["proposals"]
    assert [(p["template_id"], p["message"], p["uses"], p["corrections"], p["as_is"]) for p in proposals] == [
        ("price.bargain.value", "价钱上能不能再松一松", 2, 1, 1),
        ("price.bargain.value", "礼拜天仓库上班不上班", 1, 0, 1)]

    def decide(action: str, messages: list[str], token: str = owner, template_id: str = "price.bargain.value"):
        return client.post("/v1/feedback/learnt?shop=default", json={"action": action, "template_id": template_id,
                                                        "messages": messages}, headers=as_(token))

    assert decide("accept", ["价钱上能不能再松一松"], agent).status_code == 403
    assert decide("accept", ["价钱上能不能再松一松"], stranger).status_code == 403
    assert decide("accept", ["价钱"], template_id="price.no_such").status_code == 404
    assert decide("accept", ["  "]).status_code == 422
    before = client.get(f"{BASE}/templates/price.bargain.value", headers=as_(owner)).json()
    accepted = decide("accept", ["价钱上能不能再松一松"])
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"template_id": "price.bargain.value", "added": 1, "dismissed": 0,
                               "version": before["version"] + 1}
    after = client.get(f"{BASE}/templates/price.bargain.value", headers=as_(owner)).json()["template"]
    assert after["examples"] == [*before["template"]["examples"], "价钱上能不能再松一松"]
    assert after["reply"] == before["template"]["reply"]  # nothing but the examples changed
    change = client.get(f"{BASE}/audit", headers=as_(owner)).json()["changes"][0]
    assert (change["action"], change["id"], change["actor"]) == ("update", "price.bargain.value", "a-editor")
    assert decide("accept", ["价钱上能不能再松一松"]).json()["added"] == 0  # an example already: no new version

    assert decide("dismiss", ["礼拜天仓库上班不上班"]).json()["dismissed"] == 1
    assert client.get("/v1/feedback/learnt", headers=as_(owner)).json()["proposals"] == []
