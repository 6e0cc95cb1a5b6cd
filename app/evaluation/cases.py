"""Evaluation cases: JSONL/CSV lines (or API records) parsed into cases, bad lines kept with their number. Pure."""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from app.errors import InputError
from app.inspection.conversations import BadLine
from app.inspection.results import RULES
from app.understanding.message import prepare_message
from app.vocabulary import PLATFORMS, POSITIONS, SCENARIOS

# A person's verdicts on the library's templates for a message (relevance judgements, "qrels"):
# sendable as is, acceptable once edited, never to be sent. Unlisted templates are no answer.
VERDICTS = ("sendable", "acceptable", "never")
LIST_COLUMNS = ("also", "expect", *VERDICTS)  # columns holding a list of names
MAX_CASE_CHARS = 20_000
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # longer lines are someone's file pasted by mistake, not a buyer message


@dataclass(frozen=True)
class EvalCase:
    line: int
    message: str
    scenario: str | None = None
    also: tuple[str, ...] = ()
    reply: str | None = None
    platform: str = "taobao"
    first_turn: bool = True
    position: str = "middle"  # where `reply` stands in its conversation (first / middle / last)
    ok: bool | None = None
    id: str | None = None
    expect: tuple[str, ...] | None = None  # the inspection rules a human says `reply` breaks
    # Template ids a person judged for this message, by verdict; None when the line has no verdicts.
    verdicts: dict[str, tuple[str, ...]] | None = None
    history: tuple[tuple[str, str], ...] = ()  # earlier turns, oldest first: (role, text)
    file: str | None = None  # the shard it came from, when a run reads several files


# A line that was not read, and why: the same record for evaluation files as for chat logs.
Skipped = BadLine


@dataclass(frozen=True)
class ParsedCases:
    cases: tuple[EvalCase, ...]
    skipped: tuple[Skipped, ...]

    @property
    def total(self) -> int:
        return len(self.cases) + len(self.skipped)


def parse_jsonl(lines: Iterable[str], *, default_platform: str = "taobao") -> ParsedCases:
    """Cases from JSON Lines; a line without `platform` is for `default_platform` (the shop's setting)."""
    cases: list[EvalCase] = []
    skipped: list[Skipped] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            skipped.append(Skipped(number, f"not valid JSON: {exc.msg} at column {exc.colno}"))
            continue
        _add(record, number, cases, skipped, default_platform)
    return ParsedCases(tuple(cases), tuple(skipped))


def read_cases(raw: bytes, name: str, *, default_platform: str = "taobao") -> ParsedCases:
    """Cases from a file's bytes, CSV when the name ends in .csv, else JSON Lines.

    Lines are what the file's newlines delimit (U+2028 or U+0085 inside a JSON string split nothing),
    numbered as an editor shows them; a line that is not valid UTF-8 is skipped and reported, never
    evaluated with replacement characters.
    """
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    lines: list[str | None] = []
    bad: list[Skipped] = []
    for number, chunk in enumerate(raw.split(b"\n"), start=1):
        try:
            lines.append(chunk.removesuffix(b"\r").decode("utf-8"))
        except UnicodeDecodeError as exc:
            lines.append(None)
            bad.append(Skipped(number, f"not valid UTF-8 at byte {exc.start + 1} of the line"))
    if name.lower().endswith(".csv"):
        parsed = parse_csv("\n".join(line or "" for line in lines), default_platform=default_platform)
    else:
        parsed = parse_jsonl((line or "" for line in lines), default_platform=default_platform)
    return ParsedCases(parsed.cases, tuple(sorted(bad + list(parsed.skipped), key=lambda s: s.line)))


def read_case_files(paths: Sequence[Path], *, default_platform: str = "taobao") -> ParsedCases:
    """Cases from one file or several (shards) in the order given; with several, every case and skipped
    line names its file, line numbers staying the file's own."""
    cases: list[EvalCase] = []
    skipped: list[Skipped] = []
    for path in paths:
        shard = read_case_file(path, default_platform=default_platform, named=len(paths) > 1)
        cases.extend(shard.cases)
        skipped.extend(shard.skipped)
    return ParsedCases(tuple(cases), tuple(skipped))


def read_case_file(path: Path, *, default_platform: str = "taobao", named: bool = False) -> ParsedCases:
    """One file's cases (`read_cases`); `named` tags each case and skipped line with the file's name."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    parsed = read_cases(raw, path.name, default_platform=default_platform)
    if not named:
        return parsed
    return ParsedCases(tuple(replace(case, file=path.name) for case in parsed.cases),
                       tuple(replace(skip, file=path.name) for skip in parsed.skipped))


def parse_csv(text: str, *, default_platform: str = "taobao") -> ParsedCases:
    """Cases from CSV with a header row; quoted fields may hold newlines, a record is reported at its first
    line, extra cells and an unclosed quote are reported (the quote swallows the rest of the file)."""
    cases: list[EvalCase] = []
    skipped: list[Skipped] = []
    reader = csv.reader(newline_lines(text), strict=True)
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        return ParsedCases((), ())
    except csv.Error as exc:
        raise InputError(f"line 1: the header row is not valid CSV ({exc})") from exc
    if "message" not in header:
        raise InputError(f"no `message` column; the header row has {', '.join(header) or 'nothing'}")
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            end = reader.line_num
            if "end of data" in str(exc):
                skipped.append(Skipped(start, f"unclosed quote: lines {start}-{end} were read as one field"))
            else:
                skipped.append(Skipped(start, f"not valid CSV: {exc}"))
            start = end + 1
            continue
        number, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            skipped.append(Skipped(number, f"{len(row) - len(header)} extra cells beyond the {len(header)} columns"))
            continue
        record: dict[str, object] = {key: value for key, value in zip(header, row) if value != ""}
        for column in LIST_COLUMNS:
            cell = record.get(column)
            if isinstance(cell, str):  # a list in one cell: "size|price" or "size,price"
                record[column] = [part.strip() for part in cell.replace("|", ",").split(",") if part.strip()]
        _add(record, number, cases, skipped, default_platform)
    return ParsedCases(tuple(cases), tuple(skipped))


def newline_lines(text: str) -> list[str]:
    """The text's lines as its newlines (\n) delimit them, each with its \n: what csv reads, so that a
    record's line is the one an editor shows (a lone \r inside a quoted cell is data, not a new line)."""
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def parse_records(records: Sequence[object], *, default_platform: str = "taobao",
                  max_chars: int | None = None) -> ParsedCases:
    """Cases given as already-decoded objects (the HTTP API); "line" is the 1-based position. With
    `max_chars` (the API's message limit), a longer message or reply is a skipped case, as it would be
    a refused request on /v1/reply."""
    cases: list[EvalCase] = []
    skipped: list[Skipped] = []
    for number, record in enumerate(records, start=1):
        _add(record, number, cases, skipped, default_platform)
        if max_chars is not None and cases and cases[-1].line == number:
            case = cases[-1]
            longest = max(len(case.message), len(case.reply or ""))
            if longest > max_chars:
                cases.pop()
                skipped.append(Skipped(number, f"{longest:,} characters; the limit is {max_chars:,} "
                                               "(KEFU_MAX_MESSAGE_CHARS): evaluate long texts with `kefu eval`"))
    return ParsedCases(tuple(cases), tuple(skipped))


def _add(record: object, number: int, cases: list[EvalCase], skipped: list[Skipped], default_platform: str) -> None:
    try:
        cases.append(_case(record, number, default_platform))
    except ValueError as exc:
        skipped.append(Skipped(number, str(exc)))


def _case(record: object, number: int, default_platform: str) -> EvalCase:
    if not isinstance(record, dict):
        raise ValueError("a case must be a JSON object")
    message = record.get("message")
    if not isinstance(message, str) or not message.strip():
        raise ValueError("missing or empty `message`")
    message = _LONE_SURROGATE.sub("\ufffd", message)  # "\ud800" in JSON: half an emoji, pasted
    try:
        prepare_message(message)
    except InputError as exc:
        raise ValueError("`message` is empty once spaces, zero-width characters and emoji codes are removed") from exc
    if len(message) > MAX_CASE_CHARS:
        raise ValueError(f"`message` is {len(message)} characters; at most {MAX_CASE_CHARS}")
    scenario = record.get("scenario")
    if scenario is not None and scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; valid: {', '.join(SCENARIOS)}")
    also = record.get("also") or []
    if isinstance(also, str):
        also = [also]
    if not isinstance(also, list) or any(label not in SCENARIOS for label in also):
        raise ValueError(f"`also` must list scenarios among {', '.join(SCENARIOS)}")
    platform = record.get("platform") or default_platform
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; valid: {', '.join(PLATFORMS)}")
    reply = record.get("reply")
    if reply is not None and not isinstance(reply, str):
        raise ValueError("`reply` must be text")
    if reply is not None:
        reply = _LONE_SURROGATE.sub("\ufffd", reply)
    expect = record.get("expect")
    if isinstance(expect, str):
        expect = [expect]
    if expect is not None and (not isinstance(expect, list) or any(rule not in RULES for rule in expect)):
        raise ValueError(f"`expect` must list inspection rules among {', '.join(RULES)}")
    history = _history(record.get("history"))
    # With a history, the greeting is owed only when no agent has spoken yet.
    first_turn = _boolean(record.get("first_turn", not any(role == "agent" for role, _ in history)), "first_turn")
    verdicts = None
    if any(name in record for name in VERDICTS):
        verdicts = {}
        for name in VERDICTS:
            ids = record.get(name) or []
            if isinstance(ids, str):
                ids = [ids]
            if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
                raise ValueError(f"`{name}` must list template ids")
            verdicts[name] = tuple(ids)
    return EvalCase(
        line=number,
        message=message,
        scenario=scenario,
        also=tuple(also),
        reply=reply,
        platform=platform,
        first_turn=first_turn,
        ok=None if record.get("ok") is None else _boolean(record["ok"], "ok"),
        id=None if record.get("id") is None else str(record["id"]),
        expect=None if expect is None else tuple(expect),
        verdicts=verdicts,
        history=history,
        position=_position(record, first_turn),
    )


def _position(record: dict, first_turn: bool) -> str:
    """Where the case's reply stands: `position`, else `first_turn` (true: first, false: middle), else the
    middle (unknown: no greeting or closing is owed)."""
    position = record.get("position")
    if position is None:
        return "first" if "first_turn" in record and first_turn else "middle"
    if position not in POSITIONS:
        raise ValueError(f"unknown position {position!r}; valid: {', '.join(POSITIONS)}")
    return str(position)


def _history(value: object) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError("`history` must list earlier turns, oldest first")
    turns = []
    for turn in value:
        if not (isinstance(turn, dict) and turn.get("role") in ("buyer", "agent") and isinstance(turn.get("text"), str)):
            raise ValueError('each `history` turn must be {"role": "buyer" or "agent", "text": "..."}')
        turns.append((turn["role"], turn["text"]))
    return tuple(turns)


def _boolean(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes", "false", "0", "no"}:
        return value.strip().lower() in {"true", "1", "yes"}
    raise ValueError(f"`{name}` must be true or false, got {value!r}")
