"""Feedback (issue 13): what agents did with suggestions, stored with SQLAlchemy in SQLite and in a real
PostgreSQL (KEFU_TEST_POSTGRES_URL, which .ci/run sets after starting Debian's PostgreSQL), the schema
migrated and versioned, and the figures a shop reads from it."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import text

from app.errors import FeedbackStoreError
from app.feedback import SCHEMA_VERSION, FeedbackEvent, FeedbackStore, feedback_stats
from tests.api import running
from tests.test_cli import run_kefu


def event(action, template_id="size.recommend.height_weight", message="170穿什么码", **fields):
    return FeedbackEvent(shop=fields.pop("shop", "default"), action=action, message=message, template_id=template_id,
                         **fields)


def test_events_round_trip_in_order_and_stay_in_their_shop(database_url):
    store = FeedbackStore(database_url)
    try:
        assert store.version == SCHEMA_VERSION
        sent = [event("copied", suggestion_id="a", rank=1, score=0.97, confidence=0.8, scenario="size", agent="小美",
                      platform="jd"),
                event("edited", suggestion_id="b", sent_text="亲，170建议拍L码哦😀", rank=2),
                event("ignored", template_id=None, suggestion_id="c", message="\u2028在吗\x85"),
                event("copied", shop="another")]
        assert store.record(sent) == 4
        back = list(store.read("default"))
        assert [(e.action, e.template_id, e.message, e.sent_text, e.rank, e.score, e.agent) for e in back] == \
            [(e.action, e.template_id, e.message, e.sent_text, e.rank, e.score, e.agent) for e in sent[:3]]
        assert all(e.at is not None and e.at.tzinfo is not None for e in back)
        assert [e.shop for e in store.read("another")] == ["another"]
        later = datetime.now(UTC) + timedelta(days=1)
        assert list(store.read("default", since=later)) == []
        assert len(list(store.read("default", until=later))) == 3
        assert [e.action for e in store.read("default", accepted_only=True)] == ["copied", "edited"]
    finally:
        store.close()


def test_reopening_keeps_the_events_and_a_newer_schema_is_refused(database_url):
    first = FeedbackStore(database_url)
    first.record([event("copied")])
    first.close()
    again = FeedbackStore(database_url)  # migrations already applied: nothing re-created, nothing lost
    assert len(list(again.read("default"))) == 1
    with again.engine.begin() as connection:
        connection.execute(text("UPDATE kefu_schema SET version = :v"), {"v": SCHEMA_VERSION + 1})
    again.close()
    with pytest.raises(FeedbackStoreError, match="newer than this kefu"):
        FeedbackStore(database_url)


def test_a_database_that_cannot_be_reached_is_a_clear_error(tmp_path):
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    with pytest.raises(FeedbackStoreError, match="cannot open the feedback database"):
        FeedbackStore(f"sqlite:///{tmp_path / 'a-file' / 'feedback.sqlite3'}")
    with pytest.raises(FeedbackStoreError, match="cannot use the feedback database URL"):
        FeedbackStore("nosuchdb://user:secret@host/db")


def test_stats_count_acceptance_edits_and_gaps():
    events = [
        event("copied", suggestion_id="1", scenario="size"),
        event("ignored", template_id="size.chart.general", suggestion_id="1", scenario="size"),
        event("edited", suggestion_id="2", scenario="size", sent_text="亲，170拍L"),
        event("edited", suggestion_id="3", scenario="size", sent_text="亲，170拍L"),
        event("ignored", template_id="logistics.ship_time.workday", suggestion_id="4", message="发货了吗 ",
              scenario="logistics"),
        event("ignored", template_id="logistics.ship_time.workday", suggestion_id="5", message="发货了吗",
              scenario="logistics"),
        event("ignored", template_id=None, suggestion_id="6", message="能开专票吗", scenario="other"),
    ]
    figures = feedback_stats(events)
    assert figures["events"] == 7 and figures["suggestions"] == 6 and figures["suggestions_used"] == 3
    size = figures["by_template"]["size.recommend.height_weight"]
    assert size == {"events": 3, "as_is": 1, "edited": 2, "ignored": 0, "acceptance": 1.0, "as_is_rate": 0.3333}
    assert figures["by_scenario"]["logistics"]["acceptance"] == 0.0
    assert figures["edits"] == [{"template_id": "size.recommend.height_weight", "edited": 2,
                                 "sent": [{"text": "亲，170拍L", "times": 2}]}]
    assert figures["gaps"] == [{"message": "发货了吗", "times": 2}, {"message": "能开专票吗", "times": 1}]


@pytest.fixture
def feedback_client(fake_index, fake_service, database_url):
    from app.api import create_app

    settings = fake_index.model_copy(update={"feedback_url": database_url})
    with running(create_app(settings, service_factory=lambda s: fake_service)) as client:  # once loaded
        yield client


def test_the_api_records_feedback_on_an_answer_and_reports_it(feedback_client):
    answer = feedback_client.post("/v1/reply", json={"message": "这件衣服170穿什么码"}).json()
    top = answer["replies"][0]
    posted = feedback_client.post("/v1/feedback", json={"events": [
        {"action": "edited", "message": answer["message"], "template_id": top["template_id"],
         "suggestion_id": answer["suggestion_id"], "scenario": top["scenario"], "rank": 1, "score": top["score"],
         "sent_text": "亲，170建议拍L码哦", "agent": "小美"},
        {"action": "ignored", "message": answer["message"], "template_id": answer["replies"][1]["template_id"],
         "suggestion_id": answer["suggestion_id"], "rank": 2}]})
    assert posted.status_code == 201, posted.text
    assert posted.json() == {"recorded": 2}
    stats = feedback_client.get("/v1/feedback/stats").json()
    assert stats["shop"] == "default" and stats["events"] == 2 and stats["suggestions_used"] == 1
    assert stats["by_template"][top["template_id"]]["edited"] == 1
    assert stats["edits"][0]["sent"] == [{"text": "亲，170建议拍L码哦", "times": 1}]


@pytest.mark.parametrize("body, where", [
    ({"events": []}, "events"),
    ({"events": [{"action": "liked", "message": "在吗"}]}, "action"),
    ({"events": [{"action": "copied", "message": "   "}]}, "message"),
    ({"events": [{"action": "copied", "message": "在吗", "rank": 0}]}, "rank"),
    ({"events": [{"action": "copied", "message": "在吗", "confidence": "0.5"}]}, "confidence"),
    ({"events": [{"action": "copied", "message": "在吗"}] * 101}, "events"),
])
def test_bad_feedback_is_refused_whole_naming_the_field(feedback_client, body, where):
    answer = feedback_client.post("/v1/feedback", json=body)
    assert answer.status_code == 422, answer.text
    assert where in json.dumps(answer.json(), ensure_ascii=False)
    assert feedback_client.get("/v1/feedback/stats").json()["events"] == 0  # nothing half-recorded


def test_kefu_stats_prints_what_the_database_holds(tmp_path, fake_index):
    url = f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
    store = FeedbackStore(url)
    store.record([event("copied", suggestion_id="1", scenario="size"),
                  event("ignored", template_id=None, suggestion_id="2", message="能开专票吗", scenario="other"),
                  event("copied", template_id="price.bargain.value", suggestion_id="3", message="价钱上能不能再松一松",
                        rank=2)])
    store.close()
    env_settings = fake_index.model_copy(update={"feedback_url": url})
    os.environ["KEFU_FEEDBACK_URL"] = url
    try:
        shown = run_kefu("stats", settings=env_settings)
        as_json = run_kefu("stats", "--json", settings=env_settings)
    finally:
        del os.environ["KEFU_FEEDBACK_URL"]
    assert shown.returncode == 0, shown.stderr
    assert "acceptance 66.7%" in shown.stdout and "能开专票吗" in shown.stdout
    assert "learnt questions" in shown.stdout and "价钱上能不能再松一松" in shown.stdout
    figures = json.loads(as_json.stdout)
    assert figures["suggestions_used"] == 2
    assert [(q["template_id"], q["message"], q["corrections"]) for q in figures["learnt"]] == [
        ("price.bargain.value", "价钱上能不能再松一松", 1), ("size.recommend.height_weight", "170穿什么码", 0)]
    assert run_kefu("stats", "--since", "yesterday").returncode == 2


def test_the_acceptance_prior_moves_only_templates_with_enough_evidence():
    from app.feedback import AcceptancePrior

    passed_over = [event("ignored", template_id="a") for _ in range(30)]
    kept = [event("copied", template_id="b") for _ in range(30)]
    few = [event("ignored", template_id="c") for _ in range(5)]
    prior = AcceptancePrior.fit([*passed_over, *kept, *few])
    assert prior.shifts["a"] < -1 < 1 < prior.shifts["b"] and "c" not in prior.shifts
    adjusted = prior.adjust(["a", "b", "c", "unknown"], np.array([0.6, 0.4, 0.5, 0.5]))
    assert adjusted[0] < 0.6 and adjusted[1] > 0.4 and adjusted[2] == 0.5 and adjusted[3] == 0.5
    assert AcceptancePrior.fit([]).adjust(["a"], np.array([0.3]))[0] == 0.3


def test_the_store_counts_acceptance_per_template(database_url):
    store = FeedbackStore(database_url)
    try:
        store.record([event("copied", template_id="a"), event("edited", template_id="a", sent_text="x"),
                      event("ignored", template_id="a"), event("ignored", template_id="b"),
                      event("ignored", template_id=None), event("copied", template_id="a", shop="other")])
        assert store.acceptance("default") == {"a": (3, 2), "b": (1, 0)}
    finally:
        store.close()


def test_a_template_agents_keep_passing_over_sinks_in_the_shop_s_ranking(fake_service):
    from app.feedback import AcceptancePrior
    from app.replies import ReplyRequest

    request = ReplyRequest("这件衣服170穿什么码", top_k=3)
    plain = fake_service.reply(request)
    top = plain.replies[0].template_id
    prior = AcceptancePrior.fit([event("ignored", template_id=top) for _ in range(60)])
    ranked = fake_service.reply(request, prior)
    assert ranked.replies[0].template_id != top or ranked.replies[0].confidence < plain.replies[0].confidence
    assert fake_service.reply(request).as_dict() == plain.as_dict()  # no prior, no change


def test_the_api_ranks_with_the_token_s_shop_feedback(feedback_client, monkeypatch):
    from app.api.routes import feedback as routes

    monkeypatch.setattr(routes, "PRIOR_SECONDS", 0.0)
    message = {"message": "这件衣服170穿什么码"}
    before = feedback_client.post("/v1/reply", json=message).json()
    top = before["replies"][0]
    ignored = [{"action": "ignored", "message": message["message"], "template_id": top["template_id"]}] * 60
    assert feedback_client.post("/v1/feedback", json={"events": ignored}).status_code == 201
    after = feedback_client.post("/v1/reply", json=message).json()
    moved = after["replies"][0]
    assert moved["template_id"] != top["template_id"] or moved["confidence"] < top["confidence"]


def test_a_version_2_database_is_migrated_and_keeps_its_events(tmp_path):
    from sqlalchemy import create_engine, insert

    from app.feedback.store import MIGRATIONS, schema

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    with engine.begin() as connection:  # a database as the kefu of schema version 2 left it
        schema.create(connection)
        connection.execute(insert(schema).values(version=2))
        for step in (1, 2):
            MIGRATIONS[step](connection)
    engine.dispose()
    old = FeedbackStore(url)
    try:
        old.record([event("copied")])
    finally:
        old.close()
    store = FeedbackStore(url)
    try:
        assert store.version == SCHEMA_VERSION == 3
        assert len(list(store.read("default"))) == 1
        assert store.dismiss("default", [("size.chart.general", "170穿什么码")], "小王") == 1
        assert store.dismissed("default") == {("size.chart.general", "170穿什么码")}
    finally:
        store.close()


def test_dismissed_learnt_questions_are_kept_once_per_shop(database_url):
    store = FeedbackStore(database_url)
    try:
        pairs = [("size.chart.general", "170穿什么码"), ("size.chart.general", "170穿什么码"),
                 ("logistics.ship_time.workday", "几点发货")]
        assert store.dismiss("default", pairs, "小王") == 2
        assert store.dismiss("default", pairs[:1], "小李") == 0  # dismissed before: nothing new
        assert store.dismiss("another", pairs[:1], "小李") == 1
        assert store.dismissed("default") == set(pairs)
        assert store.dismissed("another") == {pairs[0]}
        assert store.dismissed("nobody") == set()
    finally:
        store.close()


def test_learnt_questions_rank_corrections_first_and_leave_out_what_is_known():
    from app.feedback.learning import learnt_questions, question_key, with_examples

    at = datetime(2026, 11, 24, 9, tzinfo=UTC)
    library = {"size.recommend.height_weight": ["170穿什么码", "身高体重推荐尺码"],
               "logistics.ship_time.workday": ["几点发货"], "price.coupon.general": ["有优惠券吗"]}
    events = [
        event("copied", message="160斤穿多大", rank=1, at=at),
        event("edited", message="160斤 穿多大 ", rank=1, at=at + timedelta(days=1), sent_text="亲，拍XL"),
        event("copied", template_id="logistics.ship_time.workday", message="今天能发吗", rank=3, at=at),
        event("ignored", template_id="price.coupon.general", message="能便宜吗", rank=2),
        event("copied", message="１７０穿什么碼", rank=2),  # an example already, once normalised
        event("copied", template_id="size.gone", message="有S码吗", rank=2),  # not in the library any more
        event("copied", template_id="price.coupon.general", message="有券吗", rank=2),
        event("sent", template_id="price.coupon.general", message="  ", rank=2),
        event("copied", template_id="price.coupon.general", message="优" * 201, rank=2),
        event("copied", template_id="logistics.ship_time.workday", message="订单3021178845512怎么还没发", rank=2),
        event("copied", template_id="logistics.ship_time.workday", message="电话 138 0013 8000 改地址", rank=2),
        event("copied", template_id="logistics.ship_time.workday", message="发票发到 li.na@example.com", rank=2),
    ]
    found = learnt_questions(events, library, dismissed={("price.coupon.general", question_key("有券吗"))})
    assert [(q.template_id, q.message, q.uses, q.corrections, q.as_is) for q in found] == [
        ("logistics.ship_time.workday", "今天能发吗", 1, 1, 1),
        ("size.recommend.height_weight", "160斤穿多大", 2, 0, 1),
    ]
    assert found[1].last_at == at + timedelta(days=1)
    assert found[1].as_dict()["last_at"] == "2026-11-25T09:00:00+00:00"
    assert learnt_questions(events, library, limit=1) == found[:1]
    body = {"id": "size.recommend.height_weight", "examples": ["170穿什么码"]}
    assert with_examples(body, ["160斤穿多大", " 160斤穿多大", "１７０穿什么码", ""])["examples"] == \
        ["170穿什么码", "160斤穿多大"]
    assert body["examples"] == ["170穿什么码"]  # the body given is left as it was
