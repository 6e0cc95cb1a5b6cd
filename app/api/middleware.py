"""ASGI middleware of the API: request bodies bounded before the app reads them, and the work in flight."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.dependencies import principal_for
from app.api.errors import error_response

MAX_BODY_BYTES = 1024 * 1024


class InFlightLimit:
    """Refuses a /v1 request at once (503 `overloaded`, Retry-After) while `limit` are already being answered.

    The encoder's queue sheds its own overload, but requests that wait for one of the server's worker
    threads never reach it: under 200 clients most of them would queue for seconds there. Counting the
    requests in flight bounds every queue behind this point (threads, encoder) and keeps the answers
    that are given fast; the refused ones cost microseconds and say when to retry.
    """

    def __init__(self, app: ASGIApp, limit: int, retry_after_seconds: int = 1) -> None:
        self.app = app
        self.limit = limit
        self.retry_after_seconds = retry_after_seconds
        self.in_flight = 0  # only the event loop's thread touches it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            response = error_response(
                503, "overloaded", f"the server is busy ({self.in_flight} requests under way); retry in "
                                   f"{self.retry_after_seconds} s",
                [{"in_flight": self.in_flight, "limit": self.limit}],
                headers={"Retry-After": str(self.retry_after_seconds)})
            await response(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class BodyLimit:
    """Refuses request bodies over `limit` bytes with 413, by Content-Length and by what actually arrives.

    The body is read here, before the app runs, so a client that sends no Content-Length (chunked)
    or understates it is cut off at the limit, not after the app has buffered the lot.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        # The token before any body check: a caller without it learns nothing of how its body would fare;
        # the route answers 401 before it reads the body.
        state = getattr(scope.get("app"), "state", None)
        if state is not None and scope.get("path", "").startswith("/v1/"):
            principal = principal_for(state, headers.get("authorization"))
            if principal is None:
                await self.app(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal  # `authorize` takes it from here
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client disconnected mid-body: nobody is left to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # later calls wait for http.disconnect, as usual
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "body_too_large",
                                  f"the request body is over {self.limit:,} bytes; send one buyer message at a time",
                                  [{"limit": self.limit}], headers={"Connection": "close"})
        await response(scope, receive, send)


class SecurityHeaders:
    """Headers every answer carries so the panel cannot be framed, sniffed or made to run foreign script.

    The Content-Security-Policy allows only the panel's own files (no inline script or style) and
    no framing; /docs is left without it because Swagger UI starts from an inline script.
    """

    COMMON = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
              (b"referrer-policy", b"no-referrer")]
    POLICY = (b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")

    def __init__(self, app: ASGIApp, *, unguarded: tuple[str, ...] = ("/docs",)) -> None:
        self.app = app
        self.unguarded = unguarded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = list(self.COMMON)
        if not scope["path"].startswith(self.unguarded):
            headers.append((b"content-security-policy", self.POLICY))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, with_headers)
