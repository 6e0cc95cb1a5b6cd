"""Quality inspection of agents' replies: every rule fires on a bad reply and stays quiet on a good one."""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest
import yaml

from app.compose import ReplyComposer
from app.corpus import SLOT_PLACEHOLDERS, load_templates
from app.errors import CorpusError, InputError
from app.etiquette import Etiquette
from app.inspection import RULES, Finding, Inspection, ReplyInspector
from app.inspection.rules import InspectionRules
from app.lexicon import matchable
from tests.conftest import CORPUS

# A reply that breaks nothing anywhere: greeting, 您, an answer, a closing, no 亲.
GOOD = "您好，这款是纯棉的，今天下单明天发货，有问题随时联系我们，祝您购物愉快～"


@pytest.fixture(scope="module")
def inspector() -> ReplyInspector:
    return ReplyInspector.load(CORPUS)


def rules_of(inspector: ReplyInspector, reply: str, message: str = "", **options) -> tuple[str, ...]:
    return inspector.inspect(message, reply, **options).rules


def spans_of(inspector: ReplyInspector, reply: str, rule: str, **options) -> list[str]:
    result = inspector.inspect("", reply, **options)
    return [reply[f.span[0] : f.span[1]] for f in result.findings if f.rule == rule and f.span]


# ---------------------------------------------------------------------------------------------
# The contract: rule names, severities, penalties, ok and score
# ---------------------------------------------------------------------------------------------


def test_rule_table_is_pinned(inspector):
    table = {name: (spec.severity, spec.penalty) for name, spec in inspector.rules.specs.items()}
    assert table == {
        "rude": ("high", 40),
        "jd_qin": ("high", 30),
        "placeholder": ("high", 30),
        "too_short": ("medium", 25),
        "no_apology": ("medium", 20),
        "absolute": ("medium", 20),
        "ad_law": ("medium", 20),
        "relevance": ("medium", 20),
        "shouting": ("medium", 15),
        "polite": ("low", 10),
        "greeting": ("low", 5),
        "closing": ("low", 5),
    }
    assert set(RULES) == set(table)


def test_every_rule_cites_a_handbook_or_the_law(inspector):
    for name, spec in inspector.rules.specs.items():
        where, quote = spec.source.split(": ", 1)
        if name == "ad_law":
            assert where.startswith("《中华人民共和国广告法》第九条") and "最高级" in quote
        else:
            assert (CORPUS / "handbooks" / where).is_file() and quote


@pytest.mark.parametrize("platform", ["taobao", "tmall", "jd"])
@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_a_good_reply_passes_everywhere(inspector, platform, position):
    result = inspector.inspect("什么时候发货", GOOD, platform=platform, position=position, scenario="logistics")
    assert result == Inspection(ok=True, score=100, findings=())


def test_low_findings_are_suggestions_that_cost_points_not_a_failure(inspector):
    reply = "好的，这款是纯棉的，今天下单明天发货。"
    first = inspector.inspect("", reply, position="first")
    assert (first.rules, first.ok, first.score) == (("polite", "greeting"), True, 100 - 10 - 5)
    last = inspector.inspect("", reply, position="last")
    assert (last.rules, last.ok, last.score) == (("polite", "closing"), True, 100 - 10 - 5)
    middle = inspector.inspect("", reply)  # where the reply stands is unknown: the middle, owing neither
    assert (middle.rules, middle.ok, middle.score) == (("polite",), True, 90)


def test_an_unknown_position_is_refused(inspector):
    with pytest.raises(InputError, match="position"):
        inspector.inspect("", GOOD, position="start")


def test_high_and_medium_findings_fail_and_each_rule_costs_once(inspector):
    result = inspector.inspect("", "您好，爱买不买，爱要不要!!! 有问题随时联系，祝您购物愉快", position="middle")
    assert result.rules == ("rude", "shouting")
    assert [f.rule for f in result.findings] == ["rude", "rude", "shouting"]
    assert (result.ok, result.score) == (False, 100 - 40 - 15)


def test_score_never_goes_below_zero(inspector):
    reply = "亲，滚！！！全网最低价，订单号【订单号】"
    result = inspector.inspect("", reply, platform="jd")
    assert set(result.rules) >= {"rude", "jd_qin", "placeholder", "ad_law", "shouting"}
    assert (result.ok, result.score) == (False, 0)


def test_findings_are_ordered_by_severity(inspector):
    result = inspector.inspect("", "你好!!! 自己看详情", position="first")
    assert [f.severity for f in result.findings] == sorted(
        (f.severity for f in result.findings), key=("high", "medium", "low").index)


def test_as_dict_is_json(inspector):
    result = inspector.inspect("", "亲，明天发!!!", platform="jd")
    data = json.loads(json.dumps(result.as_dict(), ensure_ascii=False))
    assert data["ok"] is False and data["score"] == result.score
    assert data["rules"] == list(result.rules)
    assert data["findings"][0] == {"rule": "jd_qin", "severity": "high",
                                   "detail": result.findings[0].detail, "span": [0, 1],
                                   "fix": inspector.rules.specs["jd_qin"].fix}
    assert Finding("greeting", "low", "x", None).as_dict()["span"] is None


# ---------------------------------------------------------------------------------------------
# greeting / closing / polite
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reply", [
    "这款是纯棉的，今天下单明天发货，祝您购物愉快。",
    "好的，这款是纯棉的，今天下单明天发货，有问题随时联系，您好",  # 您好 far from the start is no greeting
    "亲，这款是纯棉的哦，祝您购物愉快。",  # 亲 alone is an address, not a greeting
])
def test_greeting_missing_on_first_turn(inspector, reply):
    assert "greeting" in rules_of(inspector, reply, position="first")
    assert "greeting" not in rules_of(inspector, reply, position="middle")
    assert "greeting" not in rules_of(inspector, reply, position="last")


@pytest.mark.parametrize("reply", [
    "您好，这款是纯棉的，祝您购物愉快。",
    "你好呀，这款是纯棉的，祝您购物愉快。",
    "在的亲，这款是纯棉的哦，祝您购物愉快。",
    "欢迎光临～这款是纯棉的哦，祝您购物愉快。",
    "Hi，这款是纯棉的哦，祝您购物愉快。",
    "  下午好！这款是纯棉的哦，祝您购物愉快。",
    "您好，欢迎光临本店，很高兴为您服务。這款是純棉的，祝您購物愉快。",
])
def test_greeting_present(inspector, reply):
    assert "greeting" not in rules_of(inspector, reply, position="first")


@pytest.mark.parametrize("reply", [
    "您好，这款是纯棉的，今天下单明天发货。",
    "感谢您的耐心等待，您的包裹已经从杭州发出，预计两到三天送到您手上，请您留意物流信息和快递员的电话。",
])
def test_closing_missing_on_the_last_reply_only(inspector, reply):
    assert "closing" in rules_of(inspector, reply, position="last")
    assert "closing" not in rules_of(inspector, reply, position="middle")
    assert "closing" not in rules_of(inspector, reply, position="first")


@pytest.mark.parametrize("ending", [
    "还有什么问题随时联系我哦，祝您购物愉快～",  # etiquette.yaml taobao
    "还有其他问题请随时联系我们，祝您购物愉快。",  # etiquette.yaml jd
    "给您带来不便，再次向您致歉，处理进度我会一直跟进。",  # etiquette.yaml complaint
    "感谢您的理解与支持！",
    "有问题再联系哦",
    "还有什么可以帮您的吗？",
    "欢迎下次光临～",
    "有问题随时找我哦",
    "有需要再联系我们",
    "还有其他需要吗？",
    "感谢您的理解与支持",
    "期待您的光临",
    "您先忙，不打扰了",
    "我这边核实后稍后联系您",
    "处理好第一时间通知您",
    "一有结果马上告诉您",
    "谢谢～",
    "麻烦您了",
    "有什么想问的随时戳我哦！",
    "有其他问题随时来问我呀。",
    "期待为您继续服务。",
    "给您带来不便，敬请谅解。",
    "再次向您致以歉意。",
    "处理好后我再跟您确认一次。",
])
def test_closing_present(inspector, ending):
    assert "closing" not in rules_of(inspector, "您好，这款是纯棉的，今天下单明天发货。" + ending, position="last")


@pytest.mark.parametrize("reply", ["不客气的，还有问题随时联系我们。", "不客气亲，有问题随时联系哦～", "感谢亲的认可～下次再来哦！"])
def test_a_short_reply_that_is_all_send_off_closes(inspector, reply):
    # Only thanks must stand in the second half (they may open a reply that goes on to something else).
    assert "closing" not in rules_of(inspector, reply, position="last")


def test_closing_is_looked_for_in_the_last_60_characters(inspector):
    middle = "这款是纯棉的，今天下单明天发货，仓库在杭州，一般两到三天送到，偏远地区会慢一点，"
    assert "closing" not in rules_of(inspector, "您好，" + middle + "祝您购物愉快", position="last")
    assert "closing" in rules_of(inspector, "您好，祝您购物愉快，" + middle * 2, position="last")


def test_greeting_and_closing_are_owed_however_short_the_reply(inspector):
    assert rules_of(inspector, "好的", position="first") == ("too_short", "polite", "greeting")
    assert rules_of(inspector, "您稍等", position="last") == ("too_short", "closing")
    assert rules_of(inspector, "您稍等", position="middle") == ("too_short",)


@pytest.mark.parametrize("reply", ["好的，这款是纯棉的，今天下单明天发货哦～", "这个要去后台申请退款，退完再拍"])
def test_polite_missing(inspector, reply):
    assert "polite" in rules_of(inspector, reply)


@pytest.mark.parametrize("reply", ["好的，请稍等，我帮忙查一下发货时间", "好的，您稍等，我帮忙查一下发货时间",
                                   "好的，請稍等，我幫忙查一下發貨時間"])
def test_polite_present(inspector, reply):
    assert "polite" not in rules_of(inspector, reply)


# ---------------------------------------------------------------------------------------------
# jd_qin
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reply, word", [
    ("亲，您好，今天下单明天发货，祝您购物愉快", "亲"),
    ("您好，亲爱的顾客，今天下单明天发货，祝您购物愉快", "亲"),
    ("您好，亲们注意，今天下单明天发货，祝您购物愉快", "亲"),
    ("您好，今天下单明天发货哦亲，祝您购物愉快", "亲"),
    ("親，您好，今天下單明天發貨，祝您購物愉快", "親"),
])
def test_jd_qin_on_jd(inspector, reply, word):
    assert spans_of(inspector, reply, "jd_qin", platform="jd") == [word]


@pytest.mark.parametrize("platform", ["taobao", "tmall"])
def test_qin_is_fine_off_jd(inspector, platform):
    assert "jd_qin" not in rules_of(inspector, "亲，您好，今天下单明天发货，祝您购物愉快", platform=platform)


@pytest.mark.parametrize("word", ["亲自", "亲切", "亲人", "父亲", "母亲", "亲子装", "亲戚", "亲友", "亲手", "亲测", "亲肤"])
def test_qin_inside_a_word_is_not_the_address(inspector, word):
    reply = f"您好，这是我们{word}挑选的款式，今天下单明天发货，祝您购物愉快"
    assert "jd_qin" not in rules_of(inspector, reply, platform="jd")


# ---------------------------------------------------------------------------------------------
# shouting
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reply, word", [
    (GOOD + "!!!", "!!!"),
    (GOOD + "！！！", "！！！"),
    ("您好，什么？？" + GOOD, "？？"),
    ("您好，已经发货了。。。。" + GOOD, "。。。。"),
    ("您好，真的吗?!?" + GOOD, "?!?"),
])
def test_shouting(inspector, reply, word):
    assert spans_of(inspector, reply, "shouting") == [word]


@pytest.mark.parametrize("reply", [GOOD + "！", GOOD + "……", "您好，稍等。。。" + GOOD, "您好，真的吗？！" + GOOD])
def test_single_or_ordinary_punctuation_is_not_shouting(inspector, reply):
    assert "shouting" not in rules_of(inspector, reply)


# ---------------------------------------------------------------------------------------------
# rude
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reply, word", [
    ("爱买不买，价格就这样", "爱买不买"),
    ("爱要不要，不议价", "爱要不要"),
    ("滚！别来烦人", "滚"),
    ("不知道，你问快递去", "不知道"),
    ("物流的事你问快递去吧", "你问快递去"),
    ("找快递公司去，发出去了就不归店里了", "找快递公司去"),
    ("自己看详情页，上面都有", "自己看"),
    ("没看详情吗？写着不包邮", "没看详情"),
    ("详情页写得很清楚了，不包邮", "写得很清楚了"),
    ("说明书第一页就写了，长按电源键三秒", "第一页就写了"),
    ("这种问题请先看说明书", "这种问题请先看"),
    ("不是说了吗，48小时内发", "不是说了"),
    ("说了多少遍了，没有优惠", "说了多少遍"),
    ("这是你自己选的尺码，不能换", "你自己选的"),
    ("是您自己没看清楚描述，不能退", "您自己没"),
    ("怪你自己下单太晚", "怪你"),
    ("这跟我们没关系，是快递弄丢的", "跟我们没关系"),
    ("这和本店无关，找平台", "和本店无关"),
    ("不是我们的问题，是快递的问题", "不是我们的问题"),
    ("关我什么事，东西又不是我寄的", "关我什么事"),
    ("烦不烦啊，一直问", "烦不烦"),
    ("别催了，仓库在发", "别催了"),
    ("嫌贵就别买，去别的地方看看", "嫌贵就别买"),
    ("价格就这样，去别家吧", "去别家"),
    ("随便投诉，我们不怕", "随便投诉"),
    ("你去差评吧，无所谓", "你去差评吧"),
    ("呵呵，想多了", "呵呵"),
    ("你是不是傻，插上电就能用", "是不是傻"),
    ("谁让你不早点说，已经发了", "谁让你"),
    ("我也不知道什么时候到", "我也不知道"),
    ("我们又不是快递公司，查不到", "我们又不是"),
    ("这都不会用，看说明书", "这都不会"),
    ("买不起就别问那么多", "买不起"),
    # the fault guessed to be the buyer's, the buyer sent to the courier, told to read carefully
    ("图片是实物拍摄的，可能是您手机屏幕显示问题。", "可能是您手机屏幕显示问题"),
    ("亲，我们的产品是纯天然成分，应该是您自身肤质原因哦。", "应该是您自身肤质原因"),
    ("您好，这个是快递的问题，您可以直接投诉快递公司。", "您可以直接投诉快递"),
    ("您好，页面写了付款后15天内发货，请您仔细看一下商品详情。", "仔细看一下商品详情"),
])
def test_rude(inspector, reply, word):
    assert spans_of(inspector, reply, "rude")[0] == word


@pytest.mark.parametrize("reply", [
    # impatience
    "说了多少遍了，没有优惠",
    "我已经说过了，48小时内发",
    "你看不懂吗？上面写着",
    "听不懂吗，不包邮",
    "有完没完啊",
    "你到底买不买",
    "别问了，就这个价",
    "没空，等着",
    "自己去查物流",
    "自己看吧",
    "你不会自己看吗",
    "详情页写着呢",
    "这也要问？",
    # pushing the buyer away
    "找快递去",
    "跟我说没用，是快递的事",
    "那是你的事，我们发货了",
    "不归我们管",
    "爱咋咋地",
    "随便你",
    "那你想怎样",
    "投诉去吧",
    "你去投诉啊",
    "不买就别问",
    "不满意别买",
    "去问快递吧，我们不知道",
    # blaming
    "你自己没看清楚",
    "谁让你不看详情",
    "是你自己的问题",
    "你操作错了吧，重新装",
    "你是不是傻",
    "你眼睛不好使？写着偏小",
    # sarcasm
    "呵呵",
    "嗬嗬，好吧",
    "哦。",
    "你开心就好",
    # refusing coldly
    "不行就是不行",
    "规定就是规定，不能退",
    "没办法，就这样",
    "不可能，我们发货前都检查过",
    "做不到",
    # rhetorical questions at the buyer
    "你觉得呢？",
    "不然呢",
    "难道我们会发假货吗",
    # orders without 请 in a cold register
    "你自己联系快递吧",
    "你等着吧",
    "你得自己去问平台",
    # the buyer should have read it, or said so
    "您好，详情页写得清清楚楚，您仔细看看就知道了",
    "您当时下单也没备注急用，我们都是按顺序发货的",
    "别家便宜您可以去别家买",
    "这个问题前面已经回答过了，可以用电磁炉，请您下次看仔细一点",
    "很抱歉，不过这个价位您也别要求太高了",
])
def test_rude_phrasings(inspector, reply):
    assert "rude" in rules_of(inspector, reply)


@pytest.mark.parametrize("reply", [
    "非常抱歉，这个确实没办法改地址了，您看可以拒收后重新下单吗",  # 没办法 softened by an apology and 您
    "亲，这个确实没办法哦，活动价已经是最低了",  # 亲 warms it (absolute may still fire)
    "您好，面料是精梳棉的，洗后不可能缩水太多，您放心",
    "还不知道，我帮您问问仓库",
    "我跟仓库说过了，明天给您发",  # an errand, not "I told you already"
    "好的，我帮你问快递吧",
    "您可以去问一下快递吧，他们那边更清楚",
    "我自己去查一下吧，您稍等",
    "我先问问仓库吧，稍等",
    "亲，别给差评吧，我们给您补偿",
    "我们联系快递去取件，您在家等就好",
    "你拍的是L码，今天就发",  # 你 alone is informal, not rude
    "对的，就是这样操作",
    "你是不是没收到货？我帮你查一下",
    "那还要问一下仓库哦",
    "这个颜色你觉得怎么样",
    "好的，已经发货了",
    "您好，我们家的垃圾袋是加厚款",
    "不好意思让您久等了，我已经跟快递说了，今天派送",
])
def test_good_replies_are_not_rude(inspector, reply):
    assert "rude" not in rules_of(inspector, reply)


def test_curt_words_are_rude_only_in_a_cold_register(inspector):
    assert spans_of(inspector, "没办法，已经发出了", "rude") == ["没办法"]
    assert spans_of(inspector, "您好，没办法，已经发出了", "rude") == []
    assert spans_of(inspector, "抱歉，没办法，已经发出了", "rude") == []


@pytest.mark.parametrize("reply", [
    "您好，不知道您方便什么时候收货呢？我们按您的时间安排发货，祝您购物愉快",  # 不知道您… is a polite question
    "您好，物流信息还不知道，我帮您问一下快递，有进展第一时间告诉您",
    "您好，您可以自己查看物流，也可以把订单号发给我，我帮您查",
    "您好，我自己去仓库帮您核对一下，稍等哦",
    "亲，这不是您的问题，是我们发错了，非常抱歉，马上给您补发",
    "您好，这款洗衣机是滚筒的，领口有滚边设计",
    "您好，我们家的垃圾袋是加厚款，垃圾桶也有现货",
    "您好，这款可爱不可爱全看个人喜好啦，我们家卖得很好",
    "您好，衣服面料很亲肤，宝宝穿着很舒服",
    "您好，没关系的，退款已经帮您提交了",
    "您好，请您在订单页点【申请退款】，我们收到后马上处理",
    "您好，麻烦您拍张照片给我，我帮您反馈给仓库",
    "您好，您可以去别家对比一下，我们家的面料是加厚的",
    "非常抱歉，可能是您收到的这件有质量问题，我们马上给您换新",  # the shop's fault, not the buyer's
    "非常抱歉，包裹丢了，我们这边帮您投诉快递，同时给您补发",
    "您好，使用前建议您仔细看一下说明书，按步骤安装",
    "您好，说明书上写了安装步骤，您可以参考一下",  # pointing to the manual, not "it is written right there"
    "您好，这种问题我帮您问一下厂家",
])
def test_polite_replies_are_not_rude(inspector, reply):
    assert "rude" not in rules_of(inspector, reply)


# ---------------------------------------------------------------------------------------------
# no_apology
# ---------------------------------------------------------------------------------------------

COMPLAINT_REPLY = "您好，麻烦您拍张照片发给我，我们核实后给您补发，处理进度我会一直跟进。"


def test_no_apology_on_a_complaint(inspector):
    assert "no_apology" in rules_of(inspector, COMPLAINT_REPLY, "衣服破了个洞", scenario="complaint")


@pytest.mark.parametrize("apology", ["非常抱歉，", "不好意思，", "对不起，", "給您添麻煩了，對不起，", "让您久等了，"])
def test_an_apology_satisfies_it(inspector, apology):
    assert "no_apology" not in rules_of(inspector, apology + COMPLAINT_REPLY, "衣服破了个洞", scenario="complaint")


@pytest.mark.parametrize("apology", ["给您添麻烦了，", "让您久等了，", "很遗憾，", "理解您的心情，", "非常理解，",
                                     "是我们的失误，"])
def test_regret_and_sympathy_count_as_an_apology(inspector, apology):
    assert "no_apology" not in rules_of(inspector, apology + COMPLAINT_REPLY, "衣服破了个洞", scenario="complaint")


@pytest.mark.parametrize("message", ["怎么退货", "我想换个颜色 怎么换", "退款流程是什么", "申请退货后多久退款"])
def test_asking_how_to_return_is_no_grievance(inspector, message):
    assert "no_apology" not in rules_of(inspector, COMPLAINT_REPLY, message, scenario="complaint")
    assert "no_apology" not in rules_of(inspector, COMPLAINT_REPLY, message)


@pytest.mark.parametrize("message", ["收到的杯子碎了", "少了一个配件", "发错颜色了", "东西坏了", "一个星期了还没收到",
                                     "退款还没到账", "质量太差了", "你们快递员态度太差", "不满意 要投诉", "怎么还没退款？？"])
def test_a_stated_problem_needs_an_apology(inspector, message):
    assert "no_apology" in rules_of(inspector, COMPLAINT_REPLY, message, scenario="complaint")


@pytest.mark.parametrize("message", ["吹风机用了一周就冒烟了", "充电宝鼓包了 吓死我了", "耳机盒子被拆过了",
                                     "你们发的是二手的吧 有使用痕迹"])
def test_a_complaint_in_unlisted_words_needs_an_apology(inspector, message):
    assert "no_apology" in rules_of(inspector, COMPLAINT_REPLY, message, scenario="complaint")


@pytest.mark.parametrize("message", ["退款能退多少钱", "这个能退吗", "退货地址发我一下", "那我先不退了 晾晾试试",
                                     "羽绒服洗了会跑绒吗"])
def test_a_complaint_scenario_inquiry_needs_none(inspector, message):
    assert "no_apology" not in rules_of(inspector, COMPLAINT_REPLY, message, scenario="complaint")


def test_a_bare_no_to_a_can_you_question_is_too_short_not_rude(inspector):
    assert inspector.inspect("能寄到国外吗", "不能").rules == ("too_short", "polite")
    assert "rude" in inspector.inspect("便宜点呗", "不行！！").rules


@pytest.mark.parametrize("message", ["掉不掉色", "这个起不起球啊", "买回来是假货怎么办", "我要是不满意能退吗 用过了的",
                                     "这个跑步机噪音大不大 楼下会投诉吗", "我不要了 退款吧",
                                     "万一坏了怎么办", "质量真的好吗 评价说有破洞", "这个茶叶能泡几次"])
def test_a_problem_asked_about_imagined_or_read_in_reviews_needs_none(inspector, message):
    assert "no_apology" not in rules_of(inspector, COMPLAINT_REPLY, message, scenario="complaint")
    assert "no_apology" in rules_of(inspector, COMPLAINT_REPLY, "洗了一次就掉色了", scenario="complaint")


@pytest.mark.parametrize("message", ["已经收到退款了，谢谢", "换好了 多谢"])
def test_thanks_with_no_problem_named_needs_none(inspector, message):
    assert "no_apology" not in rules_of(inspector, COMPLAINT_REPLY, message, scenario="complaint")
    assert "no_apology" in rules_of(inspector, COMPLAINT_REPLY, "谢谢 但是杯子碎了", scenario="complaint")


def test_fault_denied_is_no_apology(inspector):
    reply = "不是我们的问题，快递那边爆仓了。"
    assert "no_apology" in rules_of(inspector, reply, "快递一直不动 都三天了", scenario="logistics")
    assert "no_apology" not in rules_of(inspector, "是我们的问题，" + COMPLAINT_REPLY, "衣服破了个洞", scenario="complaint")


@pytest.mark.parametrize("message", ["我要退货", "我要换货", "可以 那就换货吧", "我想问下这个口红是哑光的还是滋润的",
                                     "请问退款到哪了"])
def test_asking_for_a_return_or_taking_an_offer_states_no_problem(inspector, message):
    # A request, a choice question or the buyer taking the option offered: nothing went wrong yet.
    assert "no_apology" not in rules_of(inspector, COMPLAINT_REPLY, message, scenario="complaint")


@pytest.mark.parametrize("message", ["咋还不退款", "怎么还不发货", "我要退货 质量太差了"])
def test_impatience_and_a_stated_problem_still_need_an_apology(inspector, message):
    assert "no_apology" in rules_of(inspector, COMPLAINT_REPLY, message, scenario="complaint")
    assert "no_apology" not in rules_of(inspector, COMPLAINT_REPLY, "这个还不错吧 有优惠吗", scenario="complaint")


@pytest.mark.parametrize("message", ["到底什么时候能退", "你们到底发不发货", "过了七天了还能换吗", "超过15天了能退吗",
                                     "好的 没事了", "不用了 谢谢"])
def test_impatience_a_time_limit_or_letting_it_drop_states_no_problem(inspector, message):
    # 到底 and A-not-A press for an answer, 超过七天了 names a limit, 没事了 drops the matter: no grievance.
    assert "no_apology" not in rules_of(inspector, COMPLAINT_REPLY, message, scenario="complaint")


@pytest.mark.parametrize("message", ["到底怎么回事 东西坏了", "买了七天了还没发", "没事了才怪 质量太差"])
def test_a_problem_beside_impatience_or_a_time_still_needs_an_apology(inspector, message):
    assert "no_apology" in rules_of(inspector, COMPLAINT_REPLY, message, scenario="complaint")


def test_asking_to_leave_the_parcel_at_a_station_is_no_grievance(inspector):
    assert "no_apology" not in rules_of(inspector, COMPLAINT_REPLY, "快递能放驿站吗 白天不在家", scenario="logistics")
    assert "no_apology" in rules_of(inspector, COMPLAINT_REPLY, "快递又给我放驿站了", scenario="logistics")


def test_no_apology_applies_to_complaints_and_late_or_lost_parcels(inspector):
    assert "no_apology" not in rules_of(inspector, COMPLAINT_REPLY, "什么时候发货", scenario="logistics")
    assert "no_apology" in rules_of(inspector, COMPLAINT_REPLY, "都五天了还没到", scenario="logistics")
    assert "no_apology" in rules_of(inspector, COMPLAINT_REPLY, "快递员把我的包裹弄丢了", scenario="logistics")
    assert "no_apology" in rules_of(inspector, COMPLAINT_REPLY, "下单五天了，物流还是显示已揽收", scenario="logistics")
    assert "no_apology" in rules_of(inspector, COMPLAINT_REPLY, "你们说今天发货，到现在都没发", scenario="logistics")
    # The buyer's own slip, a question about speed, bargaining and fit are owed no apology.
    assert "no_apology" not in rules_of(inspector, COMPLAINT_REPLY, "地址填错了 能改吗", scenario="logistics")
    assert "no_apology" not in rules_of(inspector, COMPLAINT_REPLY, "双十一发货会慢吗", scenario="logistics")
    assert "no_apology" not in rules_of(inspector, COMPLAINT_REPLY, "太贵了", scenario="price")
    assert "no_apology" not in rules_of(inspector, COMPLAINT_REPLY, "穿着太紧了 能换L吗", scenario="size")


def test_complaint_flag_overrides_the_scenario(inspector):
    assert "no_apology" in rules_of(inspector, COMPLAINT_REPLY, "能便宜点吗", scenario="price", complaint=True)
    assert "no_apology" not in rules_of(inspector, COMPLAINT_REPLY, "衣服破了", scenario="complaint", complaint=False)


def test_without_a_scenario_it_is_guessed_from_the_message(inspector):
    assert "no_apology" in rules_of(inspector, COMPLAINT_REPLY, "衣服收到就破了个洞，质量太差了")
    assert "no_apology" not in rules_of(inspector, COMPLAINT_REPLY, "这个会起球吗")


@pytest.mark.parametrize("message, scenario", [
    ("170 60kg穿什么码", "size"),
    ("码数太小穿不上 退货怎么弄", "size"),  # a return because of fit is size
    ("能便宜点吗 有优惠券吗", "price"),
    ("几号发货 用什么快递", "logistics"),
    ("收到就坏了 我要投诉", "complaint"),
    ("在吗", None),
    ("", None),
])
def test_guess_scenario(inspector, message, scenario):
    assert inspector.guess_scenario(message) == scenario


# ---------------------------------------------------------------------------------------------
# absolute
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reply, word", [
    ("您好，绝对是正品", "绝对"),
    ("您好，这个颜色永不褪色", "永不"),
    ("您好，保证明天到", "保证明天到"),
    ("您好，明天一定到", "明天一定到"),
    ("可以的，今天下午一定给您送到！", "今天下午一定给您送到"),
    ("您好，百分之百不会褪色", "百分之百不会"),
    ("您好，纯棉的100%不缩水", "100%不"),  # a negation after 100% promises what will not happen
    ("您好，这款面霜一定能祛斑", "一定能祛"),
    ("您好，用完一瓶斑点全部消失", "全部消失"),
])
def test_absolute(inspector, reply, word):
    assert spans_of(inspector, reply, "absolute") == [word]
    assert "ad_law" not in rules_of(inspector, reply)


@pytest.mark.parametrize("reply, word", [
    ("您好，这已经是最低价了", "最低价"),
    ("您好，我们家销量全网第一", "全网第一"),
    ("您好，这款是类目第一名", "第一名"),
    ("您好，质量我们是第一，放心", "第一"),
    ("您好，100%正品，放心购买", "100%"),
    ("您好，全网最便宜就是我们家", "全网最"),
    ("您好，这款是NO.1爆款", "NO.1"),
    ("可以的，这是市面上最温和的面膜", "最温和"),
    ("我们这款是市面上最安静的风扇", "最安静"),
    ("哈哈是的亲，我们是全网发货最快的店铺！", "全网发货最"),
    ("这是同类最耐摔的手机壳", "最耐摔"),  # a comparison with the market, whatever the adjective
    ("您好，敏感肌首选这款", "首选"),
])
def test_ad_law(inspector, reply, word):
    assert spans_of(inspector, reply, "ad_law") == [word]


@pytest.mark.parametrize("reply", [
    "您好，我们会第一时间为您发货",
    "您好，第一次购买可以领新人券",
    "您好，这是我们家第一批到货的",
    "您好，这款是100%纯棉的，很透气",  # composition is a label fact, not a promise
    "您好，面料成分：棉100%",
    "您好，这款是百分之百桑蚕丝",
    "您好，这款洗面奶100%不含酒精",  # what it is made of, as 100%纯棉
    "您好，饼干的最佳赏味期是开封后三天",
    "您好，一般明天就能到，具体以物流为准",
])
def test_facts_and_ordinals_are_not_absolute(inspector, reply):
    assert not {"absolute", "ad_law"} & set(rules_of(inspector, reply))


# ---------------------------------------------------------------------------------------------
# placeholder
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reply, word", [
    ("您好，您的订单{order_id}已经发货", "{order_id}"),
    ("您好，您的订单{{ order_id }}已经发货", "{{ order_id }}"),
    ("您好，您的订单【订单号】已经发货", "【订单号】"),
    ("您好，快递是【快递公司】，单号【快递单号】", "【快递公司】"),
    ("您好，请寄到【退货地址】，写上【手机号】", "【退货地址】"),
    ("您好，收件人写【收件人姓名】就行", "【收件人姓名】"),
    ("您好，退款【】元已经原路返回", "【】"),
    ("您好，退款【XX元】已经原路返回", "【XX元】"),
    ("好的，已经帮您改为北京市朝阳区XXX路，收件人XXX", "XXX"),  # a stand-in for a value, bare
    ("您好，欢迎光临XX旗舰店", "XX"),
    ("您好，收到后给您发出【颜色】款", "【颜色】"),
    ("亲，链接在这里：【商品链接】，点进去就能拍", "【商品链接】"),
    ("您好，{商品名}目前有现货", "{商品名}"),  # a slot named in Chinese
    ("您好，【颜色列表】都有现货", "【颜色列表】"),
    ("你好，请提供您的【会员等级】，我帮您查询", "【会员等级】"),
])
def test_placeholder(inspector, reply, word):
    assert spans_of(inspector, reply, "placeholder")[0] == word


@pytest.mark.parametrize("reply", [
    "您好，请在订单页点【申请退款】，选择原因提交就行",  # button names are verb-object
    "您好，点【确认收货】后就能评价了",
    "您好，在订单里点【修改地址】就可以改",  # ends in 址 but starts with an action
    "您好，首页点【领取优惠券】再下单更划算",
    "您好，您拍的是【XL码】，今天发出",  # a filled value
    "您好，您拍的是【大号】，今天发出",
    "您好，【双11】活动明天开始，{ 记得加购 }",
    "您好，170的身高建议拍XXL，XL会偏紧",  # sizes are not stand-ins
    "您好，【重要】发货前请核对地址",
])
def test_button_names_and_filled_values_are_not_placeholders(inspector, reply):
    assert "placeholder" not in rules_of(inspector, reply)


# ---------------------------------------------------------------------------------------------
# too_short
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reply", ["", "   ", "好的", "嗯嗯。", "稍等～", "😊😊😊😊😊😊", "在的亲", "亲，稍等下", "快了"])
def test_too_short(inspector, reply):
    # None of these says 您 or 请 either: the human convention marks a bare reply both ways.
    result = inspector.inspect("什么时候发货", reply)
    assert result.rules == ("too_short", "polite")
    assert (result.ok, result.score, result.findings[0].span) == (False, 100 - 25 - 10, None)


@pytest.mark.parametrize("reply", ["嗯", "好"])
def test_a_bare_word_is_too_short_and_impolite_but_not_rude(inspector, reply):
    assert rules_of(inspector, reply, "能便宜点吗") == ("too_short", "polite")


@pytest.mark.parametrize("reply", ["不行", "不行！", "随便", "不知道", "？？"])
def test_a_bare_refusal_or_shrug_is_rude(inspector, reply):
    assert "rude" in rules_of(inspector, reply, "能便宜点吗")


@pytest.mark.parametrize("message, reply", [("这个盒子能微波炉加热吗", "可以的"), ("有黑色吗", "有的"),
                                            ("什么时候发", "明天")])
def test_a_short_whole_answer_is_not_too_short(inspector, message, reply):
    assert rules_of(inspector, reply, message) == ("polite",)


@pytest.mark.parametrize("message, reply", [("发的什么快递", "中通"), ("啥时候发货", "48小时内"),
                                            ("什么时候发货", "亲，已发货"), ("能开具维修证明吗", "可以开的")])
def test_a_terse_reply_that_says_something_is_not_too_short(inspector, message, reply):
    # Terse, but it answers: the too_short convention is "嗯", "好", "稍等" alone.
    assert "too_short" not in rules_of(inspector, reply, message)


@pytest.mark.parametrize("reply", ["快了", "不一定。", "请耐心等待", "为什么", "您好呀", "嗯呢", "不知道"])
def test_a_short_reply_of_fillers_hedges_or_a_bare_question_word_is_too_short(inspector, reply):
    assert "too_short" in rules_of(inspector, reply, "明天能到吗")


def test_a_short_presence_answer_is_enough_mid_conversation_only(inspector):
    assert "too_short" not in rules_of(inspector, "在", "在吗在吗", position="middle")
    assert "too_short" in rules_of(inspector, "在", "在吗在吗", position="first")  # the first owes an offer to help
    assert "too_short" in rules_of(inspector, "在", "在吗 请问能7天无理由吗", position="middle")


@pytest.mark.parametrize("reply, rude", [("看尺码表", True), ("查物流", True), ("问快递", True),
                                         ("看到了", False), ("请看尺码表", False), ("亲，看尺码表哦", False)])
def test_a_bare_order_to_go_and_look_it_up_is_rude(inspector, reply, rude):
    assert ("rude" in rules_of(inspector, reply, "180 160斤 XL够不够")) == rude


@pytest.mark.parametrize("message", ["那就拍M了哈", "好的 谢谢", "收到"])
def test_a_short_reply_to_a_buyer_who_asked_nothing_is_not_too_short(inspector, message):
    assert "too_short" not in rules_of(inspector, "嗯嗯", message)
    assert "too_short" in rules_of(inspector, "嗯嗯", message + " 什么时候发货")


@pytest.mark.parametrize("message, reply, enough", [
    ("东西坏了", "怎么坏了", True), ("杯子裂了", "哪里裂了？", True), ("颜色不对", "哪个颜色？", True),
    ("我要退货", "为什么", False),  # a bare question word names nothing of the buyer's
    ("我要退货", "退货？", False),  # an echo without a question word asks nothing new
    ("什么时候发货", "什么时候", False),  # the buyer's own question word is not their matter
])
def test_a_short_question_back_about_the_buyers_words_is_not_too_short(inspector, message, reply, enough):
    assert ("too_short" not in rules_of(inspector, reply, message)) == enough


@pytest.mark.parametrize("reply", ["您稍等", "请稍等", "您好", "請稍候"])
def test_a_short_polite_reply_is_only_too_short(inspector, reply):
    assert rules_of(inspector, reply, "什么时候发货") == ("too_short",)


def test_six_characters_are_enough(inspector):
    assert "too_short" not in rules_of(inspector, "您好，明天发货")


def test_a_short_reply_is_still_checked_for_its_content(inspector):
    # 滚开 says something (the other rules judge what): not too_short
    assert rules_of(inspector, "滚开!!!") == ("rude", "shouting", "polite")


@pytest.mark.parametrize("message, reply, enough", [
    ("这个有M码吗", "有", False), ("这个有M码吗", "有的", True),  # a bare one-character yes is too curt
    ("这个有M码吗", "M", False), ("穿什么码", "M码", True),
    ("请问这个有赠品吗", "没有", False), ("那个配件能单独买吗？", "不能", False), ("有蓝色的吗", "没有。", False),
    ("洗了会掉色吗", "不会的", True),  # a reassuring no answers a worry; a flat refusal owes a reason
])
def test_a_bare_yes_of_one_character_or_a_flat_no_is_too_short(inspector, message, reply, enough):
    assert ("too_short" not in rules_of(inspector, reply, message)) == enough


@pytest.mark.parametrize("message, reply, enough", [
    ("这个床垫是什么材质的 有没有甲醛", "乳胶", False),
    ("请问这个手表防水吗 游泳能戴吗", "生活防水", False),
    ("能拖地吗？家里有地毯会不会卡住？", "能拖。", False),
    ("在吗 这个有M码吗", "有的", True),  # calling for the agent asks nothing of the goods
    ("这个床垫是什么材质的 有没有甲醛", "哪个床垫？", True),  # asking back about their words is a turn
])
def test_a_few_characters_do_not_answer_two_questions(inspector, message, reply, enough):
    assert ("too_short" not in rules_of(inspector, reply, message)) == enough


@pytest.mark.parametrize("message, reply, enough", [
    ("你们是不是自营的", "亲 是的呢～", True),  # the address before a whole yes
    ("？", "亲 怎么了", True), ("？？", "在的，怎么了", True),  # marks alone: asking what they mean answers
    ("？", "嗯嗯", False),
    ("谢了", "嗯", True),  # thanks ask nothing
])
def test_address_marks_alone_and_thanks(inspector, message, reply, enough):
    assert ("too_short" not in rules_of(inspector, reply, message)) == enough


# ---------------------------------------------------------------------------------------------
# relevance
# ---------------------------------------------------------------------------------------------


def test_relevance_below_the_threshold(inspector):
    threshold = inspector.rules.min_answer_probability
    assert "relevance" in rules_of(inspector, GOOD, "什么时候发货", relevance=threshold - 0.01)
    assert "relevance" not in rules_of(inspector, GOOD, "什么时候发货", relevance=threshold)
    assert "relevance" not in rules_of(inspector, GOOD, "什么时候发货", relevance=None)


def test_relevance_when_the_reply_talks_about_another_scenario(inspector):
    reply = "您好，我们家现在满200减20，还可以叠加优惠券，祝您购物愉快～"
    result = inspector.inspect("170 60kg穿什么码", reply, scenario="size")
    (finding,) = [f for f in result.findings if f.rule == "relevance"]
    assert reply[finding.span[0] : finding.span[1]] == "满200"
    assert "尺码" in finding.detail and "价格优惠" in finding.detail


def test_relevance_when_a_complaint_gets_a_sales_pitch(inspector):
    reply = "您好，我们家现在满200减20，还可以叠加优惠券，祝您购物愉快～"
    assert "relevance" in rules_of(inspector, reply, "衣服破了个洞", scenario="complaint")
    answered = "非常抱歉，给您补发一件，再送您一张5元优惠券，祝您购物愉快～"
    assert "relevance" not in rules_of(inspector, answered, "衣服破了个洞", scenario="complaint")


@pytest.mark.parametrize("message, scenario", [("这个好用吗", "other"), ("面霜和精华哪个先用", None),
                                               ("衣服洗一次就缩水了", "complaint")])
def test_relevance_when_a_sales_pitch_replaces_the_answer(inspector, message, scenario):
    reply = "非常抱歉，我们家现在满200减20，新款也上了，欢迎选购，祝您购物愉快。"
    result = inspector.inspect(message, reply, scenario=scenario)
    (finding,) = [f for f in result.findings if f.rule == "relevance"]
    assert "推销" in finding.detail and reply[finding.span[0] : finding.span[1]] == "满200减20"
    # Asked about price, a promotion is the answer.
    assert "relevance" not in rules_of(inspector, reply, "有优惠吗", scenario="price")


def test_a_pitch_beside_an_answer_to_the_question_is_not_off_the_point(inspector):
    answered = "您好，这款只有图上三个颜色哦，另外推荐您看下我们家新款，今天还有满减～"
    assert "relevance" not in rules_of(inspector, answered, "有没有同款别的颜色", scenario="other")
    instead = "您好，推荐您看下我们家新款，今天还有满减～"
    assert "relevance" in rules_of(inspector, instead, "有没有同款别的颜色", scenario="other")


def test_a_message_that_asks_nothing_is_not_missed_by_a_low_answer_probability(inspector):
    reply = "好的，感谢您的光临，祝您购物愉快。"
    threshold = inspector.rules.min_answer_probability
    assert "relevance" not in rules_of(inspector, reply, "ok 谢谢", relevance=threshold / 2)
    assert "relevance" in rules_of(inspector, reply, "好的 什么时候发货", relevance=threshold / 2)


def test_a_gift_answers_a_price_message(inspector):
    reply = "这边给您备注送一份护手霜试用装，随包裹一起发出，您收到注意查收哦。"
    assert "relevance" not in rules_of(inspector, reply, "那再送个小礼物呗", scenario="price")


def test_the_answer_probability_threshold_is_the_tuned_one(inspector):
    # corpus/inspection_rules.yaml and docs/measurements.md say how it was chosen; change all together.
    assert inspector.rules.min_answer_probability == pytest.approx(0.07)


@pytest.mark.parametrize("message, scenario, reply", [
    ("170 60kg穿什么码", "size", "您好，建议您拍L码，今天下单满200减20，祝您购物愉快～"),  # answers, then sells
    ("这个好用吗", "other", "您好，很好用的，销量一直很高，祝您购物愉快～"),  # one pitch word is a description
    ("什么时候发货", "logistics", "您好，今天下单今天发货，现在还有满200减20的活动，祝您购物愉快～"),  # answers, then sells
    ("衣服破了个洞", "complaint", "非常抱歉，给您退款，再送您一张优惠券，新款也可以看看，祝您生活愉快。"),  # remedy first
    ("什么时候发货", "logistics", "您好，今天就能发，这款现在有优惠，祝您购物愉快～"),  # one stray cue is not "clearly"
])
def test_relevance_keywords_are_conservative(inspector, message, scenario, reply):
    assert "relevance" not in rules_of(inspector, reply, message, scenario=scenario)


@pytest.mark.parametrize("message, reply, left_open", [
    ("这个锅有多重", "您好～这款锅是32cm大口径，适合三到五口之家，还送一把木铲。", True),
    ("这个锅有多重", "您好，这款锅净重1.2kg，单手拿着不累。", False),
    ("马克笔是油性还是水性", "您好，这套马克笔有48色和80色两种规格，附赠收纳笔袋。", True),
    ("马克笔是油性还是水性", "您好，是水性的，不透纸也没有味道。", False),
    ("这件毛衣能机洗吗", "您好，这款毛衣是羊毛混纺面料，手感软糯细腻，贴身穿也不扎。", True),
    ("这件毛衣能机洗吗", "您好，可以机洗，建议装洗衣袋选轻柔模式。", False),
    ("这件毛衣能机洗吗", "您好，建议手洗，不要机洗，容易变形。", False),
    ("退货运费谁出", "您好，退货请在订单页提交申请，快递会上门取件。", True),
    ("退货运费谁出", "您好，质量问题的退货运费由我们承担，您先垫付，我们退款时一起退给您。", False),
    ("那我换货的话需要多久", "亲，换货可以在订单详情页点“申请售后”，选择换货并填写新尺码。", True),
    ("那我换货的话需要多久", "您好，收到您寄回的商品后2天内给您换新发出。", False),
    ("单号多少 我查不到", "您好，您的快递单号是{tracking_no}，复制到快递官网就可以查。", False),  # a slot is an answer
    ("能帮我看看我的件到哪了吗", "您好，稍等我查一下，您的包裹在杭州转运中心，预计明天送到。", False),  # a request
    ("拍了三天了怎么还没发货", "您好，您的订单今天下午就会发出，请您耐心等待。", False),
    ("换的新鞋什么时候寄出", "您好，我们会尽快给您寄出，请您耐心等待。", True),  # 尽快 gives no time
    ("换的新鞋什么时候寄出", "您好，仓库收到旧鞋后马上给您寄出。", False),
    ("现在下单星期几能到", "您好，现在下单都是正常发货的，请放心。", True),
    ("现在下单星期几能到", "您好，今天下单走顺丰，星期四就能送到。", False),
    ("这个包能不能装下A4纸", "您好，这款包是头层牛皮的，做工很细致。", True),  # A-not-A without 吗
    ("这个包能不能装下A4纸", "您好，可以装下，还有空余放水杯。", False),
    ("黑色有没有货了", "您好，现在下单还送小礼品哦，祝您购物愉快。", True),
    ("黑色有没有货了", "您好，黑色有货的，今天下单今天发。", False),
    ("被子有味道 是不是不合格啊", "您好，新被子有轻微的面料气味很常见，通风晾两天就散了。", False),  # a suspicion
    ("好 那我要两件 能再便宜吗", "两件给您减10块，直接拍，我给您改价。", False),  # a reduction answers it
    ("618价格会降吗", "您好，618是全年最低价，到时候下单更划算。", False),
    ("能再便宜点吗", "您好，这款是纯棉的，做工很好。", True),
    ("这个电热水器安装要钱吗", "您好，基础安装免费，额外的材料按当地标准收取。", False),  # answered in other terms
    ("這個有沒有贈品", "亲，现在下单送同系列旅行装一套，送完为止哦～", False),
    ("有没有小一号的 我脚35", "亲，这款最小码是35码的哦，35穿正好～", False),
    ("冰箱送货上门吗？需要我自己搬上楼不？", "亲 送货上门的哦，楼层不限，免费送到家的～", False),
    ("这个电热水器安装要钱吗", "您好，这款热水器有白色和银色两种颜色。", True),
    ("我都说了不要打包带 怎么还是用了", "不好意思亲，仓库没注意看备注，下次注意。", False),  # "still", not a choice
])
def test_a_reply_that_leaves_the_kind_of_question_open_misses_it(inspector, message, reply, left_open):
    """The fourth relevance signal: the question's form (when, how heavy, which of two, can it, who pays)."""
    assert ("relevance" in rules_of(inspector, reply, message)) == left_open


# ---------------------------------------------------------------------------------------------
# Input, spans, long and messy text
# ---------------------------------------------------------------------------------------------


def test_invalid_arguments_list_the_choices(inspector):
    with pytest.raises(InputError, match="valid platforms: taobao, tmall, jd"):
        inspector.inspect("", GOOD, platform="pdd")
    with pytest.raises(InputError, match="valid scenarios: size, price, logistics, complaint, other"):
        inspector.inspect("", GOOD, scenario="refund")
    with pytest.raises(InputError, match="probability"):
        inspector.inspect("", GOOD, relevance=float("nan"))
    with pytest.raises(InputError, match="probability"):
        inspector.inspect("", GOOD, relevance=0.9 + 1)
    with pytest.raises(InputError, match="text"):
        inspector.inspect("", None)  # type: ignore[arg-type]


def test_spans_point_into_the_reply_as_typed(inspector):
    # Traditional, full-width, a zero-width space and an emoji before the offending words.
    reply = "\u200b😊 親，這款絕對是正品！！！您看下【訂單號】"
    result = inspector.inspect("", reply, platform="jd", position="middle")
    found = {f.rule: reply[f.span[0] : f.span[1]] for f in result.findings if f.span}
    assert found == {"jd_qin": "親", "absolute": "絕對", "shouting": "！！！", "placeholder": "【訂單號】"}


def test_matchable_keeps_every_offset():
    text = "\u200b親 ，請問！！ 這個 XL碼\u3000有嗎？"
    folded = matchable(text)
    assert len(folded) == len(text)
    assert folded == "\u200b亲 ,请问!! 这个 XL码\u3000有吗?"


def test_a_5000_character_reply_is_fast_and_findings_are_capped(inspector):
    reply = "您好，" + "这款卖得很好，我们第一时间发货!!!" * 280 + "祝您购物愉快"
    assert len(reply) > 5000
    started = time.perf_counter()
    result = inspector.inspect("什么时候发货", reply, platform="jd")
    assert time.perf_counter() - started < 1.0
    assert result.rules == ("shouting",)
    assert len(result.findings) == inspector.rules.max_findings_per_rule
    assert [reply[f.span[0] : f.span[1]] for f in result.findings] == ["!!!"] * len(result.findings)


# ---------------------------------------------------------------------------------------------
# The reply generator's own output passes (both read corpus/etiquette.yaml)
# ---------------------------------------------------------------------------------------------

FILLED = {"product": "这款连衣裙", "order_id": "2024061812345", "coupon": "5元优惠券", "amount": "20元", "size": "L码",
          "tracking_no": "SF1234567890", "courier": "顺丰", "date": "6月18日", "days": "3", "gift": "同款袜子",
          "address": "浙江省杭州市西湖区文三路1号", "agent": "小美", "shop": "本店"}


def _all_filled(platform: str) -> dict[str, str]:
    """Every slot filled: the demo shop's facts for the platform, a computed size, the request's values,
    and a stand-in for any fact the shop has not set: a bare number where the template writes the unit
    (`_days`, `_hours`, `_yuan`, `months`), else a phrase with a time and an amount in it, as a shop's
    own text would have (a bare "3" answers no "什么时候")."""
    from app.service import platform_facts
    from app.shop import load_shop_profile

    facts = platform_facts(load_shop_profile(CORPUS).facts(), platform)
    numeric = re.compile(r"(?:_days|_hours|_yuan|months)$")
    stand_in = {name: "3" if numeric.search(name) or "." not in name else "付款后3天内，3元"
                for name in SLOT_PLACEHOLDERS}
    return {**stand_in, **facts, "recommended_size": "L", **FILLED}


# Templates whose reply leaves the kind of question of their first example open (the relevance rule's
# question check): library gaps to rewrite and have judged again, not inspector mistakes. Listed so
# the test below still fails on any other template and on any of these once it answers.
LEAVES_ITS_QUESTION_OPEN = {
    "price.shipping_fee.furniture_volume",  # 沙发运费多少: no amount until the freight company weighs it
    "logistics.ship_time.made_to_order",  # 沙发多久能发: says it depends, gives no time
    "price.trade_in.estimate",  # 以旧换新旧的能抵多少钱: says where to see the estimate
    "size.fit.body_shape",  # 怀孕五个月 M还是L: says how to choose, names neither
    "complaint.exchange.reship_time",  # 新的啥时候发: 尽快 after the return arrives, no time
    "other.spec.food_shelf_life",  # 保质期多久: says where it is printed (its 尽快吃完 had passed for a time)
}


def test_composed_template_replies_pass(inspector):
    composer = ReplyComposer(Etiquette.load(CORPUS))
    failures = []
    for template in load_templates(CORPUS):
        # As the service decides it: a complaint, or a message owed an apology ("怎么还没到").
        complaint = template.scenario == "complaint" or inspector.rules.etiquette.owes_apology(template.examples[0], template.scenario)
        for platform in template.platforms:
            for first_turn in (True, False):
                text = composer.compose(template, platform=platform, first_turn=first_turn, complaint=complaint,
                                        slots=_all_filled(platform)).text
                result = inspector.inspect(template.examples[0], text, platform=platform,
                                           position="first" if first_turn else "last",
                                           scenario=template.scenario)
                expected = ("relevance",) if template.id in LEAVES_ITS_QUESTION_OPEN else ()
                if result.rules != expected:
                    failures.append((template.id, platform, first_turn, result.rules, text))
    assert failures == []


def test_composed_replies_in_a_plain_register_are_not_rude(inspector):
    # The same answers with 你 for 您 and no 请, 亲 or apology: informal, never rude.
    composer = ReplyComposer(Etiquette.load(CORPUS))
    plain = {"您": "你", "请": "", "亲，": "", "亲": "", "麻烦": "", "抱歉": "", "不好意思": "", "谢谢": "", "感谢": ""}
    rude = []
    for template in load_templates(CORPUS):
        text = composer.compose(template, platform="taobao", first_turn=False, complaint=False,
                                slots=_all_filled("taobao")).text
        for polite, bare in plain.items():
            text = text.replace(polite, bare)
        if "rude" in rules_of(inspector, text, template.examples[0], scenario=template.scenario):
            rude.append((template.id, text))
    assert rude == []


def test_unfilled_slots_are_exactly_the_placeholder_findings(inspector):
    composer = ReplyComposer(Etiquette.load(CORPUS))
    for template in load_templates(CORPUS):
        composed = composer.compose(template, platform="taobao", first_turn=True, complaint=False)
        result = inspector.inspect("", composed.text, scenario=template.scenario)
        found = {composed.text[f.span[0] : f.span[1]] for f in result.findings if f.rule == "placeholder"}
        assert found == {SLOT_PLACEHOLDERS[slot] for slot in composed.missing_slots}, template.id


# ---------------------------------------------------------------------------------------------
# Loading the rules
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def rules_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS / "handbooks", corpus / "handbooks")
    for name in ("etiquette.yaml", "inspection_rules.yaml"):
        shutil.copy(CORPUS / name, corpus / name)
    return corpus


def _edit_rules(corpus, change) -> None:
    path = corpus / "inspection_rules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _rule(data, name):
    return next(rule for rule in data["rules"] if rule["rule"] == name)


def test_the_copied_rules_load(rules_corpus):
    assert set(InspectionRules.load(rules_corpus, Etiquette.load(rules_corpus)).specs) == set(RULES)


@pytest.mark.parametrize("change, message", [
    (lambda d: d["rules"].pop(), "missing"),
    (lambda d: _rule(d, "rude")["patterns"].append("(unclosed"), "rude has a bad pattern"),
    (lambda d: _rule(d, "greeting").update(source={"doc": "999_nowhere.txt", "quote": "欢迎语"}), "missing handbook"),
    (lambda d: _rule(d, "closing").pop("window"), "closing needs window"),
    (lambda d: _rule(d, "polite").update(severity="fatal"), "severity"),
    (lambda d: _rule(d, "shouting").update(detail="{nope}"), "allowed"),
])
def test_bad_rules_fail_with_the_file_and_the_rule(rules_corpus, change, message):
    _edit_rules(rules_corpus, change)
    with pytest.raises(CorpusError, match="inspection_rules.yaml") as raised:
        InspectionRules.load(rules_corpus, Etiquette.load(rules_corpus))
    assert message in str(raised.value)


# ---------------------------------------------------------------------------------------------
# rude: the semantic signal (the ToneModel's probability, passed by the caller)
# ---------------------------------------------------------------------------------------------

# No rude or curt word, but the tone model would call it dismissive.
COLD_BUT_CLEAN = "您好，这款是纯棉的，今天下单明天发货，有问题随时联系我们，祝您购物愉快～"


def test_rudeness_at_or_above_the_threshold_adds_a_rude_finding(inspector):
    threshold = inspector.rules.tone_threshold
    for rudeness in (threshold, min(1.0, threshold + 0.3)):
        result = inspector.inspect("什么时候发货", COLD_BUT_CLEAN, scenario="logistics", rudeness=rudeness)
        assert result.rules == ("rude",) and not result.ok and result.score == 60
        (finding,) = result.findings
        assert finding.span is None and "语义模型" in finding.detail and f"{rudeness:.2f}" in finding.detail


@pytest.mark.parametrize("reply, rude", [("你才破", True), ("亲 您说话注意点", True), ("你才是骗子吧", True),
                                         ("您才是我们最重要的客人～", False), ("请您注意查收短信哦", False)])
def test_a_retort_or_a_warning_to_the_buyer_is_rude(inspector, reply, rude):
    assert ("rude" in inspector.inspect("你们这什么破东西", reply).rules) == rude


@pytest.mark.parametrize("reply, slot", [("亲亲这边查了一下[色号]目前有货的哦", "[色号]"), ("您点这里[链接]就能领", "[链接]"),
                                         ("好的亲[微笑]马上安排", None), ("您好[可爱]欢迎光临", None)])
def test_a_slot_in_ascii_brackets_is_a_placeholder_and_an_emoticon_is_not(inspector, reply, slot):
    assert spans_of(inspector, reply, "placeholder") == ([slot] if slot else [])


def test_a_rude_reply_is_not_also_irrelevant(inspector):
    reply = "您好，物流的事我们这边也控制不了，您着急的话请自己联系快递公司问问。"
    assert inspector.inspect("什么时候能到啊 急", reply, rudeness=0.9).rules == ("rude",)
    assert "relevance" in inspector.inspect("什么时候能到啊 急", "您好，这款是纯棉的，穿着很舒服。", rudeness=0.1).rules


def test_the_tone_model_is_not_asked_about_an_over_promise(inspector):
    # The promise's bluster is the absolute finding; the model's alarm would name the same defect twice.
    rules = inspector.inspect("保质期多久", "亲我们的产品永远不会过期的，放多久都没事~", rudeness=0.9).rules
    assert "absolute" in rules and "rude" not in rules
    assert "rude" in inspector.inspect("保质期多久", "亲，包装上写着呢，自己看一下。", rudeness=0.9).rules


@pytest.mark.parametrize("reply", ["绝对第一！用过的都说好", "顶级头层牛皮 绝对的No.1", "同价位里吸力最强，绝对没有之一"])
def test_absolutely_first_is_a_ranking_not_a_promise(inspector, reply):
    rules = inspector.inspect("效果怎么样", reply).rules
    assert "ad_law" in rules and "absolute" not in rules
    assert "absolute" in inspector.inspect("会掉色吗", "绝对不会掉色").rules


def test_the_tone_model_is_not_asked_about_a_too_short_reply(inspector):
    # "稍等" is too short and impolite; whatever the model makes of two characters, it is not rude.
    assert inspector.inspect("帮我查下物流", "稍等", rudeness=0.99).rules == ("too_short", "polite")
    # Rude words still count on a short reply.
    assert "rude" in inspector.inspect("到哪了", "不知道", rudeness=0.0).rules


def test_rudeness_below_the_threshold_or_absent_adds_nothing(inspector):
    threshold = inspector.rules.tone_threshold
    for rudeness in (None, 0.0, threshold - 0.01):
        result = inspector.inspect("什么时候发货", COLD_BUT_CLEAN, scenario="logistics", rudeness=rudeness)
        assert result == Inspection(ok=True, score=100, findings=())


def test_rudeness_adds_nothing_when_the_word_lists_already_found_rudeness(inspector):
    reply = "你是不是傻，自己看详情页"
    lexical = [f for f in inspector.inspect("", reply).findings if f.rule == "rude"]
    assert lexical
    both = [f for f in inspector.inspect("", reply, rudeness=0.99).findings if f.rule == "rude"]
    assert both == lexical


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.9"])
def test_rudeness_must_be_a_probability(inspector, bad):
    with pytest.raises(InputError, match="rudeness"):
        inspector.inspect("", GOOD, rudeness=bad)


def test_the_rude_rule_needs_a_tone_threshold(rules_corpus):
    _edit_rules(rules_corpus, lambda d: _rule(d, "rude").pop("tone_threshold"))
    with pytest.raises(CorpusError, match="rude needs tone_threshold"):
        InspectionRules.load(rules_corpus, Etiquette.load(rules_corpus))


def test_every_word_the_composer_rewrites_is_one_the_inspection_catches(inspector):
    # What the reply generator removes from templates (etiquette.yaml absolute.replacements) is what
    # the inspection fails in agents' replies: a promise (absolute) or an Advertising Law term (ad_law).
    for word, _ in Etiquette.load(CORPUS).absolute:
        result = inspector.inspect("能便宜点吗", f"您好，这款{word}哦，请放心。", platform="taobao")
        assert {"absolute", "ad_law"} & set(result.rules), word


@pytest.mark.parametrize("reply, caught", [
    ("您好，这款是全网最低价，请放心购买。", True), ("您好，这款是我们家卖得最火的，请放心。", True),
    ("您好，顶级面料，请放心。", True), ("您好，国家级工艺，请放心。", True),
    ("您好，您最好先量一下腰围再选。", False), ("您好，最近发货比较快，最快明天到。", False),
    ("您好，我们第一时间为您处理。", False), ("您好，这是您第一次购买吗？", False), ("您好，最后一件了。", False),
    ("您好，面料是100%纯棉的，请放心。", False),
])
def test_the_advertising_law_rule_is_its_own_with_its_exceptions(inspector, reply, caught):
    result = inspector.inspect("这款怎么样", reply, platform="taobao")
    assert ("ad_law" in result.rules) == caught
    assert "absolute" not in result.rules
    if caught:
        spec = inspector.rules.specs["ad_law"]
        assert "广告法" in spec.source and spec.severity == "medium" and not result.ok


def test_a_long_run_of_digits_is_inspected_in_linear_time(inspector):
    # The live check inspects on every pause in typing: a pasted run of digits once cost 0.13 s
    # (a price cue retried the run from each digit). Ten times the text, about ten times the time.
    def cost(text: str) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            inspector.inspect("什么时候发货", text, platform="jd", position="last")
            best = min(best, time.perf_counter() - started)
        return best

    for unit in ("1", "满1", "3天"):
        assert cost(unit * 1000) < 40 * cost(unit * 100), unit


@pytest.mark.parametrize("reply, answered", [("亲，618会有活动的，到时候关注一下哦", True),
                                             ("亲，双十一前后会有活动的哦", True),
                                             ("亲，会有活动的，到时候关注一下哦", False)])
def test_a_shopping_festival_answers_when(inspector, reply, answered):
    # 618 and 双十一 are dates; "会有活动的" alone leaves the buyer asking when.
    assert ("relevance" not in rules_of(inspector, reply, "什么时候有活动")) == answered
