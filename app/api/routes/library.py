"""/v1/shops/{shop}/…: a shop's library edited at run time (templates, the shop profile) and its audit log.

Reading needs a token of the shop (an agent's will do); changing it, an editor's. Every change names
the version it replaces in If-Match (the ETag a read gave): two editors cannot silently overwrite
each other, the second gets 412 with the current version. A change is live within seconds: this
server rebuilds its library at once, replicas within their next poll (app/api/lifecycle.py).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from app.api.dependencies import ERROR_RESPONSES, JSONBodyRoute, authorize, check_shop, current_principal, editor
from app.api.errors import ApiError
from app.api.responses import JSONResponse
from app.api.schemas import (
    AuditOut,
    ErrorOut,
    PrincipalOut,
    ProfileFormOut,
    ProfileOut,
    TemplateIn,
    TemplateListOut,
    TemplateOut,
)
from app.errors import CorpusError
from app.library.live import Item, ShopLibrary
from app.shop import profile_fields, profile_sections
from app.tokens import Principal

me = APIRouter(prefix="/v1", route_class=JSONBodyRoute, dependencies=[Depends(authorize)],
                responses=ERROR_RESPONSES, tags=["library"])
library = APIRouter(prefix="/v1/shops/{shop}", route_class=JSONBodyRoute, dependencies=[Depends(authorize)],
                    responses=ERROR_RESPONSES | {
                        404: {"model": ErrorOut, "description": "no such shop or template"},
                        409: {"model": ErrorOut, "description": "a template with that id exists already"},
                        412: {"model": ErrorOut,
                              "description": "the item changed since it was read (If-Match is not its ETag)"},
                        428: {"model": ErrorOut, "description": "a change without If-Match"}}, tags=["library"])
ETAG = re.compile(r'^\s*(?:W/)?"(?P<kind>template|profile)-(?P<version>\d{1,9})"\s*$')


@me.get("/me", response_model=PrincipalOut, summary="Who this token acts as: its name, shop and role")
def whoami(principal: Principal = Depends(current_principal)) -> Response:
    """What the panel's editor needs to know which shop's library to open and whether it may change it."""
    return JSONResponse({"name": principal.name, "shop": principal.shop, "role": principal.role})


def shop_library(shop: str, request: Request, principal: Principal = Depends(current_principal)) -> ShopLibrary:
    check_shop(principal, shop)
    return request.app.state.library.library(shop)


def editable(shop: str, request: Request, principal: Principal = Depends(editor)) -> ShopLibrary:
    return shop_library(shop, request, principal)


def if_match(request: Request, kind: str) -> int:
    """The version the editor read, from If-Match; 428 without one, 412 for one that is not ours."""
    header = request.headers.get("if-match")
    if header is None:
        raise ApiError(428, "precondition_required", "send If-Match with the ETag you read (GET the item first), "
                                                     "so that nobody else's change is overwritten unseen")
    found = ETAG.match(header)
    if found is None or found["kind"] != kind:
        raise ApiError(412, "version_conflict", f"If-Match {header!r} is not an ETag of this {kind}; GET it again")
    return int(found["version"])


def _body(item: Item, kind: str = "template") -> dict[str, Any]:
    return {kind: item.body, "version": item.version, "origin": item.origin}


def _item(item: Item, status: int = 200, headers: dict[str, str] | None = None, kind: str = "template") -> JSONResponse:
    return JSONResponse(_body(item, kind), status_code=status, headers={"ETag": item.etag, **(headers or {})})


def _checked(body: TemplateIn) -> dict[str, Any]:
    entry = body.entry()
    if not entry["applies"]:
        del entry["applies"]
    return entry


def _invalid(exc: CorpusError) -> ApiError:
    return ApiError(422, "invalid_template", exc.message, exc.details)


@library.get("/templates", response_model=TemplateListOut, summary="The shop's templates as editors left them")
def list_templates(request: Request, shop_library: ShopLibrary = Depends(shop_library)) -> Response:
    view = shop_library.view()
    return JSONResponse({"shop": shop_library.shop, "revision": view.revision,
                         "served_revision": request.app.state.library.revision(shop_library.shop),
                         "templates": [_body(item) for item in view.templates]})


@library.get("/templates/{template_id}", response_model=TemplateOut, summary="One template, with its ETag")
def read_template(template_id: str, shop_library: ShopLibrary = Depends(shop_library)) -> Response:
    return _item(shop_library.template(template_id))


@library.post("/templates", response_model=TemplateOut, status_code=201, summary="Add a template")
def create_template(body: TemplateIn, request: Request, shop_library: ShopLibrary = Depends(editable),
                    principal: Principal = Depends(editor)) -> Response:
    try:
        item = shop_library.create(_checked(body), principal.name)
    except CorpusError as exc:
        raise _invalid(exc) from None
    request.app.state.library.poke()
    return _item(item, 201, {"Location": f"/v1/shops/{shop_library.shop}/templates/{item.id}"})


@library.put("/templates/{template_id}", response_model=TemplateOut, summary="Change a template (If-Match)")
def replace_template(template_id: str, body: TemplateIn, request: Request,
                     shop_library: ShopLibrary = Depends(editable), principal: Principal = Depends(editor)) -> Response:
    version = if_match(request, "template")
    try:
        item = shop_library.replace(template_id, _checked(body), version, principal.name)
    except CorpusError as exc:
        raise _invalid(exc) from None
    request.app.state.library.poke()
    return _item(item)


@library.delete("/templates/{template_id}", status_code=204, summary="Remove a template (If-Match)")
def delete_template(template_id: str, request: Request, shop_library: ShopLibrary = Depends(editable),
                    principal: Principal = Depends(editor)) -> Response:
    shop_library.delete(template_id, if_match(request, "template"), principal.name)
    request.app.state.library.poke()
    return Response(status_code=204)


@library.get("/profile", response_model=ProfileOut, summary="The shop profile, with its ETag")
def read_profile(shop_library: ShopLibrary = Depends(shop_library)) -> Response:
    return _item(shop_library.profile(), kind="profile")


@library.get("/profile/form", response_model=ProfileFormOut, summary="Every key the shop profile can set, as a form")
def profile_form(shop_library: ShopLibrary = Depends(shop_library)) -> Response:
    """The panel's profile editor draws its form from this: each key's label (what a reply shows while it is
    unset) and kind, grouped by section."""
    return JSONResponse({"sections": profile_sections(), "fields": [field.as_dict() for field in profile_fields()]})


@library.put("/profile", response_model=ProfileOut, summary="Replace the shop profile (If-Match)")
def replace_profile(body: dict[str, Any], request: Request, shop_library: ShopLibrary = Depends(editable),
                    principal: Principal = Depends(editor)) -> Response:
    version = if_match(request, "profile")
    try:
        item = shop_library.replace_profile(body, version, principal.name)
    except CorpusError as exc:
        raise ApiError(422, "invalid_profile", exc.message, exc.details) from None
    request.app.state.library.poke()
    return _item(item, kind="profile")


@library.get("/audit", response_model=AuditOut, summary="Who changed what, when: before and after")
def audit(limit: int = Query(100, ge=1, le=1000), id: str | None = Query(None, max_length=200,
                                                                          description="one template's changes"),
          shop_library: ShopLibrary = Depends(editable)) -> Response:
    return JSONResponse({"shop": shop_library.shop,
                         "changes": [change.as_dict() for change in shop_library.audit(limit=limit, item_id=id)]})
