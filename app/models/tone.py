"""ToneModel: how likely an agent's reply is rude or dismissive, from its embedding (and characters)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from app.corpus import TONE_EXAMPLES
from app.errors import CorpusError
from app.models.linear import CharTfidf, LogisticModel, Parameters


class ToneModel:
    """Logistic regression (balanced classes) over a reply's e5 embedding, optionally beside
    character 1-3-gram TF-IDF of the reply.

    The caller embeds each reply as "passage: " + normalize_text(reply) and passes the vectors;
    the model never loads an embedder. `fit` trains it with scikit-learn at build time on the tone
    collection; the index stores its parameters and serving applies them with numpy alone
    (app/models/linear.py).
    """

    def __init__(self, model: LogisticModel, chars: CharTfidf | None) -> None:
        if sorted(model.classes.tolist()) != [0, 1]:
            raise ValueError(f"the tone model's classes must be 0 (acceptable) and 1 (rude), not {model.classes}")
        if chars is not None and model.width <= chars.width:
            raise ValueError(f"{model.width} coefficients leave no room for the embedding beside {chars.width} n-grams")
        self.chars = chars is not None
        self._model = model
        self._chars = chars
        self.dimension = model.width - (chars.width if chars is not None else 0)  # of the reply embeddings

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[bool], vectors: np.ndarray, *,
            chars: bool = True, C: float = 4.0) -> ToneModel:
        """Train with scikit-learn (build time)."""
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        if len(texts) != len(labels) or len(texts) != len(vectors):
            raise ValueError("texts, labels and vectors must be the same length")
        y = np.array([bool(label) for label in labels], dtype=int)
        if len(set(y.tolist())) < 2:
            raise ValueError("the tone model needs both rude and acceptable examples")
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True) if chars else None
        # BLAS threads otherwise fight torch's for the same cores.
        with threadpool_limits(limits=1):
            dense = _dense(vectors)
            features = dense if vectorizer is None else hstack(
                [csr_matrix(dense), vectorizer.fit_transform(list(texts))]).tocsr()
            model = LogisticRegression(C=C, class_weight="balanced", max_iter=3000).fit(features, y)
        return cls(LogisticModel.from_sklearn(model), None if vectorizer is None else CharTfidf.from_sklearn(vectorizer))

    def parameters(self) -> Parameters:
        """What the index stores (the training replies are the tone collection already)."""
        parts = {"model": self._model.parameters()}
        if self._chars is not None:
            parts["chars"] = self._chars.parameters()
        return Parameters.combine({}, parts)

    @classmethod
    def from_parameters(cls, parameters: Parameters, dimension: int) -> ToneModel:
        """The model `fit` gave at build time, for embeddings of `dimension`. KeyError, TypeError or
        ValueError when the parameters are incomplete or were fitted for another dimension."""
        chars = CharTfidf.from_parameters(parameters.part("chars")) if "chars" in parameters.document else None
        model = cls(LogisticModel.from_parameters(parameters.part("model")), chars)
        if model.dimension != dimension:
            raise ValueError(f"the tone model was fitted on {model.dimension}-d embeddings, not {dimension}-d")
        return model

    def rudeness(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """Probability that each reply is rude or dismissive, shape (n,)."""
        if len(texts) != len(vectors):
            raise ValueError("texts and vectors must be the same length")
        if len(texts) == 0:
            return np.zeros(0)
        dense = _dense(vectors)
        blocks = [dense] if self._chars is None else [dense, self._chars.transform(texts)]
        probabilities = self._model.probabilities(*blocks)
        return probabilities[:, self._model.classes.tolist().index(1)]


def _dense(vectors: np.ndarray) -> np.ndarray:
    dense = np.ascontiguousarray(vectors, dtype=np.float64)
    if dense.ndim != 2:
        raise ValueError("vectors must be a 2-d array, one row per text")
    return dense


class ToneExamples(NamedTuple):
    """Team-written buyer messages with an agent's reply each, labelled rude or not."""

    messages: list[str]
    replies: list[str]
    labels: list[bool]


def load_tone_examples(path: Path) -> ToneExamples:
    """The examples of a JSONL of {"id", "message", "reply", "rude"}."""
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
    return ToneExamples(messages, replies, labels)


__all__ = ["TONE_EXAMPLES", "ToneModel", "load_tone_examples"]
