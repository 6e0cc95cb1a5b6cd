"""ToneModel: how likely an agent's reply is rude or dismissive, from its embedding (and characters)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.corpus import TONE_EXAMPLES
from app.errors import CorpusError


class ToneModel:
    """Logistic regression (balanced classes) over a reply's e5 embedding, optionally beside
    character 1-3-gram TF-IDF of the reply.

    The caller embeds each reply as "passage: " + normalize_text(reply) and passes the vectors;
    the model never loads an embedder. Training on ~500 replies takes well under a second.
    """

    def __init__(self, texts: Sequence[str], labels: Sequence[bool], vectors: np.ndarray, *,
                 chars: bool = True, C: float = 4.0) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        if len(texts) != len(labels) or len(texts) != len(vectors):
            raise ValueError("texts, labels and vectors must be the same length")
        y = np.array([bool(label) for label in labels], dtype=int)
        if len(set(y.tolist())) < 2:
            raise ValueError("the tone model needs both rude and acceptable examples")
        self.chars = chars
        self._chars = (
            TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True) if chars else None
        )
        # BLAS threads otherwise fight torch's for the same cores.
        with threadpool_limits(limits=1):
            features = self._features(texts, vectors, fit=True)
            self._model = LogisticRegression(C=C, class_weight="balanced", max_iter=3000).fit(features, y)

    def _features(self, texts: Sequence[str], vectors: np.ndarray, *, fit: bool = False):
        dense = np.ascontiguousarray(vectors, dtype=np.float64)
        if dense.ndim != 2:
            raise ValueError("vectors must be a 2-d array, one row per text")
        if self._chars is None:
            return dense
        from scipy.sparse import csr_matrix, hstack

        texts = list(texts)
        grams = self._chars.fit_transform(texts) if fit else self._chars.transform(texts)
        return hstack([csr_matrix(dense), grams]).tocsr()

    def rudeness(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """Probability that each reply is rude or dismissive, shape (n,)."""
        if len(texts) != len(vectors):
            raise ValueError("texts and vectors must be the same length")
        if len(texts) == 0:
            return np.zeros(0)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            probabilities = self._model.predict_proba(self._features(texts, vectors))
        return probabilities[:, list(self._model.classes_).index(1)]


def load_tone_examples(path: Path) -> tuple[list[str], list[str], list[bool]]:
    """(messages, replies, labels) from a JSONL of {"id", "message", "reply", "rude"}."""
    messages: list[str] = []
    replies: list[str] = []
    labels: list[bool] = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CorpusError(f"cannot read the tone examples {path}: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            message, reply, rude = row["message"], row["reply"], row["rude"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CorpusError(f"{path}:{number}: not a tone example: {exc}") from exc
        if not isinstance(message, str) or not isinstance(reply, str) or not isinstance(rude, bool) or not reply.strip():
            raise CorpusError(f"{path}:{number}: message and reply must be text (reply not empty), rude a boolean")
        messages.append(message)
        replies.append(reply)
        labels.append(rude)
    return messages, replies, labels


__all__ = ["TONE_EXAMPLES", "ToneModel", "load_tone_examples"]
