"""Fusing ranked signals (BM25, dense …) into one score: reciprocal rank fusion or weighted scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

FusionMethod = Literal["rrf", "weighted"]


@dataclass(frozen=True)
class Signal:
    scores: np.ndarray
    weight: float
    # Lexical scores are 0 where nothing matched; such rows get no share of this signal.
    lexical: bool


def fuse(signals: Sequence[Signal], *, method: FusionMethod = "rrf", rrf_k: int = 60) -> np.ndarray:
    """One fused score per row; higher is better."""
    if not signals:
        raise ValueError("nothing to fuse")
    shape = signals[0].scores.shape
    if any(s.scores.shape != shape for s in signals):
        raise ValueError(f"score arrays differ in shape: {[s.scores.shape for s in signals]}")
    total = np.zeros(shape, dtype=np.float32)
    for signal in signals:
        matched = signal.scores > 0 if signal.lexical else np.ones(shape, dtype=bool)
        if method == "rrf":
            part = _reciprocal_ranks(signal.scores, rrf_k)
        elif method == "weighted":
            part = _scaled(signal.scores) if signal.lexical else np.clip(signal.scores, 0.0, None)
        else:
            raise ValueError(f"unknown fusion method {method!r}; choose 'rrf' or 'weighted'")
        total += signal.weight * np.where(matched, part, 0.0).astype(np.float32)
    return total


def _reciprocal_ranks(scores: np.ndarray, k: int) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty_like(order)
    ranks[order] = np.arange(1, len(scores) + 1)
    return 1.0 / (k + ranks)


def _scaled(scores: np.ndarray) -> np.ndarray:
    top = float(scores.max(initial=0.0))
    return scores / top if top > 0 else np.zeros_like(scores)
