import pytest

from app.compose import ReplyComposer, fill_slots
from app.corpus import Source, Template
from app.etiquette import Etiquette
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def composer():
    return ReplyComposer(Etiquette.load(CORPUS))


def template(reply: str, scenario: str = "price", topic: str | None = None) -> Template:
    return Template("t.x", scenario, topic or f"{scenario}.x", reply, ("a",) * 5, ("taobao", "tmall", "jd"),
                    Source(None, None))


def test_taobao_first_turn_has_greeting_body_and_closing(composer):
    text = composer.compose(template("亲，满{amount}包邮。"), platform="taobao", first_turn=True,
                            complaint=False, slots={"amount": "99元"}).text
    assert text == "亲，您好，欢迎光临，很高兴为您服务～满99元包邮。还有什么问题随时联系我哦，祝您购物愉快～"


def test_later_turns_have_no_greeting(composer):
    text = composer.compose(template("满{amount}包邮"), platform="tmall", first_turn=False, complaint=False).text
    assert text == "满【金额】包邮。还有其他问题随时联系我，祝您购物愉快～"


@pytest.mark.parametrize("reply", ["亲，满99包邮", "亲爱的顾客，满99包邮", "亲们注意，满99包邮", "帮亲查一下", "亲自检查过",
                                   "好的亲，马上发", "亲~您好"])
@pytest.mark.parametrize("first_turn", [True, False])
def test_jd_never_says_qin(composer, reply, first_turn):
    text = composer.compose(template(reply), platform="jd", first_turn=first_turn, complaint=False).text
    assert "亲" not in text
    assert "您" in text


def test_jd_rewrites_the_address_to_nin(composer):
    assert composer.without_qin("帮亲查一下") == "帮您查一下"
    assert composer.without_qin("亲，您的包裹到了") == "您的包裹到了"
    assert composer.without_qin("亲，包裹到了") == "您好，包裹到了"


def test_complaint_opens_with_apology_and_is_not_cheerful(composer):
    text = composer.compose(template("请拍照发我～马上处理^_^", scenario="complaint"), platform="taobao",
                            first_turn=True, complaint=True).text
    assert text == "亲，您好，非常抱歉给您带来不好的体验，请拍照发我马上处理。给您带来不便，再次向您致歉，处理进度我会一直跟进。"
    body = text.removeprefix("亲，您好，")
    assert body.startswith("非常抱歉")
    assert "～" not in text and "^_^" not in text


def test_complaint_that_already_apologises_is_not_doubled(composer):
    text = composer.compose(template("不好意思让您久等了，已催促仓库。", scenario="complaint"), platform="jd",
                            first_turn=False, complaint=True).text
    assert text.startswith("不好意思让您久等了")
    assert "非常抱歉给您带来不好的体验" not in text


@pytest.mark.parametrize("shout, expected", [("发货了!!!", "发货了。"), ("什么时候要???", "什么时候要？"),
                                             ("好的！！", "好的。"), ("好的。。。。", "好的。")])
def test_no_shouting(composer, shout, expected):
    assert composer.tidy(shout) == expected


def test_no_absolute_promises(composer):
    assert composer.tidy("全网最低价，100%正品，绝对不会坏") == "很实惠的价格，正品，不会坏"


def test_slots_filled_or_shown_as_placeholders_never_raw():
    text, missing = fill_slots("订单{order_id}由{courier}发出，单号{tracking_no}", {"order_id": "123", "courier": " "})
    assert text == "订单123由【快递公司】发出，单号【快递单号】"
    assert missing == ("courier", "tracking_no")
    assert "{" not in text

