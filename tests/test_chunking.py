"""Chunking: passages of the real handbooks and of small synthetic documents keep their invariants."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import pytest

from app.corpus import load_handbook_profiles
from app.handbooks.chunking import Passage, passage_id, split_passages
from app.handbooks.cleaning import CleanDocument, CleaningProfile, clean_handbook

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
HANDBOOKS = CORPUS / "handbooks"
PROFILES = load_handbook_profiles(CORPUS)
PREFIXES = ("000", "001", "002", "003", "004")


def clean(path: Path) -> CleanDocument:
    """A shipped handbook cleaned as `kefu build` cleans it, with its profile."""
    return clean_handbook(path.name, path.read_text(encoding="utf-8"), PROFILES.get(path.name, CleaningProfile()))


@pytest.fixture(scope="module")
def handbooks() -> dict[str, CleanDocument]:
    return {p.name[:3]: clean(p) for p in sorted(HANDBOOKS.glob("0*.txt"))}


@pytest.fixture(scope="module")
def passages(handbooks) -> dict[str, list[Passage]]:
    return {prefix: split_passages(doc) for prefix, doc in handbooks.items()}


def containing(passages: list[Passage], snippet: str) -> Passage:
    (found,) = [p for p in passages if snippet in p.text]
    return found


# --- the real handbooks -------------------------------------------------------------------------------


def test_passage_counts(passages):
    # Pinned on purpose: a change in the cleaning or chunking rules should show up here and be looked at.
    assert {prefix: len(found) for prefix, found in passages.items()} == {
        "000": 9,
        "001": 65,
        "002": 12,
        "003": 15,
        "004": 13,
    }


@pytest.mark.parametrize("prefix", PREFIXES)
def test_offsets_point_into_the_clean_text(handbooks, passages, prefix):
    doc = handbooks[prefix]
    for passage in passages[prefix]:
        assert passage.doc == doc.name
        assert doc.text[passage.start : passage.end] == passage.text
        assert passage.text == passage.text.strip()


@pytest.mark.parametrize("prefix", PREFIXES)
def test_passages_are_in_order_and_lose_no_text(handbooks, passages, prefix):
    found = passages[prefix]
    assert all(a.end <= b.start for a, b in zip(found, found[1:]))
    covered = "".join(p.text for p in found)
    assert re.sub(r"\s", "", covered) == re.sub(r"\s", "", handbooks[prefix].text)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_sizes_are_in_range(passages, prefix):
    sizes = [len(p.text) for p in passages[prefix]]
    assert min(sizes) >= 80
    assert max(sizes) <= 400


@pytest.mark.parametrize("prefix", PREFIXES)
def test_ids_are_content_hashes(passages, prefix):
    for passage in passages[prefix]:
        digest = hashlib.sha1(passage.text.encode("utf-8")).hexdigest()[:10]
        assert passage.id == f"{prefix}-{digest}" == passage_id(passage.doc, passage.text)


def test_ids_are_unique_and_stable(handbooks, passages):
    ids = [p.id for found in passages.values() for p in found]
    assert len(ids) == len(set(ids))
    again = [p.id for doc in handbooks.values() for p in split_passages(doc)]
    assert again == ids


def test_001_has_no_duplicate_passages(passages):
    texts = [p.text for p in passages["001"]]
    assert len(texts) == len(set(texts))


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_passage_has_a_heading_path(passages, prefix):
    assert all(p.heading and all(p.heading) for p in passages[prefix])


def test_first_passages_start_at_the_handbook_title(passages):
    assert {prefix: found[0].heading for prefix, found in passages.items()} == {
        "000": ("电商客服行为规范标准「网店客服的具体要求」",),
        "001": ("天猫客服手册", "第一章总则"),
        "002": ("电子商务客服沟通技巧分析",),
        "003": ("客服人员工作手册", "美乐乐家具网"),
        "004": ("电商客服岗位职责与话术指南",),
    }


@pytest.mark.parametrize(
    ("prefix", "snippet", "heading"),
    [
        (
            "001",
            "本店的YY所标注的尺码都是标准码",
            ("天猫_淘宝_电商_京东_拼多多-卖家客服专业话术", "售前", "客户来询问的时候", "2.问到尺码"),
        ),
        ("001", "回复不能用“亲”这个淘宝原创称谓", ("天猫京东等九大电商平台入驻要求详解", "3、京东")),
        ("001", "⑷七天无理由退货", ("天猫客服工作流程", "二、处理昨天晚上客服的售后问题及好评返现", "2、售后问题", "⑷七天无理由退货")),
        ("002", "尺码不对可不可以换", ("电子商务客服沟通技巧分析", "4电子商务客服沟通技巧", "4.3电子商务客服语言规范")),
        ("002", "塑造店铺形象", ("电子商务客服沟通技巧分析", "3电子商务客服的重要作用和意义", "3.1塑造店铺形象")),
        ("000", "不要高声喊叫", ("电商客服行为规范标准「网店客服的具体要求」", "二、在线交流礼仪")),
        ("003", "“二选其一”的技巧", ("如何促成交易",)),
        ("003", "物流损坏", ("客户收货确认及售后", "比较常见的售后问题及处理方案")),
        ("004", "尺码不符", ("电商客服岗位职责与话术指南", "二、场景化话术实战指南", "(三)售后类场景话术")),
        ("004", "降低咨询流失率", ("电商客服岗位职责与话术指南", "一、电商客服核心岗位职责", "(一)咨询接待与需求响应")),
    ],
)
def test_heading_paths_follow_the_handbooks_headings(passages, prefix, snippet, heading):
    assert containing(passages[prefix], snippet).heading == heading


def test_a_long_section_is_split_at_sentence_ends(passages):
    # 003's first "如何促成交易" slide is one long section.
    pieces = [p for p in passages["003"] if p.heading == ("如何促成交易",)]
    assert len(pieces) == 3
    assert all(re.search(r"[。！？!?;；][”」)]*$", p.text) for p in pieces)


# --- synthetic documents ---------------------------------------------------------------------------


def doc(text: str) -> CleanDocument:
    return CleanDocument(name="900_synthetic.txt", text=text)


def test_tiny_sections_merge_and_long_ones_split():
    text = "标题\n一、甲\n" + "这是一句话。" * 100 + "\n二、乙\n短。"
    found = split_passages(doc(text))
    assert [len(p.text) for p in found] == [307, 307]
    assert [p.heading for p in found] == [("标题", "一、甲"), ("标题", "一、甲")]
    assert found[0].text.startswith("标题\n一、甲\n这是一句话。")
    assert found[0].text.endswith("这是一句话。")
    assert found[1].text.endswith("这是一句话。\n二、乙\n短。")
    assert found[0].end == found[1].start


def test_sections_of_a_fit_size_stay_whole():
    body = "亲,您好,这款是我们的热销款,面料柔软透气,尺码标准,按平时的尺码拍就可以了哦。"
    text = "话术\n1.问到尺码\n" + body * 3 + "\n2.问到价格\n" + body * 3
    found = split_passages(doc(text))
    assert [p.heading for p in found] == [("话术", "1.问到尺码"), ("话术", "2.问到价格")]
    assert [p.text for p in found] == ["话术\n1.问到尺码\n" + body * 3, "2.问到价格\n" + body * 3]


def test_text_without_punctuation_is_cut_hard():
    text = "".join(chr(0x4E00 + n) for n in range(1000))
    found = split_passages(doc(text))
    assert [len(p.text) for p in found] == [333, 333, 334]
    assert "".join(p.text for p in found) == text
    assert [p.heading for p in found] == [(), (), ()]


def test_text_before_any_heading_has_an_empty_path():
    opening = "这是一段没有标题的开场白,说明这份手册的用途和适用范围。" * 4
    found = split_passages(doc(opening + "\n一、接待\n" + "客户进店先问好,再了解需求。" * 8))
    assert [p.heading for p in found] == [(), ("一、接待",)]


def test_custom_sizes():
    text = "\n".join(f"{n}、第{n}条规定的内容写在这里。" for n in range(1, 31))
    found = split_passages(doc(text), min_chars=20, max_chars=60)
    assert all(20 <= len(p.text) <= 60 for p in found)
    assert "".join(p.text for p in found).replace("\n", "") == text.replace("\n", "")


def test_empty_document_has_no_passages():
    assert split_passages(doc("")) == []
    assert split_passages(doc("\n\n")) == []


def test_repeated_text_yields_one_passage():
    block = "一、退货\n" + "七天无理由退货,退回运费由买家承担,收到退货后二十四小时内退款。" * 3
    found = split_passages(doc(block + "\n\n" + block))
    assert len(found) == 1


@pytest.mark.parametrize(("min_chars", "max_chars"), [(0, 400), (500, 400)])
def test_bad_sizes_are_refused(min_chars, max_chars):
    with pytest.raises(ValueError, match="min_chars"):
        split_passages(doc("标题\n内容。"), min_chars=min_chars, max_chars=max_chars)


def test_passage_is_frozen(passages):
    with pytest.raises(dataclasses.FrozenInstanceError):
        passages["000"][0].text = ""  # type: ignore[misc]
