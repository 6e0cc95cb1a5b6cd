"""The shop's own facts (corpus/shop.yaml): schema-checked, rendered as template slots, size charts read.

Every fact is optional: unset means the shop has not said, and the reply shows the fact's placeholder
(`fact_placeholders()`) for the agent to fill. docs/data-formats.md lists every key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError
from pydantic_core import ErrorDetails

from app.errors import CorpusError
from app.vocabulary import CATEGORIES, PLATFORM_NAMES_ZH, Platform
from app.yaml_data import parse_yaml

SHOP = "shop.yaml"

PostagePayer = Literal["seller", "buyer"]
# Charts a shop may give; "pants" (by waist) and "kids" (by height) are clothing charts, not product categories.
SizeChartName = Literal["clothing", "pants", "shoes", "kids"]
SIZE_CHARTS: tuple[str, ...] = get_args(SizeChartName)
# Measure -> how a reason names it and its unit.
_MEASURES: dict[str, tuple[str, str]] = {
    "height_cm": ("身高", "cm"),
    "weight_kg": ("体重", "kg"),
    "foot_length_mm": ("脚长", "mm"),
    "waist_cm": ("腰围", "cm"),
}
_PAYER_ZH: dict[str, str] = {"seller": "由我们承担", "buyer": "由您承担"}
# Public platform rule: JD takes neither Alipay nor Huabei.
_NOT_ON_PLATFORM: dict[str, tuple[str, ...]] = {"jd": ("支付宝", "花呗")}

# Every key facts() can produce -> what the reply shows when the shop has not set it. Keys that carry a
# bare number say its unit in the name (_days, _hours, _yuan, months); the template writes the unit.
_PLACEHOLDERS: dict[str, str] = {
    "shop.name": "【店铺名】",
    "shop.platforms": "【经营平台】",
    "shop.service_hours": "【客服在线时间】",
    "shop.offline_stores": "【线下门店】",
    "shop.business_contact": "【商务合作联系方式】",
    "couriers.default": "【默认快递】",
    "couriers.used": "【合作快递】",
    "couriers.sf_upgrade": "【能否改发顺丰】",
    "couriers.sf_extra_fee_yuan": "【顺丰补差价金额】",
    "dispatch.same_day_cutoff": "【当日发货截单时间】",
    "dispatch.within_hours": "【发货时效】",
    "dispatch.presale_note": "【预售发货时间】",
    "dispatch.weekends_and_holidays": "【周末节假日发货安排】",
    "dispatch.origin": "【发货地】",
    "dispatch.self_pickup": "【自提安排】",
    "dispatch.heat_protection": "【夏季防热发货措施】",
    "delivery.typical_days": "【配送天数】",
    "delivery.remote_days": "【偏远地区配送天数】",
    "delivery.remote_areas": "【偏远地区】",
    "delivery.not_delivered": "【不配送地区】",
    "delivery.upstairs_fee": "【送货上楼收费标准】",
    "free_shipping.rule": "【包邮规则】",
    "free_shipping.threshold_yuan": "【包邮门槛】",
    "returns.no_reason_days": "【七天无理由天数】",
    "returns.postage.quality": "【质量问题退货运费承担方】",
    "returns.postage.wrong_item": "【错发退货运费承担方】",
    "returns.postage.no_reason": "【无理由退货运费承担方】",
    "returns.shipping_insurance": "【是否赠送运费险】",
    "returns.refund_hours": "【退款时效】",
    "exchange.days": "【换货天数】",
    "exchange.postage": "【换货运费规则】",
    "price_protection.days": "【价保天数】",
    **{
        f"price_protection.how_to_apply.{platform}": f"【{name}价保申请方式】"
        for platform, name in PLATFORM_NAMES_ZH.items()
    },
    "gifts.current": "【当前赠品】",
    "gifts.on_return": "【退货时赠品规则】",
    "invoice.types": "【发票类型】",
    "invoice.issuing": "【开票方式】",
    "invoice.reissue": "【能否补开发票】",
    "invoice.reissue_days": "【补开发票期限】",
    **{f"payment_methods.{platform}": f"【{name}支付方式】" for platform, name in PLATFORM_NAMES_ZH.items()},
    "warranty.months": "【保修月数】",
    "warranty.covers": "【保修范围】",
    "warranty.how_to_apply": "【保修申请方式】",
    "presale.deposit_rule": "【定金规则】",
    "presale.final_payment_window": "【尾款支付时间】",
    "member_prices": "【会员价说明】",
    "promotions.multi_buy_rule": "【多件优惠规则】",
    "services.engraving": "【刻字定制说明】",
    "services.gift_options": "【礼品包装与贺卡服务】",
    "products.version": "【商品版本】",
    "products.garment_measurements": "【成衣尺寸表】",
    "products.hat_sizes": "【帽子尺码表】",
    "size_charts.clothing": "【服装尺码表】",
    "size_charts.pants": "【裤装尺码表】",
    "size_charts.shoes": "【鞋码表】",
    "size_charts.kids": "【童装尺码表】",
}


def fact_placeholders() -> dict[str, str]:
    """Every fact key a shop profile can set -> the placeholder shown while the shop has not set it."""
    return dict(_PLACEHOLDERS)


# --- the core: what the rest of kefu reads --------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """An inclusive range of a measure or of days; lo == hi for a single value."""

    lo: float
    hi: float

    def contains(self, value: float) -> bool:
        return self.lo <= value <= self.hi


@dataclass(frozen=True)
class SizeRow:
    size: str
    measures: Mapping[str, Span]  # "height_cm", "weight_kg", "foot_length_mm", "waist_cm" -> range


@dataclass(frozen=True)
class SizeAdvice:
    """A size from the shop's chart and why: `reason` reads like "按身高170cm、体重60kg"."""

    size: str
    reason: str
    rounded_up: bool  # the numbers did not point at one size (a boundary, a gap, measures disagreeing)


@dataclass(frozen=True)
class Couriers:
    default: str | None = None
    used: tuple[str, ...] = ()
    sf_upgrade: bool | None = None
    sf_extra_fee_yuan: float | None = None


@dataclass(frozen=True)
class Dispatch:
    same_day_cutoff: str | None = None  # "HH:MM": paid before it, dispatched the same day
    within_hours: int | None = None
    presale_note: str | None = None
    weekends_and_holidays: bool | None = None
    origin: str | None = None  # where parcels leave from
    self_pickup: str | None = None  # the whole clause, for yes or no
    heat_protection: str | None = None  # what heat-sensitive goods get in hot months


@dataclass(frozen=True)
class Delivery:
    typical_days: Span | None = None
    remote_days: Span | None = None
    remote_areas: tuple[str, ...] = ()
    not_delivered: tuple[str, ...] = ()
    upstairs_fee: str | None = None  # carrying large items upstairs


@dataclass(frozen=True)
class FreeShipping:
    always: bool | None = None
    threshold_yuan: float | None = None
    remote_excluded: bool | None = None


@dataclass(frozen=True)
class ReturnPostage:
    quality: PostagePayer | None = None
    wrong_item: PostagePayer | None = None
    no_reason: PostagePayer | None = None


@dataclass(frozen=True)
class Returns:
    no_reason_days: int | None = None
    postage: ReturnPostage = ReturnPostage()
    shipping_insurance: bool | None = None
    refund_hours: int | None = None  # after the returned parcel arrives


@dataclass(frozen=True)
class Exchange:
    days: int | None = None
    postage: str | None = None


@dataclass(frozen=True)
class PriceProtection:
    days: int | None = None
    how_to_apply: Mapping[str, str] = field(default_factory=dict)  # platform -> text


@dataclass(frozen=True)
class Gifts:
    current: str | None = None
    on_return: str | None = None


@dataclass(frozen=True)
class Invoice:
    types: tuple[str, ...] = ()
    issuing: str | None = None
    reissue: bool | None = None
    reissue_days: int | None = None  # after delivery


@dataclass(frozen=True)
class Warranty:
    months: int | None = None
    covers: str | None = None
    how_to_apply: str | None = None


@dataclass(frozen=True)
class Presale:
    deposit_rule: str | None = None
    final_payment_window: str | None = None


@dataclass(frozen=True)
class Services:
    engraving: str | None = None  # engraving or custom printing: offered or not, limits, fee, extra time
    gift_options: str | None = None  # gift wrap, cards, leaving out the price slip


@dataclass(frozen=True)
class Products:
    """What holds across the shop's goods. Measurements are text because they differ by cut; a shop
    with several writes one line per product line."""

    version: str | None = None  # the region version of its electronics (国行 …)
    garment_measurements: str | None = None  # flat measurements per size ("M：胸围100cm、衣长68cm；…")
    hat_sizes: str | None = None  # head circumference per size


@dataclass(frozen=True)
class ShopProfile:
    """What the shop has said about itself; the default instance is a shop that has said nothing."""

    name: str | None = None
    platforms: tuple[str, ...] = ()
    service_hours: str | None = None
    offline_stores: str | None = None  # the whole clause, for yes or no
    business_contact: str | None = None  # whom partners (live selling, wholesale) contact
    couriers: Couriers = Couriers()
    dispatch: Dispatch = Dispatch()
    delivery: Delivery = Delivery()
    free_shipping: FreeShipping = FreeShipping()
    returns: Returns = Returns()
    exchange: Exchange = Exchange()
    price_protection: PriceProtection = PriceProtection()
    gifts: Gifts = Gifts()
    invoice: Invoice = Invoice()
    payment_methods: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # platform -> methods
    warranty: Warranty = Warranty()
    presale: Presale = Presale()
    member_prices: str | None = None
    multi_buy_rule: str | None = None  # the current 第二件半价 / multi-buy rule
    services: Services = Services()
    products: Products = Products()
    size_charts: Mapping[str, tuple[SizeRow, ...]] = field(default_factory=dict)  # SizeChartName -> rows

    def facts(self) -> dict[str, str]:
        """Every fact the shop has set, as Chinese text to drop into a sentence, by dotted key."""
        c, d, v, f, r = self.couriers, self.dispatch, self.delivery, self.free_shipping, self.returns
        values: dict[str, str | None] = {
            "shop.name": self.name,
            "shop.platforms": _join(PLATFORM_NAMES_ZH[p] for p in self.platforms),
            "shop.service_hours": self.service_hours,
            "shop.offline_stores": self.offline_stores,
            "shop.business_contact": self.business_contact,
            "couriers.default": c.default,
            "couriers.used": _join(c.used),
            "couriers.sf_upgrade": _sf_upgrade(c),
            "couriers.sf_extra_fee_yuan": _number(c.sf_extra_fee_yuan),
            "dispatch.same_day_cutoff": d.same_day_cutoff,
            "dispatch.within_hours": _number(d.within_hours),
            "dispatch.presale_note": d.presale_note,
            "dispatch.weekends_and_holidays": _choose(
                d.weekends_and_holidays, "周末和节假日正常发货", "订单在工作日处理，周末和节假日不发货"
            ),
            "dispatch.origin": d.origin,
            "dispatch.self_pickup": d.self_pickup,
            "dispatch.heat_protection": d.heat_protection,
            "delivery.typical_days": _days(v.typical_days),
            "delivery.remote_days": _days(v.remote_days),
            "delivery.remote_areas": _join(v.remote_areas),
            "delivery.not_delivered": _join(v.not_delivered),
            "delivery.upstairs_fee": v.upstairs_fee,
            "free_shipping.rule": _free_shipping(f, v.remote_areas),
            "free_shipping.threshold_yuan": _number(f.threshold_yuan),
            "returns.no_reason_days": _number(r.no_reason_days),
            "returns.postage.quality": _payer(r.postage.quality),
            "returns.postage.wrong_item": _payer(r.postage.wrong_item),
            "returns.postage.no_reason": _payer(r.postage.no_reason),
            "returns.shipping_insurance": _choose(r.shipping_insurance, "订单赠送运费险", "订单没有赠送运费险"),
            "returns.refund_hours": _number(r.refund_hours),
            "exchange.days": _number(self.exchange.days),
            "exchange.postage": self.exchange.postage,
            "price_protection.days": _number(self.price_protection.days),
            **{
                f"price_protection.how_to_apply.{platform}": text
                for platform, text in self.price_protection.how_to_apply.items()
            },
            "gifts.current": self.gifts.current,
            "gifts.on_return": self.gifts.on_return,
            "invoice.types": _join(self.invoice.types),
            "invoice.issuing": self.invoice.issuing,
            "invoice.reissue": _reissue(self.invoice),
            "invoice.reissue_days": _number(self.invoice.reissue_days),
            **{f"payment_methods.{platform}": _join(methods) for platform, methods in self.payment_methods.items()},
            "warranty.months": _number(self.warranty.months),
            "warranty.covers": self.warranty.covers,
            "warranty.how_to_apply": self.warranty.how_to_apply,
            "presale.deposit_rule": self.presale.deposit_rule,
            "presale.final_payment_window": self.presale.final_payment_window,
            "member_prices": self.member_prices,
            "promotions.multi_buy_rule": self.multi_buy_rule,
            "services.engraving": self.services.engraving,
            "services.gift_options": self.services.gift_options,
            "products.version": self.products.version,
            "products.garment_measurements": self.products.garment_measurements,
            "products.hat_sizes": self.products.hat_sizes,
            **{f"size_charts.{name}": _chart_text(rows) for name, rows in self.size_charts.items()},
        }
        return {key: text for key, text in values.items() if text}

    def recommend_size(
        self,
        category: str,
        *,
        height_cm: float | None = None,
        weight_kg: float | None = None,
        foot_length_mm: float | None = None,
        waist_cm: float | None = None,
    ) -> SizeAdvice | None:
        """The size the shop's chart gives for these measurements; when they point at different sizes, the
        larger. None when the category has no chart, no given number is one the chart uses, or one falls
        outside the chart."""
        if category not in CATEGORIES and category not in SIZE_CHARTS:
            raise ValueError(f"unknown category {category!r}; choose one of {', '.join((*CATEGORIES, 'pants', 'kids'))}")
        rows = self.size_charts.get(category)
        if not rows:
            return None
        given = {
            name: float(value)
            for name, value in (
                ("height_cm", height_cm),
                ("weight_kg", weight_kg),
                ("foot_length_mm", foot_length_mm),
                ("waist_cm", waist_cm),
            )
            if value is not None and name in rows[0].measures
        }
        if not given:
            return None
        if not all(math.isfinite(value) for value in given.values()):
            raise ValueError(f"measurements must be finite numbers, got {given}")
        picks: dict[str, int] = {}
        notes: list[str] = []
        for name, value in given.items():
            spans = [row.measures[name] for row in rows]
            pick = _row_for(spans, value)
            if pick is None:
                return None
            picks[name] = pick
            if not spans[pick].contains(value) or (pick > 0 and spans[pick - 1].contains(value)):
                notes.append(f"{_MEASURES[name][0]}在{rows[pick - 1].size}和{rows[pick].size}之间")
        if len(set(picks.values())) > 1:
            notes.append("、".join(f"{_MEASURES[name][0]}对应{rows[i].size}" for name, i in picks.items()))
        chosen = rows[max(picks.values())]
        reason = "按" + "、".join(
            f"{_MEASURES[name][0]}{_number(value)}{_MEASURES[name][1]}" for name, value in given.items()
        )
        if notes:
            reason += "：" + "；".join(notes) + f"，推荐大一些的{chosen.size}"
        return SizeAdvice(size=chosen.size, reason=reason, rounded_up=bool(notes))


def _row_for(spans: list[Span], value: float) -> int | None:
    """The row a value falls in: the larger on a shared boundary or an overlap, the next one up in a gap."""
    if value < spans[0].lo or value > spans[-1].hi:
        return None
    matches = [i for i, span in enumerate(spans) if span.contains(value)]
    if matches:
        return max(matches)
    return next(i for i, span in enumerate(spans) if span.lo > value)


def _number(value: float | None) -> str | None:
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _join(items: Iterable[str]) -> str | None:
    return "、".join(items) or None


def _choose(flag: bool | None, yes: str, no: str) -> str | None:
    return None if flag is None else (yes if flag else no)


def _payer(payer: str | None) -> str | None:
    return None if payer is None else _PAYER_ZH[payer]


def _days(span: Span | None) -> str | None:
    if span is None:
        return None
    return _number(span.lo) if span.lo == span.hi else f"{_number(span.lo)}到{_number(span.hi)}"


def _sf_upgrade(couriers: Couriers) -> str | None:
    if couriers.sf_upgrade is None:
        return None
    if not couriers.sf_upgrade:
        return "暂不支持改发顺丰"
    fee = _number(couriers.sf_extra_fee_yuan)
    return f"可以改发顺丰，需补差价{fee}元" if fee else "可以改发顺丰"


def _free_shipping(rule: FreeShipping, remote_areas: tuple[str, ...]) -> str | None:
    if rule.always:
        text = "全场包邮"
    elif rule.threshold_yuan is not None:
        text = f"满{_number(rule.threshold_yuan)}元包邮"
    else:
        return None
    if rule.remote_excluded:
        text += f"（{_join(remote_areas)}除外）" if remote_areas else "（偏远地区除外）"
    elif rule.remote_excluded is False:
        text += "，偏远地区也包邮"
    return text


def _reissue(invoice: Invoice) -> str | None:
    if invoice.reissue is None:
        return None
    if not invoice.reissue:
        return "不支持事后补开发票"
    return f"签收后{invoice.reissue_days}天内可以补开发票" if invoice.reissue_days else "可以补开发票"


def _chart_text(rows: tuple[SizeRow, ...]) -> str:
    def measure(name: str, span: Span) -> str:
        label, unit = _MEASURES[name]
        return f"{label}{_number(span.lo)}-{_number(span.hi)}{unit}"

    return "；".join(f"{row.size}：" + "、".join(measure(n, s) for n, s in row.measures.items()) for row in rows)


# --- the boundary: shop.yaml as written ------------------------------------------------------------


def _whole_or_span(value: Any) -> Any:
    """Days may be one number (3) or a range [2, 4]; both become [lo, hi]."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [value, value]
    if isinstance(value, list) and len(value) == 2:
        return value
    raise ValueError("must be a number of days or [low, high]")


def _pair(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 2 and not any(isinstance(v, bool) for v in value):
        return value
    raise ValueError("must be [low, high]")


def _ordered(pair: tuple[float, float]) -> tuple[float, float]:
    if pair[0] > pair[1]:
        raise ValueError(f"low {_number(pair[0])} is above high {_number(pair[1])}")
    return pair


def _clock(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 16:00 as the sexagesimal number 960.
        raise ValueError('write the time in quotes, e.g. "16:00"')
    return value


def _label(value: Any) -> Any:
    """A size may be written bare (`size: 38`); it is a label all the same."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
SizeLabel = Annotated[Text, BeforeValidator(_label)]
Texts = Annotated[list[Text], Field(min_length=1)]
Days = Annotated[int, Field(ge=1)]
DaySpan = Annotated[tuple[Days, Days], BeforeValidator(_whole_or_span), AfterValidator(_ordered)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Measure = Annotated[tuple[Finite, Finite], BeforeValidator(_pair), AfterValidator(_ordered)]
Clock = Annotated[str, BeforeValidator(_clock), StringConstraints(pattern=r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$")]
Yuan = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ShopModel(_Section):
    name: Text | None = None
    platforms: Annotated[list[Platform], Field(min_length=1)] | None = None
    service_hours: Text | None = None
    offline_stores: Text | None = None
    business_contact: Text | None = None


class _CouriersModel(_Section):
    default: Text | None = None
    used: Texts | None = None
    sf_upgrade: bool | None = None
    sf_extra_fee_yuan: Yuan | None = None


class _DispatchModel(_Section):
    same_day_cutoff: Clock | None = None
    within_hours: Annotated[int, Field(ge=1)] | None = None
    presale_note: Text | None = None
    weekends_and_holidays: bool | None = None
    origin: Text | None = None
    self_pickup: Text | None = None
    heat_protection: Text | None = None


class _DeliveryModel(_Section):
    typical_days: DaySpan | None = None
    remote_days: DaySpan | None = None
    remote_areas: Texts | None = None
    not_delivered: Texts | None = None
    upstairs_fee: Text | None = None


class _FreeShippingModel(_Section):
    always: bool | None = None
    threshold_yuan: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    remote_excluded: bool | None = None


class _PostageModel(_Section):
    quality: PostagePayer | None = None
    wrong_item: PostagePayer | None = None
    no_reason: PostagePayer | None = None


class _ReturnsModel(_Section):
    no_reason_days: Days | None = None
    postage: _PostageModel | None = None
    shipping_insurance: bool | None = None
    refund_hours: Annotated[int, Field(ge=1)] | None = None


class _ExchangeModel(_Section):
    days: Days | None = None
    postage: Text | None = None


class _PriceProtectionModel(_Section):
    days: Days | None = None
    how_to_apply: dict[Platform, Text] | None = None


class _GiftsModel(_Section):
    current: Text | None = None
    on_return: Text | None = None


class _InvoiceModel(_Section):
    types: Texts | None = None
    issuing: Text | None = None
    reissue: bool | None = None
    reissue_days: Days | None = None


class _WarrantyModel(_Section):
    months: Annotated[int, Field(ge=1)] | None = None
    covers: Text | None = None
    how_to_apply: Text | None = None


class _PresaleModel(_Section):
    deposit_rule: Text | None = None
    final_payment_window: Text | None = None


class _PromotionsModel(_Section):
    multi_buy_rule: Text | None = None


class _ServicesModel(_Section):
    engraving: Text | None = None
    gift_options: Text | None = None


class _ProductsModel(_Section):
    version: Text | None = None
    garment_measurements: Text | None = None
    hat_sizes: Text | None = None


class _ClothingRow(_Section):
    size: SizeLabel
    height_cm: Measure
    weight_kg: Measure


class _PantsRow(_Section):
    size: SizeLabel
    waist_cm: Measure


class _ShoeRow(_Section):
    size: SizeLabel
    foot_length_mm: Measure


class _KidsRow(_Section):
    size: SizeLabel
    height_cm: Measure


class _SizeChartsModel(_Section):
    clothing: Annotated[list[_ClothingRow], Field(min_length=1)] | None = None
    pants: Annotated[list[_PantsRow], Field(min_length=1)] | None = None
    shoes: Annotated[list[_ShoeRow], Field(min_length=1)] | None = None
    kids: Annotated[list[_KidsRow], Field(min_length=1)] | None = None


class _ShopFileModel(_Section):
    shop: _ShopModel | None = None
    couriers: _CouriersModel | None = None
    dispatch: _DispatchModel | None = None
    delivery: _DeliveryModel | None = None
    free_shipping: _FreeShippingModel | None = None
    returns: _ReturnsModel | None = None
    exchange: _ExchangeModel | None = None
    price_protection: _PriceProtectionModel | None = None
    gifts: _GiftsModel | None = None
    invoice: _InvoiceModel | None = None
    payment_methods: dict[Platform, Texts] | None = None
    warranty: _WarrantyModel | None = None
    presale: _PresaleModel | None = None
    member_prices: Text | None = None
    promotions: _PromotionsModel | None = None
    services: _ServicesModel | None = None
    products: _ProductsModel | None = None
    size_charts: _SizeChartsModel | None = None


# --- the profile as a form: every key a shop can set, with its label and kind -----------------------

# Section titles and labels of keys that have no placeholder of their own (they feed a composed fact).
_SECTION_LABELS: dict[str, str] = {
    "shop": "店铺", "couriers": "快递", "dispatch": "发货", "delivery": "配送", "free_shipping": "包邮",
    "returns": "退货", "exchange": "换货", "price_protection": "价格保护", "gifts": "赠品", "invoice": "发票",
    "payment_methods": "支付方式", "warranty": "保修", "presale": "预售", "member_prices": "会员价",
    "promotions": "促销", "services": "增值服务", "products": "商品", "size_charts": "尺码表",
}
_FORM_LABELS: dict[str, str] = {
    "free_shipping.always": "是否全场包邮",
    "free_shipping.threshold_yuan": "包邮门槛（元）",
    "free_shipping.remote_excluded": "偏远地区是否除外",
}
_CHART_COLUMNS: dict[str, str] = {name: f"{label}{unit}" for name, (label, unit) in _MEASURES.items()}
# The values a field of these kinds takes -> how the form names them.
_CHOICES: dict[str, dict[str, str]] = {"payer": {"seller": "店铺承担", "buyer": "买家承担"},
                                       "platforms": dict(PLATFORM_NAMES_ZH), "flag": {"true": "是", "false": "否"}}


@dataclass(frozen=True)
class ProfileField:
    """One key of the shop profile as the panel's form shows it.

    kind: text, texts (a list of words), flag (yes/no), number, whole (a whole number), days (a number of
    days or a range), clock ("HH:MM"), payer (seller/buyer), platforms, or chart (a size chart: one row per
    size, `columns` the measures after the size, each a range).
    """

    key: str
    section: str
    label: str
    kind: str
    columns: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "section": self.section, "label": self.label, "kind": self.kind,
                "columns": [{"key": name, "label": _CHART_COLUMNS[name]} for name in self.columns],
                "choices": _CHOICES.get(self.kind, {})}


def profile_fields() -> list[ProfileField]:
    """Every key of shop.yaml's schema in the file's order, as form fields (platform maps expanded)."""
    fields: list[ProfileField] = []

    def field(key: str, section: str, kind: str, columns: tuple[str, ...] = ()) -> ProfileField:
        label = _FORM_LABELS.get(key) or _PLACEHOLDERS[key].strip("【】")
        for ending, unit in (("_hours", "小时"), ("_yuan", "元"), ("_days", "天")):
            if kind in ("whole", "number") and key.endswith(ending) and unit not in label:
                label += f"（{unit}）"
        return ProfileField(key, section, label, kind, columns)

    def walk(model: type[BaseModel], prefix: str, section: str) -> None:
        hints = get_type_hints(model, include_extras=True)
        for name in model.model_fields:
            key = f"{prefix}{name}"
            kind = _optional(hints[name])
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                walk(kind, f"{key}.", section or name)
            elif get_origin(kind) is dict:  # per platform
                fields.extend(field(f"{key}.{platform}", section or name, _field_kind(get_args(kind)[1]))
                              for platform in PLATFORM_NAMES_ZH)
            elif section == "size_charts":
                row = get_args(get_args(kind)[0])[0]
                fields.append(field(key, section, "chart", tuple(n for n in row.model_fields if n != "size")))
            else:
                fields.append(field(key, section or name, _field_kind(kind)))

    walk(_ShopFileModel, "", "")
    return fields


def profile_sections() -> dict[str, str]:
    """The profile's sections (top-level keys) -> their titles."""
    return dict(_SECTION_LABELS)


def _optional(annotation: Any) -> Any:
    """X from `X | None`."""
    if get_origin(annotation) in (Union, UnionType):
        (annotation,) = [arg for arg in get_args(annotation) if arg is not NoneType]
    return annotation


def _field_kind(annotation: Any) -> str:
    for alias, kind in ((Text, "text"), (Texts, "texts"), (Clock, "clock"), (DaySpan, "days"), (Days, "whole"),
                        (PostagePayer, "payer"), (Yuan, "number")):
        if annotation == alias:
            return kind
    if annotation is bool:
        return "flag"
    if get_origin(annotation) is Annotated:
        base, *_ = get_args(annotation)
        if base is int:
            return "whole"
        if base is float:
            return "number"
        if get_origin(base) is list and get_args(base)[0] == Platform:
            return "platforms"
    raise TypeError(f"no form field for {annotation!r}")  # a new kind of key in the schema: name it here


def load_shop_profile(corpus_dir: Path) -> ShopProfile:
    """The shop's profile from corpus_dir/shop.yaml; a missing or empty file is a shop that has said nothing."""
    path = corpus_dir / SHOP
    if not path.is_file():
        return ShopProfile()
    try:
        raw = parse_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CorpusError(f"cannot read the shop profile {path}: {exc}") from exc
    return parse_shop_profile(raw, str(path))


def parse_shop_profile(raw: Any, where: str) -> ShopProfile:
    """A profile from its parsed YAML or JSON (None: a shop that has said nothing); CorpusError naming
    `where` and every bad key otherwise."""
    if raw is None:
        return ShopProfile()
    if not isinstance(raw, dict):
        raise CorpusError(f"{where} must be a mapping of sections ({', '.join(_ShopFileModel.model_fields)})")
    try:
        model = _ShopFileModel.model_validate(raw)
    except ValidationError as exc:
        problems = [(_key_path(err["loc"]), _problem(err)) for err in exc.errors()]
        raise _invalid(where, problems) from exc
    problems = _inconsistencies(model)
    if problems:
        raise _invalid(where, problems)
    return _profile(model)


def _invalid(where: str, problems: list[tuple[str, str]]) -> CorpusError:
    message = f"{where}: " + "; ".join(f"{key}: {problem}" for key, problem in problems)
    return CorpusError(message, details=[{"key": key, "problem": problem} for key, problem in problems])


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for a bad mapping key: the key itself is already in the path
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _problem(err: ErrorDetails) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "literal_error":
        return "must be one of " + ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
    if kind == "extra_forbidden":
        allowed = _allowed_keys(err["loc"][:-1])
        return "unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    if kind == "missing":
        return "is required"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number"
    if kind in ("float_type", "float_parsing"):
        return "must be a number"
    if kind == "finite_number":
        return "must be a finite number"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind == "string_type":
        # A bare 9:00 or 12 is a number to YAML; quotes make it text.
        return "must be text" + (" (put it in quotes)" if isinstance(err["input"], int | float) else "")
    if kind == "string_pattern_mismatch":
        return 'must be a time like "16:00"'
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be {'at least' if kind == 'greater_than_equal' else 'above'} {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("list_type", "tuple_type"):
        return "must be a list"
    if kind in ("dict_type", "model_type"):
        return "must be a mapping"
    return str(err["msg"]).removeprefix("Value error, ")


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the schema allows where an unknown key was found (for the error message)."""
    current: Any = _ShopFileModel
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            current = current.model_fields[part].annotation if part in current.model_fields else None
        elif get_origin(current) in (list, dict):
            current = get_args(current)[-1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """X from Optional[X] and Annotated[X, ...]."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            annotation = next(arg for arg in get_args(annotation) if arg is not NoneType)
        else:
            return annotation


def _inconsistencies(model: _ShopFileModel) -> list[tuple[str, str]]:
    """What the schema alone cannot see: facts that contradict each other, charts out of order."""
    problems: list[tuple[str, str]] = []
    platforms = set(model.shop.platforms or ()) if model.shop else set()
    if platforms:
        by_platform: dict[str, Iterable[str]] = {
            "payment_methods": model.payment_methods or {},
            "price_protection.how_to_apply": (model.price_protection.how_to_apply or {}) if model.price_protection else {},
        }
        for key, entries in by_platform.items():
            for platform in entries:
                if platform not in platforms:
                    problems.append((f"{key}.{platform}", f"the shop does not sell on {platform} (shop.platforms)"))
    for platform, listed in (model.payment_methods or {}).items():
        impossible = [method for method in listed if method in _NOT_ON_PLATFORM.get(platform, ())]
        if impossible:
            problems.append((f"payment_methods.{platform}", f"{platform} does not take {'、'.join(impossible)}"))
    if model.shop and model.shop.platforms and len(set(model.shop.platforms)) < len(model.shop.platforms):
        problems.append(("shop.platforms", "lists a platform twice"))
    if (c := model.couriers) is not None:
        if c.default and c.used and c.default not in c.used:
            problems.append(("couriers.default", f"{c.default} is not in couriers.used"))
        if c.sf_extra_fee_yuan is not None and c.sf_upgrade is not True:
            problems.append(("couriers.sf_extra_fee_yuan", "is set but couriers.sf_upgrade is not true"))
    if (f := model.free_shipping) is not None:
        if f.always and f.threshold_yuan is not None:
            problems.append(("free_shipping", "set either always: true or threshold_yuan, not both"))
    if (i := model.invoice) is not None and i.reissue_days is not None and i.reissue is not True:
        problems.append(("invoice.reissue_days", "is set but invoice.reissue is not true"))
    if model.size_charts is not None:
        for name in SIZE_CHARTS:
            rows = getattr(model.size_charts, name)
            if rows:
                problems += _chart_problems(f"size_charts.{name}", [row.model_dump() for row in rows])
    return problems


def _chart_problems(key: str, rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        if row["size"] in seen:
            problems.append((f"{key}[{index}].size", f"size {row['size']} appears twice"))
        seen.add(row["size"])
        if index == 0:
            continue
        for measure in _MEASURES:
            if measure not in row:
                continue
            (lo0, hi0), (lo, hi) = rows[index - 1][measure], row[measure]
            if not (lo > lo0 and hi > hi0):
                problems.append((
                    f"{key}[{index}].{measure}",
                    f"rows must go from small to large: {_number(lo)}-{_number(hi)} comes after "
                    f"{_number(lo0)}-{_number(hi0)}",
                ))
    return problems


def _profile(m: _ShopFileModel) -> ShopProfile:
    shop = m.shop or _ShopModel()
    c = m.couriers or _CouriersModel()
    d = m.dispatch or _DispatchModel()
    v = m.delivery or _DeliveryModel()
    f = m.free_shipping or _FreeShippingModel()
    r = m.returns or _ReturnsModel()
    p = r.postage or _PostageModel()
    e = m.exchange or _ExchangeModel()
    pp = m.price_protection or _PriceProtectionModel()
    g = m.gifts or _GiftsModel()
    i = m.invoice or _InvoiceModel()
    w = m.warranty or _WarrantyModel()
    ps = m.presale or _PresaleModel()
    charts = m.size_charts or _SizeChartsModel()
    sv = m.services or _ServicesModel()
    pr = m.products or _ProductsModel()
    return ShopProfile(
        name=shop.name,
        platforms=tuple(shop.platforms or ()),
        service_hours=shop.service_hours,
        offline_stores=shop.offline_stores,
        business_contact=shop.business_contact,
        couriers=Couriers(c.default, tuple(c.used or ()), c.sf_upgrade, c.sf_extra_fee_yuan),
        dispatch=Dispatch(d.same_day_cutoff, d.within_hours, d.presale_note, d.weekends_and_holidays, d.origin,
                          d.self_pickup, d.heat_protection),
        delivery=Delivery(
            _span(v.typical_days), _span(v.remote_days), tuple(v.remote_areas or ()), tuple(v.not_delivered or ()),
            v.upstairs_fee,
        ),
        free_shipping=FreeShipping(f.always, f.threshold_yuan, f.remote_excluded),
        returns=Returns(
            r.no_reason_days, ReturnPostage(p.quality, p.wrong_item, p.no_reason), r.shipping_insurance, r.refund_hours
        ),
        exchange=Exchange(e.days, e.postage),
        price_protection=PriceProtection(pp.days, MappingProxyType(_by_platform(pp.how_to_apply))),
        gifts=Gifts(g.current, g.on_return),
        invoice=Invoice(tuple(i.types or ()), i.issuing, i.reissue, i.reissue_days),
        payment_methods=MappingProxyType({k: tuple(methods) for k, methods in (m.payment_methods or {}).items()}),
        warranty=Warranty(w.months, w.covers, w.how_to_apply),
        presale=Presale(ps.deposit_rule, ps.final_payment_window),
        member_prices=m.member_prices,
        multi_buy_rule=m.promotions.multi_buy_rule if m.promotions else None,
        services=Services(sv.engraving, sv.gift_options),
        products=Products(pr.version, pr.garment_measurements, pr.hat_sizes),
        size_charts=MappingProxyType({
            name: tuple(_size_row(row.model_dump()) for row in rows)
            for name in SIZE_CHARTS
            if (rows := getattr(charts, name))
        }),
    )


def _by_platform(texts: Mapping[Platform, str] | None) -> Mapping[str, str]:
    return {str(platform): text for platform, text in (texts or {}).items()}


def _span(pair: tuple[int, int] | None) -> Span | None:
    return None if pair is None else Span(pair[0], pair[1])


def _size_row(row: dict[str, Any]) -> SizeRow:
    measures = {name: Span(*row[name]) for name in _MEASURES if name in row}
    return SizeRow(row["size"], MappingProxyType(measures))


__all__ = [
    "SIZE_CHARTS", "Couriers", "Delivery", "Dispatch", "Exchange", "FreeShipping", "Gifts", "Invoice", "PostagePayer",
    "Presale", "PriceProtection", "ReturnPostage", "Returns", "ShopProfile", "SizeAdvice", "SizeChartName", "SizeRow",
    "ProfileField", "Span", "Warranty", "fact_placeholders", "load_shop_profile", "parse_shop_profile", "profile_fields",
    "profile_sections",
]
