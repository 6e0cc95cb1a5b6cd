"""app/understanding: the facts a buyer message states, the order's stage, the buyer's mood, and the tuning-set floors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.errors import CorpusError
from app.text import normalize_text
from app.understanding.entities import (
    Amount,
    Entities,
    EntityExtractor,
    bare_weight_kg,
    chinese_number,
    extract_entities,
)
from app.understanding.situation import MessageReader, SituationReader, read_situation, understand
from tests.conftest import CORPUS, REPO


@dataclass(frozen=True)
class Turn:
    role: str
    text: str


def entities(raw: str) -> Entities:
    return extract_entities(normalize_text(raw))


# --- height and weight ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "height", "weight"),
    [
        ("170 60kg穿什么码", 170.0, 60.0),
        ("170cm 65kg 选M还是L", 170.0, 65.0),
        ("一米七 一百三 男 穿多大", 170.0, 65.0),  # 一百三 is 130 斤 beside an adult height
        ("1米75 一百二十斤", 175.0, 60.0),
        ("1.75m 60公斤", 175.0, 60.0),
        ("身高165 体重110斤", 165.0, 55.0),
        ("身高175 体重150", 175.0, 75.0),  # bare 150 with 175 cm: 150 kg is implausible, 75 kg is not
        ("165 52kg", 165.0, 52.0),  # a bare 140-210 next to a weight is a height
        ("我165 104斤 穿什么码合适", 165.0, 52.0),
        ("160/50kg", 160.0, 50.0),
        ("一米六五 一百六十斤 女", 165.0, 80.0),
        ("宝宝身高110 体重38斤", 110.0, 19.0),
        ("宝宝一岁 75cm 20斤", 75.0, 10.0),
        ("請問168公分 55公斤 穿哪個尺碼", 168.0, 55.0),  # Traditional, normalised first
        ("１７０ｃｍ ６０ｋｇ", 170.0, 60.0),  # full-width
    ],
)
def test_height_and_weight(raw, height, weight):
    found = entities(raw)
    assert (found.height_cm, found.weight_kg) == (height, weight)


def test_162_105_is_162_cm_and_52_5_kg():
    # 105 kg at 162 cm would be a BMI of 40; 105 斤 (52.5 kg) is 20: the documented rule picks 斤.
    found = entities("162 105")
    assert (found.height_cm, found.weight_kg) == (162.0, 52.5)


@pytest.mark.parametrize(
    ("raw", "height", "weight"),
    [
        ("170 60", 170.0, 60.0),  # 60 斤 (30 kg) at 170 cm is implausible: kg
        ("165 90", 165.0, None),  # 90 kg and 45 kg are both plausible at 165 cm: nothing
        ("体重90", None, None),  # no height to decide by
        ("体重60", None, 60.0),
        ("体重150", None, 75.0),
        ("宝宝110 40", None, None),  # no adult height, no bare weight
        ("老大130 老二105 分别拿啥码", None, None),  # bare numbers next to no weight
    ],
)
def test_bare_weights_are_read_only_when_unambiguous(raw, height, weight):
    found = entities(raw)
    assert (found.height_cm, found.weight_kg) == (height, weight)


@pytest.mark.parametrize(
    ("value", "height", "expected"),
    [(105, 162, 52.5), (60, 170, 60), (90, 165, None), (80, 175, 80), (40, 110, None), (120, None, 60), (85, None, None)],
)
def test_bare_weight_rule(value, height, expected):
    assert bare_weight_kg(value, height) == expected


@pytest.mark.parametrize("raw", ["1.8米的床", "竹席1.5m", "零食5斤装", "这个坚果每斤多少钱", "手机号13912345678"])
def test_lengths_and_weights_of_goods_are_not_the_buyer(raw):
    found = entities(raw)
    assert (found.height_cm, found.weight_kg) == (None, None)


# --- feet, waist, sizes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "foot"),
    [("脚长24.5cm 平时穿38", 245.0), ("脚长24.5", 245.0), ("245mm", 245.0), ("我脚长240卡在中间", 240.0),
     ("26cm脚长 拿42.5吗", 260.0), ("腳長23公分", 230.0), ("小孩脚长15厘米", 150.0),
     ("我脚26厘米 脚背高", 260.0), ("刚量脚长二十五点三", 253.0)],
)
def test_foot_length_in_mm(raw, foot):
    assert entities(raw).foot_length_mm == foot


@pytest.mark.parametrize("raw", ["平时穿脚39的鞋", "这双高跟鞋 37码"])
def test_a_foot_without_length_or_unit_is_no_foot_length(raw):
    assert entities(raw).foot_length_mm is None


@pytest.mark.parametrize(
    ("raw", "waist"),
    [("腰围2尺1", 70.0), ("腰围二尺三 牛仔裤拿几号", 76.7), ("腰围70cm", 70.0), ("腰围85能穿M么", 85.0), ("胸围88 腰围70 臀围94", 70.0),
     ("腰68 臀90 拍S还是M", 68.0), ("量了腰是78", 78.0), ("腰围八十 休闲裤选几号", 80.0), ("我腰二尺四", 80.0),
     ("二尺三的腰 这条工装裤选哪码", 76.7), ("腰一尺九 最小码够小吗", 63.3)],
)
def test_waist_in_cm(raw, waist):
    assert entities(raw).waist_cm == waist


@pytest.mark.parametrize("raw", ["高腰裤 165 110斤", "腰长多少", "腰部有松紧吗"])
def test_no_waist_without_a_waist_measurement(raw):
    assert entities(raw).waist_cm is None


@pytest.mark.parametrize(("raw", "height"), [("儿子125高 有点壮", 125.0), ("170高 130斤 穿L吗", 170.0)])
def test_a_height_said_as_n_gao(raw, height):
    assert entities(raw).height_cm == height


@pytest.mark.parametrize("raw", ["闺女一米二 穿几号", "外孙103cm 三岁", "给外甥女买 身高142"])
def test_relatives_children_are_children(raw):
    assert "child" in entities(raw).facts()


@pytest.mark.parametrize("raw", ["图已经发了 怎么处理", "看到我发的图了吗", "我刚发了两张图", "划痕拍清楚了 刚发的"])
def test_a_photo_sent_is_read(raw):
    assert entities(raw).photo


@pytest.mark.parametrize(
    ("raw", "sizes"),
    [
        ("175 70kg 这件羽绒服选L还是XL", ("L", "XL")),
        ("158 90斤 xs会不会太紧 s会不会太大", ("XS", "S")),
        ("穿XL码还是2XL", ("XL", "2XL")),
        ("xxl有货吗", ("XXL",)),
        ("42码的鞋", ("42",)),
        ("平时穿36.5", ("36.5",)),
        ("平时穿US 8 這雙要選幾號", ("US 8",)),
        ("EU 40是多大", ("EU 40",)),
        ("脚长265 穿43还是44？？", ("43", "44")),
        ("牛仔裤拿几号 26还是27", ("26", "27")),
        ("M码就是均码吗", ("M", "均码")),
        ("平时穿75B 这款拿M还是L", ("M", "L")),  # a bra size is not a clothing size here
    ],
)
def test_sizes(raw, sizes):
    assert entities(raw).sizes == sizes


@pytest.mark.parametrize(
    ("raw", "change"),
    [("要不要拿大一码", "larger"), ("能换小半码不", "smaller"), ("是不是要選大一號", "larger"), ("这款偏大一码", None)],
)
def test_relative_size(raw, change):
    assert entities(raw).size_change == change


# --- orders, money, dates, colours, specs --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "orders"),
    [("订单2398145567 发了吗", ("2398145567",)), ("订单号:3344556", ("3344556",)), ("订单号297741028833 还没发", ("297741028833",)),
     ("电话13912345678", ()), ("快递单号 773012345678", ())],
)
def test_order_numbers(raw, orders):
    assert entities(raw).order_numbers == orders


@pytest.mark.parametrize(
    ("raw", "amounts"),
    [
        ("手机买完第5天降了200 价保在哪里申请", [(200.0, "降了200")]),
        ("便宜了50", [(50.0, "便宜了50")]),
        ("200元", [(200.0, "200元")]),
        ("200块包邮吗", [(200.0, "200块")]),
        ("少十块 行就拍", [(10.0, "十块")]),
        ("我3号买的空调¥2899 今天变2599了", [(2899.0, "¥2899"), (2599.0, "变2599")]),
        ("￥99", [(99.0, "￥99")]),
        ("满199减30是跨店的吗", [(199.0, "满199"), (30.0, "减30")]),
        ("能补发一块吗", []),  # a piece, not a yuan
        ("才用了3天就坏了", []),
    ],
)
def test_amounts(raw, amounts):
    assert entities(raw).amounts == tuple(Amount(yuan, text) for yuan, text in amounts)


@pytest.mark.parametrize(
    ("raw", "dates"),
    [
        ("我3号买的空调", ("3号",)),
        ("11月3号前能到广州吗", ("11月3号",)),
        ("今天下单明天能到北京吗", ("今天", "明天")),
        ("后天要穿", ("后天",)),
        ("周五能发吗", ("周五",)),
        ("能不能下周三再送", ("下周三",)),
        ("618有啥活动", ("618",)),
        ("雙11會降價嗎", ("双11",)),
        ("现在买还是等双十一", ("双十一",)),
        ("下午三点前能发吗", ("下午三点",)),
        ("付款时间是0点01", ("0点01",)),
        ("寄到3号楼", ()),
        ("便宜一点", ()),
    ],
)
def test_dates_and_times(raw, dates):
    assert entities(raw).dates == dates


def test_colours_and_specs():
    assert entities("米白和杏色还有卡其吗 黑色L呢").colours == ("米白", "杏色", "卡其", "黑色")
    assert entities("买的是256G 发来的是128G").specs == ("256G", "128G")
    assert entities("8+256G的多少钱").specs == ("8+256G",)
    assert entities("京东白条能用吗").colours == ()


@pytest.mark.parametrize(
    ("raw", "photo"),
    [("照片发你了 你看下", True), ("拍了图 你看这个洞", True), ("顏色跟照片差太多了吧", False), ("和图片不一样", False),
     ("实物比照片暗很多", False)],
)
def test_a_photo_is_one_the_buyer_sent_not_the_listings_pictures(raw, photo):
    assert entities(raw).photo is photo


@pytest.mark.parametrize(
    ("raw", "thanks"),
    [("好的 谢谢亲", True), ("好的 謝謝你", True), ("辛苦啦", True), ("蟹蟹", True), ("好滴 拍了", False), ("好的收到", False)],
)
def test_thanks_is_a_fact_a_reply_to_thanks_needs(raw, thanks):
    assert ("thanks" in entities(raw).facts()) is thanks


def test_thanks_in_an_earlier_turn_is_not_thanks_now():
    earlier = entities("好的 谢谢")
    assert entities("那什么时候发货").completed_by(earlier).thanks is False


def test_facts_name_what_templates_need():
    assert entities("175 70kg 这件选L还是XL").facts() == {"height", "weight", "size"}
    assert entities("订单2398145567 降了200 明天能发吗").facts() == {"order_id", "amount", "date"}
    assert entities("在吗").facts() == frozenset()


@pytest.mark.parametrize(
    ("text", "value"),
    [("一百二十", 120), ("一百三", 130), ("一百零五", 105), ("十二", 12), ("二十", 20), ("两百", 200), ("一二", None), ("好", None)],
)
def test_chinese_numbers(text, value):
    assert chinese_number(text) == value


# --- product category ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "category"),
    [
        ("羽绒服选L还是XL", "clothing"),
        ("这条裤子会缩水吗", "clothing"),
        ("T恤是纯棉的吗", "clothing"),
        ("这双高跟鞋偏码吗", "shoes"),
        ("靴子会不会磨脚", "shoes"),
        ("鞋柜多宽", "home"),  # the longest word wins across categories
        ("充电器能快充吗", "electronics"),
        ("显示器有个亮点", "electronics"),
        ("冰箱不制冷", "appliance"),
        ("洗衣机能用国补吗", "appliance"),
        ("电饭煲内胆涂层掉了", "appliance"),
        ("口红色号偏黄吗", "cosmetics"),
        ("面霜孕妇能用吗", "cosmetics"),
        ("坚果保质期多久", "food"),
        ("茶叶是今年的吗", "food"),
        ("收到了 要放冰箱吗", "food"),
        ("床垫味道太大了", "home"),
        ("竹席会不会扎", "home"),
        ("沙发送货上楼吗", "home"),
        ("这个玩具适合几岁", "general"),
        ("175 70kg穿啥码", "clothing"),  # no product word: the measurements hint
        ("脚长24.5 拿几码", "shoes"),
        ("奶茶色有货吗", None),  # a colour, not a drink
        ("包邮吗", None),
    ],
)
def test_category(raw, category):
    assert entities(raw).category == category


# --- stage and ordered ---------------------------------------------------------------------------


def situation(raw: str, history: tuple[Turn, ...] = ()):
    return read_situation(normalize_text(raw), history)


@pytest.mark.parametrize(
    ("raw", "stage", "ordered"),
    [
        ("想买一件 有货吗", "pre_purchase", False),
        ("还没拍 能便宜点吗", "pre_purchase", False),
        ("175 70kg 这件选L还是XL", "pre_purchase", None),
        ("包邮吗", "pre_purchase", None),
        ("还没发货吗", "awaiting_dispatch", True),
        ("什么时候发货啊", "awaiting_dispatch", True),
        ("已经拍了 能改发顺丰吗", "awaiting_dispatch", True),
        ("下单了 拍错地址了", "awaiting_dispatch", True),
        ("我的包裹到哪了", "in_transit", True),
        ("物流三天没动了", "in_transit", True),
        ("显示已签收 我根本没收到啊", "in_transit", True),
        ("收到了 有点大 能换小一码吗", "delivered", True),
        ("穿了一周就开胶了", "delivered", True),
        ("用了几天 还挺好用", "delivered", True),
        ("退货寄回去一周了还没退款", "after_sale", True),
        ("退款怎么还没到", "after_sale", True),
        ("在？", "unknown", None),
    ],
)
def test_stage(raw, stage, ordered):
    read = situation(raw)
    assert (read.stage, read.ordered) == (stage, ordered)


def test_stage_from_the_history_when_the_message_says_nothing():
    history = (Turn("buyer", "物流没动"), Turn("agent", "亲 已经帮您催了，请耐心等待哦"))
    assert situation("那要等多久", history).stage == "in_transit"


def test_agent_turns_place_the_order_too():
    history = (Turn("buyer", "能拦截吗"), Turn("agent", "亲，已经为您申请拦截了，一般1-2天内生效哦"))
    assert situation("成功了会通知我吗", history).stage == "in_transit"


def test_the_latest_message_wins_over_the_history():
    history = (Turn("buyer", "170 60kg穿什么码"), Turn("agent", "亲，这款建议M码哦"))
    assert situation("170 60kg穿什么码").stage == "pre_purchase"
    assert situation("收到了 M有点紧 能换L吗", history).stage == "delivered"


def test_an_order_in_the_message_moves_a_pre_purchase_history_on():
    history = (Turn("buyer", "有货吗"), Turn("agent", "亲，有货的哦"))
    read = situation("好的 已经拍了", history)
    assert (read.stage, read.ordered) == ("awaiting_dispatch", True)


def test_the_history_keeps_the_most_advanced_stage():
    history = (Turn("buyer", "换货的鞋寄回去了"), Turn("agent", "亲，仓库反馈鞋盒破损，无法换货哦"))
    assert situation("凭什么不给换", history).stage == "after_sale"


def test_sizes_in_the_history_make_a_follow_up_pre_purchase():
    history = (Turn("buyer", "163 98斤 穿哪个"), Turn("agent", "亲，这款建议M码哦"))
    assert situation("好的 那我就拿M了 谢谢亲", history).stage == "pre_purchase"


# --- mood ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "mood"),
    [
        ("再不处理我就给差评了", "upset"),
        ("你们再推来推去我就打12315投诉了", "upset"),
        ("你们这是骗子吧", "upset"),
        ("什么垃圾质量", "upset"),
        ("在吗？？？？ 发了半天消息没人回", "upset"),
        ("催一下 急！！", "upset"),
        ("物流三天没动了 咋回事？？？", "upset"),
        ("收到的杯子碎了", "upset"),  # a problem with the goods
        ("穿了一周就开胶了 质量太差了吧", "upset"),
        ("柜子装好了才发现有一块板裂了 能补发一块吗", "neutral"),  # the same kind of problem, a calm request
        ("冰箱不制冷 售后什么时候能上门", "neutral"),
        ("好的", "closing"),
        ("好的 谢谢", "closing"),
        ("好的 謝謝你", "closing"),
        ("行吧 那我再看看", "closing"),
        ("OK了解 先收藏了", "closing"),
        ("算了 下次再来", "closing"),
        ("好滴 拍了", "closing"),
        ("嗯嗯 拜拜", "closing"),
        ("好的 那什么时候发货", "neutral"),  # a new question: not closing
        ("好的 能便宜点吗", "neutral"),
        ("好评返现还有吗", "neutral"),
        ("有券吗？？", "neutral"),
        ("这个码子偏大还是偏小", "neutral"),
        ("会不会起球", "neutral"),
    ],
)
def test_mood(raw, mood):
    assert situation(raw).mood == mood


def test_the_services_turns_are_read():
    from app.replies import Turn as ServiceTurn

    history = (ServiceTurn("buyer", "物流没动"), ServiceTurn("agent", "亲 已经帮您催了，请耐心等待哦"))
    assert understand("那要等多久", history).stage == "in_transit"


def test_mood_is_the_messages_own():
    history = (Turn("buyer", "收到的衣服有个洞 你们怎么回事"), Turn("agent", "亲，非常抱歉，给您补发一件哦"))
    assert situation("好的 谢谢", history).mood == "closing"


# --- understand: one entry point -----------------------------------------------------------------


def test_understand_takes_facts_from_the_buyers_earlier_turns_message_first():
    history = (Turn("buyer", "170 150斤 黑色有货吗"), Turn("agent", "亲，这款建议XL哦 175 90kg的也穿XL"),
               Turn("buyer", "那白色呢"))
    understood = understand(normalize_text("那L呢 会不会太大"), history)
    assert understood.entities.sizes == ("L",)
    assert (understood.entities.height_cm, understood.entities.weight_kg) == (170.0, 75.0)  # not the agent's 175 90kg
    assert understood.entities.colours == ("白色", "黑色")  # the latest turn first
    assert understood.facts == {"height", "weight", "size", "colour"}
    assert (understood.stage, understood.mood, understood.category) == ("pre_purchase", "neutral", "clothing")


def test_understand_takes_the_product_the_agent_named():
    history = (Turn("buyer", "有点挤要换吗"), Turn("agent", "亲，真皮鞋穿几天会撑开一些哦"))
    assert understand("好吧 那我先穿几天试试", history).category == "shoes"


def test_a_shoe_size_outvotes_the_words_shoes_share_with_clothes():
    # 穿 and 偏小 hint clothing; the size decides. Under 34 a size is a child's shoe size only for a
    # child (an adult's 24-33 is a jeans waist).
    assert understand("平时穿40 这个偏小吗").category == "shoes"
    assert understand("娃两岁半 平时穿24码 这个偏小吗").category == "shoes"
    assert understand("平时穿26码 这个偏小吗").category == "clothing"


@pytest.mark.parametrize(("message", "photo"), [("发了 你看这里", True), ("传过了", True), ("还没发 等下", False),
                                                 ("发了吗", False)])
def test_a_photo_is_sent_when_the_buyer_says_so_right_after_the_agent_asked(message, photo):
    asked = (Turn("buyer", "衣服有个洞"), Turn("agent", "亲 麻烦提供一下照片哦"))
    assert ("photo" in understand(message, asked).facts) is photo
    assert "photo" not in understand(message, (Turn("buyer", "衣服有个洞"), Turn("agent", "亲 是哪里呢"))).facts
    assert "photo" not in understand(message, asked + (Turn("buyer", "好"),)).facts


def test_a_product_named_outweighs_hints():
    assert understand("这件羽绒服码数偏大吗").category == "clothing"
    assert understand("脚长24.5 这款羽绒服也有童款吗").category == "clothing"


def test_a_5000_character_paste_is_read():
    text = normalize_text(("亲 我165 104斤 穿什么码 订单号1234567890 降了200 明天 黑色 256G！" * 100)[:5000])
    understood = understand(text)
    assert understood.entities.height_cm == 165.0
    assert understood.entities.order_numbers == ("1234567890",)


# --- the data file -------------------------------------------------------------------------------


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    shutil.copy(CORPUS / "understanding.yaml", tmp_path / "understanding.yaml")
    return tmp_path


def _edit(corpus: Path, old: str, new: str) -> None:
    path = corpus / "understanding.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_an_unknown_category_is_named(corpus_copy):
    _edit(corpus_copy, "    shoes:\n      terms: [鞋,", "    sneakers:\n      terms: [鞋,")
    with pytest.raises(CorpusError, match=r"entities\.categories\.sneakers"):
        EntityExtractor.load(corpus_copy)


def test_a_word_in_two_categories_is_named(corpus_copy):
    _edit(corpus_copy, "      terms: [鞋, 鞋子,", "      terms: [鞋, 裙子, 鞋子,")
    with pytest.raises(CorpusError, match="裙子 is in both clothing and shoes"):
        EntityExtractor.load(corpus_copy)


def test_an_unknown_key_is_named(corpus_copy):
    _edit(corpus_copy, "  questions:\n", "  question:\n")
    with pytest.raises(CorpusError, match=r"situation\.question\b"):
        SituationReader.load(corpus_copy)


def test_a_bad_pattern_is_named(corpus_copy):
    _edit(corpus_copy, "      patterns: ['\\?{3,}',", "      patterns: ['(\\?{3,}',")
    with pytest.raises(CorpusError, match=r"situation\.moods\.upset: bad pattern"):
        SituationReader.load(corpus_copy)


def test_a_missing_stage_is_named(corpus_copy):
    _edit(corpus_copy, "    in_transit:\n", "    in_transit_: \n")
    with pytest.raises(CorpusError, match=r"situation\.stages\.in_transit_"):
        SituationReader.load(corpus_copy)


def test_a_missing_file_says_which(tmp_path):
    with pytest.raises(CorpusError, match="understanding.yaml"):
        MessageReader.load(tmp_path)


def test_loaded_once_per_corpus_directory():
    assert MessageReader.load(CORPUS).entities is MessageReader.load(CORPUS / ".." / "corpus").entities


def test_importing_reads_nothing():
    code = ("import app.understanding.situation as s, app.understanding.entities as e; "
            "assert e._extractor.cache_info().currsize == 0 and s._situation_reader.cache_info().currsize == 0")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr


# --- the tuning set ------------------------------------------------------------------------------


def test_tuning_set_accuracy_stays_above_its_floors():
    """scripts/measure_understanding.py on corpus/training/sendable_dev.jsonl (never the held-out sets).

    Floors sit a little below what the rules reached when written (stage 0.882, mood 0.986, category
    0.467), so a regression fails. Category accuracy is low by nature: most labelled messages name no
    product, and kefu says "none" rather than guess; when it does name one it is almost always right.
    """
    result = subprocess.run([sys.executable, "scripts/measure_understanding.py", "--json"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["stage"]["n"] == 399 and figures["category"]["n"] == 381
    assert figures["stage"]["accuracy"] >= 0.86
    assert figures["mood"]["accuracy"] >= 0.96
    assert figures["category"]["accuracy"] >= 0.45
    assert figures["category"]["precision"] >= 0.95


def test_a_long_run_of_digits_is_read_in_linear_time():
    # Issue 14's spirit: a 2,000-character paste of digits or spoken numbers once took 0.4 s (every
    # start inside a run retried the whole run). Compared as a ratio in one run, not against a clock:
    # ten times the text may cost about ten times the time, not a hundred.
    import time

    from app.understanding.situation import understand

    def cost(text: str) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            understand(text)
            best = min(best, time.perf_counter() - started)
        return best

    understand("预热")
    for unit in ("1", "一百", "170 "):
        short, long = cost(unit * 50), cost(unit * 500)
        assert long < 40 * short, (unit, short, long)
