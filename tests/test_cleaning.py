"""Cleaning: normalize_text and repair_mojibake on small inputs, clean_handbook on each real handbook."""

from __future__ import annotations

import dataclasses
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from app.corpus import load_handbook_profiles
from app.handbooks.cleaning import CleanDocument, CleaningProfile, clean_handbook
from app.handbooks.repair import repair_mojibake, strip_glosses
from app.text import normalize_text

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
HANDBOOKS = CORPUS / "handbooks"
PROFILES = load_handbook_profiles(CORPUS)
PREFIXES = ("000", "001", "002", "003", "004")


def clean(path: Path) -> CleanDocument:
    """A shipped handbook cleaned as `kefu build` cleans it, with its profile."""
    return clean_handbook(path.name, path.read_text(encoding="utf-8"), PROFILES.get(path.name, CleaningProfile()))


@pytest.fixture(scope="module")
def handbooks() -> dict[str, CleanDocument]:
    docs = {}
    for path in sorted(HANDBOOKS.glob("0*.txt")):
        docs[path.name[:3]] = clean(path)
    assert sorted(docs) == list(PREFIXES)
    return docs


def raw(prefix: str) -> str:
    (path,) = HANDBOOKS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def lines(doc: CleanDocument) -> list[str]:
    return doc.text.split("\n")


# --- normalize_text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("ＸＬ码有货吗？", "XL码有货吗?"),
        ("（急）１７０，６０ｋｇ穿什么码！", "(急)170,60kg穿什么码!"),
        ("價格能便宜點嗎？", "价格能便宜点吗?"),
        ("職責與話術", "职责与话术"),
        ("在吗😀👍🏻", "在吗😀👍🏻"),
        ("亲～包邮吗：）", "亲~包邮吗:)"),
        ("“好的。”《说明》、【赠品】「注意」", "“好的。”《说明》、【赠品】「注意」"),
        ("你好\t\n　 在吗  ", "你好 在吗"),
        ("在嗎\u200b？\ufeff", "在吗?"),
        ("\ud83d在吗", "在吗"),
        ("", ""),
        ("   ", ""),
        ("ok 123", "ok 123"),
    ],
)
def test_normalize_text(message, expected):
    assert normalize_text(message) == expected
    assert normalize_text(expected) == expected


def test_normalize_text_on_a_5000_character_paste_is_exact_and_fast():
    paste = ("親，這件衣服有貨嗎？😀 " * 500)[:5000]
    expected = ("亲,这件衣服有货吗?😀 " * 500)[:5000].strip()
    normalize_text("預熱")  # the converter loads once per process; time the steady state
    started = time.perf_counter()
    result = normalize_text(paste)
    elapsed = time.perf_counter() - started
    assert result == expected
    assert len(result) == 5000
    assert elapsed < 0.5


# --- glosses and mojibake --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("電商客服崗位職責(zé)與話術(shù)指南", "電商客服崗位職責與話術指南"),
        ("復(fù)購率", "復購率"),
        ("需要我?guī)湍", "需要我湍"),  # the remnant of a gloss that mojibake half ate
        ("首次響應時長(FRT)", "首次響應時長(FRT)"),  # an abbreviation, not pinyin
        ("选项(a)和(b)", "选项(a)和(b)"),  # no tone mark, so not a gloss
        ("He said (zé)", "He said (zé)"),  # not after a Chinese character
    ],
)
def test_strip_glosses(text, expected):
    assert strip_glosses(text) == expected


def garble(text: str) -> str:
    """Mojibake as 004 has it: GBK bytes decoded one byte late, the lost alignment marked "??"."""
    shifted = text.encode("gbk")[1:].decode("gb18030", errors="replace")
    return "??" + shifted.replace("\ufffd", "?")


@pytest.mark.parametrize(
    ("original", "recovered"),
    [
        ("客服作為直面客戶的“第一窗口”", "服作為直面客戶的“第一窗口"),
        ("非常抱歉讓您收到不滿意的商品", "常抱歉讓您收到不滿意的商品"),
        ("我們為您申請了優惠券", "們為您申請了優惠"),
    ],
)
def test_repair_mojibake_rereads_a_run_one_byte_later(original, recovered):
    garbled = garble(original)
    assert garbled != original
    assert repair_mojibake("電商行業的競爭。" + garbled + ",其專業度") == "電商行業的競爭。" + recovered + ",其專業度"


def test_repair_mojibake_on_the_run_quoted_in_the_issue():
    run = "??头\ue49e鳛橹泵婵蛻舻摹暗谝淮翱凇?"
    assert run in raw("004")
    assert repair_mojibake("角力" + run + ",其") == "角力服作為直面客戶的“第一窗口,其"


def test_repair_mojibake_drops_what_it_cannot_reread():
    assert repair_mojibake("好的\ue000\ue001\ue002谢谢") == "好的谢谢"
    assert repair_mojibake("好的\ufffd谢谢") == "好的谢谢"


@pytest.mark.parametrize(
    "text",
    ["", "hello?", "亲,您好!有货的哦~", "不要高声喊叫:“???”,“!!!”", "在吗😀👍🏻?", "嗎?確認後我馬上同步", "1.8米床、22CM床垫"],
)
def test_repair_mojibake_leaves_clean_text_alone(text):
    assert repair_mojibake(text) == text


@pytest.mark.parametrize("prefix", ["000", "001", "002", "003"])
def test_repair_mojibake_leaves_the_clean_handbooks_alone(prefix):
    assert repair_mojibake(raw(prefix)) == raw(prefix)


# --- every handbook ---------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_cleaned_text_is_normalized_and_tidy(handbooks, prefix):
    doc = handbooks[prefix]
    assert doc.name.startswith(prefix + "_")
    assert doc.text == doc.text.strip()
    assert all(line == normalize_text(line) for line in lines(doc))
    assert "\n\n\n" not in doc.text
    assert not re.search(r"[\uff01-\uff5e\u3000\ue000-\uf8ff\ufffd]", doc.text)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_site_boilerplate_and_page_numbers_are_gone(handbooks, prefix):
    text = handbooks[prefix].text
    for notice in ("下载文档", "下载本文档", "合集下载", "下载后可编辑", "相关文章", "相关文档", "最新文档", "温馨提示", "参考文献"):
        assert notice not in text
    assert not re.search(r"\(\d{1,3}\)(?=\s|$)", text, flags=re.MULTILINE)
    assert "目录" not in text


@pytest.mark.parametrize("prefix", PREFIXES)
def test_cleaning_is_deterministic(handbooks, prefix):
    path = next(HANDBOOKS.glob(f"{prefix}_*.txt"))
    assert clean(path) == handbooks[prefix]


def test_clean_document_is_frozen(handbooks):
    with pytest.raises(dataclasses.FrozenInstanceError):
        handbooks["000"].text = ""  # type: ignore[misc]


@pytest.mark.parametrize("prefix", ["000", "001", "002", "003"])
def test_simplified_handbooks_have_no_separate_original(handbooks, prefix):
    assert handbooks[prefix].original is None


# --- 000: conduct standards ---------------------------------------------------------------------


def test_000_drops_the_related_links_and_keeps_the_rules(handbooks):
    doc = handbooks["000"]
    assert lines(doc)[0] == "电商客服行为规范标准「网店客服的具体要求」"
    for gone in ("往期精彩回顾", "福利课件任意下", "亚马逊产品ID", "唯品会的供应链管理"):
        assert gone not in doc.text
    assert "◎不要高声喊叫:如果你的话全部都用重复符号表示,就意味着你在喊叫。“???”,“!!!”" in lines(doc)
    assert "八、快递选择原则及费用标准" in lines(doc)
    assert doc.text.endswith("方便客服随时查询。")


# --- 001: a compilation ------------------------------------------------------------------------------


def test_001_is_split_into_its_pasted_documents_without_the_off_topic_ones(handbooks):
    titles = [block.split("\n")[0] for block in handbooks["001"].text.split("\n\n")]
    assert titles == [
        "天猫客服手册",
        "2015天猫淘宝京东客服手册",
        "天猫客服工作流程",
        "淘宝化妆品类网店客服人员工作手册",
        "天猫京东等九大电商平台入驻要求详解",
        "天猫客服总结",
        "淘宝天猫客服工作流程",
        "淘宝售后客服工作流程",
        "淘宝客服的日常工作流程及其技巧",
        "淘宝天猫京东电商规章管理制度(最新版)",
        "天猫运营全攻略之客服篇",
        "淘宝客服工作流程(详细版)",
        "天猫_淘宝_电商_京东_拼多多-卖家客服专业话术",
    ]
    text = handbooks["001"].text
    for gone in ("网店费用对比分析", "天猫与京东的15点不同", "一个普通消费者眼中", "作者PP", "关于淘宝与京东的话题", "运营总监"):
        assert gone not in text
    # Platform fees are not service content, even inside a piece that stays.
    for fee in ("保证金", "年费", "扣点"):
        assert fee not in text


def test_001_keeps_the_service_scripts(handbooks):
    doc = handbooks["001"]
    text = doc.text
    # 天猫卖家客服专业话术: price/free shipping, size, colour difference, fabric.
    assert "天猫卖家客服专业话术" in lines(doc)
    assert "1.问到价格是否能优惠或者能否包邮等问题" in lines(doc)
    assert "亲,您好本店的YY所标注的尺码都是标准码" in text
    assert "问到色差问题" in text
    assert "A.亚麻:“亲本店的面料用的是80英支的纯亚麻面料" in text
    # JD replies must not call the buyer 亲.
    assert "回复不能用“亲”这个淘宝原创称谓" in text
    # The service flow and the after-sales flows.
    assert "1.欢迎语\n2.宝贝介绍\n3.活动告知\n4.订单确认" in text
    for flow in ("⑴查件", "⑵少发,错发产品", "⑶质量问题", "⑷七天无理由退货"):
        assert sum(line.startswith(flow) for line in lines(doc)) == 1


def test_001_has_no_table_of_contents_and_no_download_notice(handbooks):
    text = handbooks["001"].text
    assert len(re.findall(r"\(\d+\)", raw("001"))) == 73  # the dirt is there to begin with
    assert re.findall(r"\(\d+\)", text) == []
    assert text.count("下载") == 2
    assert text.count("严禁私自下载安装软件") == 2


def test_001_repeated_passages_are_kept_once(handbooks):
    doc = handbooks["001"]
    text = doc.text
    assert text.count("此版员工手册系试用版") == 1
    assert text.count("值晚班客服第二天不适合上全白班") == 1
    assert text.count("新员工入职后,由部门主管安排新客服上机操作") == 1
    assert lines(doc).count("天猫客服手册") == 1
    sentences = [
        re.sub(r"[\W_]", "", sentence)
        for line in lines(doc)
        for sentence in re.split(r"(?<=[。！？!?；;])", line)
    ]
    repeated = {s: n for s, n in Counter(s for s in sentences if len(s) >= 10).items() if n > 1}
    assert repeated == {}


def test_001_line_wrap_spaces_are_joined_and_paragraph_spaces_break_lines(handbooks):
    doc = handbooks["001"]
    assert "使公司员工的管理有章可循" in doc.text
    assert "就可以添加为好友" in doc.text
    assert "1.倾听客户的问题" in lines(doc)
    assert "等待客户澄清问题,然后再帮助客户解决问题。在与客户的整个沟通过程中使用中多用:您,请,稍等" in lines(doc)
    assert "白班9:00-17:30 半白班10:00-15:30" in doc.text  # spaces between times stay


# --- 002: a paper ------------------------------------------------------------------------------------


def test_002_drops_the_download_site_and_the_references(handbooks):
    doc = handbooks["002"]
    assert lines(doc)[0] == "电子商务客服沟通技巧分析"
    assert doc.text.count("电子商务客服沟通技巧分析") == 1
    for gone in ("下载", "仅部分预览", "中图分类号", "(2013)", "[1]陈耀东", "电子工业出版社"):
        assert gone not in doc.text
    assert doc.text.endswith("最终达成交易。")


def test_002_keeps_the_question_and_answer_pairs_of_4_3(handbooks):
    doc = handbooks["002"]
    all_lines = lines(doc)
    section = all_lines[all_lines.index("4.3电子商务客服语言规范") + 1 : all_lines.index("5小结")]
    topics = [re.match(r"\((\d)\)([^:]+):", line).groups() for line in section]
    assert topics == [
        ("1", "关心品质"),
        ("2", "希望价格优惠"),
        ("3", "包装"),
        ("4", "退换货"),
        ("5", "库存"),
        ("6", "发货"),
        ("7", "付款"),
        ("8", "退款"),
        ("9", "投诉"),
    ]
    assert all("?——" in line for line in section)
    assert "(4)退换货:尺码不对可不可以换?——我们的服务政策:7天无条件退货,15天无理由换货" in doc.text


def test_002_rejoins_paragraphs_broken_by_the_export(handbooks):
    doc = handbooks["002"]
    assert "对我们电子商务企业未来的发展尤为重要。" in doc.text
    assert "且请仔细辨认防伪标志。" in doc.text
    assert "由专门的质量人员给予鉴定" in doc.text


# --- 003: a slide deck on one line --------------------------------------------------------------------


def test_003_recovers_the_slides(handbooks):
    doc = handbooks["003"]
    blocks = [block.split("\n") for block in doc.text.split("\n\n")]
    assert [block[0] for block in blocks] == [
        "客服人员工作手册",
        "如何促成交易",
        "如何说服客户",
        "引导客户付款",
        "订单出货及物流跟踪",
        "客户收货确认及售后",
        "回访并挖掘客户",
    ]
    assert blocks[0][1] == "美乐乐家具网"
    assert blocks[5][2] == "比较常见的售后问题及处理方案"
    # A continuation slide repeats its title; the repeat goes.
    assert lines(doc).count("如何促成交易") == 1
    assert doc.text.count("比较常见的售后问题及处理方案") == 1


def test_003_keeps_the_scripts_and_drops_the_cover_leftovers(handbooks):
    text = handbooks["003"].text
    for script in ("利用“怕买不到”的心理", "“二选其一”的技巧", "而应该反问道", "少件:", "物流损坏:", "色差问题:"):
        assert script in text
    assert "销售部制" not in text
    assert text.endswith("我们的客户将源源不断!")


# --- 004: Traditional, glossed, with mojibake -------------------------------------------------------------


def test_004_is_simplified_without_glosses(handbooks):
    doc = handbooks["004"]
    assert lines(doc)[0] == "电商客服岗位职责与话术指南"
    for traditional in "職責與話術電崗處應":
        assert traditional not in doc.text
    assert not re.search(r"\([a-zāáǎàēéěèīíǐìōóǒòūúǔùüǖǘǚǜ]+\)", doc.text)
    assert "(zé)" not in doc.text
    assert "首次响应时长(FRT)" in doc.text


def test_004_mojibake_is_repaired_or_dropped(handbooks):
    text = handbooks["004"].text
    assert "作为直面客户的" in text
    assert "服务体验的角力服作为直面客户的“第一窗口,其专业度" in text
    assert "确户问题“秒级响应,分钟级解决”" in text
    assert "我您查看下新商品的库存和价格哦(快速核对)" in text
    assert "我们您申请了XX(优惠券/赠品)" in text
    for run in ("头鳛橹泵", "婵蛻舻摹", "暗谝淮翱凇", "蛻魡栴", "湍鷤渥", "閄", "槟", "暾埩薠", "榭聪滦律唐返膸齑婧蛢", "?guī)", "??"):
        assert run not in text
    assert not re.search(r"[\ue000-\uf8ff]", text)


def test_004_drops_the_viewer_furniture_and_the_cut_off_end(handbooks):
    text = handbooks["004"].text
    for gone in ("_第1页", "已阅读", "下载", "版权说明", "文档简介", "人人文库", "评论", "0/150"):
        assert gone not in text
    assert text.endswith("更是品牌的“情感连接器”。")


def test_004_recovers_its_headings(handbooks):
    headings = [line for line in lines(handbooks["004"]) if re.match(r"^([一二三四]、|\([一二三四五]\))", line)]
    expected = [
        "一、电商客服核心岗位职责客服的价值,",
        "(一)咨询接待与需求响应以运营时段",
        "(二)订单全流程管理覆盖客户下单",
        "(三)售后问题闭环处理处理退换货",
        "(四)客户关系深度运营基于RFM模型",
        "(五)数据沉淀与协同支持每日记录",
        "二、场景化话术实战指南话术的本质,",
        "(一)咨询类场景话术",
        "(二)订单类场景话术",
        "(三)售后类场景话术",
        "(四)客户维护类话术",
        "三、从服务到价值:客服的长期主义",
    ]
    assert len(headings) == len(expected)
    assert [h[: len(e)] for h, e in zip(headings, expected)] == expected


def test_004_keeps_the_traditional_original_aligned_with_the_text(handbooks):
    doc = handbooks["004"]
    assert doc.original is not None
    assert doc.original.split("\n")[0] == "電商客服崗位職責與話術指南"
    assert len(doc.original) == len(doc.text)
    assert [normalize_text(line) for line in doc.original.split("\n")] == lines(doc)
