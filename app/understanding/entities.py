"""The facts a buyer message states: body measurements, sizes, order numbers, amounts, dates, colours, specs, product.

Numbers are read by the grammar below; the words (product words, colours, dates, specs) are data
in `corpus/understanding.yaml`, loaded once per corpus directory (`EntityExtractor.load`).

Height and weight. Explicit units are trusted: 170cm, 170公分, 一米七, 1米75, 1.75m, 身高165;
60kg, 60公斤, 120斤 (= 60 kg), 一百二十斤. A bare number is read only next to a height or weight:
"165 52kg" makes 165 a height when it lies in 140-210. A bare weight ("162 105", "身高175 体重150")
is ambiguous between kg and 斤, and is decided by the body-mass index it would give with the stated
adult height (140 cm or more): the reading whose BMI lies in 16-35 is taken when the other's does
not; when both or neither do ("165 90"), no weight is extracted. So "162 105" is 162 cm and
52.5 kg (105 kg would be a BMI of 40), "170 60" is 60 kg (60斤 would be a BMI of 10). Without a
height, a weight labelled 体重 is kg in 35-75 and 斤 in 100-250, and nothing in between; a bare
weight next to a child's height is never read. Prefer no fact to a wrong one: a reply that asks
again is better than a size recommended for the wrong body.

The other numbers. Foot length in mm: 脚长 in cm (or under 40, so cm) times ten, in mm as it is, or
any 100-330 mm. Waist in cm: 腰围 in 市尺 (2尺1 = 70 cm), cm, 寸 (jeans inches) or bare. Sizes: letters
(S … 3XL), numbers marked 码 (14-50) or 号 (32-50: 3号 is a date), numbers after 穿/拿/选/换/买/拍/平时
and their alternatives ("43还是44"), a pair of two-digit numbers offered as a choice ("26还是27"),
US/EU/UK sizes. Order numbers: ten digits or more that are not a mobile number or a courier's
tracking number, or any digits after 订单号. Amounts in yuan: after ¥, before 元/块 (not 一块板: a
piece), or after a price word (降了200, 便宜了50, 满199减30) when no other unit follows.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.errors import CorpusError
from app.lexicon import Lexicon, LexiconSpec, matchable
from app.vocabulary import CATEGORIES, Category, Fact
from app.yaml_data import parse_yaml

UNDERSTANDING = "understanding.yaml"
SECTIONS = ("entities", "situation")

SizeChange = Literal["larger", "smaller"]


@dataclass(frozen=True)
class Amount:
    yuan: float
    text: str  # as written: "¥99", "降了200", "十块"


# What only the message itself can say: thanks in an earlier turn is not thanks for this reply.
_SAID_NOW = frozenset({"thanks"})


@dataclass(frozen=True)
class Entities:
    """What a message states. Sizes, amounts, dates, colours and specs keep the order they were written in."""

    height_cm: float | None = None
    weight_kg: float | None = None
    foot_length_mm: float | None = None
    waist_cm: float | None = None
    sizes: tuple[str, ...] = ()  # "M", "2XL", "38", "36.5", "US 8", "EU 40", "均码"
    size_change: SizeChange | None = None  # 大一码 / 小半码: the buyer thinks of another size
    order_numbers: tuple[str, ...] = ()
    amounts: tuple[Amount, ...] = ()
    dates: tuple[str, ...] = ()  # dates and times as written: 明天, 周五, 12月3号, 618, 下午三点
    colours: tuple[str, ...] = ()
    specs: tuple[str, ...] = ()  # what products differ by: 256G, 50ml, 55寸, 1.5匹
    category: Category | None = None
    photo: bool = False  # the buyer sent or mentions a photo or video of the goods
    child: bool = False  # the goods are for a child (a child's size chart applies)
    thanks: bool = False  # the buyer thanks the agent (a reply may then say "不客气"); this message's alone

    def facts(self) -> frozenset[Fact]:
        """The facts stated, named as templates name what they need and ask for (app/vocabulary.py)."""
        stated: dict[Fact, object] = {
            "height": self.height_cm, "weight": self.weight_kg, "foot_length": self.foot_length_mm,
            "waist": self.waist_cm, "size": self.sizes, "order_id": self.order_numbers, "amount": self.amounts,
            "date": self.dates, "colour": self.colours, "spec": self.specs, "photo": self.photo or None,
            "child": self.child or None, "thanks": self.thanks or None,
        }
        return frozenset(fact for fact, value in stated.items() if value not in (None, ()))

    def completed_by(self, earlier: Entities) -> Entities:
        """These entities, with what they lack taken from earlier ones (an earlier turn): the latest wins."""
        values: dict[str, Any] = {}
        for field in fields(self):
            mine, theirs = getattr(self, field.name), getattr(earlier, field.name)
            if isinstance(mine, tuple):
                values[field.name] = mine + tuple(item for item in theirs if item not in mine)
            elif field.name in _SAID_NOW:
                values[field.name] = mine
            elif isinstance(mine, bool):
                values[field.name] = mine or theirs
            else:
                values[field.name] = theirs if mine is None else mine
        return replace(self, **values)


# --- the data file -------------------------------------------------------------------------------


class WordsModel(BaseModel):
    """A section of corpus/understanding.yaml: unknown keys are mistakes."""

    model_config = ConfigDict(extra="forbid")


class EntityWords(WordsModel):
    categories: dict[Category, LexiconSpec]
    category_hints: dict[Category, LexiconSpec] = Field(default_factory=dict)
    colours: LexiconSpec
    dates: LexiconSpec
    specs: LexiconSpec
    photos: LexiconSpec = Field(default_factory=LexiconSpec)
    children: LexiconSpec = Field(default_factory=LexiconSpec)
    thanks: LexiconSpec = Field(default_factory=LexiconSpec)


@functools.cache
def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or set(data) != set(SECTIONS):
        found = ", ".join(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise CorpusError(f"{path}: the top level must be exactly {', '.join(SECTIONS)} (found {found})")
    return data


Section = TypeVar("Section", bound=BaseModel)


def read_section(corpus_dir: Path, section: str, model: type[Section]) -> Section:
    """One section of corpus/understanding.yaml, validated; CorpusError names the key that is wrong."""
    path = corpus_dir / UNDERSTANDING
    try:
        return model.model_validate(_read_file(path.resolve())[section])
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join([section, *map(str, error['loc'])])}: {error['msg']}" for error in exc.errors()
        )
        raise CorpusError(f"{path}: {problems}") from exc


def build_lexicon(spec: LexiconSpec, key: str, path: Path) -> Lexicon:
    try:
        return spec.lexicon()
    except re.error as exc:
        raise CorpusError(f"{path}: {key}: bad pattern: {exc}") from exc


def default_corpus_dir() -> Path:
    # The checkout's corpus/ (as app/config.py finds it) for callers that pass none.
    here = Path(__file__).resolve().parents[2]
    return here / "corpus" if (here / "corpus").is_dir() else Path.cwd() / "corpus"


# --- numbers -------------------------------------------------------------------------------------

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
ARABIC = r"\d+(?:\.\d+)?"
CHINESE = r"[零〇一二两三四五六七八九十百千]+"
# A number starts where no digit of either kind stands before it: patterns that begin with a number
# then try each run once, not from every one of its characters (a 2,000-digit paste was quadratic).
NUMBER_START = r"(?<![\d.零〇一二两三四五六七八九十百千])"


def chinese_number(text: str) -> int | None:
    """一百二十 -> 120, 一百三 -> 130 (the spoken short form), 一百零五 -> 105, 十二 -> 12; None if not a number."""
    if not text or any(char not in _CN_DIGITS and char not in _CN_UNITS for char in text):
        return None
    total, digit, last_unit, zero = 0, None, 0, False
    for char in text:
        if _CN_DIGITS.get(char) == 0:
            zero = True  # 一百零五: the 五 is units
        elif char in _CN_DIGITS:
            if digit is not None:
                return None  # 一二: a list of digits, not a number
            digit = _CN_DIGITS[char]
        else:
            unit = _CN_UNITS[char]
            if last_unit and unit >= last_unit:
                return None
            total += (1 if digit is None else digit) * unit
            digit, last_unit = None, unit
    if digit is not None:
        # 一百三 is 130, but 一百零三 is 103.
        total += digit * (last_unit // 10 if last_unit >= 100 and not zero else 1)
    return total


def number(text: str) -> float | None:
    text = text.strip()
    if re.fullmatch(ARABIC, text):
        return float(text)
    whole, _, tenths = text.partition("点")  # 二十五点三: a spoken decimal
    value = chinese_number(whole)
    if value is None or (tenths and (len(tenths) != 1 or tenths not in _CN_DIGITS)):
        return None
    return float(value) + (_CN_DIGITS[tenths] / 10 if tenths else 0.0)


def _tidy(value: float) -> float:
    return round(value, 1)


# --- the grammar ---------------------------------------------------------------------------------

_I = re.IGNORECASE
_GAP = r"\s?(?:是|有|大概|大约|约|差不多)?\s?"
_ORDER = re.compile(r"(?<![\dA-Za-z])\d{10,}(?!\d)")
_ORDER_LABELLED = re.compile(r"订单(?:号|编号)?[:：\s]*(\d{6,})(?!\d)")
_PHONE = re.compile(r"1[3-9]\d{9}")
_TRACKING_LABEL = re.compile(r"(?:快递|运|物流)单号[:：\s]*$")

# A length with the body part it measures. 2尺1 / 二尺三 is a waist in 市尺 (1 尺 = 33.3 cm, 1 寸 = a tenth).
_CHI = r"([一二两三四]|[1234])\s?尺\s?([一二三四五六七八九]|\d)?\s?寸?"
# 腰围72, 腰68, 腰是78, 腰围八十, 腰二尺四; and after the number, 二尺三的腰 (not 腰长, 高腰).
_CN_DECIMAL = rf"{CHINESE}(?:点[零〇一二三四五六七八九])?"
_WAIST = re.compile(rf"(?<!高)腰围?{_GAP}(?:{_CHI}|({ARABIC}|{CHINESE})\s?(cm|厘米|公分|寸|尺)?)", _I)
_WAIST_AFTER = re.compile(rf"(?:{_CHI}|(?<![\d.])({ARABIC})\s?(cm|厘米|公分|寸|尺)?)的腰", _I)
_FOOT = re.compile(rf"(?:脚长|足长|脚掌长|脚的长度){_GAP}({ARABIC}|{_CN_DECIMAL})\s?(cm|厘米|公分|mm|毫米)?", _I)
# 我脚26厘米: the foot without 长 counts only with a unit (脚39 is a shoe size).
_FOOT_UNIT = re.compile(rf"脚{_GAP}({ARABIC})\s?(cm|厘米|公分|mm|毫米)", _I)
_FOOT_AFTER = re.compile(rf"(?<![\d.])({ARABIC})\s?(cm|厘米|公分|mm|毫米)?的?(?:脚长|足长)", _I)
_MILLIMETRES = re.compile(rf"(?<![\d.])({ARABIC})\s?(?:mm|毫米)(?![a-z])", _I)
# Other body measurements are claimed so their numbers are not read as heights or weights.
_OTHER_BODY = re.compile(
    rf"(?:胸围|臀围|头围|肩宽|领围|衣长|裤长|袖长|腿长|腰长|大腿围|上胸围|下胸围|胸|臀){_GAP}{ARABIC}\s?(?:cm|厘米|公分)?", _I
)

# 130高 60斤, 儿子125高: a height said as "N高" (not 高跟, 高腰: only a pause, the end or a number follows).
_HEIGHT_SUFFIX = re.compile(r"(?<![\d.])(\d{2,3})\s?(?:cm|厘米|公分)?\s?高(?=$|[\s,，。、/;；~!！?？]|\d)", _I)
_HEIGHT_LABEL = re.compile(rf"身高{_GAP}({ARABIC}|{CHINESE})\s?(cm|厘米|公分|米|m)?(?![a-z])", _I)
# 一米七, 一米七五, 1米75, 1.75m, 1.7米; not 1.8米的床 or 1.5m×2m.
_METRES = re.compile(
    r"(?<![\d.])(?:([1一])\s?米\s?(\d{1,2}|[一二三四五六七八九][零〇一二三四五六七八九]?)|(1\.\d{1,2})\s?(?:米|m)(?![a-z]))"
    r"(?!\s?的?\s?(?:床|席|垫|桌|柜|沙发|宽|长|高|深|厚|x|\*|×|乘))",
    _I,
)
_CENTIMETRES = re.compile(rf"(?<![\d.])({ARABIC})\s?(?:cm|厘米|公分)(?![a-z])", _I)
_DIMENSION_BEFORE = re.compile(r"(?:长|宽|高|深|厚|围|径|差|肩|袖|领|多|到|超过|少|大|小|加|减)\s?$")
_DIMENSION_AFTER = re.compile(r"^\s?的?\s?(?:长|宽|高|深|厚|脚|左右的|以上的|床|桌|柜)")
_CHILD = re.compile(r"宝宝|宝贝|孩子|小孩|儿子|女儿|闺女|外孙|外甥|侄子|侄女|孙子|孙女|娃|童|岁|个月")

_WEIGHT_LABEL = re.compile(rf"体重{_GAP}({ARABIC}|{CHINESE})\s?(kg|公斤|千克|斤)?(?![a-z])", _I)
# 八十多斤 is read as 80斤: a floor, close enough to choose a size by.
_WEIGHT = re.compile(rf"{NUMBER_START}({ARABIC}|{CHINESE})\s?(?:多|来)?\s?(kg|公斤|千克|斤)(?![a-z])", _I)
_GOODS_BEFORE = re.compile(r"(?:每|一共|净重|重量|毛重|净含量|重|约重|装)\s?$")
_GOODS_AFTER = re.compile(r"^\s?(?:装|包|袋|箱|盒|桶|瓶|/)")
# Bare numbers that may be a height or weight next to one: 2-3 digits, or a spoken 一百三.
_BARE = re.compile(r"(?<![\d.A-Za-z])(\d{2,3}(?:\.\d)?|[一两二]百[零〇一二三四五六七八九十]*)(?![\d.A-Za-z])")
_UNIT_AFTER = re.compile(r"^\s?(?:[码号元块岁个件天折斤米寸尺度楼期分点次瓦角秒份套双支只瓶盒箱包袋台条张克升%]|毫|厘|公|号楼|小时|周|月|年|的券)")
_PAIR_GAP = re.compile(r"^[\s,，、/;；~]*(?:体重|身高)?[\s,，、/;；~]*$")

_LETTER_SIZE = re.compile(r"(?<![A-Za-z0-9])([2-6]XL|X{0,3}L|X{1,3}S|S|M)(?:码)?(?![A-Za-z])", _I)
_REGIONAL_SIZE = re.compile(r"(?<![A-Za-z])(US|EU|UK)\s?(\d{1,2}(?:\.5)?)(?![\d.])", _I)
_MARKED_SIZE = re.compile(r"(?<![\d.])(\d{2}(?:\.5)?)\s?码")
_NUMBERED_SIZE = re.compile(r"(?<![\d.])(\d{2}(?:\.5)?)\s?号(?!楼|线|院|床|门)")
_SIZE_VERB = re.compile(r"(?:穿|拿|选|换|试|买|拍|要|平时)\s?(\d{2,3}(?:\.5)?)(?![\d.A-Za-z])")
_SIZE_CHOICE = re.compile(r"(?<![\d.])(\d{2}(?:\.5)?)\s?(?:还是|或者|或|跟|和|/)\s?(\d{2}(?:\.5)?)(?![\d.])")
_SIZE_CHAIN = re.compile(r"^\s?(?:还是|或者|或|跟|和|/)\s?(\d{2,3}(?:\.5)?)(?![\d.])")
_SIZE_CHANGE = re.compile(r"(?<!偏)(大|小)\s?(?:一|半|1)\s?(?:个)?(?:码|号)")
_ONE_SIZE = re.compile(r"均码")

_YUAN = re.compile(r"[¥￥]\s?(\d+(?:\.\d+)?)|(?<![\d.零〇一二两三四五六七八九十百千])"
                   r"(\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千]+)\s?(元|块钱|块|rmb)", _I)
_NOT_MONEY_AFTER = re.compile(r"^(?!钱|的|吗|呢|吧|呗|啊|了|就|都|左右|以内|以上|包邮|能|可以|行)[\u4e00-\u9fff]")
_PRICE_VERB = re.compile(
    r"(?:降了|降价了?|便宜了?|少了?|优惠了?|立减|减|满|涨了|贵了|差价|差了|返现?|抵|定金|尾款|价格?|售价|到手|才|变成?|只退了?|退了|"
    r"付了|花了|扣了?我?)\s?(\d+(?:\.\d+)?)(?![\d.])"
)
_NOT_MONEY_UNIT = re.compile(
    r"^\s?(?:天|件|个|斤|%|折|号|期|次|小时|分钟|G|ml|名|楼|岁|瓦|w|cm|mm|kg|码|层|周|年|月|套|双|张|台|瓶|盒|包|箱|单|位|人|公里|米|块)",
    _I,
)


class _Claims:
    """Spans of the text already read as one fact, so no number is read twice."""

    def __init__(self) -> None:
        self._spans: list[tuple[int, int]] = []

    def free(self, start: int, end: int) -> bool:
        return all(end <= low or start >= high for low, high in self._spans)

    def take(self, start: int, end: int) -> None:
        self._spans.append((start, end))

    def matches(self, pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
        """Matches lying on free text, each claimed as it is yielded."""
        for match in pattern.finditer(text):
            if match.end() > match.start() and self.free(match.start(), match.end()):
                self.take(match.start(), match.end())
                yield match


@dataclass(frozen=True)
class _Number:
    value: float
    start: int
    end: int


def _bmi(weight_kg: float, height_cm: float) -> float:
    return weight_kg / (height_cm / 100) ** 2


def bare_weight_kg(value: float, height_cm: float | None) -> float | None:
    """A weight written without a unit, in kg, or None when kg and 斤 cannot be told apart (see the module doc)."""
    if height_cm is None:
        if 35 <= value <= 75:
            return value
        if 100 <= value <= 250:
            return value / 2
        return None
    if height_cm < 140:
        return None
    plausible = [kg for kg in (value, value / 2) if 16 <= _bmi(kg, height_cm) <= 35]
    return plausible[0] if len(plausible) == 1 else None


def _metres(match: re.Match[str]) -> float:
    if match.group(3):
        return float(match.group(3)) * 100
    tail = match.group(2)
    if tail.isdigit():
        return 100.0 + (int(tail) * 10 if len(tail) == 1 else int(tail))
    digits = [_CN_DIGITS[char] for char in tail]
    return 100.0 + digits[0] * 10 + (digits[1] if len(digits) > 1 else 0)


class EntityExtractor:
    """Reads the facts a normalised buyer message states (`app/text.py` normalize_text first)."""

    def __init__(self, words: EntityWords, path: Path) -> None:
        terms: dict[str, Category] = {}
        for category, spec in words.categories.items():
            for term in spec.terms:
                key = matchable(term).lower()
                if terms.setdefault(key, category) != category:
                    raise CorpusError(f"{path}: entities.categories: {term} is in both {terms[key]} and {category}")
        self._product_words = terms
        # One lexicon over every category, so the longest word wins across categories (鞋柜 over 鞋).
        self._products = Lexicon.build(terms, exceptions=[word for spec in words.categories.values()
                                                          for word in spec.except_])
        self._product_patterns = {
            category: build_lexicon(LexiconSpec(patterns=spec.patterns), f"entities.categories.{category}", path)
            for category, spec in words.categories.items() if spec.patterns
        }
        self._hints = {
            category: build_lexicon(spec, f"entities.category_hints.{category}", path)
            for category, spec in words.category_hints.items()
        }
        self._colours = build_lexicon(words.colours, "entities.colours", path)
        self._dates = build_lexicon(words.dates, "entities.dates", path)
        self._specs = build_lexicon(words.specs, "entities.specs", path)
        self._photos = build_lexicon(words.photos, "entities.photos", path)
        self._children = build_lexicon(words.children, "entities.children", path)
        self._thanks = build_lexicon(words.thanks, "entities.thanks", path)

    @classmethod
    def load(cls, corpus_dir: Path) -> EntityExtractor:
        return _extractor(corpus_dir.resolve())

    def extract(self, text: str) -> Entities:
        claims = _Claims()
        order_numbers = self._order_numbers(text, claims)
        foot = self._foot_length(text, claims)
        waist = self._waist(text, claims)
        for _ in claims.matches(_OTHER_BODY, text):
            pass  # claimed, not kept: no template uses them yet
        specs = self._words(self._specs, text, claims)
        height, weight = self._height_and_weight(text, claims)
        sizes, size_change = self._sizes(text, claims)
        amounts = self._amounts(text, claims)
        dates = self._words(self._dates, text, claims)
        colours = self._words(self._colours, text, claims)
        entities = Entities(
            height_cm=height, weight_kg=weight, foot_length_mm=foot, waist_cm=waist, sizes=sizes,
            size_change=size_change, order_numbers=order_numbers, amounts=amounts, dates=dates, colours=colours,
            specs=specs, photo=bool(self._photos.find(matchable(text))),
            child=bool(self._children.find(matchable(text))), thanks=bool(self._thanks.find(matchable(text))),
        )
        return replace(entities, category=self.category(text, entities))

    # --- one kind of fact each ---

    @staticmethod
    def _words(lexicon: Lexicon, text: str, claims: _Claims) -> tuple[str, ...]:
        found: list[str] = []
        for hit in lexicon.find(matchable(text)):
            if claims.free(hit.start, hit.end):
                claims.take(hit.start, hit.end)
                word = text[hit.start : hit.end]
                if word not in found:
                    found.append(word)
        return tuple(found)

    @staticmethod
    def _order_numbers(text: str, claims: _Claims) -> tuple[str, ...]:
        found: list[str] = []
        for match in _ORDER_LABELLED.finditer(text):
            claims.take(match.start(1), match.end(1))
            if match.group(1) not in found:
                found.append(match.group(1))
        for match in _ORDER.finditer(text):
            digits = match.group()
            if digits in found or _PHONE.fullmatch(digits) or _TRACKING_LABEL.search(text[: match.start()]):
                continue
            claims.take(match.start(), match.end())
            found.append(digits)
        return tuple(found)

    @staticmethod
    def _foot_length(text: str, claims: _Claims) -> float | None:
        found: float | None = None
        for pattern in (_FOOT, _FOOT_UNIT, _FOOT_AFTER, _MILLIMETRES):
            for match in claims.matches(pattern, text):
                value = number(match.group(1))
                if value is None:
                    continue
                unit = (match.group(2) if pattern is not _MILLIMETRES else "mm") or ""
                if unit.lower() in ("cm", "厘米", "公分") or (not unit and value < 40):
                    value *= 10
                if found is None and 80 <= value <= 330:
                    found = _tidy(value)
        return found

    @staticmethod
    def _waist(text: str, claims: _Claims) -> float | None:
        for match in itertools.chain(claims.matches(_WAIST, text), claims.matches(_WAIST_AFTER, text)):
            chi, cun, value, unit = match.groups()
            if chi:
                tenths = 0 if cun is None else int(cun) if cun.isdigit() else _CN_DIGITS[cun]
                whole = int(chi) if chi.isdigit() else _CN_DIGITS[chi]
                return _tidy((whole + tenths / 10) * 100 / 3)
            amount = number(value)
            if amount is None:
                continue
            unit = (unit or "").lower()
            if unit == "尺" or (not unit and 1.5 <= amount <= 4.5):
                return _tidy(amount * 100 / 3)
            if unit == "寸" and 20 <= amount <= 48:
                return _tidy(amount * 2.54)  # jeans waists in inches
            if unit != "寸" and 40 <= amount <= 160:
                return _tidy(amount)
        return None

    def _height_and_weight(self, text: str, claims: _Claims) -> tuple[float | None, float | None]:
        heights: list[_Number] = []
        weights: list[_Number] = []
        labelled_bare: list[_Number] = []  # 体重150: a weight without a unit

        # 米 first: 身高一米七 is one height, not 身高一.
        # 竹席1.5m, 沙发2米: a length right after a product word is the product's.
        product_ends = {hit.end for hit in self._products.find(matchable(text))}
        for match in _METRES.finditer(text):
            metres = _metres(match)
            if not 100 <= metres <= 230 or not claims.free(match.start(), match.end()):
                continue
            if len(text[: match.start()].rstrip()) in product_ends:
                continue
            claims.take(match.start(), match.end())
            heights.append(_Number(metres, match.start(), match.end()))
        for match in claims.matches(_HEIGHT_LABEL, text):
            value = number(match.group(1))
            unit = (match.group(2) or "").lower()
            if value is None:
                continue
            if unit in ("米", "m") or value < 3:
                value *= 100
            if 50 <= value <= 230:
                heights.append(_Number(value, match.start(), match.end()))
        for match in claims.matches(_HEIGHT_SUFFIX, text):
            value = float(match.group(1))
            if 50 <= value <= 210:
                heights.append(_Number(value, match.start(), match.end()))
        child = bool(_CHILD.search(text))
        for match in _CENTIMETRES.finditer(text):
            value = float(match.group(1))
            if not claims.free(match.start(), match.end()) or not 50 <= value <= 230:
                continue
            if _DIMENSION_BEFORE.search(text[: match.start()]) or _DIMENSION_AFTER.search(text[match.end() :]):
                continue
            if value < 100 and not child and not _WEIGHT.search(text):
                continue
            claims.take(match.start(), match.end())
            heights.append(_Number(value, match.start(), match.end()))

        for match in claims.matches(_WEIGHT_LABEL, text):
            value = number(match.group(1))
            unit = (match.group(2) or "").lower()
            if value is None:
                continue
            if unit == "斤":
                value /= 2
            if unit:
                weights.append(_Number(value, match.start(), match.end()))
            else:
                labelled_bare.append(_Number(value, match.start(), match.end()))
        for match in _WEIGHT.finditer(text):
            if not claims.free(match.start(), match.end()):
                continue
            if _GOODS_BEFORE.search(text[: match.start()]) or _GOODS_AFTER.search(text[match.end() :]):
                continue
            value = number(match.group(1))
            if value is None:
                continue
            kg = value / 2 if match.group(2) == "斤" else value
            if 3 <= kg <= 250:
                claims.take(match.start(), match.end())
                weights.append(_Number(kg, match.start(), match.end()))

        bare = [
            _Number(value, match.start(), match.end())
            for match in _BARE.finditer(text)
            if claims.free(match.start(), match.end()) and not _UNIT_AFTER.search(text[match.end() :])
            and (value := number(match.group(1))) is not None
        ]
        if not heights:
            # A bare 140-210 next to a weight, or before another bare number (the weight), is a height.
            for item in bare:
                if not 140 <= item.value <= 210 or item.value != int(item.value):
                    continue
                neighbours = weights + labelled_bare + [other for other in bare if other.start > item.start]
                if any(_adjacent(item, other, text) for other in neighbours):
                    heights.append(item)
                    break
        height = heights[0].value if heights else None
        if weights:
            return height, _tidy(weights[0].value)
        candidates = labelled_bare + [
            item for item in bare
            if heights and item is not heights[0] and any(_adjacent(item, h, text) for h in heights)
        ]
        for item in candidates:
            if (weight := bare_weight_kg(item.value, height)) is not None:
                return height, _tidy(weight)
        return height, None

    @staticmethod
    def _sizes(text: str, claims: _Claims) -> tuple[tuple[str, ...], SizeChange | None]:
        found: list[tuple[int, str]] = []

        def add(start: int, size: str) -> None:
            if size not in (s for _, s in found):
                found.append((start, size))

        size_change: SizeChange | None = None
        for match in claims.matches(_SIZE_CHANGE, text):
            size_change = size_change or ("larger" if match.group(1) == "大" else "smaller")
        for match in claims.matches(_REGIONAL_SIZE, text):
            add(match.start(), f"{match.group(1).upper()} {match.group(2)}")
        for match in claims.matches(_ONE_SIZE, text):
            add(match.start(), "均码")
        for match in claims.matches(_LETTER_SIZE, text):
            add(match.start(), match.group(1).upper())
        for match in claims.matches(_MARKED_SIZE, text):
            if 14 <= float(match.group(1)) <= 50:
                add(match.start(), match.group(1))
        for match in _NUMBERED_SIZE.finditer(text):
            if 32 <= float(match.group(1)) <= 50 and claims.free(match.start(), match.end()):
                claims.take(match.start(), match.end())
                add(match.start(), match.group(1))
        for pattern in (_SIZE_VERB, _SIZE_CHOICE):
            for match in pattern.finditer(text):
                values = [group for group in match.groups() if group]
                if not claims.free(match.start(1), match.end(len(values))):
                    continue
                if _NOT_MONEY_UNIT.search(text[match.end() :]) or _UNIT_AFTER.search(text[match.end() :]):
                    continue
                if not all(20 <= float(value) <= 200 for value in values):
                    continue
                claims.take(match.start(1), match.end(len(values)))
                for index, value in enumerate(values, start=1):
                    add(match.start(index), value)
                chain = _SIZE_CHAIN.match(text[match.end() :])
                if chain and not _UNIT_AFTER.search(text[match.end() + chain.end() :]):
                    claims.take(match.end(), match.end() + chain.end())
                    add(match.end() + chain.start(1), chain.group(1))
        return tuple(size for _, size in sorted(found)), size_change

    @staticmethod
    def _amounts(text: str, claims: _Claims) -> tuple[Amount, ...]:
        found: list[tuple[int, Amount]] = []
        for match in _YUAN.finditer(text):
            if not claims.free(match.start(), match.end()):
                continue
            written = match.group(1) or match.group(2)
            value = number(written)
            if match.group(3) == "块" and (_NOT_MONEY_AFTER.search(text[match.end() :]) or (value or 0) < 3):
                continue  # 一块板, 两块布, 补发一块: pieces, not money
            if value is None or not 0 < value <= 1_000_000:
                continue
            claims.take(match.start(), match.end())
            found.append((match.start(), Amount(value, match.group())))
        for match in _PRICE_VERB.finditer(text):
            if not claims.free(match.start(1), match.end(1)) or _NOT_MONEY_UNIT.search(text[match.end() :]):
                continue
            value = float(match.group(1))
            if 0 < value <= 1_000_000:
                claims.take(match.start(1), match.end(1))
                found.append((match.start(), Amount(value, match.group())))
        return tuple(amount for _, amount in sorted(found, key=lambda item: item[0]))

    # --- the product ---

    def category(self, text: str, entities: Entities | None = None) -> Category | None:
        """The kind of product the text is about: named by a product word, else hinted (below)."""
        return self.named_category(text) or self.hinted_category(text, entities)

    def named_category(self, text: str) -> Category | None:
        """The category of the product words in the text: the most named, ties to the earliest."""
        folded = matchable(text)
        votes: list[tuple[Category, int]] = [
            (category, hit.start) for hit in self._products.find(folded)
            if (category := self._product_words.get(hit.text.lower())) is not None
        ]
        votes += [(category, hit.start) for category, lexicon in self._product_patterns.items()
                  for hit in lexicon.find(folded)]
        return _elect(votes)

    def hinted_category(self, text: str, entities: Entities | None = None) -> Category | None:
        """The category hinted by attributes, measurements and problems (a letter size for clothing …)."""
        folded = matchable(text)
        votes = [(category, hit.start) for category, lexicon in self._hints.items() for hit in lexicon.find(folded)]
        if entities is not None:
            votes += [(category, len(text)) for category, count in _entity_hints(entities) for _ in range(count)]
        return _elect(votes)


def _elect(votes: list[tuple[Category, int]]) -> Category | None:
    if not votes:
        return None
    count = Counter(category for category, _ in votes)
    first: dict[Category, int] = {}
    for category, start in votes:
        first[category] = min(start, first.get(category, start))
    return min(count, key=lambda category: (-count[category], first[category], CATEGORIES.index(category)))


_STORAGE = re.compile(r"\d\s?(?:G|GB|T|TB)$", re.IGNORECASE)
_VOLUME = re.compile(r"(?:ml|毫升)$", re.IGNORECASE)


def _entity_hints(entities: Entities) -> Iterable[tuple[Category, int]]:
    shoe_sizes = [size for size in entities.sizes if _is_shoe_size(size, child=entities.child)]
    if entities.foot_length_mm is not None or shoe_sizes:
        yield "shoes", 1 + 2 * len(shoe_sizes)  # a shoe size outvotes the words shoes share with clothes (穿, 偏小)
    clothing = len(entities.sizes) - len(shoe_sizes)
    clothing += sum(value is not None for value in (entities.height_cm, entities.weight_kg, entities.waist_cm))
    if clothing:
        yield "clothing", clothing
    for spec in entities.specs:
        if _STORAGE.search(spec):
            yield "electronics", 1
        elif _VOLUME.search(spec):
            yield "cosmetics", 1
        elif spec.endswith("匹"):
            yield "appliance", 1


def _is_shoe_size(size: str, child: bool = False) -> bool:
    """A shoe size: 34-47 (halves too), or for a child 13-33, which for an adult is a jeans waist
    (a child's clothes go by height: 90, 110 …), so "娃平时穿24码" is about shoes."""
    if size.startswith(("US", "EU", "UK")):
        return True
    try:
        value = float(size)
    except ValueError:
        return False
    return (13 if child else 34) <= value <= 47 and value * 2 == int(value * 2)


def _adjacent(one: _Number, other: _Number, text: str) -> bool:
    low, high = sorted((one, other), key=lambda item: item.start)
    return bool(_PAIR_GAP.match(text[low.end : high.start]))


@functools.cache
def _extractor(corpus_dir: Path) -> EntityExtractor:
    path = corpus_dir / UNDERSTANDING
    return EntityExtractor(read_section(corpus_dir, "entities", EntityWords), path)


def extract_entities(text: str, corpus_dir: Path | None = None) -> Entities:
    """The facts a normalised buyer message states, read with the corpus's word lists (the checkout's by default)."""
    return EntityExtractor.load(corpus_dir or default_corpus_dir()).extract(text)


__all__ = ["Amount", "Entities", "EntityExtractor", "EntityWords", "WordsModel", "SizeChange", "bare_weight_kg", "chinese_number",
           "extract_entities"]
