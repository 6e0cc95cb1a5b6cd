"""The OpenAPI document and /docs: token optional when none is set; Swagger UI from local files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_ASSETS = "/docs-assets"  # Swagger UI's JS and CSS, from the fastapi-offline wheel


def token_optional_in_openapi(app: FastAPI) -> None:
    """Without KEFU_API_TOKEN the /v1 operations need no token; say so in the OpenAPI document (an
    empty security requirement is OpenAPI's "no authentication is also fine")."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    if operation.get("security") and {} not in operation["security"]:
                        operation["security"].append({})
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def offline_docs(app: FastAPI) -> None:
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
