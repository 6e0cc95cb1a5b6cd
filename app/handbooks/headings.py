"""The handbooks' heading vocabulary: which cleaned lines are headings, at what level, and their labels.

Shared by the cleaning steps (where lines break) and the chunker (the heading path of a passage).
"""

from __future__ import annotations

import re

from app.handbooks.language import chinese_statistics
from app.handbooks.repair import CJK
from app.text import normalize_text

CN_DIGITS = "一二三四五六七八九十百零〇两"
CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑴⑵⑶⑷⑸⑹⑺⑻⑼⑽"
SENTENCE_END = "。！？!?；;"
CLAUSE_PUNCT = re.compile(r"[。，,；;！!？?：:]")

# Headings by level; a lower level is a larger unit. Levels 1-3 mark headings even when glued to
# their first sentence ("一、电商客服核心岗位职责客服的价值,..."); 4-5 only on a short line.
HEADING_LEVELS = (
    (re.compile(rf"^第[{CN_DIGITS}\d]+[章篇部]"), 1),
    # "1电子商务客服的基本概念": a paper's numbered section, only as a line of its own.
    (re.compile(rf"^第[{CN_DIGITS}\d]+[节節]|^[{CN_DIGITS}]{{1,3}}[、:：．]|^\d{{1,2}}(?=[\u4e00-\u9fff]{{2,20}}$)"), 2),
    (re.compile(rf"^[(（][{CN_DIGITS}]{{1,3}}[)）]|^\d{{1,2}}\.\d{{1,2}}(?![\d.])"), 3),
    (re.compile(r"^\d{1,2}[.、．:](?!\d)|^[A-Z][.、](?![A-Za-z])"), 4),
    (re.compile(rf"^[(（]\d{{1,2}}[)）]|^[{CIRCLED}]"), 5),
)
UNMARKED_HEADING = 9
_CAPTION = re.compile(r"^[图表]\s*\d")  # "图1-1店铺评价页售后指标" labels a picture, not a section
_SHORT_HEADING = 30
# A line opening like this is a list item or a bullet, never the continuation of the line before.
ITEM_OPENING = re.compile(
    rf"^([{CN_DIGITS}]+[、:：．]|[(（][{CN_DIGITS}\d]+[)）]|\d{{1,2}}[.、．:](?!\d)|[{CIRCLED}]|[A-Z][.、]|【|▲|◎|·|•|-\s)"
)


def looks_like_title(line: str) -> bool:
    """A short line without clause punctuation or list marker: "天猫客服工作流程", "售前"."""
    return (
        0 < len(line) <= 40
        and not CLAUSE_PUNCT.search(line)
        and not _CAPTION.match(line)
        and heading_level_of_marker(line) is None
        and not ITEM_OPENING.match(line)
        and len(CJK.findall(line)) >= 2
    )


def heading_level_of_marker(line: str) -> int | None:
    for pattern, level in HEADING_LEVELS:
        if pattern.match(line):
            return level
    return None


def heading_level(line: str) -> int | None:
    """The heading level of a cleaned line, UNMARKED_HEADING for a bare title, None for body text."""
    level = heading_level_of_marker(line)
    if level is None:
        return UNMARKED_HEADING if looks_like_title(line) else None
    if level >= 4 and (len(line) > _SHORT_HEADING or line[-1] in SENTENCE_END or CLAUSE_PUNCT.search(line[2:-1])):
        return None
    return level


_GLUED_LABEL = 10


def heading_label(line: str) -> str:
    """The heading as shown in a heading path.

    A heading glued to its first sentence ("(一)咨询接待与需求响应以运营时段或...") has no visible end:
    keep its first clause, at most ten characters after the marker, cut where a word ends.
    """
    line = line.rstrip(":：")
    if len(line) <= _SHORT_HEADING:
        return line
    marker = next((m for pattern, _ in HEADING_LEVELS if (m := pattern.match(line))), None)
    head = marker.end() if marker else 0
    clause = CLAUSE_PUNCT.search(line, head + 1)
    end = clause.start() if clause else len(line)
    if end - head > _GLUED_LABEL:
        # Stop after a word of two or more characters: a lone 以/的/或 belongs to the sentence.
        ends, at = [], 0
        for token in chinese_statistics().segmenter.cut(normalize_text(line[head : head + 16]), HMM=False):
            at += len(token)
            if at <= _GLUED_LABEL and len(token) >= 2:
                ends.append(at)
        end = head + (max(ends) if ends else _GLUED_LABEL)
    return line[:end]
