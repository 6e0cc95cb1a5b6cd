"""Text normalisation shared by handbooks, templates, buyer messages and agents' replies."""

from __future__ import annotations

import functools
import re
from typing import Any

# Full-width ASCII (！ … ～) maps onto ASCII by a fixed offset; the ideographic space is a space.
# Chinese punctuation outside that block (。、“”《》【】) is kept as it is.
_FOLD_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
# Zero-width characters survive copy-paste from web pages and split words invisibly.
_INVISIBLE = dict.fromkeys([0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD])
_FOLD_TABLE = str.maketrans(_FOLD_WIDTH | _INVISIBLE)
# A lone surrogate (half of a broken emoji in a pasted message) would make OpenCC fail to encode.
_SURROGATE = re.compile("[\ud800-\udfff]")
WHITESPACE = re.compile(r"\s+")


@functools.cache
def _simplifier() -> Any:  # opencc ships no type information
    import opencc

    # opencc 1.4 accepts the bare config name ("t2s") as well as "t2s.json".
    return opencc.OpenCC("t2s")


def fold_width(text: str) -> str:
    """Full-width ASCII to ASCII and invisible characters removed; nothing else changes."""
    return _SURROGATE.sub("", text.translate(_FOLD_TABLE))


def normalize_text(text: str) -> str:
    """Simplified Chinese, ASCII instead of full-width ASCII, whitespace collapsed and stripped.

    Used for handbook lines and buyer messages alike, so that both sides of a search agree.
    """
    if not text:
        return ""
    text = WHITESPACE.sub(" ", fold_width(text)).strip()
    if text.isascii():
        return text
    return to_simplified(text)


#


def to_simplified(text: str) -> str:
    """Traditional Chinese converted to Simplified; nothing else changes."""
    return str(_simplifier().convert(text))
