"""The reply path end to end: ranking, etiquette by platform and turn, slots, batches."""

import numpy as np
import pytest

from app.errors import InputError
from app.replies import InspectionRequest, ReplyRequest, Turn
from app.understanding.message import prepare_message


def test_prepare_message_normalizes_and_rejects_empty():
    assert prepare_message("  ＸＬ碼 [数字x]件 #E-s46 ") == "XL码 1件"
    for bad in ["", "   ", "#E-s46", "\u3000"]:
        with pytest.raises(InputError, match="empty"):
            prepare_message(bad)


def test_first_turn_follows_history():
    assert ReplyRequest("在吗").is_first_turn()
    assert ReplyRequest("在吗", history=(Turn("buyer", "你好"),)).is_first_turn()
    assert not ReplyRequest("在吗", history=(Turn("agent", "您好"),)).is_first_turn()
    assert ReplyRequest("在吗", history=(Turn("agent", "您好"),), first_turn=True).is_first_turn()


COMMON = [
    ("这件衣服170斤穿什么码", "size"), ("平时穿38的鞋 这款拍多大", "size"), ("裤子偏小吗", "size"),
    ("能便宜点吗", "price"), ("包邮吗", "price"), ("有优惠券吗", "price"),
    ("什么时候发货", "logistics"), ("快递到哪了", "logistics"), ("能发顺丰吗", "logistics"),
    ("地址填错了能改吗", "logistics"),
    ("衣服有个破洞", "complaint"), ("发错货了", "complaint"), ("退款怎么还没到账", "complaint"),
    ("有发票吗", "other"), ("是正品吗", "other"), ("还有货吗", "other"),
]


@pytest.mark.model
@pytest.mark.parametrize("message, scenario", COMMON)
def test_top_reply_is_in_the_right_scenario(real_service, message, scenario):
    result = real_service.reply(ReplyRequest(message=message))
    assert result.scenario.label == scenario
    if not result.needs_human:
        assert result.replies[0].scenario == scenario
        assert len(result.replies) == 3


@pytest.mark.model
def test_common_questions_are_answered_not_abstained(real_service):
    answered = [m for m, _ in COMMON if not real_service.reply(ReplyRequest(message=m)).needs_human]
    assert len(answered) >= 14, sorted(set(m for m, _ in COMMON) - set(answered))


@pytest.mark.model
@pytest.mark.parametrize("message", ["能便宜点吗", "快递到哪了", "衣服有个破洞", "在吗", "亲在吗", "是正品吗"])
@pytest.mark.parametrize("first_turn", [True, False])
def test_jd_replies_never_say_qin(real_service, message, first_turn):
    result = real_service.reply(ReplyRequest(message=message, platform="jd", top_k=10, first_turn=first_turn))
    assert all("亲" not in reply.text for reply in result.replies)


@pytest.mark.model
def test_taobao_register_and_greeting_only_on_first_turn(real_service):
    first = real_service.reply(ReplyRequest(message="包邮吗", platform="taobao"))
    later = real_service.reply(ReplyRequest(message="包邮吗", platform="taobao",
                                            history=(Turn("buyer", "在吗"), Turn("agent", "在的"))))
    assert all(r.text.startswith("亲，您好，欢迎光临") for r in first.replies)
    assert not any("欢迎光临" in r.text for r in later.replies)
    assert all("祝您购物愉快" in r.text for r in first.replies + later.replies)


@pytest.mark.model
@pytest.mark.parametrize("platform", ["taobao", "tmall", "jd"])
def test_complaints_apologise_first(real_service, platform):
    result = real_service.reply(ReplyRequest(message="收到的碗碎了两个", platform=platform, first_turn=False))
    assert result.scenario.label == "complaint"
    for reply in result.replies:
        assert reply.text[:12].count("抱歉") + reply.text[:12].count("不好意思") + reply.text[:12].count("对不起") >= 1
        assert "～" not in reply.text
        assert reply.topic not in {"price.promotion", "price.gift"}


@pytest.mark.model
def test_no_shouting_or_raw_slots_in_any_reply(real_service):
    messages = ["快点发货!!!", "什么时候到???", "能便宜吗", "尺码怎么选", "单号多少", "要发票"]
    for platform in ("taobao", "tmall", "jd"):
        for result in real_service.reply_many([ReplyRequest(m, platform=platform, top_k=5) for m in messages]):
            for reply in result.replies:
                assert "!!" not in reply.text and "！！" not in reply.text
                assert "??" not in reply.text and "？？" not in reply.text
                assert "{" not in reply.text and "}" not in reply.text


@pytest.mark.model
def test_slots_filled_from_request_and_placeholders_shown(real_service):
    request = ReplyRequest(message="我的快递单号是多少", top_k=5)
    placeholders = [r for r in real_service.reply(request).replies if "【快递单号】" in r.text]
    assert placeholders and all("tracking_no" in r.missing_slots for r in placeholders)
    filled = real_service.reply(ReplyRequest(message="我的快递单号是多少", top_k=5, slots={"tracking_no": "SF1234567"}))
    assert any("SF1234567" in r.text for r in filled.replies)
    assert not any("【快递单号】" in r.text for r in filled.replies)


@pytest.mark.model
def test_replies_carry_their_provenance(real_service):
    reply = real_service.reply(ReplyRequest(message="能便宜点吗")).replies[0]
    assert reply.template_id and reply.topic.startswith(reply.scenario + ".")
    assert set(reply.components) == {"fused", "bm25", "dense"}
    assert reply.source["label"] == "team" or reply.source["doc"].endswith(".txt")


@pytest.mark.model
def test_batch_equals_one_by_one(real_service):
    requests = [ReplyRequest(m, platform=p) for m, p in
                [("这件衣服170斤穿什么码", "jd"), ("包邮吗", "taobao"), ("偏小了能换吗,运费谁出", "tmall"), ("哈哈", "jd")]]
    batch = [r.as_dict() for r in real_service.reply_many(requests)]
    single = [real_service.reply(r).as_dict() for r in requests]
    assert [b["replies"][0]["text"] for b in batch] == [s["replies"][0]["text"] for s in single]
    assert [b["scenario"]["label"] for b in batch] == [s["scenario"]["label"] for s in single]
    for b, s in zip(batch, single):
        assert b["scenario"]["confidence"] == pytest.approx(s["scenario"]["confidence"], abs=1e-3)


def test_review_encodes_each_message_once_and_equals_reply_then_inspect(fake_service, fake_embedder):
    # Messages no other test sends, so the service's cache of recent texts cannot answer them.
    requests = [ReplyRequest("收到的玻璃杯碎成两半了", platform="jd"), ReplyRequest("这款寄新疆包邮吗", first_turn=False),
                ReplyRequest("下单后几天能到广州", platform="tmall")]
    agent_replies = ["亲，给您补发一个新的。", None, "您好，一般三天左右送达广州，祝您购物愉快。"]
    before = fake_embedder.calls
    reviewed = fake_service.review_many(requests, agent_replies)
    # One encoder call for the messages and the agents' replies together.
    assert fake_embedder.calls - before == 1
    assert [r.result.as_dict() for r in reviewed] == [r.as_dict() for r in fake_service.reply_many(requests)]
    assert reviewed[1].inspection is None
    separately = fake_service.inspect_many([InspectionRequest(r.message, a, r.platform, "first" if r.is_first_turn() else "middle")
                                            for r, a in zip(requests, agent_replies) if a is not None])
    assert [r.inspection for r in reviewed if r.inspection is not None] == separately
    assert "jd_qin" in reviewed[0].inspection.rules
    with pytest.raises(InputError, match="one agent reply"):
        fake_service.review_many(requests, agent_replies[:2])


@pytest.mark.model
def test_bad_requests_are_refused(real_service):
    with pytest.raises(InputError, match="taobao, tmall, jd"):
        real_service.reply(ReplyRequest("包邮吗", platform="pdd"))
    with pytest.raises(InputError, match="between 1 and 20"):
        real_service.reply(ReplyRequest("包邮吗", top_k=0))


def _with_threshold(service, threshold):
    import copy
    from dataclasses import replace

    changed = copy.copy(service)
    changed.reranker = replace(service.reranker, abstain_below=threshold)
    return changed


def test_abstaining_offers_one_holding_reply_the_reason_and_the_handbook(fake_service):
    result = _with_threshold(fake_service, 1.0).reply(ReplyRequest("衣服有个破洞", platform="jd"))
    assert result.needs_human
    assert "请人工回复" in result.abstention
    (holding,) = result.replies
    assert holding.holding and holding.template_id == "holding"
    assert "核实" in holding.text and "亲" not in holding.text
    assert result.support, "the handbook passages closest to the message come with an abstention"
    assert result.as_dict()["abstention"] == result.abstention


def test_answering_gives_calibrated_confidences_best_first(fake_service):
    result = _with_threshold(fake_service, 0.0).reply(ReplyRequest("能便宜点吗", top_k=3))
    assert not result.needs_human and result.abstention is None
    confidences = [reply.confidence for reply in result.replies]
    assert len(confidences) == 3 and confidences == sorted(confidences, reverse=True)
    assert all(0.0 < c < 1.0 for c in confidences) and not any(reply.holding for reply in result.replies)


def test_a_templates_example_pair_is_the_mean_of_its_two_closest_examples(fake_service):
    retriever = fake_service.retriever
    text = prepare_message("衣服开线了 怎么处理")
    scores = retriever.template_scores(retriever.lexical(text), retriever.encode_together([text], [])[0])
    owners = [row["template_id"] for row in retriever.examples.rows]
    pairs = retriever.example_pairs(scores, np.arange(len(retriever.templates)))
    for index, template in enumerate(retriever.templates):
        cosines = sorted(score for owner, score in zip(owners, scores.example_dense) if owner == template.id)
        assert pairs[index] == pytest.approx(np.mean(cosines[-2:]))
        assert pairs[index] <= scores.dense[index] + 1e-9


def test_term_coverage_is_the_share_of_the_messages_terms_a_templates_examples_use(fake_service):
    retriever = fake_service.retriever
    terms = retriever.lexical(prepare_message("衣服开线了 怎么处理")).terms
    everything = np.arange(len(retriever.templates))
    coverage = retriever.term_coverage(terms, everything)
    for index, template in enumerate(retriever.templates):
        used = {term for row in retriever.examples.rows if row["template_id"] == template.id for term in row["terms"]}
        assert coverage[index] == pytest.approx(len(set(terms) & used) / len(set(terms)))
    assert coverage.max() > 0
    assert retriever.term_coverage((), everything).tolist() == [1.0] * len(everything)


def test_the_size_comes_from_the_shops_chart_when_the_buyer_gives_height_and_weight(fake_service):
    service = _with_threshold(fake_service, 0.0)
    by_chart = next(t for t in service.retriever.templates if t.id == "size.recommend.by_height_weight")
    request = ReplyRequest("身高165 体重50kg 穿什么码")
    prediction = service.classify(request.message)
    context = service._context(request, prepare_message(request.message), prediction)
    assert {"height", "weight"} <= context.stated
    size = service.shop.recommend_size("clothing", height_cm=165, weight_kg=50).size
    assert context.sizes["clothing"] == size
    composed = service.composer.compose(by_chart, platform="taobao", first_turn=False, complaint=False,
                                        slots=service._slots(request, by_chart, context))
    assert f"{size}码" in composed.text and "【" not in composed.text
    # Without the facts the reply is built on, it is never suggested; the one that asks for them is.
    asked = service.rank(request, prepare_message(request.message),
                         service.retriever.encode_together([prepare_message(request.message)], [])[0], prediction)
    ids = [service.retriever.templates[int(i)].id for i in asked.order]
    assert "size.recommend.height_weight" not in ids  # it asks for height and weight again
    plain = ReplyRequest("这件穿什么码")
    unstated = service.rank(plain, prepare_message(plain.message),
                            service.retriever.encode_together([prepare_message(plain.message)], [])[0],
                            service.classify(plain.message))
    assert "size.recommend.by_height_weight" not in [service.retriever.templates[int(i)].id for i in unstated.order]


def test_shop_facts_are_named_for_the_platform_of_the_reply(fake_service):
    from app.service import platform_facts

    facts = fake_service.shop.facts()
    jd, taobao = platform_facts(facts, "jd"), platform_facts(facts, "taobao")
    assert jd["payment_methods"] == facts["payment_methods.jd"] and "花呗" not in jd["payment_methods"]
    assert "花呗" in taobao["payment_methods"]
    assert fake_service.facts["jd"] == jd


def test_a_childs_size_comes_from_the_kids_chart_and_only_for_a_child(fake_service):
    service = _with_threshold(fake_service, 0.0)
    kids = next(t for t in service.retriever.templates if "child" in t.applies.needs)
    for message, eligible in (("宝宝4岁 身高105 穿多大", True), ("身高105 体重20kg 穿多大", False)):
        request = ReplyRequest(message)
        context = service._context(request, prepare_message(message), service.classify(message))
        assert ("kids" in context.sizes and "child" in context.stated) == eligible, message
        if eligible:
            text = service.composer.compose(kids, platform="taobao", first_turn=False, complaint=False,
                                            slots=service._slots(request, kids, context)).text
            assert "110码" in text  # 105 cm falls in the 110 row of the demo chart
