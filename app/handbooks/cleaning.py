"""Handbook cleaning: raw handbook text -> one paragraph, item or heading per line.

General steps run on every handbook; a handbook that needs more names extra steps in its cleaning
profile (corpus/handbook_profiles.yaml), so a shop's own handbooks need no code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from app.handbooks.headings import (
    CIRCLED,
    CLAUSE_PUNCT,
    CN_DIGITS,
    HEADING_LEVELS,
    ITEM_OPENING,
    SENTENCE_END,
    heading_level,
    heading_level_of_marker,
    looks_like_title,
)
from app.handbooks.language import chinese_statistics, word_breaks
from app.handbooks.repair import CJK, repair_mojibake, strip_glosses
from app.text import WHITESPACE, fold_width, normalize_text

# Each step takes and returns the whole text; lines are paragraphs, "\n\n" splits blocks.
Step = Callable[[str], str]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n")]


def _blocks(text: str) -> list[list[str]]:
    return [[line for line in _lines(block) if line] for block in text.split("\n\n")]


def _join_blocks(blocks: list[list[str]]) -> str:
    return "\n\n".join("\n".join(block) for block in blocks if block)


# Site furniture, matched on the Simplified form of a line.
_BOILERPLATE_LINE = re.compile(
    r"下载(本)?文档|文档下载|合集下载|下载后可编辑|仅部分预览|侵犯您的权益|自行甄别文档"
    r"|^版权(说明|声明)|^文档简介$|已阅读\d+页|^(内容|提示:?|目录)$"
    r"|^中图分类号|文献标识码|文章编号"
)
# The first of these lines opens the page footer: related links, download tips, references, comments.
_FOOTER_LINE = re.compile(r"^[▼▲\s]*(往期精彩回顾|相关文章|相关文档|最新文档|相关推荐|温馨提示|参考文献)[▼▲\s:]*$")
# "电商客服岗位职责与话术指南_第3页": the page titles of a document viewer.
_PAGE_TITLE = re.compile(r"^(.+)_第\d+页$")
_DOWNLOAD_NOTE = re.compile(r"[(（][^()（）]*下[载載][^()（）]*[)）]")
_CONTROL_NUMBER = re.compile(r"(标准化)?文件发布号[:：]\s*\(?[0-9A-Z-]+\)?")
_SITE_TAG = re.compile(r"\s+精品$")
# A table of contents: a line ending in a page number "(12)", or a line holding several of them.
_TOC_ENTRY = re.compile(r"^(目录)?.{1,40}?\s*\(\d{1,3}\)$")
_PAGE_NUMBER = re.compile(r"\s*\(\d{1,3}\)(?=\s|$)")
_INLINE_TOC = re.compile(rf"目录(\s*第[{CN_DIGITS}]+章[^\s]{{0,20}}){{3,}}")


def _drop_site_furniture(text: str) -> str:
    kept: list[str] = []
    for line in _lines(text):
        simple = normalize_text(line)
        if _FOOTER_LINE.match(simple):
            break
        if _BOILERPLATE_LINE.search(simple) or _TOC_ENTRY.match(simple) or len(_PAGE_NUMBER.findall(simple)) >= 3:
            continue
        for pattern in (_INLINE_TOC, _PAGE_NUMBER, _DOWNLOAD_NOTE, _CONTROL_NUMBER, _SITE_TAG):
            line = pattern.sub("", line)
        kept.append(line.strip())
    return "\n".join(kept)


def _split_viewer_title(text: str) -> str:
    """Drop a viewer's page titles; where the body starts with that title, give the title its own line."""
    titles = {m.group(1) for line in _lines(text) if (m := _PAGE_TITLE.match(normalize_text(line)))}
    kept: list[str] = []
    for line in _lines(text):
        simple = normalize_text(line)
        if _PAGE_TITLE.match(simple):
            continue
        title = next((t for t in titles if simple.startswith(t) and len(simple) > len(t)), None)
        kept.append(line[: len(title)] + "\n" + line[len(title) :] if title else line)
    return "\n".join(kept)


def _drop_repeated_lines(text: str) -> str:
    """Drop a line equal to the previous one, and a title repeated at the start of its own body."""
    kept: list[str] = []
    previous = ""
    for line in _lines(text):
        if not line:
            kept.append(line)
            continue
        bare = WHITESPACE.sub("", line)
        if bare == previous:
            continue
        if previous and len(previous) <= 40 and line.startswith(previous + " "):
            line = line[len(previous) :].strip()
        kept.append(line)
        previous = bare
    return "\n".join(kept)


def _collapse_blank_lines(text: str) -> str:
    """One block per handbook until a rule finds real blocks; exports put blank lines anywhere."""
    return "\n".join(line for line in _lines(text) if line)


def _join_broken_lines(text: str) -> str:
    """Re-join paragraphs a PDF export broke mid-sentence ("...的发展尤" + "为重要。")."""
    blocks: list[list[str]] = []
    for block in _blocks(text):
        joined: list[str] = []
        for line in block:
            previous = joined[-1] if joined else ""
            if (
                len(previous) >= 40
                and previous[-1] not in SENTENCE_END + ":：”」)）"
                and heading_level_of_marker(line) is None
                and not ITEM_OPENING.match(line)
                and not looks_like_title(line)
            ):
                joined[-1] = previous + line
            else:
                joined.append(line)
        blocks.append(joined)
    return _join_blocks(blocks)


def _break_spaces(text: str) -> str:
    """Decide each space in Chinese text: a line-wrap artifact, a paragraph break, or a plain space.

    PDF exports leave spaces inside words ("管 理"); compilations put spaces between paragraphs and
    between a short title and its body ("1.倾听客户的问题 等待客户澄清问题").
    """
    lines: list[str] = []
    for line in _lines(text):
        if " " not in line or line.isascii():
            lines.append(line)
            continue
        if looks_like_title(line.replace(" ", "")):
            lines.append(re.sub(r"(?<=[\u4e00-\u9fff]) +(?=[\u4e00-\u9fff])", "", line))
            continue
        pieces = [piece for piece in line.split(" ") if piece]
        built: list[str] = []
        current = pieces[0] if pieces else ""
        for right in pieces[1:]:
            left = current
            closed_quote = len(left) > 1 and left[-1] in "”」" and left[-2] in SENTENCE_END
            ends_sentence = left[-1] in SENTENCE_END + "】" or closed_quote
            if ends_sentence or heading_level_of_marker(right) is not None or ITEM_OPENING.match(right):
                built.append(current)
                current = right
            elif CJK.match(left[-1]) and CJK.match(right[0]) and _word_spans_gap(left, right):
                current = left + right
            elif _is_short_phrase(left):
                built.append(current)
                current = right
            elif left[-1].isascii() and left[-1].isalnum() or right[0].isascii() and right[0].isalnum():
                current = left + " " + right
            else:
                current = left + right
        built.append(current)
        lines.append("\n".join(built))
    return "\n".join(lines)


def _is_short_phrase(text: str) -> bool:
    """A title-like run of words ("售前", "1.倾听客户的问题"), judged without its list marker."""
    marker = ITEM_OPENING.match(text) or next((m for p, _ in HEADING_LEVELS if (m := p.match(text))), None)
    words = text[marker.end() :] if marker else text
    return len(words) <= 24 and not CLAUSE_PUNCT.search(words) and len(CJK.findall(words)) >= 2


def _word_spans_gap(left: str, right: str) -> bool:
    """True when a dictionary word runs across the space: "管 理", "添 加为好友"."""
    pair = normalize_text(left[-1] + right[0])
    if chinese_statistics().segmenter.FREQ.get(pair):
        return True
    head, tail = left[-4:], right[:4]
    return len(head) not in word_breaks(normalize_text(head + tail))


# Headings and list items glued to the sentence before them ("...感到愉快。第二章企业简介").
_BOUNDARY = rf"[{SENTENCE_END}：:”’)）~】]"
_INLINE_HEADING = re.compile(
    rf"(?<={_BOUNDARY})(?=第[{CN_DIGITS}]+[章节節篇]|[{CN_DIGITS}]{{1,3}}、|[(（][{CN_DIGITS}]{{1,3}}[)）]|[{CIRCLED}])"
)
_INLINE_NUMBER = re.compile(r"(?<![\d.\-:/×xX])(?:(\d{1,2})[.、．](?![\d.])|[(（](\d{1,2})[)）])")


def _break_inline_structure(text: str) -> str:
    blocks = [
        [part.strip() for line in block for part in _break_numbered_items(_INLINE_HEADING.sub("\n", line)).split("\n")]
        for block in _blocks(text)
    ]
    return _join_blocks([[line for line in block if line] for block in blocks])


def _break_numbered_items(line: str) -> str:
    """Put "1." "2、" "(3)" items on their own lines when they really are items.

    After punctuation any number opens an item; glued to a character ("准则1.上班时间") only a 1 or
    the successor of the previous item does, so "1.8米床" and "第2款" stay whole.
    """
    cuts: list[int] = []
    last = {"dot": 0, "paren": 0}
    for match in _INLINE_NUMBER.finditer(line):
        kind = "dot" if match.group(1) else "paren"
        number = int(match.group(1) or match.group(2))
        start = match.start()
        follower = line[match.end() : match.end() + 1]
        if start == 0:
            last[kind] = number
            continue
        if not follower or not (CJK.match(follower) or follower in "“\"‘【"):
            continue
        before = line[start - 1]
        in_sequence = number == 1 or number == last[kind] + 1
        after_punct = re.match(_BOUNDARY, before) is not None or before in "，,、"
        if (after_punct and (in_sequence or before in SENTENCE_END)) or (CJK.match(before) and in_sequence):
            cuts.append(start)
            last[kind] = number
    if not cuts:
        return line
    return "\n".join(line[i:j] for i, j in zip([0, *cuts], [*cuts, len(line)]))


def _sentences(line: str) -> list[str]:
    return [part for part in re.split(rf"(?<=[{SENTENCE_END}])", line) if part]


def _drop_repeated_sentences(text: str) -> str:
    """Keep the first occurrence of each sentence, also when a later copy differs in a word or two.

    A sentence is a repeat when 80% of its character trigrams occurred in sentences already kept
    (90% under 25 characters, where one shared phrase weighs more). Sentences under 10 characters
    and the title opening a block are always kept.
    """
    seen: set[str] = set()
    blocks: list[list[str]] = []
    for block in _blocks(text):
        lines: list[str] = []
        for index, line in enumerate(block):
            if index == 0 and looks_like_title(line):
                key = re.sub(r"[\W_]", "", normalize_text(line))
                seen |= {key[i : i + 3] for i in range(len(key) - 2)}
                lines.append(line)
                continue
            if looks_like_title(line) and lines and looks_like_title(block[0]) and block[0] in line:
                continue  # "关于淘宝客服的日常工作流程及其技巧" under the title "淘宝客服的日常工作流程及其技巧"
            kept: list[str] = []
            for sentence in _sentences(line):
                key = re.sub(r"[\W_]", "", normalize_text(sentence))
                if len(key) >= 10:
                    grams = {key[i : i + 3] for i in range(len(key) - 2)}
                    if len(grams & seen) >= (0.8 if len(key) >= 25 else 0.9) * len(grams):
                        continue
                    seen |= grams
                kept.append(sentence)
            if "".join(kept).strip():
                lines.append("".join(kept).strip())
        blocks.append(lines)
    return _join_blocks(blocks)


def _drop_empty_headings(text: str) -> str:
    """Drop a chapter or section heading whose whole section went, and blocks left with headings only.

    The first block is the exception: headings only there make a cover, which opens the next block.
    """
    blocks: list[list[str]] = []
    cover: list[str] = []
    for number, block in enumerate(_blocks(text)):
        block = cover + block
        cover = []
        kept: list[str] = []
        for index, line in enumerate(block):
            level = heading_level_of_marker(line)
            if level is not None and level <= 3 and len(line) <= 20 and not CLAUSE_PUNCT.search(line[2:]):
                following = block[index + 1] if index + 1 < len(block) else None
                next_level = heading_level_of_marker(following) if following else 0
                if next_level is not None and next_level <= level:
                    continue
            kept.append(line)
        if any(heading_level(line) is None for line in kept):
            blocks.append(kept)
        elif number == 0:
            cover = kept
    return _join_blocks(blocks)


def _drop_trailing_fragments(text: str) -> str:
    """A block ending in a cut-off preview ("通过岗位职责的标准化(明") or a slide footer loses that tail."""
    blocks: list[list[str]] = []
    for block in _blocks(text):
        if len(block) > 1 or (block and len(block[0]) > 40):
            last = block[-1]
            ends = [i for i, char in enumerate(last) if char in SENTENCE_END + "”」"]
            tail = last[ends[-1] + 1 :] if ends else ""
            unclosed = tail.count("(") + tail.count("（") > tail.count(")") + tail.count("）")
            if tail and (len(tail) < 10 or unclosed):
                block = [*block[:-1], last[: len(last) - len(tail)]]
        blocks.append(block)
    return _join_blocks(blocks)


# --- compilations (001): several documents pasted one after another ---------------------------

# Pasted pieces about platform fees, platform comparisons and consumer opinion, not about service.
_OFF_TOPIC_TITLE = re.compile(r"费用|对比|区别|比较|眼中|话题|运营方案")
# Sentences quoting platform fees (deposits, annual fees, commission) inside otherwise useful pieces.
_FEE_SENTENCE = re.compile(r"保证金|年费|扣点|技术服务费|佣金|费率")


def _split_compilation(text: str) -> str:
    """A block per pasted document, opened by its title line; off-topic documents go."""
    blocks: list[list[str]] = [[]]
    lines = _lines(text)
    for index, line in enumerate(lines):
        current = blocks[-1]
        lone_title = len(current) == 1 and looks_like_title(current[0])
        if looks_like_title(line) and index + 1 < len(lines) and current and not lone_title:
            blocks.append([])
        blocks[-1].append(line)
    kept: list[list[str]] = []
    for block in blocks:
        if not (block and looks_like_title(block[0]) and _OFF_TOPIC_TITLE.search(normalize_text(block[0]))):
            kept.append(block)
    return _join_blocks(kept)


def _drop_fee_sentences(text: str) -> str:
    blocks = [
        ["".join(s for s in _sentences(line) if not _FEE_SENTENCE.search(normalize_text(s))).strip() for line in block]
        for block in _blocks(text)
    ]
    return _join_blocks([[line for line in block if line] for block in blocks])


# --- slide decks (003): one run-on line with the slide titles glued into the text ---------------

# A cover: the handbook's title, then perhaps a colophon ("美乐乐销售部制", made by the sales department).
_COVER = re.compile(r"^(.{2,16}?(?:手册|指南|规范|标准))(?:.{2,12}?部制)?")


def _split_cover(text: str) -> str:
    """A deck's cover ("客服人员工作手册美乐乐销售部制") is glued to its first slide: keep only its title."""
    match = _COVER.match(text)
    if not match:
        return text
    return match.group(1) + "\n" + text[match.end() :]


def _recover_slides(text: str) -> str:
    """Find the slide titles and make each slide a block headed by its title.

    A deck repeats its title on every continuation slide, so a title is a phrase of 5-16
    characters that opens at least two sentences and ends where a word ends. A slide whose
    titles repeat those of the slide before continues it.
    """
    segments = [s for s in re.split(rf"(?<=[{SENTENCE_END}])[”」]?|(?<=[)）\n])", text) if s.strip()]
    titles: list[str] = []
    rest = [s.strip() for s in segments]
    while True:
        counts: dict[str, int] = {}
        for segment in rest:
            run = re.match(r"[\u4e00-\u9fff]+", segment)
            for length in range(5, min(16, len(run.group()) if run else 0) + 1):
                counts[segment[:length]] = counts.get(segment[:length], 0) + 1
        candidates = [
            (count, len(prefix), prefix)
            for prefix, count in counts.items()
            if count >= 2 and _ends_on_word_break(prefix, rest)
        ]
        if not candidates:
            break
        title = max(candidates)[2]
        titles.append(title)
        rest = [s[len(title) :] if s.startswith(title) else s for s in rest]
    if not titles:
        return text
    alternatives = "|".join(re.escape(t) for t in sorted(titles, key=len, reverse=True))
    pattern = re.compile(f"(?:{alternatives})+")
    single = re.compile(alternatives)
    out: list[str] = []
    current: tuple[str, ...] = ()
    position = 0
    for match in pattern.finditer(text):
        out.append(text[position : match.start()])
        position = match.end()
        path = tuple(single.findall(match.group()))
        if path == current:
            continue
        if current and path[0] == current[0]:
            out.append("\n" + "".join(title + "\n" for title in path[1:]))
        else:
            out.append("\n\n" + "\n".join(path) + "\n")
        current = path
    out.append(text[position:])
    return _join_blocks(_blocks("".join(out)))


def _ends_on_word_break(prefix: str, segments: list[str]) -> bool:
    """True when every sentence `prefix` opens has a word break right after it."""
    for segment in segments:
        if segment.startswith(prefix) and len(segment) > len(prefix):
            if len(prefix) not in word_breaks(segment[: len(prefix) + 4]):
                return False
    return True


# --- profiles: the extra steps a handbook may need -------------------------------------------


@dataclass(frozen=True)
class CleaningProfile:
    """Steps one handbook needs beyond the general ones, at the two points where they fit, by name."""

    blocks: tuple[str, ...] = ()  # on whole lines as the export left them
    structure: tuple[str, ...] = ()  # once paragraphs, headings and items have their own lines


# What a profile may name (corpus/handbook_profiles.yaml); a handbook without one gets the general steps.
EXTRA_STEPS: dict[str, Step] = {
    "split_compilation": _split_compilation,
    "drop_fee_sentences": _drop_fee_sentences,
    "split_cover": _split_cover,
    "recover_slides": _recover_slides,
}


def _steps(profile: CleaningProfile) -> tuple[Step, ...]:
    return (
        strip_glosses,
        repair_mojibake,
        fold_width,
        _split_viewer_title,
        _drop_site_furniture,
        _drop_repeated_lines,
        _collapse_blank_lines,
        *(EXTRA_STEPS[name] for name in profile.blocks),
        _join_broken_lines,
        _break_spaces,
        _break_inline_structure,
        *(EXTRA_STEPS[name] for name in profile.structure),
        _drop_repeated_sentences,
        _drop_empty_headings,
        _drop_trailing_fragments,
    )


@dataclass(frozen=True)
class CleanDocument:
    """One handbook after cleaning: Simplified text, one paragraph, item or heading per line.

    A blank line separates blocks: the documents pasted into a compilation, the slides of a deck.
    `original` is the same text before Traditional->Simplified conversion, for display; it is set
    only when the handbook was not written in Simplified Chinese.
    """

    name: str
    text: str
    original: str | None = None


def clean_handbook(name: str, raw: str, profile: CleaningProfile = CleaningProfile()) -> CleanDocument:
    """Clean one raw handbook, given its file name, its text and its cleaning profile."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    for step in _steps(profile):
        text = step(text)
    original = "\n".join(WHITESPACE.sub(" ", line).strip() for line in text.split("\n")).strip("\n")
    simplified = "\n".join(normalize_text(line) for line in original.split("\n"))
    return CleanDocument(name=name, text=simplified, original=original if original != simplified else None)

