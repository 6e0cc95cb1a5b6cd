"""The side panel's pages (GET /, /stats and /library), outside the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from app.api.errors import ApiError

pages = APIRouter(include_in_schema=False)


def _page(request: Request, name: str) -> Response:
    page: Path = request.app.state.web_dir / name
    if not page.is_file():
        raise ApiError(404, "not_found", "the side panel is not installed on this server; the API is at /docs")
    return FileResponse(page, media_type="text/html; charset=utf-8")


@pages.api_route("/", methods=["GET", "HEAD"])  # out of the schema: no duplicate operation ids
async def side_panel(request: Request) -> Response:
    return _page(request, "index.html")


@pages.api_route("/stats", methods=["GET", "HEAD"])
async def stats_page(request: Request) -> Response:
    """What agents did with the suggestions: the page reads GET /v1/feedback/stats with the panel's token."""
    return _page(request, "stats.html")


@pages.api_route("/library", methods=["GET", "HEAD"])
async def library_page(request: Request) -> Response:
    """The library editor: templates and the shop profile, through /v1/shops/{shop}/… with the panel's token."""
    return _page(request, "library.html")
