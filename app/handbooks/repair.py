"""Handbook repair: GBK text decoded one byte off (mojibake) re-read, pinyin glosses removed."""

from __future__ import annotations

import functools
import math
import re

from app.handbooks.language import chinese_statistics
from app.text import to_simplified

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_COMMON_PUNCT = frozenset("。，、“”‘’《》：；！？（）～…【】「」『』")
_BROKEN = re.compile(r"[\ue000-\uf8ff\ufffd]")  # private use (GBK's user area) and U+FFFD

# Costs are negative log probabilities of characters. Dropping a byte costs about as much as a
# rare character, so a run is only re-read when the shifted reading is clearly more plausible.
_SKIP_COST = 14.0
# A "?" is where a decoder gave up on a byte: a byte beside it may well be half of a lost character.
_SKIP_COST_BESIDE_MARKER = 1.0
_PLAIN_COST = 7.0
SYMBOL_COST = 14.0
_UNKNOWNCJK_COST = 24.0
_BROKEN_COST = 30.0
# Three or more characters this rare in a row are not shop-handbook Chinese.
_RARE_COST = 12.5


@functools.lru_cache(maxsize=65536)
def char_cost(char: str) -> float:
    if _BROKEN.match(char):
        return _BROKEN_COST
    if char.isascii() or char in _COMMON_PUNCT:
        return _PLAIN_COST
    if CJK.match(char):
        return chinese_statistics().costs.get(to_simplified(char), _UNKNOWNCJK_COST)
    return SYMBOL_COST


def _pair_at(data: bytes, at: int) -> str | None:
    """The character two bytes at `at` spell in GB18030, if they spell one."""
    if at + 2 > len(data) or data[at] < 0x81:
        return None
    try:
        char = data[at : at + 2].decode("gb18030")
    except UnicodeDecodeError:
        return None
    return char if len(char) == 1 else None


def _realign(text: str) -> list[tuple[str, bool]]:
    """The cheapest reading of the GB18030 bytes of `text`, as (piece, changed) pairs in order.

    Each character may be read as written, or the bytes may be re-paired starting one byte later,
    or a byte may be dropped (the piece "", changed). Clean text reads back unchanged.
    """
    buffer = bytearray()
    written: dict[int, str] = {}
    for char in text:
        written[len(buffer)] = char
        buffer += char.encode("gb18030")
    data = bytes(buffer)
    size = len(data)
    best = [math.inf] * (size + 1)
    back: list[tuple[int, str, bool]] = [(0, "", False)] * (size + 1)
    best[0] = 0.0
    for at in range(size):
        here = best[at]
        if here == math.inf:
            continue
        steps: list[tuple[int, str, bool, float]] = []
        original = written.get(at)
        if original is not None:
            steps.append((at + len(original.encode("gb18030")), original, False, char_cost(original)))
        elif data[at] < 0x80:
            steps.append((at + 1, chr(data[at]), True, char_cost(chr(data[at]))))
        elif (shifted := _pair_at(data, at)) is not None:
            steps.append((at + 2, shifted, True, char_cost(shifted)))
        beside_marker = (at > 0 and data[at - 1] == 0x3F) or (at + 1 < size and data[at + 1] == 0x3F)
        skip = _SKIP_COST_BESIDE_MARKER if beside_marker and data[at] >= 0x80 else _SKIP_COST
        steps.append((at + 1, "", True, skip))
        for target, piece, changed, cost in steps:
            if here + cost < best[target]:
                best[target] = here + cost
                back[target] = (at, piece, changed)
    pieces: list[tuple[str, bool]] = []
    at = size
    while at > 0:
        previous, piece, changed = back[at]
        pieces.append((piece, changed))
        at = previous
    pieces.reverse()
    return pieces


_MARKER_BY_LIST_PUNCT = re.compile(r"\?+(?=[、,，])|(?<=[、,，])\?+")


def repair_mojibake(text: str) -> str:
    """Re-read runs of GBK text that were decoded one byte off; drop what cannot be re-read.

    "??头鳛橹泵婵蛻舻摹暗谝淮翱凇?" becomes "服作為直面客戶的“第一窗口": the lead byte of the first
    character is gone for good, and the "?" a decoder wrote where it lost the alignment go too.
    """
    if not text or text.isascii():
        return text
    chars: list[str] = []
    changed: list[bool] = []
    for piece, was_changed in _realign(text):
        if piece:
            chars.append(piece)
            changed.append(was_changed)
        elif changed:
            changed[-1] = True  # a dropped byte: mark the character before it
    kept: list[str] = []
    index = 0
    while index < len(chars):
        if chars[index] != "?":
            # A symbol (ⅹ, ╁) read out of shifted bytes is noise, not text the run lost.
            if not (changed[index] and char_cost(chars[index]) == SYMBOL_COST):
                kept.append(chars[index])
            index += 1
            continue
        end = index
        while end < len(chars) and chars[end] == "?":
            end += 1
        # "?" beside a re-read run stand for the bytes that run lost; elsewhere they are questions.
        beside_repair = (index > 0 and changed[index - 1]) or (end < len(chars) and changed[end])
        if not beside_repair:
            kept.extend(chars[index:end])
        index = end
    repaired = _MARKER_BY_LIST_PUNCT.sub("", "".join(kept))
    return _drop_rare_runs(_BROKEN.sub("", repaired))


def _drop_rare_runs(text: str) -> str:
    """Drop three or more rare characters in a row: mojibake that no re-reading could fix."""
    kept: list[str] = []
    run: list[str] = []
    for char in text + "\0":
        if CJK.match(char) and char_cost(char) >= _RARE_COST:
            run.append(char)
            continue
        if len(run) < 3:
            kept.extend(run)
        run = []
        kept.append(char)
    return "".join(kept[:-1])


# Pronunciation glosses.
_PINYIN = "a-zāáǎàēéěèīíǐìōóǒòūúǔùüǖǘǚǜńňǹḿɡ"
_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹḿ"
# 職責(zé), 術(shù): lowercase pinyin with a tone mark, so "(a)" or "(flash)" is never taken for one.
_GLOSS = re.compile(rf"(?<=[\u3400-\u9fff])\((?=[{_PINYIN}]*[{_TONED}])[{_PINYIN}]{{1,7}}\)")
# A gloss whose character and "(" were eaten by mojibake: "我?guī)湍".
_GLOSS_REMNANT = re.compile(rf"\?(?=[{_PINYIN}]*[{_TONED}])[{_PINYIN}]{{1,7}}\)")


def strip_glosses(text: str) -> str:
    return _GLOSS_REMNANT.sub("", _GLOSS.sub("", text))
