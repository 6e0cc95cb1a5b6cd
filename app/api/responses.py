"""The API's JSON response: UTF-8 that cannot fail on what a client sent.

A lone UTF-16 surrogate ("\\ud800", half of an emoji cut by a chat window) is valid in a JSON
string and reaches the answer when it is echoed (the message, a slot value), but it has no UTF-8
encoding: Starlette's JSONResponse raised there and the client got a 500. Here it becomes U+FFFD,
the replacement character, and the rest of the answer stands.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse as _StarletteJSONResponse


class JSONResponse(_StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
        return _utf8(text)


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Through UTF-16 and back: a lone surrogate is an invalid code unit there, so decoding
        # replaces exactly it with U+FFFD; every other character (astral ones included) survives.
        return text.encode("utf-16", errors="surrogatepass").decode("utf-16", errors="replace").encode("utf-8")


__all__ = ["JSONResponse"]
