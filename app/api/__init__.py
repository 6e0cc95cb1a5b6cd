"""create_app: the FastAPI app over one KefuService, loaded in the background at startup.

Nothing happens at import: the app, its settings and the service exist only once create_app runs,
and the service (seconds to load with the real model) loads in a thread the lifespan starts, so the process
answers /healthz at once and /readyz and /v1/* say 503 until it is ready.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Callable

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import __version__
from app.api.errors import ApiError, CatchUnexpected, error_response, install_error_handlers
from app.api.routes import pages, probes, v1
from app.config import Settings
from app.errors import KefuError
from app.service import KefuService

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
WEB_DIR = Path(__file__).resolve().parents[1] / "web"
DOCS_ASSETS = "/docs-assets"  # Swagger UI's JS and CSS, from the fastapi-offline wheel

ServiceFactory = Callable[[Settings], KefuService]


def create_app(settings: Settings | None = None, *, service_factory: ServiceFactory | None = None,
               web_dir: Path | None = None) -> FastAPI:
    """The API over `settings` (default: from KEFU_* environment variables).

    `service_factory` builds the service from the settings (default `KefuService.load`); tests pass
    one with a fake embedder. `web_dir` is the side panel's folder (default app/web).
    """
    if settings is None:
        settings = Settings()
    loader = ServiceLoader(settings, service_factory or _load_service)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loader.start()
        yield

    middleware = [
        # CORS outermost, so browsers can read every answer, errors and 413s included.
        *([Middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                      allow_headers=["Authorization", "Content-Type"])] if settings.cors_origins else []),
        Middleware(CatchUnexpected),
        Middleware(BodyLimit, limit=MAX_BODY_BYTES),
    ]
    app = FastAPI(
        title="kefu",
        version=__version__,
        summary="Reply suggestions for Chinese online-shop customer service (淘宝 / 天猫 / 京东客服回复助手).",
        description="Paste a buyer's message (买家消息), get its scenario and ranked template replies with the "
                    "shop's etiquette applied. Every error has the shape "
                    '`{"error": {"code", "message", "details"}}`.',
        lifespan=lifespan,
        middleware=middleware,
        docs_url=None,  # served below from local files: FastAPI's own page loads Swagger UI from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.loader = loader
    app.state.web_dir = web_dir or WEB_DIR
    install_error_handlers(app)
    app.include_router(v1)
    app.include_router(probes)
    app.include_router(pages)
    if app.state.web_dir.is_dir():
        app.mount("/static", StaticFiles(directory=app.state.web_dir), name="static")
    _offline_docs(app)
    if not settings.api_token:
        _token_optional_in_openapi(app)
    return app


def _token_optional_in_openapi(app: FastAPI) -> None:
    """Without KEFU_API_TOKEN the /v1 operations need no token; say so in the OpenAPI document (an
    empty security requirement is OpenAPI's "no authentication is also fine")."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = generate()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    if operation.get("security") and {} not in operation["security"]:
                        operation["security"].append({})
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _offline_docs(app: FastAPI) -> None:
    """/docs with Swagger UI from the fastapi-offline wheel (Swagger UI 5, which renders OpenAPI
    3.1), so the page works on an air-gapped server."""
    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title="kefu API",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
        )


def _load_service(settings: Settings) -> KefuService:
    return KefuService.load(settings, progress=log.info)


class ServiceLoader:
    """Loads the service once, in a background thread, and says what state it is in."""

    def __init__(self, settings: Settings, factory: ServiceFactory) -> None:
        self._settings = settings
        self._factory = factory
        self._thread: threading.Thread | None = None
        # Each is assigned once, by the loading thread; readers only look, so no lock is needed.
        self.service: KefuService | None = None
        self.failure: ApiError | None = None
        self.load_seconds = 0.0

    def start(self) -> None:
        if self._thread is None:
            # A daemon: shutting down mid-load must not wait for the model to finish loading.
            self._thread = threading.Thread(target=self._load, name="kefu-service-load", daemon=True)
            self._thread.start()

    def require(self) -> KefuService:
        """The loaded service, or an ApiError (503) saying why there is none yet."""
        if self.service is not None:
            return self.service
        if self.failure is not None:  # a fresh exception each time: a shared one would grow its traceback
            failure = self.failure
            raise ApiError(failure.status, failure.code, failure.message, failure.details)
        raise ApiError(503, "not_ready", "the index and model are still loading; retry in a few seconds",
                       headers={"Retry-After": "5"})

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            service = self._factory(self._settings)
        except KefuError as exc:
            log.error("the service did not load: %s", exc.message)
            self.failure = ApiError(503, exc.code, exc.message, exc.details)
        except Exception:
            log.exception("the service failed to load")
            self.failure = ApiError(503, "internal", "the service failed to load; the reason is in the server's log")
        else:
            self.load_seconds = time.perf_counter() - started
            log.info("ready in %.1fs", self.load_seconds)
            self.service = service


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
        declared = Headers(scope=scope).get("content-length", "")
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


__all__ = ["create_app"]
