"""What every /v1 route depends on: UTF-8 JSON bodies, the bearer token, the settings, the loaded service.

The dependencies are `async def`: FastAPI runs a plain `def` dependency in its threadpool, one thread hop per
dependency and request (five for a reply, ~0.1 ms each and more while the encoder's thread wants the GIL),
and these only look things up in memory.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Depends, Query, Request, Response, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.errors import ApiError
from app.api.schemas import ErrorOut
from app.config import Settings
from app.service import KefuService
from app.tokens import Principal, TokenRegistry

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in {
        400: "body not valid UTF-8",
        401: "missing or wrong bearer token (only when KEFU_API_TOKEN is set)",
        403: "a shop's token naming another shop (`?shop=`), or an agent's token where an editor's is needed",
        404: "this server has no such shop (`?shop=`, or the token's shop)",
        413: "body over 1 MB",
        415: "body not sent as UTF-8 JSON",
        422: "invalid request: bad JSON, a field out of range, an empty or too long message",
        500: "an unexpected error; the traceback is in the server's log, never in the response",
        503: "the index and model are still loading or failed to load (see /readyz), or the server is "
             "overloaded (code `overloaded`: retry after the Retry-After header's seconds)",
    }.items()
}


class JSONBodyRoute(APIRoute):
    """Checks the body is UTF-8 JSON before FastAPI parses it, so each fault gets its own clear code.

    FastAPI alone reports invalid UTF-8 as a generic 400 and a text/plain body as a confusing
    validation error about dictionaries.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            # The token before the body: without it, nobody learns how a body would be refused.
            _identify(request, await _bearer(request))
            body = await request.body()  # cached on the request: FastAPI's parse reuses it
            if body:
                check_json_body(request.headers.get("content-type"), body)
            return await handler(request)

        return checked


def check_json_body(content_type: str | None, body: bytes) -> None:
    media_type, _, parameters = (content_type or "").partition(";")
    media_type = media_type.strip().lower()
    if media_type != "application/json" and not (media_type.startswith("application/") and media_type.endswith("+json")):
        raise ApiError(415, "unsupported_media_type",
                       f"send the body as JSON with Content-Type: application/json (got {content_type or 'none'})")
    charset = next((value.strip().strip('"').lower() for key, _, value in
                    (parameter.partition("=") for parameter in parameters.split(";"))
                    if key.strip().lower() == "charset"), "utf-8")
    if charset not in ("utf-8", "utf8"):
        raise ApiError(415, "unsupported_media_type",
                       f"send JSON encoded as UTF-8 (Content-Type: application/json; charset=utf-8), not {charset}")
    try:
        text = body.decode("utf-8-sig")  # a BOM (some Windows clients add one) is harmless
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_encoding",
                       f"the body is not valid UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start}); "
                       "send JSON encoded as UTF-8, not GBK",
                       [{"offset": exc.start}]) from None
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(422, "invalid_json",
                       f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                       [{"line": exc.lineno, "column": exc.colno, "offset": exc.pos}]) from None
    except RecursionError:
        raise ApiError(422, "invalid_json", "the body is not usable JSON: it is nested too deeply") from None
    except ValueError:  # Python refuses integers of over 4,300 digits (its guard against slow parsing)
        raise ApiError(422, "invalid_json", "the body is not usable JSON: a number in it has too many digits") from None


_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <KEFU_API_TOKEN>; "
                                                   "needed only when the server sets KEFU_API_TOKEN")


def carries_token(authorization: str | None, token: str) -> bool:
    """Whether an Authorization header value is `Bearer <token>` (constant time in the token)."""
    scheme, _, value = (authorization or "").partition(" ")
    # Starlette decodes header bytes as latin-1: back to the bytes sent, against the token's UTF-8.
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode("latin-1", "replace"),
                                                              token.encode("utf-8"))


def principal_for(state: Any, authorization: str | None) -> Principal | None:
    """Who a request with this Authorization header acts as; None when the server wants a token and this
    header carries none it knows. Without KEFU_API_TOKEN and KEFU_TOKENS_FILE the server is open: every
    request acts as an editor of KEFU_SHOP. KEFU_API_TOKEN is an editor of KEFU_SHOP; the tokens file's
    tokens act for their own shop and role."""
    settings: Settings = state.settings
    tokens: TokenRegistry | None = getattr(state, "tokens", None)
    if not settings.api_token and tokens is None:
        return Principal("anonymous", settings.shop, "editor", any_shop=True)
    # Constant time, so a token cannot be guessed character by character from response times.
    if settings.api_token and carries_token(authorization, settings.api_token):
        return Principal("api_token", settings.shop, "editor", any_shop=True)
    scheme, _, value = (authorization or "").partition(" ")
    if tokens is not None and scheme.lower() == "bearer" and value.strip():
        return tokens.identify(value.strip().encode("latin-1", "replace").decode("utf-8", "replace"))
    return None


async def authorize(request: Request,
                    credentials: HTTPAuthorizationCredentials | None = Security(_bearer)) -> Principal:
    return _identify(request, credentials)


def _identify(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    # BodyLimit identified the caller already (it must, before it reads the body): not twice per request.
    principal = request.scope.get("state", {}).get("principal") or \
        principal_for(request.app.state, request.headers.get("authorization"))
    if principal is None and credentials is None:
        raise ApiError(401, "unauthorized", "this API needs the header `Authorization: Bearer <token>` "
                                            "with the server's KEFU_API_TOKEN or a token from `kefu token add`",
                       headers={"WWW-Authenticate": "Bearer"})
    if principal is None:
        raise ApiError(401, "unauthorized", "the bearer token is wrong",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return principal


async def current_principal(principal: Principal = Depends(authorize)) -> Principal:
    """Who the request acts as (`authorize`, run once per request: FastAPI caches it)."""
    return principal


async def editor(principal: Principal = Depends(current_principal)) -> Principal:
    """Routes for a shop's editors (its figures, its library): an agent's token gets 403."""
    if not principal.may("editor"):
        raise ApiError(403, "forbidden", f"{principal.name}'s token is an agent's; this needs an editor's token "
                                         f"of shop {principal.shop}")
    return principal


async def current_settings(request: Request) -> Settings:
    return request.app.state.settings


async def request_shop(shop: str | None = Query(None, max_length=64, description="the shop to act for (default: the "
                                         "token's shop, or the server's KEFU_SHOP)"),
                 principal: Principal = Depends(current_principal)) -> str:
    """The shop a request acts for: the one it names, else its token's. A shop's token acts for its shop only."""
    chosen = shop or principal.shop
    check_shop(principal, chosen)
    return chosen


def check_shop(principal: Principal, shop: str) -> None:
    """403 unless the principal may act for `shop` (a shop's token for its own shop only)."""
    if not principal.acts_for(shop):
        raise ApiError(403, "forbidden", f"{principal.name}'s token belongs to shop {principal.shop}; "
                                         f"it can neither read nor change shop {shop}")


async def ready_service(request: Request, shop: str = Depends(request_shop)) -> KefuService:
    return request.app.state.loader.require(shop)


def check_length(field: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise ApiError(422, "message_too_long",
                       f"the {field} is {len(text):,} characters; the limit is {limit:,} (KEFU_MAX_MESSAGE_CHARS). "
                       "Paste only the buyer's question.",
                       [{"field": field, "length": len(text), "limit": limit}])
