"""The ranking policy: fused retrieval scores -> the templates to suggest, in order, with their scores.

The predicted scenario is preferred, not required; templates not meant for the platform, and sales
pitches where the buyer is owed an apology, are never suggested.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from app.corpus import Template
from app.models.classifier import ScenarioPrediction


@dataclass(frozen=True)
class Ranking:
    order: np.ndarray  # template indices, best first, at most top_k
    scores: np.ndarray  # every template's final score (-1 where it may not be suggested)


def rank_templates(
    templates: Sequence[Template],
    fused: np.ndarray,
    prediction: ScenarioPrediction,
    *,
    platform: str,
    complaint: bool,
    is_upsell: Callable[[Template], bool],
    top_k: int,
) -> Ranking:
    # Fused scores (RRF) are put on 0..1 by the best a template can get, then weighted by the
    # probability of the template's scenario: the predicted scenario is preferred, not required.
    scaled = fused / max(float(fused.max(initial=0.0)), 1e-9)
    weights = np.array([0.5 + prediction.scores[t.scenario] for t in templates]) / 1.5
    # When the classifier abstains no suggestion may look like a confident match.
    final = scaled * weights * (0.5 if prediction.needs_human else 1.0)
    eligible = np.array([platform in t.platforms and not (complaint and is_upsell(t)) for t in templates])
    final = np.where(eligible, final, -1.0)
    return Ranking(np.argsort(-final, kind="stable")[:top_k], final)


__all__ = ["Ranking", "rank_templates"]
