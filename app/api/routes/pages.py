"""The side panel's pages (GET /, /stats and /library), outside the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from app.api.errors import ApiError

pages = APIRouter(include_in_schema=False)


@pages.api_route("/", methods=["GET", "HEAD"])  # out of the schema: no duplicate operation ids
async def side_panel(request: Request) -> Response:
    index: Path = request.app.state.web_dir / "index.html"
    if not index.is_file():
        raise ApiError(404, "not_found", "the side panel is not installed on this server; the API is at /docs")
    return FileResponse(index, media_type="text/html; charset=utf-8")


@pages.api_route("/stats", methods=["GET", "HEAD"])
async def stats_page(request: Request) -> Response:
    """What agents did with the suggestions: the page reads GET /v1/feedback/stats with the panel's token."""
    page: Path = request.app.state.web_dir / "stats.html"
    if not page.is_file():
        raise ApiError(404, "not_found", "the side panel is not installed on this server; the API is at /docs")
    return FileResponse(page, media_type="text/html; charset=utf-8")


@pages.api_route("/library", methods=["GET", "HEAD"])
async def library_page(request: Request) -> Response:
    """The template editor: reads and changes /v1/shops/{shop}/templates with the panel's token."""
    page: Path = request.app.state.web_dir / "library.html"
    if not page.is_file():
        raise ApiError(404, "not_found", "the side panel is not installed on this server; the API is at /docs")
    return FileResponse(page, media_type="text/html; charset=utf-8")
