"""Every error path answers in the one shape with a clear 4xx (or a bare 500), and the server keeps serving."""

from __future__ import annotations

import json

import anyio
import pytest

from app.api.middleware import MAX_BODY_BYTES, BodyLimit
from app.errors import ConfigError, IndexStaleError, OverloadedError
from tests.api import assert_error

GOOD = ("/v1/reply", {"message": "这件衣服170斤穿什么码"})
JSON = {"Content-Type": "application/json"}
EMPTY = "the message is empty; paste the buyer's message"


def still_serving(client) -> None:
    response = client.post(GOOD[0], json=GOOD[1])
    assert response.status_code == 200, response.text
    assert response.json()["scenario"]["label"] == "size"


def post_raw(client, path: str, content, headers=JSON):
    return client.post(path, content=content, headers=headers)


# --- body size -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/reply", "/v1/classify", "/v1/search", "/healthz", "/nowhere"])
def test_body_over_1mb_by_content_length(client, path):
    error = assert_error(post_raw(client, path, b" " * (MAX_BODY_BYTES + 1)), 413, "body_too_large")
    assert error["message"] == "the request body is over 1,048,576 bytes; send one buyer message at a time"
    assert error["details"] == [{"limit": MAX_BODY_BYTES}]
    still_serving(client)


def test_body_over_1mb_streamed_without_content_length(client):
    def chunks():
        for _ in range(17):
            yield b" " * 65536  # 1,114,112 bytes, chunked: no Content-Length to trust

    response = client.post("/v1/reply", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "body_too_large")
    still_serving(client)


def test_body_at_1mb_is_read(client):
    # Exactly at the limit the body gets through, and the message's own limit answers instead.
    prefix, suffix = b'{"message": "', b'"}'
    body = prefix + b"x" * (MAX_BODY_BYTES - len(prefix) - len(suffix)) + suffix
    assert len(body) == MAX_BODY_BYTES
    assert_error(post_raw(client, "/v1/reply", body), 422, "message_too_long")
    still_serving(client)


def test_body_limit_counts_what_arrives_not_what_is_declared():
    # A client that understates Content-Length is cut off by the bytes actually received.
    called = []

    async def app(scope, receive, send):
        called.append(scope)

    async def run() -> list[dict]:
        incoming = [{"type": "http.request", "body": b"x" * 6, "more_body": True} for _ in range(3)]
        incoming[-1]["more_body"] = False
        sent: list[dict] = []

        async def receive():
            return incoming.pop(0)

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/v1/reply", "headers": [(b"content-length", b"5")]}
        await BodyLimit(app, limit=10)(scope, receive, send)
        return sent

    sent = anyio.run(run)
    assert called == []
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == "body_too_large"


def test_body_limit_replays_the_body_in_one_message():
    seen = []

    async def app(scope, receive, send):
        seen.append(await receive())

    async def run() -> None:
        incoming = [{"type": "http.request", "body": b'{"a":', "more_body": True},
                    {"type": "http.request", "body": b' 1}', "more_body": False}]

        async def receive():
            return incoming.pop(0)

        async def send(message):
            raise AssertionError("BodyLimit must not answer a body within the limit")

        await BodyLimit(app, limit=100)({"type": "http", "headers": []}, receive, send)

    anyio.run(run)
    assert seen == [{"type": "http.request", "body": b'{"a": 1}', "more_body": False}]


# --- body syntax -----------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "message", "details"), [
    (b'{"message": ', "the body is not valid JSON: Expecting value at line 1 column 13",
     [{"line": 1, "column": 13, "offset": 12}]),
    (b"{'message': '\xe5\x9c\xa8\xe5\x90\x97'}",
     "the body is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2",
     [{"line": 1, "column": 2, "offset": 1}]),
    (b'{"message": "\xe5\x9c\xa8\xe5\x90\x97",}',
     # Columns and offsets count characters of the decoded text, not bytes.
     "the body is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 18",
     [{"line": 1, "column": 18, "offset": 17}]),
    (b"[" * 100_000, "the body is not usable JSON: it is nested too deeply", []),
])
@pytest.mark.parametrize("path", ["/v1/reply", "/v1/classify", "/v1/search"])
def test_invalid_json(client, path, content, message, details):
    error = assert_error(post_raw(client, path, content), 422, "invalid_json")
    assert error["message"] == message
    assert error["details"] == details
    still_serving(client)


@pytest.mark.parametrize(("content", "offset"), [
    (b'{"message": "\xff"}', 13),
    ('{"message": "在吗"}'.encode("gbk"), 13),  # a GBK client
    (b'{"message": "\xe5\x9c"}', 13),  # a character cut in half
])
def test_invalid_utf8(client, content, offset):
    error = assert_error(post_raw(client, "/v1/reply", content), 400, "invalid_encoding")
    assert error["message"].startswith(f"the body is not valid UTF-8 (byte 0x{content[offset]:02x} at offset {offset})")
    assert error["details"] == [{"offset": offset}]
    still_serving(client)


@pytest.mark.parametrize(("content_type", "message"), [
    ("text/plain", "send the body as JSON with Content-Type: application/json (got text/plain)"),
    ("application/x-www-form-urlencoded",
     "send the body as JSON with Content-Type: application/json (got application/x-www-form-urlencoded)"),
    (None, "send the body as JSON with Content-Type: application/json (got none)"),
    ("application/json; charset=gbk",
     "send JSON encoded as UTF-8 (Content-Type: application/json; charset=utf-8), not gbk"),
])
def test_wrong_content_type(client, content_type, message):
    headers = {} if content_type is None else {"Content-Type": content_type}
    request = client.build_request("POST", "/v1/reply", content=json.dumps(GOOD[1]).encode(), headers=headers)
    if content_type is None:
        request.headers.pop("Content-Type", None)
    assert request.headers.get("Content-Type") == content_type
    error = assert_error(client.send(request), 415, "unsupported_media_type")
    assert error["message"] == message
    still_serving(client)


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/json;charset=UTF-8",
                                          "application/merge-patch+json", "Application/JSON"])
def test_json_content_types_accepted(client, content_type):
    response = post_raw(client, "/v1/reply", json.dumps(GOOD[1]).encode(), {"Content-Type": content_type})
    assert response.status_code == 200, response.text


def test_utf8_bom_accepted(client):
    body = "\ufeff".encode() + json.dumps(GOOD[1], ensure_ascii=False).encode()
    response = post_raw(client, "/v1/reply", body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/v1/reply", "/v1/classify", "/v1/search"])
def test_missing_body(client, path):
    error = assert_error(client.post(path), 422, "invalid_input")
    assert error["message"] == "body: Field required"
    still_serving(client)


@pytest.mark.parametrize("content", [b"[]", '"在吗"'.encode(), b"null", b"3"])
def test_body_not_an_object(client, content):
    error = assert_error(post_raw(client, "/v1/reply", content), 422, "invalid_input")
    assert error["details"][0]["field"] == "body"
    still_serving(client)


# --- message and fields ----------------------------------------------------------------------


@pytest.mark.parametrize("message", ["", " ", "   \n\t", "\u3000\u3000", "#E-s46"])
@pytest.mark.parametrize(("path", "field"), [("/v1/reply", "message"), ("/v1/classify", "message"),
                                             ("/v1/search", "query")])
def test_empty_message(client, path, field, message):
    error = assert_error(client.post(path, json={field: message}), 422, "invalid_input")
    assert error["message"] == (EMPTY if field == "message" else "the query is empty")
    still_serving(client)


@pytest.mark.parametrize(("path", "field"), [("/v1/reply", "message"), ("/v1/classify", "message"),
                                             ("/v1/search", "query")])
def test_message_too_long(client, path, field):
    error = assert_error(client.post(path, json={field: "码" * 2001}), 422, "message_too_long")
    assert error["message"] == (f"the {field} is 2,001 characters; the limit is 2,000 (KEFU_MAX_MESSAGE_CHARS). "
                                "Paste only the buyer's question.")
    assert error["details"] == [{"field": field, "length": 2001, "limit": 2000}]
    assert client.post(path, json={field: "码" * 2000}).status_code == 200
    still_serving(client)


def test_message_limit_follows_settings(make_client):
    client = make_client(max_message_chars=10)
    assert client.post("/v1/reply", json={"message": "码" * 10}).status_code == 200
    error = assert_error(client.post("/v1/reply", json={"message": "码" * 11}), 422, "message_too_long")
    assert error["details"] == [{"field": "message", "length": 11, "limit": 10}]


@pytest.mark.parametrize(("top_k", "message", "kind"), [
    (0, "top_k: Input should be greater than or equal to 1", "greater_than_equal"),
    (21, "top_k: Input should be less than or equal to 20", "less_than_equal"),
    (-1, "top_k: Input should be greater than or equal to 1", "greater_than_equal"),
    (1.5, "top_k: Input should be a valid integer, got a number with a fractional part", "int_from_float"),
    # A string is the wrong JSON type, refused rather than converted ("3" is not 3).
    ("三", "top_k: Input should be a valid integer", "int_type"),
    ("3", "top_k: Input should be a valid integer", "int_type"),
    (True, "top_k: Input should be a valid integer", "int_type"),
    (None, "top_k: Input should be a valid integer", "int_type"),
])
@pytest.mark.parametrize("path", ["/v1/reply", "/v1/search"])
def test_top_k_out_of_range(client, path, top_k, message, kind):
    field = "message" if path == "/v1/reply" else "query"
    error = assert_error(client.post(path, json={field: "能便宜点吗", "top_k": top_k}), 422, "invalid_input")
    assert error["message"] == message
    assert error["details"][0]["field"] == "top_k"
    assert error["details"][0]["type"] == kind
    still_serving(client)


@pytest.mark.parametrize("top_k", [1, 20, 2.0])  # 2.0 is an integer to JSON Schema
def test_top_k_bounds_are_allowed(client, top_k):
    response = client.post("/v1/reply", json={"message": "能便宜点吗", "top_k": top_k})
    assert response.status_code == 200
    assert len(response.json()["replies"]) == top_k


@pytest.mark.parametrize("platform", ["pdd", "TAOBAO", "淘宝", ""])
def test_unknown_platform_lists_the_valid_ones(client, platform):
    error = assert_error(client.post("/v1/reply", json={"message": "在吗", "platform": platform}), 422, "invalid_input")
    assert error["message"] == "platform: Input should be 'taobao', 'tmall' or 'jd'"
    assert error["details"] == [{"field": "platform", "message": "Input should be 'taobao', 'tmall' or 'jd'",
                                 "type": "literal_error", "ctx": {"expected": "'taobao', 'tmall' or 'jd'"}}]
    still_serving(client)


@pytest.mark.parametrize(("payload", "message"), [
    ({"message": "在吗", "history": [{"role": "customer", "text": "在吗"}]},
     "history.0.role: Input should be 'buyer' or 'agent'"),
    ({"message": "在吗", "history": [{"role": "buyer"}]}, "history.0.text: Field required"),
    ({"message": "在吗", "history": "在吗"}, "history: Input should be a valid list"),
    ({"message": "在吗", "slots": {"days": 3}}, "slots.days: Input should be a valid string"),
    ({"message": "在吗", "first_turn": "maybe"}, "first_turn: Input should be a valid boolean"),
    ({"message": "在吗", "first_turn": 0}, "first_turn: Input should be a valid boolean"),  # 0 is not false
    ({"message": 170}, "message: Input should be a valid string"),
    ({"message": None}, "message: Input should be a valid string"),
    ({"msg": "在吗"}, "message: Field required; msg: Extra inputs are not permitted"),
    ({"message": "在吗", "topk": 3}, "topk: Extra inputs are not permitted"),
])
def test_invalid_fields_are_named(client, payload, message):
    error = assert_error(client.post("/v1/reply", json=payload), 422, "invalid_input")
    assert error["message"] == message
    assert all("input" not in detail for detail in error["details"])  # never echoes what was sent
    still_serving(client)


def test_validation_errors_do_not_echo_the_input(client):
    secret = "买家手机13800000000" * 10
    response = client.post("/v1/reply", json={"message": secret, "platform": "pdd"})
    assert_error(response, 422, "invalid_input")
    assert "13800000000" not in response.text


# --- routing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nowhere", "/v1", "/v1/replies", "/v2/reply", "/static/nothing.css"])
def test_not_found(client, path):
    error = assert_error(client.get(path), 404, "not_found")
    assert error["message"] == f"nothing at {path}; the API is described at /docs"
    still_serving(client)


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("GET", "/v1/reply", "POST"), ("PUT", "/v1/classify", "POST"), ("DELETE", "/v1/search", "POST"),
    ("POST", "/healthz", "GET"), ("POST", "/readyz", "GET"),
])
def test_method_not_allowed(client, method, path, allowed):
    response = client.request(method, path)
    error = assert_error(response, 405, "method_not_allowed")
    assert error["message"] == f"{method} is not allowed on {path}; use {allowed}"
    assert response.headers["allow"] == allowed
    still_serving(client)


# --- errors from the service -----------------------------------------------------------------


class Failing:
    """The fake service, except that `reply` raises `error`."""

    def __init__(self, service, error: Exception) -> None:
        self._service = service
        self._error = error

    def __getattr__(self, name):
        return getattr(self._service, name)

    def reply(self, request, prior=None):
        raise self._error


def test_unexpected_error_is_500_internal_and_logged(make_client, fake_service, caplog):
    client = make_client(service=Failing(fake_service, RuntimeError("secret: /home/shop/orders.db")))
    response = client.post("/v1/reply", json={"message": "在吗"})
    error = assert_error(response, 500, "internal")
    assert error == {"code": "internal", "message": "an unexpected error occurred; it is in the server's log",
                     "details": []}
    assert "secret" not in response.text
    logged = [record for record in caplog.records if record.exc_info]
    assert len(logged) == 1
    assert logged[0].getMessage() == "unexpected error in POST /v1/reply"
    assert "secret: /home/shop/orders.db" in caplog.text and "Traceback" in caplog.text
    # The process is still serving.
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.post("/v1/classify", json={"message": "在吗"}).status_code == 200


@pytest.mark.parametrize(("error", "status"), [
    (IndexStaleError("the index in index/store is stale; run `kefu build` to rebuild it", details=["x"]), 503),
    (ConfigError("KEFU_FUSION must be rrf or weighted"), 500),
])
def test_domain_errors_map_by_code(make_client, fake_service, error, status):
    client = make_client(service=Failing(fake_service, error))
    body = assert_error(client.post("/v1/reply", json={"message": "在吗"}), status, error.code)
    assert body == {"code": error.code, "message": error.message, "details": error.details}
    assert client.post("/v1/classify", json={"message": "在吗"}).status_code == 200


def test_an_overloaded_encoder_answers_503_with_retry_after(make_client, fake_service):
    error = OverloadedError("the server is busy (600 texts waiting for the encoder); retry in 3 s", retry_after=3)
    response = make_client(service=Failing(fake_service, error)).post("/v1/reply", json={"message": "在吗"})
    body = assert_error(response, 503, "overloaded")
    assert response.headers["Retry-After"] == "3"
    assert body["details"] == [{"retry_after": 3}]


def test_token_is_checked_before_the_body_is_validated(make_client):
    client = make_client(api_token="s3cret")
    for payload in [{"message": ""}, {"message": "在吗", "top_k": 0}, {"message": "码" * 2001}, {}]:
        assert_error(client.post("/v1/reply", json=payload), 401, "unauthorized")
