"""Acceptance as a ranking prior: templates agents keep using rise, templates they keep passing over sink.

Per template, accepted (copied, sent, edited) over shown events, shrunk towards the shop's overall
rate by PRIOR_STRENGTH pseudo-events; only templates with at least MIN_EVENTS events move. The
reranker's probability p becomes sigmoid(logit(p) + logit(p_template) - logit(p_shop)): a template
accepted as often as the shop's average is left where it was. Without feedback nothing changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from app.feedback.events import ACCEPTED, FeedbackEvent

MIN_EVENTS = 20  # fewer than this and a template's record says too little to move it
PRIOR_STRENGTH = 10.0  # pseudo-events at the shop's rate each template starts from
_EDGE = 1e-4


def _logit(p: float) -> float:
    p = min(max(p, _EDGE), 1 - _EDGE)
    return math.log(p / (1 - p))


@dataclass(frozen=True)
class AcceptancePrior:
    shifts: Mapping[str, float] = field(default_factory=dict)  # template id -> logit shift

    @classmethod
    def fit(cls, events: Iterable[FeedbackEvent], *, min_events: int = MIN_EVENTS,
            strength: float = PRIOR_STRENGTH) -> AcceptancePrior:
        counts: dict[str, tuple[int, int]] = {}
        for event in events:
            if event.template_id is not None:
                shown, used = counts.get(event.template_id, (0, 0))
                counts[event.template_id] = (shown + 1, used + (event.action in ACCEPTED))
        return cls.from_counts(counts, min_events=min_events, strength=strength)

    @classmethod
    def from_counts(cls, counts: Mapping[str, tuple[int, int]], *, min_events: int = MIN_EVENTS,
                    strength: float = PRIOR_STRENGTH) -> AcceptancePrior:
        """From (shown, accepted) per template, as `FeedbackStore.acceptance` counts them."""
        shown = {template_id: pair[0] for template_id, pair in counts.items()}
        used = {template_id: pair[1] for template_id, pair in counts.items()}
        total = sum(shown.values())
        if not total:
            return cls()
        shop_rate = (sum(used.values()) + 1) / (total + 2)
        shifts = {}
        for template_id, count in shown.items():
            if count >= min_events:
                rate = (used[template_id] + strength * shop_rate) / (count + strength)
                shifts[template_id] = _logit(rate) - _logit(shop_rate)
        return cls(shifts)

    def adjust(self, template_ids: Sequence[str], probability: np.ndarray) -> np.ndarray:
        """The probabilities with each template's shift applied (unchanged for templates without one)."""
        if not self.shifts:
            return probability
        shift = np.array([self.shifts.get(template_id, 0.0) for template_id in template_ids])
        clipped = np.clip(probability, _EDGE, 1 - _EDGE)
        return 1.0 / (1.0 + np.exp(-(np.log(clipped / (1 - clipped)) + shift)))


NO_PRIOR = AcceptancePrior()

__all__ = ["MIN_EVENTS", "NO_PRIOR", "PRIOR_STRENGTH", "AcceptancePrior"]
