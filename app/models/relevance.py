"""RelevanceModel: how likely an agent's reply answers the buyer's message, from the two embeddings.

The cosine between a question ("query: ") and an answer ("passage: ") separates a reply to the
question from a reply to another question only weakly with a small encoder: replies of one shop
all sound alike. A logistic regression over the pair's element-wise product and absolute
difference learns which directions matter for "this answers that". It is trained at build time on
pairs the corpus already has, never on an evaluation set:

- answers: every template example question with its template's reply, and every message of the
  reply-tone file with the reply written for it (rude or not, it answers);
- non-answers: each of those questions with replies drawn at random from another topic (templates)
  or another message (tone file).

The coefficients are stored in the index (relevance.json), so loading costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NEGATIVES_PER_ANSWER = 3
C = 10.0  # little regularisation: 769 features, ~5,000 pairs (chosen on the inspection dev set)


def pair_features(messages: np.ndarray, replies: np.ndarray) -> np.ndarray:
    """[m * r, |m - r|, cos(m, r)] for unit vectors, one row per (message, reply) pair."""
    messages = np.atleast_2d(np.asarray(messages, dtype=np.float64))
    replies = np.atleast_2d(np.asarray(replies, dtype=np.float64))
    if messages.shape != replies.shape:
        raise ValueError(f"messages {messages.shape} and replies {replies.shape} must pair up row by row")
    product = messages * replies
    return np.hstack([product, np.abs(messages - replies), product.sum(axis=1, keepdims=True)])


@dataclass(frozen=True)
class RelevanceModel:
    weights: np.ndarray  # (2 * dimension + 1,)
    bias: float

    @classmethod
    def fit(cls, messages: np.ndarray, replies: np.ndarray, answers: Sequence[bool] | np.ndarray) -> RelevanceModel:
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        y = np.array([bool(answer) for answer in answers], dtype=int)
        if len(y) != len(messages) or len(set(y.tolist())) < 2:
            raise ValueError("the relevance model needs one label per pair, answers and non-answers")
        with threadpool_limits(limits=1):  # BLAS threads otherwise fight torch's for the cores
            model = LogisticRegression(C=C, class_weight="balanced", max_iter=5000)
            model.fit(pair_features(messages, replies), y)
        return cls(model.coef_[0].astype(np.float64), float(model.intercept_[0]))

    def probability(self, messages: np.ndarray, replies: np.ndarray) -> np.ndarray:
        """Probability that each reply answers its message, shape (n,)."""
        if len(messages) == 0:
            return np.zeros(0)
        logits = pair_features(messages, replies) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-logits))

    def as_json(self) -> dict:
        return {"weights": [round(float(w), 7) for w in self.weights], "bias": self.bias}

    @classmethod
    def from_json(cls, data: dict, dimension: int) -> RelevanceModel:
        weights = np.asarray(data["weights"], dtype=np.float64)
        if weights.shape != (2 * dimension + 1,):
            raise ValueError(f"relevance weights have shape {weights.shape}, expected ({2 * dimension + 1},)")
        return cls(weights, float(data["bias"]))


def training_pairs(
    questions: np.ndarray,
    answers: np.ndarray,
    groups: Sequence[str],
    *,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(messages, replies, labels): each question with its answer, and with NEGATIVES_PER_ANSWER
    answers of other groups (a template's topic, a tone message's own id) drawn at random."""
    if not (len(questions) == len(answers) == len(groups)):
        raise ValueError("one answer and one group per question")
    group_of = np.asarray(groups)
    if len(set(group_of.tolist())) < 2:
        raise ValueError("non-answers need at least two groups")
    rng = np.random.default_rng(seed)
    rows, replies, labels = [], [], []
    for i in range(len(questions)):
        others = np.flatnonzero(group_of != group_of[i])
        picks = rng.choice(others, size=min(NEGATIVES_PER_ANSWER, len(others)), replace=False)
        rows += [i] * (1 + len(picks))
        replies += [i, *picks.tolist()]
        labels += [True] + [False] * len(picks)
    return questions[rows], answers[replies], np.array(labels)
