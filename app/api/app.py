"""create_app: the FastAPI app over one KefuService, loaded in the background at startup.

Nothing happens at import: the app, its settings and the service exist only once create_app runs,
and the service (seconds to load with the real model) loads in a thread the lifespan starts, so the process
answers /healthz at once and /readyz and /v1/* say 503 until it is ready.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.middleware import Middleware

from app import __version__
from app.api.errors import CatchUnexpected, install_error_handlers
from app.api.lifecycle import Database, LibrarySync, ServiceFactory, ServiceLoader, load_service
from app.api.middleware import MAX_BODY_BYTES, BodyLimit, InFlightLimit, SecurityHeaders
from app.api.openapi import offline_docs, token_optional_in_openapi
from app.api.responses import JSONResponse
from app.api.routes import pages, probes, v1
from app.api.routes.feedback import PriorCache, feedback
from app.api.routes.library import library, me
from app.api.routes.qc import qc
from app.config import Settings
from app.tokens import TokenRegistry

WEB_DIR = Path(__file__).resolve().parents[1] / "web"


def create_app(settings: Settings | None = None, *, service_factory: ServiceFactory | None = None,
               web_dir: Path | None = None) -> FastAPI:
    """The API over `settings` (default: from KEFU_* environment variables).

    `service_factory` builds the service from the settings (default `KefuService.load`); tests pass
    one with a fake embedder. `web_dir` is the side panel's folder (default app/web).
    """
    if settings is None:
        settings = Settings()
    database = Database(settings.feedback_database)
    loader = ServiceLoader(settings, service_factory or load_service)
    sync = LibrarySync(settings, loader, database)
    loader.prepare = sync.prepare

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loader.start()
        yield
        sync.stop()
        database.close()

    middleware = [
        # CORS outermost, so browsers can read every answer, errors and 413s included.
        *([Middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "PUT", "DELETE"],
                      allow_headers=["Authorization", "Content-Type", "If-Match"], expose_headers=["ETag"])] if settings.cors_origins else []),
        Middleware(SecurityHeaders),
        Middleware(CatchUnexpected),
        Middleware(BodyLimit, limit=MAX_BODY_BYTES),
        Middleware(InFlightLimit, limit=settings.max_in_flight),
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
        default_response_class=JSONResponse,
        docs_url=None,  # served below from local files: FastAPI's own page loads Swagger UI from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.tokens = TokenRegistry(settings.tokens_file) if settings.tokens_file else None
    app.state.priors = PriorCache()
    app.state.loader = loader
    app.state.database = database
    app.state.library = sync
    app.state.web_dir = web_dir or WEB_DIR
    install_error_handlers(app)
    app.include_router(v1)
    app.include_router(qc)
    app.include_router(feedback)
    app.include_router(library)
    app.include_router(me)
    app.include_router(probes)
    app.include_router(pages)
    if app.state.web_dir.is_dir():
        app.mount("/static", StaticFiles(directory=app.state.web_dir), name="static")
    offline_docs(app)
    if not settings.api_token:
        token_optional_in_openapi(app)
    return app
