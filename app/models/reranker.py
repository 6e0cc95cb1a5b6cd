"""Reranker: the probability that a candidate template can be sent as it is, and when to abstain.

A logistic model over some fifteen per-candidate signals (named in FEATURES, computed by
app/retrieval/ranking.py): retrieval scores, the scenario's probability, the relevance model's
verdict on the message-reply pair, and how the template's stage, mood and product fit the message.
It is fitted by `scripts/fit_reranker.py` on the tuning set of buyer messages that a person judged
blind (corpus/training/sendable_dev.jsonl: which templates are sendable for each message), never on
a held-out set, and stored as plain JSON in `corpus/reranker.json` with its provenance. The
`abstain_below` threshold is chosen there too: when the best candidate's probability is below it,
no suggestion is trustworthy and a person should answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.errors import CorpusError

RERANKER = "reranker.json"
FEATURES: tuple[str, ...] = (
    "prior",  # fused retrieval score on 0..1, weighted by the scenario's probability
    "prior_rank",  # 1 / (1 + rank by prior)
    "dense_example",  # best cosine to one of the template's example questions
    "dense_gap",  # that cosine minus the best candidate's
    "dense_reply",  # cosine to the template's reply
    "bm25_share",  # best BM25 against an example, over the best any template gets
    "scenario_probability",  # the classifier's probability of the template's scenario
    "classifier_unsure",  # 1 when the classifier abstains on the message (out of scope, gibberish, torn)
    "relevance",  # the relevance model: does this reply answer this message
    "stage_fit",  # +1 written for the message's order stage, -1 for another, 0 unsaid
    "mood_fit",  # same for the buyer's mood (upset, neutral, closing)
    "category_fit",  # 1 when written for the message's product category
    "uses_stated_facts",  # 1 when the reply is built on facts the buyer gave (a size from height and weight)
    "dense_pair_gap",  # mean cosine to the template's two closest examples, minus the best candidate's
    "stage_clash",  # 1 when written for other order stages than the message's (stage_fit -1)
    "term_coverage",  # share of the message's terms that the template's example questions use, together
)


class _RerankerModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    features: list[str]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float
    abstain_below: float = Field(ge=0.0, le=1.0)
    provenance: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class Reranker:
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    abstain_below: float
    provenance: dict[str, Any]

    def probability(self, features: np.ndarray) -> np.ndarray:
        """P(sendable as is) per candidate row."""
        if len(features) == 0:
            return np.zeros(0)
        logits = ((features - self.mean) / self.scale) @ self.weights + self.bias
        probability: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))
        return probability

    def as_json(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "mean": self.mean.round(6).tolist(), "scale": self.scale.round(6).tolist(),
                "weights": self.weights.round(6).tolist(), "bias": round(self.bias, 6),
                "abstain_below": round(self.abstain_below, 4), "provenance": self.provenance}

    @classmethod
    def from_json(cls, raw: object, where: str = RERANKER) -> Reranker:
        try:
            model = _RerankerModel.model_validate(raw)
        except ValidationError as exc:
            raise CorpusError(f"{where} is invalid: {exc}") from exc
        if tuple(model.features) != FEATURES:
            raise CorpusError(f"{where} was fitted on features {model.features}, this kefu computes {list(FEATURES)}; "
                              "refit it with scripts/fit_reranker.py")
        sizes = {len(model.mean), len(model.scale), len(model.weights)}
        if sizes != {len(FEATURES)} or min(model.scale) <= 0:
            raise CorpusError(f"{where}: mean, scale and weights need {len(FEATURES)} values each, scales above 0")
        return cls(np.array(model.mean), np.array(model.scale), np.array(model.weights), model.bias,
                   model.abstain_below, dict(model.provenance))

    @classmethod
    def load(cls, corpus_dir: Path) -> Reranker:
        path = corpus_dir / RERANKER
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise CorpusError(f"no reranker in {path}; fit one with scripts/fit_reranker.py") from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorpusError(f"cannot read the reranker {path}: {exc}") from exc
        return cls.from_json(raw, str(path))


__all__ = ["FEATURES", "RERANKER", "Reranker"]
