"""Findings of issue 14's probe that the API now survives: each was a test first."""

from __future__ import annotations

import pytest

from tests.api import assert_error


@pytest.mark.parametrize("body", [
    '{"message": "\\ud800能便宜点吗"}',  # a half-cut emoji pasted from a chat window
    '{"message": "能便宜点吗", "slots": {"coupon": "\\udfff"}}',
])
def test_a_lone_surrogate_is_answered_not_a_500(client, body):
    response = client.post("/v1/reply", content=body.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["scenario"]["label"] == "price"


@pytest.mark.parametrize("path", ["/v1/reply", "/v1/search"])
def test_a_5000_digit_number_is_a_clear_422(client, path):
    field = "message" if path == "/v1/reply" else "query"
    body = '{"' + field + '": "能便宜点吗", "top_k": ' + "9" * 5000 + "}"
    response = client.post(path, content=body.encode(), headers={"Content-Type": "application/json"})
    error = assert_error(response, 422, "invalid_json")
    assert "digits" in error["message"]


@pytest.mark.parametrize("path", ["/", "/healthz", "/readyz"])
def test_head_is_answered_where_get_is(client, path):
    assert client.head(path).status_code == client.get(path).status_code == 200


def test_the_panel_is_served_with_security_headers(client):
    page = client.get("/")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    # The API's answers are not pages, but are never sniffed either.
    assert client.get("/healthz").headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(("content", "content_type"), [
    (b"{not json", "application/json"),
    (b"\xff\xfe", "application/json"),
    (b"message=hi", "application/x-www-form-urlencoded"),
    (b'{"message": "hi", "top_k": ' + b"9" * 5000 + b"}", "application/json"),
])
def test_without_the_token_a_bad_body_is_401_not_a_description_of_its_fault(make_client, content, content_type):
    client = make_client(api_token="s3cret")
    response = client.post("/v1/reply", content=content, headers={"Content-Type": content_type})
    assert_error(response, 401, "unauthorized")
    with_token = client.post("/v1/reply", content=content,
                             headers={"Content-Type": content_type, "Authorization": "Bearer s3cret"})
    assert with_token.status_code in (400, 415, 422)


def test_without_the_token_an_oversized_body_is_401_not_413(make_client):
    # Issue 14 finding 3, the rest of it: the size check is a body check too, after the token.
    client = make_client(api_token="s3cret")
    big = b'{"message": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    headers = {"Content-Type": "application/json"}
    assert client.post("/v1/reply", content=big, headers=headers).status_code == 401
    wrong = client.post("/v1/reply", content=big, headers={**headers, "Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = client.post("/v1/reply", content=big, headers={**headers, "Authorization": "Bearer s3cret"})
    assert right.status_code == 413 and right.json()["error"]["code"] == "body_too_large"
    # Without a token set, the size check stands as before.
    assert make_client().post("/v1/reply", content=big, headers=headers).status_code == 413
