"""ScenarioClassifier: which of the five scenarios a buyer message is, with calibrated confidence."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.models.linear import CharTfidf, LogisticModel, Parameters
from app.vocabulary import SCENARIOS

# Clause boundaries for messages that raise two matters ("偏小了能换吗,运费谁出").
# What is left of a message once punctuation, symbols and emoji are gone.
_CONTENT = re.compile(r"[\w]", re.UNICODE)
# Interjections and acknowledgements that carry no request on their own.
_FILLERS = frozenset("哈 嗯 哦 噢 喔 额 呃 啊 呀 哎 唉 嘿 呵 好 的 了 吗 么 嘛 呢 吧 哇 ok".split())


@dataclass(frozen=True)
class Neighbour:
    text: str
    scenario: str
    similarity: float


@dataclass(frozen=True)
class ScenarioPrediction:
    label: str
    confidence: float
    scores: dict[str, float]
    secondary: str | None
    needs_human: bool
    evidence: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "scores": {name: round(value, 4) for name, value in self.scores.items()},
            "secondary": self.secondary,
            "needs_human": self.needs_human,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class ClassifierSettings:
    # Below this calibrated confidence a wrong answer is likelier than a right one: abstain
    # (`other` with needs_human).
    abstain_below: float = 0.5
    # A second scenario is reported when it holds this much probability.
    secondary_above: float = 0.25
    neighbours: int = 10
    knn_temperature: float = 0.05
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)  # dense LR, character LR, neighbours
    # Softmax temperature over the averaged log-probabilities, fitted by `fit_temperature` at build
    # time: averaging three models flattens probabilities, so the raw average is under-confident.
    temperature: float = 1.0


class ScenarioClassifier:
    """An ensemble of three views of labelled buyer messages (the bank and template examples):

    - logistic regression over sentence embeddings (meaning, paraphrase);
    - logistic regression over character 1-3-grams (shop vocabulary, typos, numbers like 52kg);
    - similarity-weighted votes of the nearest labelled messages (evidence a person can read).
    The three probability vectors are averaged, then sharpened by a temperature fitted on
    out-of-fold predictions (see `fit_temperature`).

    `fit` trains the two regressions with scikit-learn at build time; the index stores their
    parameters (`parameters`) and serving rebuilds the classifier from them (`from_parameters`),
    applying it with numpy alone (app/models/linear.py). The neighbours are the training messages
    themselves, which the index already holds (the bank and examples collections).
    """

    def __init__(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        vectors: np.ndarray,
        dense: LogisticModel,
        chars: CharTfidf,
        char_model: LogisticModel,
        settings: ClassifierSettings = ClassifierSettings(),
    ) -> None:
        if len(texts) != len(labels) or len(texts) != len(vectors):
            raise ValueError("texts, labels and vectors must be the same length")
        if dense.width != vectors.shape[1]:
            raise ValueError(f"the embedding regression expects {dense.width} dimensions, the vectors have {vectors.shape[1]}")
        if char_model.width != chars.width:
            raise ValueError(f"the character regression expects {char_model.width} n-grams, the vocabulary has {chars.width}")
        self.settings = settings
        self._texts = list(texts)
        self._labels = np.array([SCENARIOS.index(label) for label in labels])
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._dense = dense
        self._chars = chars
        self._char_model = char_model

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], vectors: np.ndarray,
            settings: ClassifierSettings = ClassifierSettings()) -> ScenarioClassifier:
        """Train the two regressions with scikit-learn (build time)."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        if len(texts) != len(labels) or len(texts) != len(vectors):
            raise ValueError("texts, labels and vectors must be the same length")
        y = np.array([SCENARIOS.index(label) for label in labels])
        # These problems are small; BLAS threads fighting torch's for two cores made training 5x slower.
        with threadpool_limits(limits=1):
            dense = LogisticRegression(C=4.0, max_iter=2000).fit(np.ascontiguousarray(vectors, dtype=np.float32), y)
            chars = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1)
            char_features = chars.fit_transform(list(texts))
            char_model = LogisticRegression(C=8.0, max_iter=2000).fit(char_features, y)
        return cls(texts, labels, vectors, LogisticModel.from_sklearn(dense), CharTfidf.from_sklearn(chars),
                   LogisticModel.from_sklearn(char_model), settings)

    def parameters(self) -> Parameters:
        """What the index stores: the fitted regressions and n-gram weights (the training messages
        and their vectors are stored as collections already)."""
        return Parameters.combine(
            {"training_messages": len(self._texts)},
            {"dense": self._dense.parameters(), "chars": self._chars.parameters(),
             "char_model": self._char_model.parameters()},
        )

    @classmethod
    def from_parameters(cls, texts: Sequence[str], labels: Sequence[str], vectors: np.ndarray,
                        parameters: Parameters, settings: ClassifierSettings = ClassifierSettings()) -> ScenarioClassifier:
        """The classifier `fit` gave at build time, over the same training messages. KeyError,
        TypeError or ValueError when the parameters are incomplete or do not fit those messages."""
        if parameters.document["training_messages"] != len(texts):
            raise ValueError(f"fitted on {parameters.document['training_messages']} messages, "
                             f"the index holds {len(texts)}")
        return cls(texts, labels, vectors, LogisticModel.from_parameters(parameters.part("dense")),
                   CharTfidf.from_parameters(parameters.part("chars")),
                   LogisticModel.from_parameters(parameters.part("char_model")), settings)

    def word_probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """The character n-gram model's part of the ensemble, (n, 5): it needs no vector, so the
        service works it out while the encoder runs."""
        return _full(self._char_model, self._char_model.probabilities(self._chars.transform(texts)))

    def probabilities(self, texts: Sequence[str], vectors: np.ndarray, similarities: np.ndarray | None = None,
                      words: np.ndarray | None = None) -> np.ndarray:
        """Averaged ensemble probabilities, (n, 5) in SCENARIOS order. `similarities` (vectors
        against the training vectors) and `words` (word_probabilities) may be passed when the caller
        already has them."""
        w_dense, w_chars, w_knn = self.settings.weights
        dense = _full(self._dense, self._dense.probabilities(vectors))
        chars = self.word_probabilities(texts) if words is None else words
        if similarities is None:
            similarities = vectors @ self._vectors.T
        knn = self._neighbour_votes(similarities)
        average = (w_dense * dense + w_chars * chars + w_knn * knn) / (w_dense + w_chars + w_knn)
        return _sharpen(average, self.settings.temperature)

    def classify(self, texts: Sequence[str], vectors: np.ndarray,
                 words: np.ndarray | None = None) -> list[ScenarioPrediction]:
        """The scenario of each message, and a second one when it holds `secondary_above` of the probability.

        Clauses were once encoded one by one to spot a second matter ("偏小了能换吗,运费谁出"): it tripled
        the encoder's work per message, and the second scenario it gave was right on 7-16 % of the
        messages it was shown on (docs/measurements.md, issue 10), so it is gone.
        """
        similarities = vectors @ self._vectors.T
        probabilities = self.probabilities(texts, vectors, similarities, words)
        return [self._predict(text, probabilities[row], similarities[row]) for row, text in enumerate(texts)]

    def _predict(self, text: str, probabilities: np.ndarray, similarities: np.ndarray) -> ScenarioPrediction:
        order = np.argsort(-probabilities)
        best, confidence = SCENARIOS[order[0]], float(probabilities[order[0]])
        scores = {name: float(p) for name, p in zip(SCENARIOS, probabilities)}
        nearest = np.argpartition(-similarities, 2)[:3] if len(similarities) > 3 else np.arange(len(similarities))
        nearest = nearest[np.argsort(-similarities[nearest], kind="stable")]  # the three closest, closest first
        evidence: dict[str, Any] = {
            "nearest": [
                {"text": self._texts[i], "scenario": SCENARIOS[self._labels[i]], "similarity": round(float(similarities[i]), 4)}
                for i in nearest
            ],
        }
        fragment = is_fragment(text)
        needs_human = fragment or confidence < self.settings.abstain_below
        if needs_human:
            evidence["abstained"] = "no request in the message" if fragment else f"confidence {confidence:.2f} is too low"
            best = "other"
        secondary = None
        runner_up = SCENARIOS[order[1]] if SCENARIOS[order[0]] == best else SCENARIOS[order[0]]
        if scores[runner_up] >= self.settings.secondary_above:
            secondary = runner_up
        return ScenarioPrediction(best, confidence, scores, secondary, needs_human, evidence)

    def _neighbour_votes(self, similarities: np.ndarray) -> np.ndarray:
        k = min(self.settings.neighbours, similarities.shape[1])
        top = np.argpartition(-similarities, k - 1, axis=1)[:, :k]
        votes = np.zeros((len(similarities), len(SCENARIOS)))
        for row in range(len(similarities)):
            sims = similarities[row, top[row]]
            weights = np.exp((sims - sims.max()) / self.settings.knn_temperature)
            np.add.at(votes[row], self._labels[top[row]], weights)
        return votes / votes.sum(axis=1, keepdims=True)


def _full(model: LogisticModel, probabilities: np.ndarray) -> np.ndarray:
    """Probabilities over all five scenarios, even when training lacked some of them."""
    out = np.zeros((len(probabilities), len(SCENARIOS)))
    out[:, model.classes] = probabilities
    return out


def _sharpen(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    logits = np.log(np.clip(probabilities, 1e-9, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def fit_temperature(texts: Sequence[str], labels: Sequence[str], vectors: np.ndarray,
                    settings: ClassifierSettings = ClassifierSettings(), folds: int = 5) -> float:
    """The temperature that makes out-of-fold probabilities best calibrated (least log loss).

    Fitted on the training messages themselves by cross-validation, never on an evaluation set.
    """
    from dataclasses import replace

    from sklearn.model_selection import StratifiedKFold

    y = np.array([SCENARIOS.index(label) for label in labels])
    folds = min(folds, int(np.bincount(y, minlength=len(SCENARIOS)).min()))
    if folds < 2:
        return 1.0  # too few messages of some scenario to cross-validate: leave probabilities as they are
    raw = replace(settings, temperature=1.0)
    out_of_fold = np.zeros((len(texts), len(SCENARIOS)))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    for train, test in splitter.split(np.zeros(len(y)), y):
        model = ScenarioClassifier.fit([texts[i] for i in train], [labels[i] for i in train], vectors[train], raw)
        out_of_fold[test] = model.probabilities([texts[i] for i in test], vectors[test])

    def log_loss(temperature: float) -> float:
        return float(-np.log(_sharpen(out_of_fold, temperature)[np.arange(len(y)), y] + 1e-12).mean())

    return float(min(np.round(np.arange(0.2, 2.01, 0.05), 2), key=log_loss))


def is_fragment(text: str) -> bool:
    """True for messages with no request in them: "哈哈", "?", "嗯嗯", emoji, placeholders alone."""
    # Digits alone ("1", a JD "[数字x]") answer nothing by themselves either.
    content = "".join(_CONTENT.findall(text.lower())).strip("0123456789")
    if not content:
        return True
    stripped = content
    for filler in sorted(_FILLERS, key=len, reverse=True):
        stripped = stripped.replace(filler, "")
    return not stripped
