"""The shop profile: the shipped shop.yaml, facts as slot text, placeholders, size charts, errors naming the key."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from pathlib import Path

import pytest

from app.errors import CorpusError
from app.shop import ShopProfile, SizeAdvice, fact_placeholders, load_shop_profile
from tests.conftest import CORPUS

# Every fact set, so facts() produces every key it can.
FULL = """
shop:
  name: 暖暖旗舰店
  platforms: [taobao, tmall, jd]
  service_hours: "9:00-23:30"
  offline_stores: 在上海有线下门店
  business_contact: 商务邮箱 bd@example.com
couriers:
  default: 中通快递
  used: [中通快递, 韵达快递, 顺丰速运]
  sf_upgrade: true
  sf_extra_fee_yuan: 12.5
dispatch:
  same_day_cutoff: "16:00"
  within_hours: 48
  presale_note: 预售款付款后15天内发货
  weekends_and_holidays: true
  origin: 浙江杭州
  self_pickup: 暂不支持自提
  heat_protection: 6-9月加冰袋发冷链
delivery:
  typical_days: [2, 4]
  remote_days: 7
  remote_areas: [新疆, 西藏]
  not_delivered: [港澳台, 海外]
  upstairs_fee: 有电梯免费送货上楼
free_shipping:
  threshold_yuan: 99
  remote_excluded: true
returns:
  no_reason_days: 7
  postage: {quality: seller, wrong_item: seller, no_reason: buyer}
  shipping_insurance: true
  refund_hours: 48
exchange:
  days: 15
  postage: 质量问题换货的运费由我们承担
price_protection:
  days: 30
  how_to_apply:
    taobao: 在订单页点“申请价保”
    tmall: 联系客服提供订单号
    jd: 在“我的-价格保护”中申请
gifts:
  current: 收纳袋一个
  on_return: 退货时请把赠品一起寄回
invoice:
  types: [电子普通发票, 增值税专用发票]
  issuing: 确认收货后3个工作日内开具电子发票
  reissue: true
  reissue_days: 30
payment_methods:
  taobao: [支付宝, 花呗]
  tmall: [支付宝]
  jd: [京东支付, 微信支付]
warranty:
  months: 12
  covers: 非人为损坏的质量问题
  how_to_apply: 凭订单号联系客服
presale:
  deposit_rule: 定金不退
  final_payment_window: 11月1日0点至11月3日24点
member_prices: 会员下单享95折
promotions: {multi_buy_rule: 同款第二件半价}
services: {engraving: 支持免费刻字, gift_options: 可免费附贺卡}
products: {version: 国行, garment_measurements: "M：胸围100cm", hat_sizes: "M：头围56-58cm"}
size_charts:
  clothing:
    - {size: M, height_cm: [160, 165], weight_kg: [50, 57]}
    - {size: L, height_cm: [165, 170], weight_kg: [57, 64]}
  pants:
    - {size: 29, waist_cm: [72, 75]}
    - {size: 30, waist_cm: [76, 78]}
  shoes:
    - {size: 38, foot_length_mm: [238, 242]}
    - {size: 39, foot_length_mm: [243, 247]}
  kids:
    - {size: 100, height_cm: [90, 100]}
    - {size: 110, height_cm: [100, 110]}
"""

FULL_FACTS = {
    "shop.name": "暖暖旗舰店",
    "shop.platforms": "淘宝、天猫、京东",
    "shop.service_hours": "9:00-23:30",
    "couriers.default": "中通快递",
    "couriers.used": "中通快递、韵达快递、顺丰速运",
    "couriers.sf_upgrade": "可以改发顺丰，需补差价12.5元",
    "couriers.sf_extra_fee_yuan": "12.5",
    "dispatch.same_day_cutoff": "16:00",
    "dispatch.within_hours": "48",
    "dispatch.presale_note": "预售款付款后15天内发货",
    "dispatch.weekends_and_holidays": "周末和节假日正常发货",
    "delivery.typical_days": "2到4",
    "delivery.remote_days": "7",
    "delivery.remote_areas": "新疆、西藏",
    "delivery.not_delivered": "港澳台、海外",
    "free_shipping.rule": "满99元包邮（新疆、西藏除外）",
    "free_shipping.threshold_yuan": "99",
    "returns.no_reason_days": "7",
    "returns.postage.quality": "由我们承担",
    "returns.postage.wrong_item": "由我们承担",
    "returns.postage.no_reason": "由您承担",
    "returns.shipping_insurance": "订单赠送运费险",
    "returns.refund_hours": "48",
    "exchange.days": "15",
    "exchange.postage": "质量问题换货的运费由我们承担",
    "price_protection.days": "30",
    "price_protection.how_to_apply.taobao": "在订单页点“申请价保”",
    "price_protection.how_to_apply.tmall": "联系客服提供订单号",
    "price_protection.how_to_apply.jd": "在“我的-价格保护”中申请",
    "gifts.current": "收纳袋一个",
    "gifts.on_return": "退货时请把赠品一起寄回",
    "invoice.types": "电子普通发票、增值税专用发票",
    "invoice.issuing": "确认收货后3个工作日内开具电子发票",
    "invoice.reissue": "签收后30天内可以补开发票",
    "invoice.reissue_days": "30",
    "payment_methods.taobao": "支付宝、花呗",
    "payment_methods.tmall": "支付宝",
    "payment_methods.jd": "京东支付、微信支付",
    "warranty.months": "12",
    "warranty.covers": "非人为损坏的质量问题",
    "warranty.how_to_apply": "凭订单号联系客服",
    "presale.deposit_rule": "定金不退",
    "presale.final_payment_window": "11月1日0点至11月3日24点",
    "member_prices": "会员下单享95折",
    "shop.offline_stores": "在上海有线下门店",
    "shop.business_contact": "商务邮箱 bd@example.com",
    "dispatch.origin": "浙江杭州",
    "dispatch.self_pickup": "暂不支持自提",
    "dispatch.heat_protection": "6-9月加冰袋发冷链",
    "delivery.upstairs_fee": "有电梯免费送货上楼",
    "promotions.multi_buy_rule": "同款第二件半价",
    "services.engraving": "支持免费刻字",
    "services.gift_options": "可免费附贺卡",
    "products.version": "国行",
    "products.garment_measurements": "M：胸围100cm",
    "products.hat_sizes": "M：头围56-58cm",
    "size_charts.kids": "100：身高90-100cm；110：身高100-110cm",
    "size_charts.clothing": "M：身高160-165cm、体重50-57kg；L：身高165-170cm、体重57-64kg",
    "size_charts.pants": "29：腰围72-75cm；30：腰围76-78cm",
    "size_charts.shoes": "38：脚长238-242mm；39：脚长243-247mm",
}


def write_shop(tmp_path: Path, text: str) -> Path:
    (tmp_path / "shop.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


@pytest.fixture(scope="module")
def shipped() -> ShopProfile:
    return load_shop_profile(CORPUS)


# --- the shipped demo shop --------------------------------------------------------------------------


def test_shipped_profile_states_the_handbooks_facts(shipped):
    facts = shipped.facts()
    assert facts["shop.platforms"] == "淘宝、天猫、京东"
    assert facts["shop.service_hours"] == "9:00-23:30"
    assert facts["returns.no_reason_days"] == "7"
    assert facts["returns.refund_hours"] == "24"
    assert facts["returns.postage.quality"] == "由我们承担"
    assert facts["returns.postage.wrong_item"] == "由我们承担"
    assert facts["returns.postage.no_reason"] == "由您承担"
    assert facts["exchange.days"] == "15"
    assert facts["dispatch.weekends_and_holidays"] == "订单在工作日处理，周末和节假日不发货"
    assert "支付宝" in facts["payment_methods.taobao"]
    assert "支付宝" not in facts["payment_methods.jd"] and "花呗" not in facts["payment_methods.jd"]


def test_shipped_profile_leaves_what_no_handbook_says_unset(shipped):
    facts = shipped.facts()
    for key in ("shop.name", "couriers.default", "dispatch.same_day_cutoff", "dispatch.within_hours",
                "delivery.typical_days", "free_shipping.rule", "returns.shipping_insurance",
                "price_protection.days", "invoice.types", "warranty.months", "gifts.current"):
        assert key not in facts, key


def test_shipped_profile_cites_only_real_handbooks():
    text = (CORPUS / "shop.yaml").read_text(encoding="utf-8")
    cited = set(re.findall(r"\d{3}_[0-9a-f]{16}\.txt", text))
    assert cited, "every section says which handbook its facts come from"
    assert {path.name for path in (CORPUS / "handbooks").glob("*.txt")} >= cited


def test_shipped_shoe_chart_follows_the_chinese_size_formula(shipped):
    for row in shipped.size_charts["shoes"]:
        span = row.measures["foot_length_mm"]
        assert round((span.lo + span.hi) / 2 / 10 * 2 - 10) == int(row.size), row


# --- facts and placeholders -------------------------------------------------------------------------


def test_every_fact_renders_as_text_for_a_sentence(tmp_path):
    assert load_shop_profile(write_shop(tmp_path, FULL)).facts() == FULL_FACTS


def test_placeholders_cover_exactly_the_keys_facts_can_produce(tmp_path):
    placeholders = fact_placeholders()
    assert set(load_shop_profile(write_shop(tmp_path, FULL)).facts()) == set(placeholders)
    assert all(re.fullmatch(r"【[^【】{}]+】", text) for text in placeholders.values()), placeholders
    assert len(set(placeholders.values())) == len(placeholders)
    assert placeholders["returns.no_reason_days"] == "【七天无理由天数】"
    assert placeholders["dispatch.within_hours"] == "【发货时效】"


def test_placeholders_are_a_copy(tmp_path):
    fact_placeholders()["returns.no_reason_days"] = "changed"
    assert fact_placeholders()["returns.no_reason_days"] == "【七天无理由天数】"


@pytest.mark.parametrize(("text", "key", "rendered"), [
    ("couriers: {sf_upgrade: false}", "couriers.sf_upgrade", "暂不支持改发顺丰"),
    ("couriers: {sf_upgrade: true}", "couriers.sf_upgrade", "可以改发顺丰"),
    ("dispatch: {weekends_and_holidays: false}", "dispatch.weekends_and_holidays", "订单在工作日处理，周末和节假日不发货"),
    ("delivery: {typical_days: [3, 3]}", "delivery.typical_days", "3"),
    ("free_shipping: {always: true}", "free_shipping.rule", "全场包邮"),
    ("free_shipping: {always: true, remote_excluded: true}", "free_shipping.rule", "全场包邮（偏远地区除外）"),
    ("free_shipping: {threshold_yuan: 59.9, remote_excluded: false}", "free_shipping.rule", "满59.9元包邮，偏远地区也包邮"),
    ("returns: {shipping_insurance: false}", "returns.shipping_insurance", "订单没有赠送运费险"),
    ("invoice: {reissue: false}", "invoice.reissue", "不支持事后补开发票"),
    ("invoice: {reissue: true}", "invoice.reissue", "可以补开发票"),
    ("shop: {name: '  暖暖旗舰店 '}", "shop.name", "暖暖旗舰店"),
])
def test_fact_wording(tmp_path, text, key, rendered):
    assert load_shop_profile(write_shop(tmp_path, text)).facts()[key] == rendered


def test_a_section_alone_sets_only_its_facts(tmp_path):
    facts = load_shop_profile(write_shop(tmp_path, "returns: {no_reason_days: 7}")).facts()
    assert facts == {"returns.no_reason_days": "7"}


# --- missing and empty files ------------------------------------------------------------------------


def test_missing_file_is_a_shop_that_has_said_nothing(tmp_path):
    profile = load_shop_profile(tmp_path)
    assert profile == ShopProfile()
    assert profile.facts() == {}
    assert profile.recommend_size("clothing", height_cm=170, weight_kg=60) is None


@pytest.mark.parametrize("text", ["", "   \n", "# nothing said yet\n", "returns:\n", "shop: {}\nreturns: {postage: {}}\n"])
def test_empty_file_or_sections_is_an_empty_profile(tmp_path, text):
    profile = load_shop_profile(write_shop(tmp_path, text))
    assert profile == ShopProfile()
    assert profile.facts() == {}


def test_profile_is_frozen(shipped):
    with pytest.raises(dataclasses.FrozenInstanceError):
        shipped.name = "别的店"
    with pytest.raises(TypeError):
        shipped.payment_methods["jd"] = ("支付宝",)


# --- every error names the key ----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ("returns: {postage: {quality: both}}", "returns.postage.quality: must be one of seller, buyer"),
    ("warrenty: {months: 12}", "warrenty: unknown key; allowed: shop, couriers, dispatch, delivery, free_shipping, "
                               "returns, exchange, price_protection, gifts, invoice, payment_methods, warranty, "
                               "presale, member_prices, promotions, services, products, size_charts"),
    ("returns: {postage: {damaged: seller}}", "returns.postage.damaged: unknown key; allowed: quality, wrong_item, no_reason"),
    ("size_charts: {hats: []}", "size_charts.hats: unknown key; allowed: clothing, pants, shoes"),
    ("size_charts:\n  clothing:\n    - {size: M, height_cm: [160, 165], weight_kg: [50, 57], chest_cm: [88, 92]}",
     "size_charts.clothing[0].chest_cm: unknown key; allowed: size, height_cm, weight_kg"),
    ("returns: {no_reason_days: 七天}", "returns.no_reason_days: must be a whole number"),
    ("returns: {no_reason_days: 0}", "returns.no_reason_days: must be at least 1"),
    ("returns: {shipping_insurance: maybe}", "returns.shipping_insurance: must be true or false"),
    ("returns: {postage: seller}", "returns.postage: must be a mapping"),
    ("shop: {platforms: [taobao, pdd]}", "shop.platforms[1]: must be one of taobao, tmall, jd"),
    ("shop: {platforms: [taobao, taobao]}", "shop.platforms: lists a platform twice"),
    ("shop: {platforms: []}", "shop.platforms: must not be empty"),
    ("member_prices: ''", "member_prices: must not be empty"),
    ("gifts: {current: 3}", "gifts.current: must be text"),
    ("payment_methods: {pdd: [微信支付]}", "payment_methods.pdd: must be one of taobao, tmall, jd"),
    ("payment_methods: {jd: [微信支付, 支付宝]}", "payment_methods.jd: jd does not take 支付宝"),
    ("shop: {platforms: [taobao]}\npayment_methods: {jd: [微信支付]}",
     "payment_methods.jd: the shop does not sell on jd (shop.platforms)"),
    ("shop: {platforms: [taobao]}\nprice_protection: {how_to_apply: {tmall: 联系客服}}",
     "price_protection.how_to_apply.tmall: the shop does not sell on tmall (shop.platforms)"),
    ("dispatch: {same_day_cutoff: 16:00}", 'dispatch.same_day_cutoff: write the time in quotes, e.g. "16:00"'),
    ("dispatch: {same_day_cutoff: '25:00'}", 'dispatch.same_day_cutoff: must be a time like "16:00"'),
    ("delivery: {typical_days: [4, 2]}", "delivery.typical_days: low 4 is above high 2"),
    ("delivery: {typical_days: 三天}", "delivery.typical_days: must be a number of days or [low, high]"),
    ("delivery: {typical_days: [1, 2, 3]}", "delivery.typical_days: must be a number of days or [low, high]"),
    ("delivery: {remote_days: [5, 一周]}", "delivery.remote_days[1]: must be a whole number"),
    ("couriers: {default: 顺丰速运, used: [中通快递]}", "couriers.default: 顺丰速运 is not in couriers.used"),
    ("couriers: {sf_extra_fee_yuan: 10}", "couriers.sf_extra_fee_yuan: is set but couriers.sf_upgrade is not true"),
    ("couriers: {sf_upgrade: true, sf_extra_fee_yuan: -1}", "couriers.sf_extra_fee_yuan: must be at least 0"),
    ("free_shipping: {always: true, threshold_yuan: 99}", "free_shipping: set either always: true or threshold_yuan, not both"),
    ("free_shipping: {threshold_yuan: 0}", "free_shipping.threshold_yuan: must be above 0"),
    ("invoice: {reissue_days: 30}", "invoice.reissue_days: is set but invoice.reissue is not true"),
    ("size_charts:\n  clothing:\n    - {size: M, height_cm: [165, 160], weight_kg: [50, 57]}",
     "size_charts.clothing[0].height_cm: low 165 is above high 160"),
    ("size_charts:\n  clothing:\n    - {size: M, height_cm: [160, 165]}", "size_charts.clothing[0].weight_kg: is required"),
    ("size_charts:\n  shoes:\n    - {size: 38, foot_length_mm: 240}", "size_charts.shoes[0].foot_length_mm: must be [low, high]"),
    ("size_charts:\n  shoes:\n    - {size: 38, foot_length_mm: [238, .nan]}",
     "size_charts.shoes[0].foot_length_mm[1]: must be a finite number"),
    ("size_charts:\n  shoes:\n    - {size: 38, foot_length_mm: [238, 242]}\n    - {size: 38, foot_length_mm: [243, 247]}",
     "size_charts.shoes[1].size: size 38 appears twice"),
    ("size_charts:\n  clothing:\n    - {size: L, height_cm: [165, 170], weight_kg: [57, 64]}\n"
     "    - {size: M, height_cm: [160, 165], weight_kg: [50, 57]}",
     "size_charts.clothing[1].height_cm: rows must go from small to large: 160-165 comes after 165-170"),
    ("size_charts: {pants: []}", "size_charts.pants: must not be empty"),
])
def test_bad_fact_is_named_by_its_key(tmp_path, text, message):
    corpus = write_shop(tmp_path, text)
    with pytest.raises(CorpusError) as caught:
        load_shop_profile(corpus)
    assert f"{corpus / 'shop.yaml'}: " in caught.value.message
    assert message in caught.value.message
    assert caught.value.details and caught.value.details[0]["key"] == message.split(": ")[0]


def test_every_bad_key_is_reported_at_once(tmp_path):
    corpus = write_shop(tmp_path, "returns: {no_reason_days: 七天, postage: {quality: both}}\nexchange: {days: -1}")
    with pytest.raises(CorpusError) as caught:
        load_shop_profile(corpus)
    assert [d["key"] for d in caught.value.details] == [
        "returns.no_reason_days", "returns.postage.quality", "exchange.days",
    ]


@pytest.mark.parametrize(("text", "message"), [
    ("- returns\n- exchange\n", "must be a mapping of sections (shop, couriers, dispatch"),
    ("returns: [unclosed\n", "cannot read the shop profile"),
])
def test_unreadable_file_says_so(tmp_path, text, message):
    with pytest.raises(CorpusError, match=re.escape(message)):
        load_shop_profile(write_shop(tmp_path, text))


# --- size advice ------------------------------------------------------------------------------------


def test_size_from_height_and_weight_in_one_row(shipped):
    assert shipped.recommend_size("clothing", height_cm=168, weight_kg=60) == SizeAdvice(
        size="L", reason="按身高168cm、体重60kg", rounded_up=False
    )


def test_height_and_weight_in_different_rows_choose_the_larger(shipped):
    assert shipped.recommend_size("clothing", height_cm=172, weight_kg=55) == SizeAdvice(
        size="XL", reason="按身高172cm、体重55kg：身高对应XL、体重对应M，推荐大一些的XL", rounded_up=True
    )
    # The larger whichever measure points at it.
    assert shipped.recommend_size("clothing", height_cm=158, weight_kg=66).size == "XL"


def test_a_value_on_a_shared_boundary_takes_the_larger_row(shipped):
    advice = shipped.recommend_size("clothing", height_cm=170)
    assert advice == SizeAdvice(size="XL", reason="按身高170cm：身高在L和XL之间，推荐大一些的XL", rounded_up=True)


def test_one_measure_alone_is_enough(shipped):
    assert shipped.recommend_size("clothing", weight_kg=47.5) == SizeAdvice("S", "按体重47.5kg", False)


@pytest.mark.parametrize(("foot", "size", "rounded_up"), [
    (223, "35", False), (225, "35", False), (240, "38", False), (255.0, "41", False), (272, "44", False),
    (227.5, "36", True),  # between the 35 and 36 rows: the larger
])
def test_shoes_by_foot_length(shipped, foot, size, rounded_up):
    advice = shipped.recommend_size("shoes", foot_length_mm=foot)
    assert advice is not None
    assert (advice.size, advice.rounded_up) == (size, rounded_up)
    assert advice.reason.startswith(f"按脚长{foot:g}mm")


@pytest.mark.parametrize("measures", [
    {"height_cm": 190},
    {"height_cm": 150},
    {"height_cm": 170, "weight_kg": 120},  # one number outside the chart is enough to give no advice
    {"weight_kg": 30},
])
def test_numbers_outside_the_chart_give_no_advice(shipped, measures):
    assert shipped.recommend_size("clothing", **measures) is None


@pytest.mark.parametrize(("category", "measures"), [
    ("electronics", {"height_cm": 170}),  # a category without a chart
    ("shoes", {"height_cm": 170}),  # no number the shoe chart uses
    ("shoes", {"foot_length_mm": 222}),
    ("shoes", {"foot_length_mm": 273}),
    ("clothing", {}),
])
def test_no_chart_or_no_usable_number_gives_no_advice(shipped, category, measures):
    assert shipped.recommend_size(category, **measures) is None


def test_a_chart_the_shop_does_not_give_gives_no_advice():
    assert ShopProfile().recommend_size("pants", waist_cm=76) is None


def test_unknown_category_lists_the_known_ones(shipped):
    with pytest.raises(ValueError, match="unknown category 'hats'; choose one of clothing, shoes, .*pants"):
        shipped.recommend_size("hats", height_cm=170)


def test_measurements_must_be_finite(shipped):
    with pytest.raises(ValueError, match="finite"):
        shipped.recommend_size("shoes", foot_length_mm=float("nan"))


def test_pants_by_waist(tmp_path):
    profile = load_shop_profile(write_shop(tmp_path, FULL))
    assert profile.recommend_size("pants", waist_cm=74) == SizeAdvice("29", "按腰围74cm", False)
    assert profile.recommend_size("pants", waist_cm=75.5) == SizeAdvice(
        "30", "按腰围75.5cm：腰围在29和30之间，推荐大一些的30", True
    )
    assert profile.recommend_size("pants", waist_cm=80) is None


def test_data_formats_doc_lists_every_key_and_placeholder():
    doc = (CORPUS.parent / "docs" / "data-formats.md").read_text(encoding="utf-8")
    for key, placeholder in fact_placeholders().items():
        platform = key.rsplit(".", 1)[-1]
        listed = key if platform not in ("taobao", "tmall", "jd") else key.rsplit(".", 1)[0] + ".taobao"
        assert f"`{listed}`" in doc and placeholder in doc, key


def test_the_demo_kids_chart_gives_a_size_by_height_alone():
    profile = load_shop_profile(CORPUS)
    assert profile.recommend_size("kids", height_cm=105).size == "110"
    assert profile.recommend_size("kids", height_cm=170) is None
    assert "size_charts.kids" in profile.facts() and "size_charts.kids" in fact_placeholders()
