"""Fit the reranker (app/models/reranker.py) on the tuning set of judged buyer messages.

    .venv/bin/python scripts/fit_reranker.py [--cases corpus/training/sendable_dev.jsonl] [--write]

Every message of the tuning set goes through kefu up to its candidate templates; each candidate is
labelled 1 when the person's verdicts call it sendable as is, 0 otherwise. A logistic regression on
the standardised FEATURES is chosen by cross-validation grouped by message (5 folds), and the
abstention threshold is the one that maximises the cross-validated utility of the top suggestion:
+1 sendable, 0 acceptable once edited, -0.5 not an answer, -2 never to send, 0 when abstaining.
The figures printed are the cross-validated ones (each message scored by a model that never saw it).
Refuses any file under corpus/eval/: held-out sets are measured once, never fitted on.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.console import quiet_libraries  # noqa: E402

quiet_libraries()  # before numpy loads: one BLAS thread

import numpy as np  # noqa: E402

UTILITY = {"sendable": 1.0, "acceptable": 0.0, None: -0.5, "never": -2.0}
MAX_ABSTAINED = 0.3  # issue 11: abstain on at most 30 % of messages that ask something
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)
FOLDS = 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=Path, default=ROOT / "corpus/training/sendable_dev.jsonl")
    parser.add_argument("--write", action="store_true", help="write corpus/reranker.json")
    args = parser.parse_args()
    if "eval" in args.cases.resolve().relative_to(ROOT).parts[:2]:
        parser.error("held-out sets (corpus/eval/) are never fitted on")

    from app.config import Settings
    from app.evaluation.cases import read_cases
    from app.evaluation.runner import reply_request
    from app.models.reranker import FEATURES, RERANKER, Reranker
    from app.service import KefuService

    raw = args.cases.read_bytes()
    parsed = read_cases(raw, args.cases.name)
    cases = [case for case in parsed.cases if case.verdicts is not None]
    neutral = Reranker(np.zeros(len(FEATURES)), np.ones(len(FEATURES)), np.eye(len(FEATURES))[0], 0.0, 0.0, {})
    service = KefuService.load(Settings(), reranker=neutral)
    requests = [reply_request(case) for case in cases]
    understood = service._understand([request.message for request in requests])
    rows, labels, groups, verdicts = [], [], [], []
    for number, (case, request, text, vector, prediction) in enumerate(zip(
            cases, requests, understood.texts, understood.vectors, understood.predictions)):
        ranked = service.rank(request, text, vector[None, :], prediction)
        assert case.verdicts is not None
        by_id = {template_id: name for name, ids in case.verdicts.items() for template_id in ids}
        for index, features in zip(ranked.order, ranked.features):
            template_id = service.retriever.templates[int(index)].id
            rows.append(features)
            labels.append(1 if by_id.get(template_id) == "sendable" else 0)
            groups.append(number)
            verdicts.append(by_id.get(template_id))
    x, y, g = np.asarray(rows), np.asarray(labels), np.asarray(groups)
    print(f"{len(cases)} messages, {len(y)} candidates, {int(y.sum())} sendable candidates; "
          f"{len(set(g[y == 1].tolist()))} messages have a sendable candidate")

    best = None
    for c in C_GRID:
        scores = _cross_validated(x, y, g, c)
        tops = _tops(scores, g, verdicts, len(cases))
        threshold, utility = _best_threshold(tops)
        figures = _figures(tops, threshold, cases)
        print(f"C={c:<5} threshold={threshold:.3f} utility={utility:+.1f}  {figures}")
        print(f"{'':7} without abstaining: {_figures(tops, 0.0, cases)}")
        if best is None or utility > best[1]:
            best = (c, utility, threshold, figures)
    assert best is not None
    c, utility, threshold, figures = best
    model = _fit(x, y, c)
    mean, scale = x.mean(axis=0), np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
    reranker = Reranker(mean, scale, model[0], model[1], threshold, {
        "fitted_on": str(args.cases.resolve().relative_to(ROOT)),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "date": datetime.date.today().isoformat(),
        "messages": len(cases),
        "candidates": int(len(y)),
        "C": c,
        "cross_validated": figures,
    })
    for name, weight in zip(FEATURES, reranker.weights):
        print(f"  {name:22} {weight:+.3f}")
    if args.write:
        (ROOT / "corpus" / RERANKER).write_text(json.dumps(reranker.as_json(), ensure_ascii=False, indent=1) + "\n",
                                                encoding="utf-8")
        print(f"wrote corpus/{RERANKER}")
    return 0


def _standardise(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    scale = np.where(reference.std(axis=0) > 1e-9, reference.std(axis=0), 1.0)
    return (x - reference.mean(axis=0)) / scale


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=5000)
    model.fit(_standardise(x, x), y)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])


def _cross_validated(x: np.ndarray, y: np.ndarray, g: np.ndarray, c: float) -> np.ndarray:
    """Each message scored by a model fitted on the other folds."""
    scores = np.zeros(len(y))
    fold_of = np.arange(g.max() + 1) % FOLDS
    for fold in range(FOLDS):
        test = fold_of[g] == fold
        weights, bias = _fit(x[~test], y[~test], c)
        logits = _standardise(x[test], x[~test]) @ weights + bias
        scores[test] = 1.0 / (1.0 + np.exp(-logits))
    return scores


def _tops(scores: np.ndarray, g: np.ndarray, verdicts: list, messages: int) -> list[tuple[float, object, bool]]:
    """Per message: (best probability, the top candidate's verdict, whether one of the best three is sendable)."""
    tops: list[tuple[float, object, bool]] = []
    for number in range(messages):
        rows = np.flatnonzero(g == number)
        if len(rows) == 0:
            tops.append((0.0, None, False))
            continue
        order = rows[np.argsort(-scores[rows], kind="stable")]
        tops.append((float(scores[order[0]]), verdicts[order[0]], any(verdicts[i] == "sendable" for i in order[:3])))
    return tops


def _best_threshold(tops: list[tuple[float, object, bool]]) -> tuple[float, float]:
    candidates = sorted({0.0, *(round(p, 3) for p, _, _ in tops)})
    utilities = [(sum(UTILITY[v] for p, v, _ in tops if p >= t), t) for t in candidates
                 if sum(p < t for p, _, _ in tops) <= MAX_ABSTAINED * len(tops)]
    utility, threshold = max(utilities, key=lambda pair: (pair[0], -pair[1]))
    return threshold, utility


def _figures(tops: list[tuple[float, object, bool]], threshold: float, cases: list) -> dict[str, float]:
    answerable = [i for i, case in enumerate(cases) if case.verdicts["sendable"]]
    answered = [i for i, (p, _, _) in enumerate(tops) if p >= threshold]
    hopeless = [i for i, case in enumerate(cases) if not case.verdicts["sendable"] and not case.verdicts["acceptable"]]

    def share(hits: list[bool]) -> float:
        return round(sum(hits) / len(hits), 3) if hits else 0.0

    return {
        "top_sendable_answerable": share([tops[i][1] == "sendable" and tops[i][0] >= threshold for i in answerable]),
        "top3_sendable_answerable": share([tops[i][2] and tops[i][0] >= threshold for i in answerable]),
        "top_sendable_when_answering": share([tops[i][1] == "sendable" for i in answered]),
        "top_harmful": share([tops[i][1] == "never" and tops[i][0] >= threshold for i in range(len(cases))]),
        "abstained": round(1 - len(answered) / len(cases), 3),
        "abstention_recall": share([tops[i][0] < threshold for i in hopeless]),
    }


if __name__ == "__main__":
    raise SystemExit(main())
