"""Search quality with the real model: the top template is in the message's scenario."""

import pytest

CASES = {
    "size": ["这件衣服170斤穿什么码", "平时穿L这个拍多大", "鞋子偏大还是偏小", "有尺码表吗"],
    "price": ["能便宜点吗", "包邮吗", "有没有优惠券", "降价了能退差价吗"],
    "logistics": ["什么时候发货", "快递到哪了", "可以发顺丰吗", "地址填错了能改吗"],
    "complaint": ["收到的衣服有破洞", "少发了一件", "退款怎么还没到", "质量太差了要投诉"],
    "other": ["有发票吗", "是正品吗", "还有货吗", "这个怎么安装"],
}


# Messages fused retrieval alone (what `kefu search` shows) puts in another scenario, expected to fail
# (strict). "还有货吗" was one until the eleventh session's example rounds gave other.stock.in_stock
# questions worded like it; the reply path's reranker is tested in tests/test_service.py (COMMON).
KNOWN_MISSES: set[str] = set()


@pytest.mark.model
@pytest.mark.parametrize("scenario, message", [
    pytest.param(s, m, marks=pytest.mark.xfail(strict=True, reason="fused retrieval alone; see KNOWN_MISSES"))
    if m in KNOWN_MISSES else (s, m)
    for s, ms in CASES.items() for m in ms
])
def test_top_template_is_in_the_right_scenario(real_service, scenario, message):
    result = real_service.search(message, top_k=3)
    assert result.templates[0].template.scenario == scenario
    assert len(result.passages) == 3


@pytest.mark.model
def test_search_reports_scores_and_matched_terms(real_service):
    hit = real_service.search("包邮吗", top_k=1).templates[0]
    assert hit.template.topic == "price.free_shipping"
    assert hit.bm25 > 0 and 0 < hit.dense <= 1.0001
    assert "包邮" in hit.terms
