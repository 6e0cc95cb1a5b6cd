"""Batch evaluation: run labelled cases through the service in batches and score them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

from app.evaluation.cases import EvalCase, ParsedCases, Skipped
from app.evaluation.metrics import percentile, score_replies, score_rules, score_scenarios
from app.pipeline import InOrder

if TYPE_CHECKING:
    from app.replies import ReplyRequest

BATCH_SIZE = 64
# Batches in flight at once: while one batch's messages are encoded (onnxruntime, outside the GIL,
# on the encoder's thread) the other's are ranked and composed in Python, so both cores work.
IN_FLIGHT = 2


def evaluate(
    service,
    parsed: ParsedCases,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] = lambda done, total: None,
    stop: Callable[[], str | None] = lambda: None,
) -> tuple[dict, list[dict]]:
    """(summary, one record per evaluated case), in the file's order. Messages are encoded a batch at a
    time, IN_FLIGHT batches at once; a case's latency is its batch's wall time divided by the batch size
    (amortized, as a team lead's run sees it).

    `stop` is asked before each batch; a reason (a time budget spent, the client gone) ends the run
    there: the batches under way finish, the summary says why it stopped and how many cases were not run.
    """
    cases = parsed.cases
    records: list[dict] = []
    latencies: list[float] = []
    stopped: str | None = None

    def review(batch: Sequence[EvalCase]) -> tuple[Sequence[EvalCase], list, float]:
        started = time.perf_counter()
        reviewed = service.review_many(
            [reply_request(case) for case in batch],
            [case.reply for case in batch],
            [case.position for case in batch],
        )
        return batch, reviewed, time.perf_counter() - started

    def collect(done: tuple[Sequence[EvalCase], list, float]) -> None:
        batch, reviewed, elapsed = done
        latencies.extend([elapsed * 1000 / len(batch)] * len(batch))
        records.extend(record_for(case, review.result, review.inspection) for case, review in zip(batch, reviewed))
        progress(len(records), len(cases))

    with InOrder(IN_FLIGHT, collect, name="kefu-eval") as batches:
        for start in range(0, len(cases), batch_size):
            stopped = stop()
            if stopped is not None:
                break
            batches.submit(review, cases[start : start + batch_size])
    summary = summarize(parsed.total, parsed.skipped, records, latencies)
    summary["stopped"] = stopped
    summary["not_evaluated"] = len(cases) - len(records)
    return summary, records


def reply_request(case: EvalCase) -> ReplyRequest:
    """The request a case makes of kefu: its message, platform, turn and the chat so far, three suggestions."""
    from app.replies import ReplyRequest, Turn  # imported late: this module stays light

    return ReplyRequest(case.message, platform=case.platform, top_k=3, first_turn=case.first_turn,
                        history=tuple(Turn(role, text) for role, text in case.history))


def record_for(case: EvalCase, result, inspection) -> dict:
    scenario = result.scenario
    record = {
        **({} if case.file is None else {"file": case.file}),
        "line": case.line,
        "id": case.id,
        "message": case.message,
        "platform": case.platform,
        "gold": case.scenario,
        "also": list(case.also),
        "prediction": {"label": scenario.label, "confidence": round(scenario.confidence, 4),
                       "secondary": scenario.secondary, "needs_human": scenario.needs_human},
        "needs_human": result.needs_human,
        "abstention": result.abstention,
        "correct": None if case.scenario is None else scenario.label == case.scenario or scenario.label in case.also,
        "replies": [{"template_id": r.template_id, "scenario": r.scenario, "score": round(r.score, 4), "text": r.text}
                    for r in result.replies if not r.holding],
    }
    if inspection is not None:
        record["reply"] = case.reply
        record["inspection"] = inspection.as_dict()
        record["human_ok"] = case.ok
        record["agrees"] = None if case.ok is None else inspection.ok == case.ok
        if case.expect is not None:
            record["human_rules"] = list(case.expect)
    if case.verdicts is not None:
        record["verdicts"] = {name: list(ids) for name, ids in case.verdicts.items()}
        top = result.replies[0].template_id if result.replies else None
        record["top_verdict"] = next((name for name, ids in case.verdicts.items() if top in ids), None)
    return record


def summarize(total: int, skipped: Sequence[Skipped], records: Sequence[dict], latencies: Sequence[float]) -> dict:
    """The run's figures from its records (in any engine: this process or a Ray cluster)."""
    labelled = [r for r in records if r["gold"] is not None]
    scores = score_scenarios(
        gold=[r["gold"] for r in labelled],
        also=[r["also"] for r in labelled],
        predicted=[r["prediction"]["label"] for r in labelled],
        confidence=[r["prediction"]["confidence"] for r in labelled],
        abstained=[r["prediction"]["needs_human"] for r in labelled],
    )
    top_match = [r["replies"][0]["scenario"] == r["gold"] for r in labelled if r["replies"]]
    judged_replies = [r for r in records if "verdicts" in r]
    inspected = [r for r in records if "inspection" in r]
    judged = [r for r in inspected if r["human_ok"] is not None]
    by_rule = [r for r in inspected if "human_rules" in r]
    return {
        "cases": total,
        "evaluated": len(records),
        "skipped": [skip.as_dict() for skip in skipped],
        "scenario": asdict(scores),
        "replies": {
            "top1_scenario_match": round(sum(top_match) / len(top_match), 4) if top_match else None,
            # Only for lines carrying a person's verdicts on the templates; None otherwise.
            "judged": score_replies([r["verdicts"] for r in judged_replies],
                                    [[reply["template_id"] for reply in r["replies"]] for r in judged_replies],
                                    [r["needs_human"] for r in judged_replies]) if judged_replies else None,
        },
        "inspection": {
            "inspected": len(inspected),
            "pass_rate": round(sum(r["inspection"]["ok"] for r in inspected) / len(inspected), 4) if inspected else None,
            "judged": len(judged),
            "agreement": round(sum(r["agrees"] for r in judged) / len(judged), 4) if judged else None,
            # Only for lines naming the rules a human found (`expect`); {} otherwise.
            "per_rule": score_rules([r["human_rules"] for r in by_rule],
                                    [r["inspection"]["rules"] for r in by_rule]) if by_rule else {},
        },
        "latency_ms": {
            "p50": _rounded(percentile(latencies, 50)),
            "p95": _rounded(percentile(latencies, 95)),
        },
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
