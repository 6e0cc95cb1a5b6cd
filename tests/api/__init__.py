"""Helpers shared by the API tests (fixtures are in conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from app.api.schemas import ErrorOut


@contextmanager
def running(app, *, wait: bool = True, **client_options) -> Iterator[TestClient]:
    """A TestClient with the app's lifespan running, by default once the background load has ended."""
    with TestClient(app, **client_options) as client:
        if wait:
            wait_loaded(client)
        yield client


def wait_loaded(client: TestClient, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get("/readyz")
        if response.status_code == 200 or response.json()["error"]["code"] != "not_ready":
            return
        time.sleep(0.02)
    raise AssertionError("the service did not finish loading")


def assert_error(response, status: int, code: str) -> dict:
    """The one error shape, with this status and code; returns the error for further checks."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    ErrorOut.model_validate(body)  # exactly {"error": {"code", "message", "details"}}, nothing else
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in response.text
    return body["error"]
