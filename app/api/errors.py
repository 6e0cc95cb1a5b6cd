"""The one JSON error shape over HTTP, and every path to it: domain errors, FastAPI's own, the unexpected."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.responses import JSONResponse
from app.errors import KefuError, OverloadedError

log = logging.getLogger(__name__)

# Domain error codes -> status. Index and model problems are the operator's to fix (`kefu build`),
# so the service is unavailable rather than broken; a code not listed here is a bug of ours (500).
STATUS_BY_CODE: Mapping[str, int] = {
    "invalid_input": 422,
    "index": 503,
    "index_missing": 503,
    "index_stale": 503,
    "model": 503,
    "overloaded": 503,
    "feedback_unavailable": 503,
    "not_found": 404,
    "conflict": 409,
    "version_conflict": 412,
}

# Starlette and FastAPI raise HTTPException with a status only; clients match on these codes.
CODE_BY_STATUS: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    503: "not_ready",
}


def error_body(code: str, message: str, details: Sequence[Any] = ()) -> dict:
    """The one error body every non-2xx response carries: {"error": {"code", "message", "details"}}."""
    return {"error": {"code": code, "message": message, "details": list(details)}}


def error_response(status: int, code: str, message: str, details: Sequence[Any] = (),
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


class ApiError(Exception):
    """A refusal decided at the HTTP edge (token, limits, readiness, body syntax), not by the core."""

    def __init__(self, status: int, code: str, message: str, details: Sequence[Any] = (),
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message, self.details, self.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(KefuError, _kefu_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # Starlette's class, not FastAPI's subclass: routing 404/405 and StaticFiles raise Starlette's.
    app.add_exception_handler(HTTPException, _http_error)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _kefu_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KefuError)
    status = STATUS_BY_CODE.get(exc.code, 500)
    if status == 500:
        log.error("%s %s failed: %s (%s)", request.method, request.url.path, exc.message, exc.code)
    # Load shedding says when to come back, in the header clients and proxies honour and in the body.
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, OverloadedError) else None
    return error_response(status, exc.code, exc.message, exc.details, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        # Normally caught earlier by the body check in routes.py; FastAPI's own parse is the fallback.
        return error_response(422, "invalid_json", "the request body is not valid JSON",
                              [_validation_detail(error) for error in errors])
    details = [_validation_detail(error) for error in errors]
    message = "; ".join(f"{detail['field']}: {detail['message']}" for detail in details)
    return error_response(422, "invalid_input", message or "the request is invalid", details)


def _validation_detail(error: Mapping[str, Any]) -> dict[str, Any]:
    # Never echo `input`: it can be a whole 2,000-character message, or a 1 MB body.
    location = [str(part) for part in error.get("loc", ())]
    field = ".".join(location[1:] if len(location) > 1 and location[0] == "body" else location)
    detail: dict[str, Any] = {"field": field, "message": str(error.get("msg", "")), "type": str(error.get("type", ""))}
    if error.get("ctx"):
        # ctx can hold exception objects (value_error); strings keep the body JSON.
        detail["ctx"] = {key: value if isinstance(value, (int, float, str)) else str(value)
                         for key, value in error["ctx"].items()}
    return detail


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    code = CODE_BY_STATUS.get(status, f"http_{status}")
    headers = dict(exc.headers or {})
    if status == 404:
        message = f"nothing at {request.url.path}; the API is described at /docs"
    elif status == 405:
        # Starlette names the methods of the first route matching the path; a path served by several
        # routes (GET and POST of /v1/shops/{shop}/templates) allows all of theirs.
        allowed = ", ".join(_allowed_methods(request)) or headers.get("Allow") or headers.get("allow") or ""
        if allowed:
            headers = {key: value for key, value in headers.items() if key.lower() != "allow"} | {"Allow": allowed}
        message = f"{request.method} is not allowed on {request.url.path}" + (f"; use {allowed}" if allowed else "")
    else:
        message = str(exc.detail)
    return error_response(status, code, message, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document gives the request's path (FastAPI's nested routers hide the routes)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, request.url.path):
            methods |= {method.upper() for method in operations}
    return sorted(methods)


class CatchUnexpected:
    """Turns an exception no handler took into a logged traceback and a bare 500 `internal` body.

    Starlette's ServerErrorMiddleware re-raises after answering so the server logs it; logging here
    and not re-raising keeps one traceback per failure in the log and the worker serving.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            if started:  # half a response is out: only the server can end it (by closing)
                raise
            response = error_response(500, "internal", "an unexpected error occurred; it is in the server's log")
            await response(scope, receive, send)
