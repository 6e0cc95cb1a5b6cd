"""Serve-time inference for models fitted at build time: character n-gram TF-IDF and logistic regression in numpy.

scikit-learn fits them in `kefu build`; the index keeps only their parameters (JSON and .npy, no
pickle), and serving recomputes what sklearn's `transform` and `predict_proba` would, so
scikit-learn is not imported at serve time (nor installed in the runtime image). `from_sklearn`
(build time) is the only bridge between the two, and refuses settings this module does not reproduce.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np

# sklearn's char analyzer folds runs of two or more whitespace characters into one space (a lone
# tab or newline is kept as it is): `_VectorizerMixin._white_spaces`.
_WHITESPACE_RUNS = re.compile(r"\s\s+")


@dataclass(frozen=True)
class Parameters:
    """A fitted model as the index stores it: a JSON document and named float arrays (.npy files)."""

    document: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @classmethod
    def combine(cls, document: dict[str, Any], parts: Mapping[str, Parameters]) -> Parameters:
        """One model made of named parts: each part's document under its name, its arrays as `name.key`."""
        return cls(
            {**document, **{name: part.document for name, part in parts.items()}},
            {f"{name}.{key}": array for name, part in parts.items() for key, array in part.arrays.items()},
        )

    def part(self, name: str) -> Parameters:
        """The part `combine` stored under `name` (KeyError when there is none)."""
        prefix = f"{name}."
        return Parameters(self.document[name], {key.removeprefix(prefix): array for key, array in self.arrays.items()
                                                if key.startswith(prefix)})

    def array(self, key: str, dimensions: int) -> np.ndarray:
        """A stored float array, checked for its number of dimensions (KeyError when missing).

        Its dtype is kept: a regression fitted on float32 embeddings has float32 coefficients, and
        sklearn computes its scores in float32 too.
        """
        array = np.asarray(self.arrays[key])
        if array.dtype not in (np.float32, np.float64) or array.ndim != dimensions:
            raise ValueError(f"the array {key} is {array.dtype} with {array.ndim} dimensions, "
                             f"expected float32 or float64 with {dimensions}")
        return array


@dataclass(frozen=True)
class SparseRows:
    """Rows of a mostly-zero matrix in CSR layout (row i holds `data[indptr[i]:indptr[i+1]]` at
    `indices[...]`): a TF-IDF row has a few dozen non-zeros among tens of thousands of n-grams."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    width: int

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def dot(self, weights: np.ndarray) -> np.ndarray:
        """self @ weights for a dense (width, k) matrix, as a dense (n, k) array."""
        rows = np.repeat(np.arange(len(self)), np.diff(self.indptr))
        out = np.zeros((len(self), weights.shape[1]))
        np.add.at(out, rows, self.data[:, None] * weights[self.indices])
        return out

    def toarray(self) -> np.ndarray:
        out = np.zeros((len(self), self.width))
        out[np.repeat(np.arange(len(self)), np.diff(self.indptr)), self.indices] = self.data
        return out


@dataclass(frozen=True)
class CharTfidf:
    """sklearn's `TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)` after fitting:
    each text lowercased, whitespace runs folded, cut into character n-grams; counts of known n-grams
    as 1 + log(count), times idf, each row scaled to unit length."""

    vocabulary: Mapping[str, int]  # n-gram -> column
    idf: np.ndarray  # (columns,)
    ngram_range: tuple[int, int] = (1, 3)
    lowercase: bool = True
    sublinear_tf: bool = True
    norm: Literal["l2"] = "l2"

    def __post_init__(self) -> None:
        if self.idf.shape != (len(self.vocabulary),):
            raise ValueError(f"idf has shape {self.idf.shape}, expected ({len(self.vocabulary)},) for the vocabulary")
        if sorted(self.vocabulary.values()) != list(range(len(self.vocabulary))):
            raise ValueError("the vocabulary's columns must be 0 .. n-1, each once")
        low, high = self.ngram_range
        if not 1 <= low <= high:
            raise ValueError(f"ngram_range {self.ngram_range} must be (low, high) with 1 <= low <= high")
        if self.norm != "l2":
            raise ValueError(f"norm {self.norm!r} is not supported; only 'l2' is")

    @property
    def width(self) -> int:
        return len(self.vocabulary)

    def grams(self, text: str) -> list[str]:
        """The n-grams sklearn's char analyzer gives, in its order (all 1-grams, then 2-grams …)."""
        if self.lowercase:
            text = text.lower()
        text = _WHITESPACE_RUNS.sub(" ", text)
        low, high = self.ngram_range
        return [text[i : i + n] for n in range(low, min(high, len(text)) + 1) for i in range(len(text) - n + 1)]

    def transform(self, texts: Sequence[str]) -> SparseRows:
        indptr, indices, data = [0], [], []
        for text in texts:
            counts = Counter(column for gram in self.grams(text) if (column := self.vocabulary.get(gram)) is not None)
            columns = np.array(sorted(counts), dtype=np.int64)
            values = np.array([counts[column] for column in columns], dtype=np.float64)
            if self.sublinear_tf:
                values = np.log(values) + 1.0
            values *= self.idf[columns]
            # Summed one by one in column order, as sklearn's row normalisation does, so the
            # values agree to the last bit; a text with no known n-gram stays a zero row.
            length = math.sqrt(sum(value * value for value in values.tolist()))
            if length > 0:
                values /= length
            indices.append(columns)
            data.append(values)
            indptr.append(indptr[-1] + len(columns))
        return SparseRows(
            np.array(indptr, dtype=np.int64),
            np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
            np.concatenate(data) if data else np.zeros(0),
            self.width,
        )

    @classmethod
    def from_sklearn(cls, vectorizer: Any) -> CharTfidf:
        """A fitted `TfidfVectorizer` (build time); settings this module does not reproduce are refused."""
        fixed = {"input": "content", "analyzer": "char", "strip_accents": None, "preprocessor": None,
                 "tokenizer": None, "norm": "l2", "use_idf": True, "binary": False, "dtype": np.float64}
        differing = {name: getattr(vectorizer, name) for name, value in fixed.items()
                     if getattr(vectorizer, name) != value}
        if differing:
            raise ValueError(f"CharTfidf reproduces {fixed}, not {differing}")
        low, high = vectorizer.ngram_range
        return cls({str(gram): int(column) for gram, column in vectorizer.vocabulary_.items()},
                   np.asarray(vectorizer.idf_, dtype=np.float64), (int(low), int(high)),
                   bool(vectorizer.lowercase), bool(vectorizer.sublinear_tf))

    def parameters(self) -> Parameters:
        return Parameters(
            {"analyzer": "char", "ngram_range": list(self.ngram_range), "lowercase": self.lowercase,
             "sublinear_tf": self.sublinear_tf, "norm": self.norm, "vocabulary": dict(self.vocabulary)},
            {"idf": self.idf},
        )

    @classmethod
    def from_parameters(cls, parameters: Parameters) -> CharTfidf:
        document = parameters.document
        if document["analyzer"] != "char":
            raise ValueError(f"analyzer {document['analyzer']!r} is not supported; only 'char' is")
        low, high = document["ngram_range"]
        vocabulary = document["vocabulary"]
        if not all(isinstance(gram, str) and type(column) is int for gram, column in vocabulary.items()):
            raise ValueError("the vocabulary must map n-grams to integer columns")
        return cls(vocabulary, parameters.array("idf", 1), (int(low), int(high)), bool(document["lowercase"]),
                   bool(document["sublinear_tf"]), document["norm"])


Features: TypeAlias = np.ndarray | SparseRows


@dataclass(frozen=True)
class LogisticModel:
    """A fitted logistic regression (sklearn's `LogisticRegression`, lbfgs): with two classes one row
    of coefficients gives the second class's log-odds; with more, one row per class and a softmax
    (multinomial), as sklearn's `predict_proba` does."""

    classes: np.ndarray  # (k,) the labels of the probability columns, in sklearn's `classes_` order
    coef: np.ndarray  # (1, features) with two classes, else (k, features)
    intercept: np.ndarray  # (1,) or (k,)

    def __post_init__(self) -> None:
        if len(self.classes) < 2:
            raise ValueError("a logistic regression needs at least two classes")
        if self.coef.dtype not in (np.float32, np.float64) or self.intercept.dtype != self.coef.dtype:
            raise ValueError(f"coefficients and intercept must share a float dtype, not {self.coef.dtype} "
                             f"and {self.intercept.dtype}")
        rows = 1 if len(self.classes) == 2 else len(self.classes)
        if self.coef.ndim != 2 or self.coef.shape[0] != rows or self.intercept.shape != (rows,):
            raise ValueError(f"{len(self.classes)} classes need coefficients ({rows}, features) and intercept "
                             f"({rows},), not {self.coef.shape} and {self.intercept.shape}")

    @property
    def width(self) -> int:
        return int(self.coef.shape[1])

    def decision(self, *blocks: Features) -> np.ndarray:
        """Decision scores (n, rows) for features given as blocks side by side (dense or sparse).

        As sklearn's `decision_function`, `X @ coef.T + intercept` in numpy's type promotion: float32
        embeddings against float32 coefficients stay float32.
        """
        widths = [block.width if isinstance(block, SparseRows) else block.shape[1] for block in blocks]
        if not blocks or sum(widths) != self.width:
            raise ValueError(f"the feature blocks ({widths}) do not add up to the model's {self.width} features")
        scores: np.ndarray | None = None
        at = 0
        for block, width in zip(blocks, widths):
            weights = self.coef[:, at : at + width].T
            part = block.dot(weights) if isinstance(block, SparseRows) else block @ weights
            scores = part if scores is None else scores + part
            at += width
        assert scores is not None
        return scores + self.intercept

    def probabilities(self, *blocks: Features) -> np.ndarray:
        """(n, k) probabilities in `classes` order, as sklearn's `predict_proba`."""
        scores = self.decision(*blocks)
        if len(self.classes) == 2:
            # scipy's expit: overflow of exp(-x) for very negative x means probability 0.
            with np.errstate(over="ignore"):
                positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.stack([1.0 - positive, positive], axis=1)
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    @classmethod
    def from_sklearn(cls, model: Any) -> LogisticModel:
        """A fitted `LogisticRegression` (build time) with integer class labels."""
        return cls(np.asarray(model.classes_, dtype=np.int64), np.asarray(model.coef_), np.asarray(model.intercept_))

    def parameters(self) -> Parameters:
        return Parameters({"classes": [int(label) for label in self.classes]},
                          {"coef": self.coef, "intercept": self.intercept})

    @classmethod
    def from_parameters(cls, parameters: Parameters) -> LogisticModel:
        classes = parameters.document["classes"]
        if not all(type(label) is int for label in classes):
            raise ValueError("class labels must be integers")
        return cls(np.array(classes, dtype=np.int64), parameters.array("coef", 2), parameters.array("intercept", 1))
