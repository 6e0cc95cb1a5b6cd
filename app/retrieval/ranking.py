"""The ranking policy: which templates may answer a message, and in what order.

Three steps, each asking more of a template than the last:
1. *Eligibility* (hard rules): the platform; the product category the template is written for; the
   facts it needs (a size from height and weight needs both) and the facts it asks for (never ask
   again for what the message states); and no sales pitch to a buyer who has ordered, is upset or
   is closing the chat, or is owed an apology.
2. *Candidates*: the eligible templates with the best fused retrieval scores, weighted by the
   probability of their scenario (the predicted scenario is preferred, not required), plus every
   closing reply when the buyer is closing the chat.
3. *Reranking* (app/models/reranker.py): the probability that each candidate can be sent as it is,
   from its retrieval scores, the scenario, the reply's relevance to the message and how well its
   stage, mood and product fit; the best candidates first. When even the best is unlikely, the
   service abstains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from app.corpus import Template
from app.models.classifier import ScenarioPrediction
from app.models.reranker import FEATURES

POOL = 20  # candidates the reranker sees; the sendable template is within the first 20 by fused score
AFTER_ORDER = frozenset({"awaiting_dispatch", "in_transit", "delivered", "after_sale"})


@dataclass(frozen=True)
class MessageContext:
    """What the ranking knows about the message beyond its words (app/understanding)."""

    platform: str
    stage: str = "unknown"
    mood: str = "neutral"
    category: str | None = None
    stated: frozenset[str] = frozenset()  # facts the buyer gave: height, weight, order_id …
    ordered: bool | None = None  # True once the buyer has clearly ordered
    apology_owed: bool = False  # a complaint, a late or lost parcel, an upset buyer
    sizes: Mapping[str, str] = field(default_factory=dict)  # size chart -> the size it gives for the stated facts
    said: Mapping[str, str] = field(default_factory=dict)  # slots the buyer's words fill (one order number …)

    @property
    def after_order(self) -> bool:
        return self.ordered is True or self.stage in AFTER_ORDER


def ineligibility(template: Template, context: MessageContext) -> str | None:
    """Why a template may not answer this message, or None when it may."""
    applies = template.applies
    if context.platform not in template.platforms:
        return "platform"
    if applies.categories and context.category not in (None, "general") and context.category not in applies.categories:
        return "category"
    if not set(applies.needs) <= context.stated:
        return "needs"
    chart = size_chart_for(template)
    if chart is not None and chart not in context.sizes:
        return "needs"  # a size from the chart, and the chart gives none for what the buyer stated
    if set(applies.asks) & context.stated:
        return "asks"
    if template.pitch and pitch_blocked(context):
        return "pitch"
    return None


def pitch_blocked(context: MessageContext) -> bool:
    """No sales pitch to a buyer who has ordered, is upset or closing the chat, or is owed an apology."""
    return context.apology_owed or context.after_order or context.mood in ("upset", "closing")


class Eligibility:
    """`ineligibility` for a whole library at once, remembered per kind of message.

    Which templates may answer depends on a handful of the context's fields (the platform, the
    product, the facts stated, the sizes the charts give, whether a pitch is barred), and most
    messages share a few combinations of them, so each combination's mask is computed once.
    """

    def __init__(self, templates: Sequence[Template], remember: int = 1024) -> None:
        self.templates = tuple(templates)
        self._remember = remember
        self._masks: dict[tuple[object, ...], np.ndarray] = {}

    def mask(self, context: MessageContext) -> np.ndarray:
        """True where a template may answer (read-only: shared between requests)."""
        # Every field `ineligibility` reads, and nothing else (tests/retrieval/test_ranking.py checks it).
        category = None if context.category in (None, "general") else context.category
        key = (context.platform, category, context.stated, frozenset(context.sizes), pitch_blocked(context))
        mask = self._masks.get(key)
        if mask is None:
            mask = np.array([ineligibility(t, context) is None for t in self.templates], dtype=bool)
            mask.setflags(write=False)
            if len(self._masks) >= self._remember:
                self._masks.clear()  # a rare burst of new combinations: start again rather than grow
            self._masks[key] = mask
        return mask


def size_chart_for(template: Template) -> str | None:
    """The shop's size chart a template's {recommended_size} comes from, or None when it names no size."""
    if "recommended_size" not in template.slots:
        return None
    needs = set(template.applies.needs)
    if "child" in needs:
        return "kids"
    return "shoes" if "foot_length" in needs else "pants" if "waist" in needs else "clothing"


@dataclass(frozen=True)
class Candidates:
    indices: np.ndarray  # template indices, by prior, best first
    prior: np.ndarray  # every template's prior score (-1 where ineligible)


def candidates(templates: Sequence[Template], fused: np.ndarray, prediction: ScenarioPrediction,
               context: MessageContext, pool: int = POOL, eligible: np.ndarray | None = None) -> Candidates:
    """`eligible` is Eligibility.mask(context) when the caller keeps one; else it is worked out here."""
    # Fused scores (RRF) are put on 0..1 by the best a template gets, then weighted by the
    # probability of the template's scenario.
    scaled = fused / max(float(fused.max(initial=0.0)), 1e-9)
    weights = np.array([0.5 + prediction.scores[t.scenario] for t in templates]) / 1.5
    if eligible is None:
        eligible = Eligibility(templates).mask(context)
    prior = np.where(eligible, scaled * weights, -1.0)
    order = np.argsort(-prior, kind="stable")
    chosen = [int(i) for i in order[:pool] if prior[i] >= 0]
    if context.mood == "closing":
        chosen += [i for i, t in enumerate(templates)
                   if eligible[i] and "closing" in t.applies.moods and i not in chosen]
    return Candidates(np.array(chosen, dtype=int), prior)


def fit_of(listed: Sequence[str], value: str | None, unknown: Sequence[str | None] = (None, "unknown")) -> float:
    """+1 when a template is written for this stage/mood/product, -1 when for others, 0 when it does not say
    or the message does not tell."""
    if not listed or value in unknown:
        return 0.0
    return 1.0 if value in listed else -1.0


@dataclass(frozen=True)
class CandidateSignals:
    """Per-candidate evidence, computed once by the service (app/service.py)."""

    dense_example: np.ndarray  # best cosine to one of the template's example questions
    dense_reply: np.ndarray  # cosine to the template's reply
    bm25_example: np.ndarray  # best BM25 score against an example question
    relevance: np.ndarray  # the relevance model's probability that the reply answers the message
    dense_pair: np.ndarray  # mean cosine to the template's two closest example questions
    coverage: np.ndarray  # share of the message's terms that the template's example questions use


def candidate_features(templates: Sequence[Template], found: Candidates, signals: CandidateSignals,
                       prediction: ScenarioPrediction, context: MessageContext) -> np.ndarray:
    """One row of FEATURES per candidate (app/models/reranker.py names them)."""
    idx = found.indices
    if len(idx) == 0:
        return np.zeros((0, len(FEATURES)))
    dense = signals.dense_example[idx]
    pairs = signals.dense_pair[idx]
    bm25_top = float(signals.bm25_example.max(initial=0.0))
    # A message whose words are all stop words ("在？") has no lexical evidence either way: its share
    # reads as the best's (1) rather than as a miss (0), and the dense signals decide.
    shares = signals.bm25_example[idx] / bm25_top if bm25_top > 0 else np.ones(len(idx))
    rows = []
    for rank, (i, d, share, pair) in enumerate(zip(idx, dense, shares, pairs)):
        t = templates[i]
        applies = t.applies
        stage_fit = fit_of(applies.stages, context.stage)
        rows.append([
            found.prior[i],
            1.0 / (1.0 + rank),
            d,
            d - float(dense.max()),
            signals.dense_reply[i],
            share,
            prediction.scores[t.scenario],
            1.0 if prediction.needs_human else 0.0,
            signals.relevance[i],
            stage_fit,
            fit_of(applies.moods, context.mood, unknown=()),
            1.0 if applies.categories and context.category in applies.categories else 0.0,
            1.0 if applies.needs else 0.0,
            pair - float(pairs.max()),
            # A template written for another order stage weighs more against it than a fit weighs for
            # it: a reply that assumes the wrong order state is worse than a generic one.
            1.0 if stage_fit < 0 else 0.0,
            signals.coverage[i],
        ])
    return np.asarray(rows, dtype=np.float64)


__all__ = ["AFTER_ORDER", "POOL", "CandidateSignals", "Candidates", "Eligibility", "MessageContext",
           "candidate_features", "candidates", "fit_of", "ineligibility", "pitch_blocked", "size_chart_for"]
