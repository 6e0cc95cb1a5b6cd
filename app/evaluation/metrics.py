"""Evaluation metrics: scenario accuracy, per-scenario P/R/F1, confusion, calibration, per-rule counts. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.inspection.results import RULES
from app.vocabulary import SCENARIOS


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
        flagged, caught = set(human), set(kefu)
        for rule in flagged:
            scores[rule]["expected"] += 1
            scores[rule]["caught"] += rule in caught
        for rule in caught - flagged:
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


def score_replies(verdicts: Sequence[Mapping[str, Sequence[str]]], suggested: Sequence[Sequence[str]],
                  abstained: Sequence[bool]) -> dict[str, Any]:
    """Suggestions against a person's verdicts (sendable / acceptable / never) per message.

    hit_at_1: the top suggestion is sendable; hit_at_3: one of the first three is; acceptable_at_1:
    the top one is sendable or acceptable; harmful_at_1: the top one must never be sent. The
    `answerable` figures count only messages with a sendable template (what the library can
    answer). kefu abstains when it says needs_human; it should when nothing is sendable or
    acceptable: abstention precision and recall compare the two.
    """
    judged = len(verdicts)

    def share(hits: Sequence[bool]) -> float | None:
        return round(sum(hits) / len(hits), 4) if hits else None

    top1 = [ids[0] if ids else None for ids in suggested]
    sendable = [set(v["sendable"]) for v in verdicts]
    acceptable = [set(v["acceptable"]) for v in verdicts]
    never = [set(v["never"]) for v in verdicts]
    hit1 = [t in s for t, s in zip(top1, sendable)]
    hit3 = [bool(set(ids[:3]) & s) for ids, s in zip(suggested, sendable)]
    answerable = [i for i in range(judged) if sendable[i]]
    hopeless = [not sendable[i] and not acceptable[i] for i in range(judged)]
    answering = [i for i in range(judged) if not abstained[i]]
    return {
        "judged": judged,
        "answerable": len(answerable),
        "hit_at_1": share(hit1),
        "hit_at_3": share(hit3),
        "acceptable_at_1": share([t in s | a for t, s, a in zip(top1, sendable, acceptable)]),
        "harmful_at_1": share([t in n for t, n in zip(top1, never)]),
        "hit_at_1_answerable": share([hit1[i] for i in answerable]),
        "hit_at_3_answerable": share([hit3[i] for i in answerable]),
        "hit_at_1_when_answering": share([hit1[i] for i in answering]),
        "abstained": sum(abstained),
        "should_abstain": sum(hopeless),
        "abstention_precision": share([hopeless[i] for i in range(judged) if abstained[i]]),
        "abstention_recall": share([abstained[i] for i in range(judged) if hopeless[i]]),
    }
