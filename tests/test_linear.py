"""The numpy inference of app/models/linear.py against scikit-learn's own transform and predict_proba."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from app.build import CLASSIFIER, training_set
from app.corpus import load_templates
from app.models.linear import CharTfidf, LogisticModel, Parameters, SparseRows
from app.retrieval.store import BANK, EXAMPLES, load_collections, read_model
from tests.conftest import CORPUS

DEV = CORPUS / "eval" / "dev.jsonl"

MESSY = [
    "這件衣服170斤穿什麼碼",  # Traditional
    "ＸＬ码偏大吗？Ｍ码呢",  # full-width letters and punctuation
    "能便宜点吗😭😭👍🏻",  # emoji, a skin-tone modifier
    "订单[订单x]怎么还没发货 #E-s46",  # JD placeholders
    "  在吗  \t\t 在吗\n\n好的 ",  # whitespace runs, leading and trailing
    "a\tb\nc",  # lone tab and newline are kept as they are
    "\u3000全角空格\u3000\u3000两个",  # ideographic spaces
    "İSTANBUL ΣΊΣΥΦΟΣ",  # lowercasing that changes the length
    "",
    " ",
    "嗯",
    "绝对没有出现过的字：龘靐齉",  # unknown n-grams only, apart from the colon
    "收到的杯子碎了，要求退款。" + "我真的很生气，" * 720,  # a 5,000-character paste
]


@pytest.fixture(scope="module")
def training_texts(fake_index) -> list[str]:
    """The scenario classifier's training messages, as the fake index stores them."""
    collections = load_collections(fake_index.store_dir, [BANK, EXAMPLES])
    texts, _, _ = training_set(collections, load_templates(CORPUS))
    return texts


def _dev_messages() -> list[str]:
    return [json.loads(line)["message"] for line in DEV.read_text(encoding="utf-8").splitlines()]


def _fitted(texts: list[str]) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1).fit(texts)


def test_char_tfidf_equals_sklearn_on_training_dev_and_messy_texts(training_texts):
    vectorizer = _fitted(training_texts)
    chars = CharTfidf.from_sklearn(vectorizer)
    for texts in (training_texts, _dev_messages(), MESSY):
        expected = vectorizer.transform(texts).toarray()
        got = chars.transform(texts)
        assert got.toarray().shape == expected.shape
        assert np.abs(got.toarray() - expected).max() <= 1e-9


@pytest.mark.parametrize("text", MESSY)
def test_char_tfidf_equals_sklearn_text_by_text(training_texts, text):
    vectorizer = _fitted(training_texts + MESSY[:3])
    chars = CharTfidf.from_sklearn(vectorizer)
    assert chars.grams(text) == vectorizer.build_analyzer()(text)
    assert np.abs(chars.transform([text]).toarray() - vectorizer.transform([text]).toarray()).max() <= 1e-9


def test_the_stored_char_tfidf_equals_a_fresh_sklearn_fit(fake_index, training_texts):
    stored = CharTfidf.from_parameters(read_model(fake_index.store_dir, CLASSIFIER).part("chars"))
    vectorizer = _fitted(training_texts)
    assert stored.vocabulary == vectorizer.vocabulary_
    assert np.array_equal(stored.idf, vectorizer.idf_)
    assert (stored.ngram_range, stored.lowercase, stored.sublinear_tf, stored.norm) == ((1, 3), True, True, "l2")
    texts = _dev_messages() + MESSY
    assert np.abs(stored.transform(texts).toarray() - vectorizer.transform(texts).toarray()).max() <= 1e-9


def test_settings_it_does_not_reproduce_are_refused():
    with pytest.raises(ValueError, match="analyzer"):
        CharTfidf.from_sklearn(TfidfVectorizer(analyzer="char_wb").fit(["在吗", "好的"]))
    with pytest.raises(ValueError, match="norm"):
        CharTfidf.from_sklearn(TfidfVectorizer(analyzer="char", norm="l1").fit(["在吗", "好的"]))


def test_an_empty_batch_has_no_rows(training_texts):
    rows = CharTfidf.from_sklearn(_fitted(training_texts)).transform([])
    assert len(rows) == 0 and rows.toarray().shape == (0, rows.width)


def _blobs(classes: int, n: int = 120, dimension: int = 6, dtype=np.float64, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    centres = rng.normal(size=(classes, dimension))
    return (centres[y] + rng.normal(scale=1.5, size=(n, dimension))).astype(dtype), y


@pytest.mark.parametrize("classes", [2, 3, 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logistic_probabilities_equal_predict_proba(classes, dtype):
    x, y = _blobs(classes, dtype=dtype)
    model = LogisticRegression(C=4.0, max_iter=2000).fit(x, y)
    ours = LogisticModel.from_sklearn(model)
    assert ours.coef.dtype == model.coef_.dtype
    got = ours.probabilities(x)
    assert got.shape == (len(x), classes)
    assert np.abs(got - model.predict_proba(x)).max() <= 1e-6


def test_logistic_probabilities_over_dense_and_sparse_blocks_side_by_side(training_texts):
    """The tone model's layout: an embedding beside character TF-IDF, balanced classes."""
    from scipy.sparse import csr_matrix, hstack

    texts = training_texts[:300]
    vectorizer = _fitted(texts)
    dense, _ = _blobs(2, n=len(texts), dimension=8)
    y = np.array([i % 3 == 0 for i in range(len(texts))], dtype=int)
    model = LogisticRegression(C=4.0, class_weight="balanced", max_iter=3000)
    model.fit(hstack([csr_matrix(dense), vectorizer.transform(texts)]).tocsr(), y)
    ours = LogisticModel.from_sklearn(model)
    queries = _dev_messages()[:50] + MESSY
    query_dense, _ = _blobs(2, n=len(queries), dimension=8, seed=1)
    expected = model.predict_proba(hstack([csr_matrix(query_dense), vectorizer.transform(queries)]).tocsr())
    got = ours.probabilities(query_dense, CharTfidf.from_sklearn(vectorizer).transform(queries))
    assert np.abs(got - expected).max() <= 1e-9
    with pytest.raises(ValueError, match="do not add up"):
        ours.probabilities(query_dense)


def test_very_confident_scores_do_not_overflow():
    model = LogisticModel(np.array([0, 1]), np.array([[1.0]]), np.array([0.0]))
    assert np.array_equal(model.probabilities(np.array([[-1000.0], [1000.0]])), [[1.0, 0.0], [0.0, 1.0]])


def test_parameters_round_trip_and_bad_shapes_are_refused():
    model = LogisticModel(np.array([0, 2, 4]), np.arange(6, dtype=np.float64).reshape(3, 2), np.zeros(3))
    again = LogisticModel.from_parameters(model.parameters())
    assert again.classes.tolist() == [0, 2, 4] and np.array_equal(again.coef, model.coef)
    with pytest.raises(ValueError, match="3 classes"):
        LogisticModel(np.array([0, 2, 4]), np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(ValueError, match="dimensions"):
        LogisticModel.from_parameters(Parameters({"classes": [0, 1]}, {"coef": np.zeros(2), "intercept": np.zeros(1)}))
    with pytest.raises(KeyError):
        LogisticModel.from_parameters(Parameters({"classes": [0, 1]}, {"coef": np.zeros((1, 2))}))
    with pytest.raises(ValueError, match="idf"):
        CharTfidf({"a": 0, "b": 1}, np.ones(3))
    with pytest.raises(ValueError, match="columns"):
        CharTfidf({"a": 0, "b": 2}, np.ones(2))


def test_sparse_rows_dot_equals_the_dense_product():
    rows = SparseRows(np.array([0, 2, 2, 3]), np.array([0, 3, 1]), np.array([1.5, -2.0, 4.0]), 4)
    weights = np.arange(8, dtype=np.float64).reshape(4, 2)
    assert np.array_equal(rows.dot(weights), rows.toarray() @ weights)
    assert rows.toarray().tolist() == [[1.5, 0, 0, -2.0], [0, 0, 0, 0], [0, 4.0, 0, 0]]
