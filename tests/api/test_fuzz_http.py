"""Hostile HTTP at volume (issue 14): 10,000 seeded requests against the app over the fake index.

Bodies are built from each endpoint's own field names filled with anything JSON can hold (strings
with separators, surrogates, control and zero-width characters, huge numbers, deep nesting, wrong
types), sent as JSON, as broken JSON, as other media types; some requests go to paths or with methods
the API does not have. Every answer must be below 500, in the one error shape when it is an error,
and nothing may be logged at ERROR (a traceback). tests/api/test_fuzz.py checks the documented
contract per operation; this one checks that volume and garbage never find a 500.
"""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

ENDPOINTS = {
    "/v1/reply": ["message", "platform", "top_k", "first_turn", "history", "slots"],
    "/v1/classify": ["message"],
    "/v1/search": ["query", "top_k"],
    "/v1/inspect": ["message", "reply", "platform", "position", "fast"],
    "/v1/inspect/conversation": ["messages", "platform", "conversation"],
    "/v1/evaluate": ["cases"],
    "/v1/feedback": ["events"],
    "/v1/feedback/learnt": ["action", "template_id", "messages"],
}
TRICKY = st.sampled_from(["", " ", "\u2028", "\u0085", "\u200b\u200b", "\x00", "\ud800", "😀", "#E-s46", "能便宜点吗",
                          "什么时候发货" * 300, "9" * 5000, "【订单号】", "{coupon}", "<script>", "亲", "！！！", "taobao",
                          "jd", "first", "last", "buyer", "agent", "accept", "dismiss",
                          "price.bargain.value"])
SCALAR = st.one_of(TRICKY, st.text(max_size=30), st.integers(min_value=-10**30, max_value=10**30),
                   st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none())
JSON = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                    st.dictionaries(st.one_of(TRICKY, st.text(max_size=8)), inner,
                                                                    max_size=4)), max_leaves=12)
TURN = st.fixed_dictionaries({"role": st.one_of(st.sampled_from(["buyer", "agent"]), SCALAR),
                              "text": st.one_of(TRICKY, SCALAR)})


def body_for(fields: list[str]) -> st.SearchStrategy[object]:
    value = st.one_of(SCALAR, JSON, st.lists(TURN, max_size=3),
                      st.lists(st.fixed_dictionaries({"message": st.one_of(TRICKY, SCALAR)}), max_size=3),
                      st.lists(st.fixed_dictionaries(
                          {"action": st.one_of(st.sampled_from(["copied", "sent", "edited", "ignored"]), SCALAR),
                           "message": st.one_of(TRICKY, SCALAR)},
                          optional={"rank": SCALAR, "score": SCALAR, "confidence": SCALAR, "sent_text": TRICKY,
                                    "template_id": TRICKY, "suggestion_id": TRICKY}), max_size=3))
    known = st.dictionaries(st.sampled_from(fields), value, max_size=len(fields))
    return st.one_of(known, known, known, JSON)


REQUEST = st.one_of(
    st.tuples(st.just("POST"), st.sampled_from(sorted(ENDPOINTS)), st.just("json")).flatmap(
        lambda t: st.tuples(st.just(t[0]), st.just(t[1]), st.just(t[2]), body_for(ENDPOINTS[t[1]]))),
    st.tuples(st.just("POST"), st.sampled_from(sorted(ENDPOINTS)),
              st.sampled_from(["broken", "text/plain", "gbk"]), st.text(max_size=40)),
    st.tuples(st.sampled_from(["GET", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]),
              st.sampled_from([*ENDPOINTS, "/", "/healthz", "/readyz", "/v1/vocabulary", "/v1/feedback/stats",
                               "/v1/feedback/stats?top=99999999999999999999", "/v1/feedback/learnt",
                               "/v1/feedback/learnt?limit=0", "/v1/nope", "/../etc"]),
              st.just("none"), st.none()),
)
VOLUME = settings(max_examples=2500, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.function_scoped_fixture])


def _send(client, method: str, path: str, kind: str, body: object):
    if kind == "json":
        data = json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
        return client.request(method, path, content=data, headers={"Content-Type": "application/json"})
    if kind == "broken":
        return client.request(method, path, content=("{" + str(body)).encode("utf-8", "surrogatepass"),
                              headers={"Content-Type": "application/json"})
    if kind == "gbk":
        return client.request(method, path, content=json.dumps({"message": str(body)}, ensure_ascii=False)
                              .encode("gb18030", "replace"), headers={"Content-Type": "application/json"})
    if kind == "text/plain":
        return client.request(method, path, content=str(body).encode("utf-8", "surrogatepass"),
                              headers={"Content-Type": "text/plain"})
    return client.request(method, path)


@pytest.mark.parametrize("part", range(4))
def test_ten_thousand_hostile_requests_find_no_500(client, caplog, part):
    """Four parts of 2,500 requests each (10,000 in all), each part seeded differently."""
    seen = {"sent": 0}

    @seed(20261202 + part)
    @VOLUME
    @given(REQUEST)
    def hammer(request):
        method, path, kind, body = request
        response = _send(client, method, path, kind, body)
        seen["sent"] += 1
        assert response.status_code < 500, (method, path, kind, body, response.status_code, response.text[:300])
        if response.status_code >= 400 and method != "HEAD" and path != "/":
            error = response.json()["error"]
            assert set(error) == {"code", "message", "details"}

    with caplog.at_level(logging.ERROR):
        hammer()
    assert seen["sent"] >= 2500
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
