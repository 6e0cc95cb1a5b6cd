"""Findings of issue 14's probe that the API now survives: each was a test first."""

from __future__ import annotations

import json

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


# Finding 4, second half: /v1/evaluate is a bounded job.

def test_evaluate_skips_an_over_long_case_by_its_position_and_runs_the_rest(make_client):
    client = make_client(max_message_chars=50)
    cases = [{"message": "能便宜点吗"}, {"message": "在吗" * 40}, {"message": "什么时候发货"}]
    summary = client.post("/v1/evaluate", json={"cases": cases}).json()
    assert (summary["cases"], summary["evaluated"], summary["not_evaluated"], summary["stopped"]) == (3, 2, 0, None)
    assert summary["skipped"] == [{"line": 2, "reason": "80 characters; the limit is 50 (KEFU_MAX_MESSAGE_CHARS): "
                                                       "evaluate long texts with `kefu eval`"}]


def test_evaluate_stops_at_its_time_budget_and_says_so(make_client, fake_service):
    import time as clock

    class Slow:
        def __getattr__(self, name):
            return getattr(fake_service, name)

        def review_many(self, requests, replies, positions=None):
            clock.sleep(0.05)
            return fake_service.review_many(requests, replies, positions)

    client = make_client(service=Slow(), evaluate_seconds=0.2)
    summary = client.post("/v1/evaluate", json={"cases": [{"message": f"第{i}个问题"} for i in range(400)]}).json()
    assert "time budget of 0.2 s" in summary["stopped"] and "kefu eval" in summary["stopped"]
    assert 0 < summary["evaluated"] < 400
    assert summary["evaluated"] + summary["not_evaluated"] + len(summary["skipped"]) == summary["cases"] == 400


def test_evaluate_stops_computing_when_the_client_goes(fake_index, fake_service):
    """Against a real server: the client sends a big batch and hangs up; the batches stop soon after."""
    import socket
    import threading
    import time as clock

    import uvicorn

    from app.api import create_app

    batches = []

    class Counting:
        def __getattr__(self, name):
            return getattr(fake_service, name)

        def review_many(self, requests, replies, positions=None):
            clock.sleep(0.05)
            batches.append(len(requests))
            return fake_service.review_many(requests, replies, positions)

    app = create_app(fake_index.model_copy(update={"evaluate_seconds": 60.0}), service_factory=lambda s: Counting())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = clock.monotonic() + 60
        while clock.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as ready:
                    ready.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if b" 200 " in ready.recv(100):
                        break
            except OSError:
                pass
            clock.sleep(0.05)
        body = json.dumps({"cases": [{"message": f"第{i}个问题"} for i in range(2000)]}).encode()
        head = (f"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(head + body)
            while not batches:
                clock.sleep(0.01)
        # The client has gone; within a poll and a batch or two the run stops.
        clock.sleep(1.0)
        settled = len(batches)
        clock.sleep(1.0)
        assert len(batches) == settled, "the run went on computing for nobody"
        assert sum(batches) < 2000
    finally:
        server.should_exit = True
        thread.join(10)


# Finding 9 and the overload target: the work in flight is bounded.

def test_requests_beyond_the_in_flight_limit_get_503_with_retry_after_at_once(make_client, fake_service):
    import threading
    import time as clock

    from tests.api import assert_error

    entered, release = threading.Event(), threading.Event()

    class Held:
        def __getattr__(self, name):
            return getattr(fake_service, name)

        def reply(self, request, prior=None):
            entered.set()
            release.wait(10)
            return fake_service.reply(request)

    client = make_client(service=Held(), max_in_flight=1)
    first = {}
    thread = threading.Thread(target=lambda: first.update(r=client.post("/v1/reply", json={"message": "在吗"})))
    thread.start()
    try:
        assert entered.wait(10)
        started = clock.monotonic()
        refused = client.post("/v1/reply", json={"message": "能便宜点吗"})
        assert clock.monotonic() - started < 1.0  # refused at once, not queued
        error = assert_error(refused, 503, "overloaded")
        assert refused.headers["retry-after"] == "1" and error["details"] == [{"in_flight": 1, "limit": 1}]
        assert client.get("/healthz").status_code == 200  # probes are never refused
    finally:
        release.set()
        thread.join(10)
    assert first["r"].status_code == 200
    assert client.post("/v1/reply", json={"message": "能便宜点吗"}).status_code == 200  # room again
