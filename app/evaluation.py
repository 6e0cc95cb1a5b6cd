"""Evaluation cases and metrics: parsing JSONL/CSV cases and scoring predictions. Pure: no I/O, no printing."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from app.config import PLATFORMS
from app.corpus import SCENARIOS
from app.inspect import RULES

LIST_COLUMNS = ("also", "expect")  # columns holding a list of names
MAX_CASE_CHARS = 20_000  # longer lines are someone's file pasted by mistake, not a buyer message


@dataclass(frozen=True)
class EvalCase:
    line: int
    message: str
    scenario: str | None = None
    also: tuple[str, ...] = ()
    reply: str | None = None
    platform: str = "taobao"
    first_turn: bool = True
    ok: bool | None = None
    id: str | None = None
    expect: tuple[str, ...] | None = None  # the inspection rules a human says `reply` breaks


@dataclass(frozen=True)
class Skipped:
    line: int
    reason: str


@dataclass(frozen=True)
class ParsedCases:
    cases: tuple[EvalCase, ...]
    skipped: tuple[Skipped, ...]

    @property
    def total(self) -> int:
        return len(self.cases) + len(self.skipped)


def parse_jsonl(lines: Iterable[str]) -> ParsedCases:
    cases, skipped = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            skipped.append(Skipped(number, f"not valid JSON: {exc.msg} at column {exc.colno}"))
            continue
        _add(record, number, cases, skipped)
    return ParsedCases(tuple(cases), tuple(skipped))


def parse_csv(text: str) -> ParsedCases:
    cases, skipped = [], []
    reader = csv.DictReader(text.splitlines())
    for record in reader:
        number = reader.line_num
        record = {key: value for key, value in record.items() if key is not None and value not in (None, "")}
        for column in LIST_COLUMNS:
            if column in record:  # a list in one cell: "size|price" or "size,price"
                record[column] = [part.strip() for part in record[column].replace("|", ",").split(",") if part.strip()]
        _add(record, number, cases, skipped)
    return ParsedCases(tuple(cases), tuple(skipped))


def parse_records(records: Sequence[object]) -> ParsedCases:
    """Cases given as already-decoded objects (the HTTP API); "line" is the 1-based position."""
    cases, skipped = [], []
    for number, record in enumerate(records, start=1):
        _add(record, number, cases, skipped)
    return ParsedCases(tuple(cases), tuple(skipped))


def _add(record: object, number: int, cases: list, skipped: list) -> None:
    try:
        cases.append(_case(record, number))
    except ValueError as exc:
        skipped.append(Skipped(number, str(exc)))


def _case(record: object, number: int) -> EvalCase:
    if not isinstance(record, dict):
        raise ValueError("a case must be a JSON object")
    message = record.get("message")
    if not isinstance(message, str) or not message.strip():
        raise ValueError("missing or empty `message`")
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
    platform = record.get("platform") or "taobao"
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; valid: {', '.join(PLATFORMS)}")
    reply = record.get("reply")
    if reply is not None and not isinstance(reply, str):
        raise ValueError("`reply` must be text")
    expect = record.get("expect")
    if isinstance(expect, str):
        expect = [expect]
    if expect is not None and (not isinstance(expect, list) or any(rule not in RULES for rule in expect)):
        raise ValueError(f"`expect` must list inspection rules among {', '.join(RULES)}")
    return EvalCase(
        line=number,
        message=message,
        scenario=scenario,
        also=tuple(also),
        reply=reply,
        platform=platform,
        first_turn=_boolean(record.get("first_turn", True), "first_turn"),
        ok=None if record.get("ok") is None else _boolean(record["ok"], "ok"),
        id=None if record.get("id") is None else str(record["id"]),
        expect=None if expect is None else tuple(expect),
    )


def _boolean(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes", "false", "0", "no"}:
        return value.strip().lower() in {"true", "1", "yes"}
    raise ValueError(f"`{name}` must be true or false, got {value!r}")


@dataclass(frozen=True)
class ScenarioScores:
    labelled: int
    accuracy: float | None
    accuracy_strict: float | None
    macro_f1: float | None
    per_scenario: dict[str, dict[str, float | int]]
    confusion: dict[str, dict[str, int]]  # gold -> predicted -> count
    abstained: int
    calibration_error: float | None = field(default=None)


def score_scenarios(
    gold: Sequence[str],
    also: Sequence[Sequence[str]],
    predicted: Sequence[str],
    confidence: Sequence[float],
    abstained: Sequence[bool],
) -> ScenarioScores:
    """Accuracy (a prediction in `also` counts), strict accuracy, per-scenario P/R/F1 on the strict
    labels, the confusion matrix, abstentions, and the expected calibration error (10 bins)."""
    n = len(gold)
    confusion = {g: {p: 0 for p in SCENARIOS} for g in SCENARIOS}
    for g, p in zip(gold, predicted):
        confusion[g][p] += 1
    if n == 0:
        return ScenarioScores(0, None, None, None, {}, confusion, 0, None)
    lenient = [p == g or p in a for g, a, p in zip(gold, also, predicted)]
    per_scenario = {}
    for label in SCENARIOS:
        tp = confusion[label][label]
        fp = sum(confusion[g][label] for g in SCENARIOS) - tp
        fn = sum(confusion[label].values()) - tp
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_scenario[label] = {"precision": round(precision, 4), "recall": round(recall, 4),
                               "f1": round(f1, 4), "support": tp + fn}
    present = [label for label in SCENARIOS if per_scenario[label]["support"]]
    return ScenarioScores(
        labelled=n,
        accuracy=round(sum(lenient) / n, 4),
        accuracy_strict=round(sum(g == p for g, p in zip(gold, predicted)) / n, 4),
        macro_f1=round(sum(per_scenario[label]["f1"] for label in present) / len(present), 4),
        per_scenario=per_scenario,
        confusion=confusion,
        abstained=sum(bool(a) for a in abstained),
        calibration_error=round(_ece(confidence, lenient), 4),
    )


def score_rules(expected: Sequence[Sequence[str]], found: Sequence[Sequence[str]]) -> dict[str, dict[str, int]]:
    """Per inspection rule, against a human's list of the rules each reply breaks: how often the
    human flagged it (`expected`), how many of those kefu caught, and kefu's false alarms."""
    scores = {rule: {"expected": 0, "caught": 0, "false_alarms": 0} for rule in RULES}
    for human, kefu in zip(expected, found):
        human, kefu = set(human), set(kefu)
        for rule in human:
            scores[rule]["expected"] += 1
            scores[rule]["caught"] += rule in kefu
        for rule in kefu - human:
            scores[rule]["false_alarms"] += 1
    return scores


def _ece(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    total = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [(c, ok) for c, ok in zip(confidence, correct) if low < c <= high or (b == 0 and c == 0)]
        if members:
            mean_confidence = sum(c for c, _ in members) / len(members)
            share_correct = sum(ok for _, ok in members) / len(members)
            total += len(members) / len(confidence) * abs(share_correct - mean_confidence)
    return total


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
