"""Passages: a cleaned handbook cut along its own headings into pieces of roughly 80-400 characters."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

from app.handbooks.cleaning import CleanDocument
from app.handbooks.headings import UNMARKED_HEADING, heading_label, heading_level


@dataclass(frozen=True)
class Passage:
    """A piece of a handbook; `doc.text[start:end] == text` for the CleanDocument it came from."""

    id: str
    doc: str
    heading: tuple[str, ...]
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class _Section:
    """A heading line (or a block's opening lines) with the body lines under it, as offsets."""

    heading: tuple[str, ...]
    start: int
    end: int
    block: int


@dataclass(frozen=True)
class _Line:
    text: str
    start: int
    block: int


def passage_id(doc: str, text: str) -> str:
    """Stable across rebuilds: the handbook's number and a hash of the passage text."""
    return f"{doc[:3]}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:10]}"


def split_passages(doc: CleanDocument, *, min_chars: int = 80, max_chars: int = 400) -> list[Passage]:
    """Cut `doc` into passages along its headings: tiny sections merge, long ones split at sentence ends.

    Every passage carries the heading path of the section that makes up most of it. Passages with
    the same text as an earlier one are left out, so ids are unique within a handbook.
    """
    if min_chars < 1 or max_chars < min_chars:
        raise ValueError(f"need 1 <= min_chars <= max_chars, got min_chars={min_chars}, max_chars={max_chars}")
    sections = _sections(_lines(doc.text))
    passages: list[Passage] = []
    seen: set[str] = set()
    for group in _groups(sections, min_chars):
        for start, end in _split(doc.text, group[0].start, group[-1].end, max_chars):
            start, end = _trim(doc.text, start, end)
            text = doc.text[start:end]
            if not text or text in seen:
                continue
            seen.add(text)
            heading = _dominant(group, start, end).heading
            passages.append(Passage(passage_id(doc.name, text), doc.name, heading, text, start, end))
    return passages


def _lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    block, offset = 0, 0
    for raw in text.split("\n"):
        if not raw.strip():
            if lines and lines[-1].block == block:
                block += 1
        else:
            lead = len(raw) - len(raw.lstrip())
            lines.append(_Line(raw.strip(), offset + lead, block))
        offset += len(raw) + 1
    return lines


def _sections(lines: list[_Line]) -> list[_Section]:
    """Sections in document order, each with the path of headings above it.

    A line that opens a block and looks like a title is the block's title (level 0). Other
    unmarked titles ("售前") nest under a title or unmarked heading right above them, are siblings
    of an earlier unmarked heading, or else sit just below the current heading.
    """
    sections: list[_Section] = []
    stack: list[tuple[float, str, bool]] = []  # (level, label, unmarked)
    current: list[_Line] = []
    previous_heading: tuple[float, bool] | None = None
    block = -1

    def close() -> None:
        if current:
            end = current[-1].start + len(current[-1].text)
            sections.append(_Section(tuple(label for _, label, _ in stack), current[0].start, end, current[0].block))

    for line in lines:
        if line.block != block:
            close()
            current, stack, previous_heading, block = [], [], None, line.block
            opening = True
        else:
            opening = False
        level: float | None = heading_level(line.text)
        if level is None:
            current.append(line)
            previous_heading = None
            continue
        unmarked = level == UNMARKED_HEADING
        if unmarked:
            level = _unmarked_level(stack, previous_heading, opening)
        close()
        current = [line]
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, heading_label(line.text), unmarked))
        previous_heading = (level, unmarked)
    close()
    return sections


def _unmarked_level(stack: list[tuple[float, str, bool]], previous: tuple[float, bool] | None, opening: bool) -> float:
    if opening:
        return 0.0
    if previous is not None and (previous[1] or previous[0] == 0.0):
        return previous[0] + 1.0  # straight after a title: a subtitle
    earlier = [level for level, _, unmarked in stack if unmarked and level > 0.0]
    if earlier:
        return earlier[-1]
    return (stack[-1][0] if stack else 0.0) + 0.5


def _groups(sections: list[_Section], min_chars: int) -> list[list[_Section]]:
    """Consecutive sections merged until each group has at least `min_chars`, within a block.

    A short section joins the one after it (a bare heading joins its content); a short end of a
    block joins the group before it; a block too short on its own joins the next block.
    """
    groups: list[list[_Section]] = []
    carry: list[_Section] = []
    for block in _by_block(sections):
        block = carry + block
        carry = []
        block_groups: list[list[_Section]] = []
        current: list[_Section] = []
        for section in block:
            if current and _span(current) >= min_chars:
                block_groups.append(current)
                current = []
            current.append(section)
        if current and _span(current) < min_chars and block_groups:
            block_groups[-1].extend(current)
        elif current and _span(current) < min_chars:
            carry = current
            continue
        elif current:
            block_groups.append(current)
        groups.extend(block_groups)
    if carry:
        if groups:
            groups[-1].extend(carry)
        else:
            groups.append(carry)
    return groups


def _by_block(sections: list[_Section]) -> list[list[_Section]]:
    blocks: list[list[_Section]] = []
    for section in sections:
        if not blocks or blocks[-1][-1].block != section.block:
            blocks.append([])
        blocks[-1].append(section)
    return blocks


def _span(group: list[_Section]) -> int:
    return group[-1].end - group[0].start


_LINE_END = re.compile(r"\n+")
_SENTENCE_END = re.compile(r"[。！？!?；;…]+[”’」』)）]*")
_CLAUSE_END = re.compile(r"[，,、：:]")


def _split(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut [start, end) into about equal pieces of at most `max_chars`, preferring line and sentence ends."""
    pieces: list[tuple[int, int]] = []
    while end - start > max_chars:
        count = math.ceil((end - start) / max_chars)
        target = start + (end - start) / count
        cut = _best_cut(text, start, end, target, max_chars)
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def _best_cut(text: str, start: int, end: int, target: float, max_chars: int) -> int:
    low, high = start + 1, min(end - 1, start + max_chars)
    window = text[low:high]
    for pattern, reach in ((_LINE_END, 0.4), (_SENTENCE_END, 0.6), (_CLAUSE_END, 1.0)):
        # A line or sentence end is worth a piece somewhat off the ideal size; a comma is a last resort.
        cuts = [low + m.end() for m in pattern.finditer(window)]
        slack = (target - start) * reach
        near = [cut for cut in cuts if abs(cut - target) <= slack and cut < end]
        if near:
            return min(near, key=lambda cut: abs(cut - target))
    return round(target) if start < round(target) < end else high


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _dominant(group: list[_Section], start: int, end: int) -> _Section:
    """The section covering most of [start, end); the first one on a tie."""
    return max(group, key=lambda s: (min(s.end, end) - max(s.start, start), -s.start))
