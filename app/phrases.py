"""A shop's own quick phrases (千牛 快捷短语, 咚咚 quick replies) imported into its script library.

Workbenches export them as CSV or XLSX with a group, a shortcut and the phrase (Chinese headers such as
分组 / 快捷编码 / 短语内容); kefu's own template YAML imports too. Phrases land in
`corpus/quick_phrases.yaml` beside the team's `templates.yaml` (same format; an imported phrase needs
one example, not five, and names the file and line it came from). A phrase has no example questions,
so it is found by its reply text, its group and its shortcut, and its scenario comes from its group's
words or, failing that, from the scenario classifier over the phrase.

An import is all or nothing: every row is checked first (bad rows are reported with their line and
why, and skipped), then the library file is replaced in one rename. Re-importing the same export
updates what changed and leaves the rest.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.corpus import QUICK_PHRASES, SLOT_PATTERN, SLOT_PLACEHOLDERS, TEMPLATES, library_entries, validate_entry
from app.errors import CorpusError, InputError
from app.evaluation.cases import newline_lines
from app.vocabulary import PLATFORMS, SCENARIOS
from app.yaml_data import parse_yaml

MAX_CHARS = 1000  # a phrase longer than this is a document, not a reply
FORMATS = ("csv", "xlsx", "yaml")

# Header names workbench exports use, by column (compared without spaces, case-insensitively).
COLUMNS: dict[str, tuple[str, ...]] = {
    "group": ("分组", "分组名称", "分组名", "分类", "类别", "group", "category"),
    "shortcut": ("快捷编码", "快捷键", "编码", "简码", "快捷短语编码", "序号编码", "shortcut", "code", "key"),
    "content": ("短语内容", "内容", "快捷短语", "短语", "话术", "回复", "回复内容", "content", "text", "reply"),
}
# A group's words -> the scenario its phrases answer ("物流问题" -> logistics); first match wins.
GROUP_SCENARIOS: tuple[tuple[str, str], ...] = (
    (r"尺码|码数|尺寸|大小|码子|选码", "size"),
    (r"售后|退|换货|投诉|质量|破损|差评|补发|维修|保修", "complaint"),
    (r"物流|快递|发货|配送|到货|运输|催单|签收", "logistics"),
    (r"价格|价钱|优惠|券|活动|折扣|便宜|议价|满减|包邮|价保", "price"),
)


@dataclass(frozen=True)
class Phrase:
    line: int  # where the row starts in the file (the header is line 1; an XLSX row number)
    group: str
    shortcut: str
    content: str


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str


@dataclass
class ImportReport:
    file: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    written: bool = False
    classified_by: str = "group words and the scenario classifier"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
                "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejected],
                "written": self.written, "classified_by": self.classified_by}


def read_phrases(raw: bytes, name: str, file_format: str | None = None) -> tuple[list[Phrase], list[Rejected]]:
    """The rows of a quick-phrase export (CSV or XLSX): phrases, and rows that cannot be one."""
    kind = file_format or _format_of(name)
    if kind == "xlsx":
        rows = _xlsx_rows(raw)
    elif kind == "csv":
        rows = _csv_rows(_decode(raw))
    else:
        raise InputError(f"{name}: read_phrases takes csv or xlsx, not {kind}")
    if not rows:
        raise InputError(f"{name} is empty: expected a header row (分组, 快捷编码, 短语内容) and one phrase per row")
    header_line, header = rows[0]
    columns = _columns(header, header_line)
    phrases: list[Phrase] = []
    rejected: list[Rejected] = []
    for line, cells in rows[1:]:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header):]):
            rejected.append(Rejected(line, f"{len(cells) - len(header)} cells beyond the {len(header)} columns"))
            continue
        values = {name: (cells[index].strip() if index < len(cells) else "") for name, index in columns.items()}
        phrases.append(Phrase(line, values.get("group", ""), values.get("shortcut", ""), values.get("content", "")))
    return phrases, rejected


def import_file(corpus_dir: Path, path: Path, *, classify: Callable[[Sequence[str]], list[str]] | None,
                platforms: Sequence[str] = PLATFORMS, file_format: str | None = None,
                dry_run: bool = False) -> ImportReport:
    """Import a quick-phrase export or a kefu template YAML into corpus_dir/quick_phrases.yaml.

    `classify` maps phrase texts to scenarios (the service's classifier); None leaves phrases whose
    group names no scenario under "other".
    """
    unknown = sorted(set(platforms) - set(PLATFORMS))
    if unknown or not platforms:
        raise InputError(f"unknown platforms {unknown}; valid platforms: {', '.join(PLATFORMS)}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    kind = file_format or _format_of(path.name)
    report = ImportReport(path.name)
    if kind == "yaml":
        entries = _yaml_entries(raw, path.name, report)
        report.classified_by = "the file (kefu YAML names each scenario)"
    else:
        phrases, rejected = read_phrases(raw, path.name, kind)
        report.rejected.extend(rejected)
        entries = _phrase_entries(phrases, path.name, classify, list(platforms), report)
        if classify is None:
            report.classified_by = "group words only (no index to classify with: run `kefu build` first)"
    _merge(corpus_dir, entries, report, dry_run)
    report.rejected.sort(key=lambda item: item.line)
    return report


# --- reading --------------------------------------------------------------------------------------


def _format_of(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    raise InputError(f"{name}: cannot tell the format from the name; use --format {', '.join(FORMATS)}")


def _decode(raw: bytes) -> str:
    """UTF-8 (with or without a BOM) or, as Windows workbenches save it, GB18030."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise InputError(f"the file is neither UTF-8 nor GB18030 (byte {exc.start + 1}); save it as UTF-8") from None


def _csv_rows(text: str) -> list[tuple[int, list[str]]]:
    """(first line, cells) per record; a quoted newline stays in its cell, a record is numbered by its first line."""
    sample = text[:4096]
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    reader = csv.reader(newline_lines(text), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return rows
        except csv.Error as exc:
            raise InputError(f"line {start}: not valid CSV ({exc}); nothing was imported") from None
        rows.append((start, cells))
        start = reader.line_num + 1


def _xlsx_rows(raw: bytes) -> list[tuple[int, list[str]]]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InputError(f"not a readable XLSX workbook ({exc})") from None
    sheet = book.worksheets[0]
    rows = []
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        rows.append((number, ["" if value is None else str(value) for value in values]))
    book.close()
    while rows and not any(cell.strip() for cell in rows[0][1]):
        rows.pop(0)  # blank rows above the header
    return rows


def _columns(header: Sequence[str], line: int) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, name in enumerate(header):
        key = re.sub(r"\s+", "", unicodedata.normalize("NFKC", name)).lower()
        for column, aliases in COLUMNS.items():
            if column not in found and key in aliases:
                found[column] = index
    if "content" not in found:
        raise InputError(f"line {line}: no phrase column; the header has {', '.join(h for h in header if h) or 'nothing'}"
                         f" (expected one of {', '.join(COLUMNS['content'])})")
    return found


def _yaml_entries(raw: bytes, name: str, report: ImportReport) -> list[dict[str, Any]]:
    try:
        data = parse_yaml(_decode(raw))
    except yaml.YAMLError as exc:
        raise InputError(f"{name} is not valid YAML: {exc}") from None
    if not isinstance(data, list):
        raise InputError(f"{name} must be a YAML list of templates, as corpus/templates.yaml is")
    entries = []
    for position, entry in enumerate(data, start=1):
        line = _yaml_line(raw, entry, position)
        try:
            validate_entry(entry, imported=True)
        except CorpusError as exc:
            report.rejected.append(Rejected(line, str(exc)))
            continue
        entries.append({**entry, "_line": line})
    return entries


def _yaml_line(raw: bytes, entry: object, position: int) -> int:
    """The line where a YAML list entry starts (by its id), else its position in the list."""
    if isinstance(entry, dict) and isinstance(entry.get("id"), str):
        match = re.search(rb"^-\s+id:\s*['\"]?" + re.escape(entry["id"].encode()) + rb"\b", raw, re.MULTILINE)
        if match:
            return raw.count(b"\n", 0, match.start()) + 1
    return position


# --- phrases into entries -------------------------------------------------------------------------


def _phrase_entries(phrases: Sequence[Phrase], name: str, classify: Callable[[Sequence[str]], list[str]] | None,
                    platforms: list[str], report: ImportReport) -> list[dict[str, Any]]:
    kept: list[Phrase] = []
    seen_content: dict[str, int] = {}
    seen_shortcut: dict[str, int] = {}
    for phrase in phrases:
        reason = _problem(phrase)
        if reason is None and phrase.content in seen_content:
            reason = f"the same phrase as line {seen_content[phrase.content]}"
        if reason is None and phrase.shortcut and phrase.shortcut in seen_shortcut:
            reason = f"shortcut {phrase.shortcut} is already used on line {seen_shortcut[phrase.shortcut]}"
        if reason is not None:
            report.rejected.append(Rejected(phrase.line, reason))
            continue
        seen_content[phrase.content] = phrase.line
        if phrase.shortcut:
            seen_shortcut[phrase.shortcut] = phrase.line
        kept.append(phrase)
    by_group = [_group_scenario(phrase.group) for phrase in kept]
    unsure = [i for i, scenario in enumerate(by_group) if scenario is None]
    guessed = classify([f"{kept[i].group} {kept[i].content}".strip() for i in unsure]) if classify and unsure else []
    for i, scenario in zip(unsure, guessed):
        by_group[i] = scenario
    entries = []
    for phrase, guess in zip(kept, by_group):
        scenario = guess if guess in SCENARIOS else "other"
        examples = [text for text in (phrase.group, phrase.shortcut) if _has_words(text)] or [phrase.content[:60]]
        entries.append({
            "id": _phrase_id(phrase),
            "scenario": scenario,
            "topic": f"{scenario}.imported",
            "reply": phrase.content,
            "examples": examples,
            "platforms": platforms,
            "source": {"imported": name, "line": phrase.line, "group": phrase.group or None},
            "_line": phrase.line,
        })
    return entries


def _problem(phrase: Phrase) -> str | None:
    if not phrase.content:
        return "no phrase in the content column"
    if len(phrase.content) > MAX_CHARS:
        return f"the phrase is {len(phrase.content):,} characters; at most {MAX_CHARS:,}"
    if any(unicodedata.category(char) == "Cc" and char not in "\n\t" for char in phrase.content):
        return "the phrase holds control characters"
    unknown = sorted(set(SLOT_PATTERN.findall(phrase.content)) - SLOT_PLACEHOLDERS.keys())
    if unknown:
        return f"{{{unknown[0]}}} reads as a slot kefu does not know; write the value, or a known slot"
    return None


def _group_scenario(group: str) -> str | None:
    for pattern, scenario in GROUP_SCENARIOS:
        if group and re.search(pattern, group):
            return scenario
    return None


def _has_words(text: str) -> bool:
    """A group or shortcut a buyer's words could match: Chinese words, not a code like "/fh" or "#3"."""
    return sum("\u4e00" <= char <= "\u9fff" for char in text) >= 2


def _phrase_id(phrase: Phrase) -> str:
    """Stable across imports: by the shortcut when it has letters or digits, else by group and phrase."""
    slug = re.sub(r"[^a-z0-9]+", "_", unicodedata.normalize("NFKC", phrase.shortcut).lower()).strip("_")
    if slug and slug.isascii() and len(slug) <= 40:
        return f"qp.{slug}"
    digest = hashlib.sha1(f"{phrase.group}\0{phrase.shortcut or phrase.content}".encode()).hexdigest()[:10]
    return f"qp.h{digest}"


# --- merging --------------------------------------------------------------------------------------


def _merge(corpus_dir: Path, entries: list[dict[str, Any]], report: ImportReport, dry_run: bool) -> None:
    path = corpus_dir / QUICK_PHRASES
    current = library_entries(path, optional=True)
    team_ids = {entry.get("id") for entry in library_entries(corpus_dir / TEMPLATES, optional=True)
                if isinstance(entry, dict)}
    by_id = {entry["id"]: i for i, entry in enumerate(current)}
    merged = list(current)
    for entry in entries:
        line = entry.pop("_line")
        if entry["id"] in team_ids:
            report.rejected.append(Rejected(line, f"id {entry['id']} belongs to a team template in {TEMPLATES}"))
            continue
        try:
            validate_entry(entry, imported=True)
        except CorpusError as exc:
            report.rejected.append(Rejected(line, str(exc)))
            continue
        if entry["id"] not in by_id:
            by_id[entry["id"]] = len(merged)
            merged.append(entry)
            report.added.append(entry["id"])
        elif _same(merged[by_id[entry["id"]]], entry):
            report.unchanged.append(entry["id"])
        else:
            merged[by_id[entry["id"]]] = entry
            report.updated.append(entry["id"])
    if dry_run or not (report.added or report.updated):
        return
    text = ("# Quick phrases imported by `kefu import` (app/phrases.py); edit them in the workbench and import "
            "again.\n" + yaml.dump(merged, Dumper=_PlainDumper, allow_unicode=True, sort_keys=False, width=1000))
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        staging.write_text(text, encoding="utf-8")
        os.replace(staging, path)  # all or nothing: readers see the old library or the new one
    except BaseException:
        staging.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
        raise
    report.written = True


class _PlainDumper(yaml.SafeDumper):
    """Writes every entry in full: no &anchors and *aliases for lists that happen to be shared."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Equal but for where the phrase sat in the file (a re-export may reorder rows)."""
    def strip(entry: dict[str, Any]) -> dict[str, Any]:
        source = entry.get("source")
        if isinstance(source, dict):
            source = {key: value for key, value in source.items() if key != "line"}
        return {**entry, "source": source}
    return strip(old) == strip(new)


__all__ = ["COLUMNS", "FORMATS", "ImportReport", "Phrase", "Rejected", "import_file", "read_phrases"]
