"""The reply tone model: its API on synthetic vectors, the training file, and the threshold plumbing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.errors import CorpusError
from app.etiquette import Etiquette
from app.inspection.rules import InspectionRules
from app.models.tone import TONE_EXAMPLES, ToneModel, load_tone_examples
from tests.conftest import CORPUS


def _synthetic(n: int = 40, dimension: int = 8, seed: int = 0):
    """Rude replies lean along axis 0, polite ones away from it; texts differ by a marker word."""
    rng = np.random.default_rng(seed)
    labels = [i % 2 == 0 for i in range(n)]
    vectors = rng.normal(0, 0.3, size=(n, dimension))
    vectors[:, 0] += np.where(labels, 1.0, -1.0)
    texts = ["自己看去" if rude else "您好，马上为您处理" for rude in labels]
    return texts, labels, vectors.astype(np.float32)


@pytest.mark.parametrize("chars", [True, False])
def test_rudeness_is_a_probability_per_reply_and_separates_the_classes(chars):
    texts, labels, vectors = _synthetic()
    model = ToneModel.fit(texts, labels, vectors, chars=chars)
    scores = model.rudeness(texts, vectors)
    assert scores.shape == (len(texts),)
    assert np.all((scores >= 0) & (scores <= 1))
    rude = scores[np.array(labels)]
    polite = scores[~np.array(labels)]
    assert rude.min() > 0.5 > polite.max()


def test_rudeness_of_nothing_is_empty():
    texts, labels, vectors = _synthetic()
    model = ToneModel.fit(texts, labels, vectors)
    assert model.rudeness([], np.zeros((0, vectors.shape[1]))).shape == (0,)


def test_mismatched_or_one_sided_training_data_is_refused():
    texts, labels, vectors = _synthetic()
    with pytest.raises(ValueError, match="same length"):
        ToneModel.fit(texts[:-1], labels, vectors)
    with pytest.raises(ValueError, match="both"):
        ToneModel.fit(texts, [True] * len(texts), vectors)
    model = ToneModel.fit(texts, labels, vectors)
    with pytest.raises(ValueError, match="same length"):
        model.rudeness(texts[:2], vectors[:3])


def test_parameters_round_trip_for_the_embedding_they_were_fitted_on():
    texts, labels, vectors = _synthetic()
    for chars in (True, False):
        fitted = ToneModel.fit(texts, labels, vectors, chars=chars)
        loaded = ToneModel.from_parameters(fitted.parameters(), dimension=8)
        assert loaded.chars is chars
        assert np.array_equal(loaded.rudeness(texts, vectors), fitted.rudeness(texts, vectors))
        with pytest.raises(ValueError, match="8-d embeddings, not 16-d"):
            ToneModel.from_parameters(fitted.parameters(), dimension=16)


def _sklearn_rudeness(texts, labels, vectors, queries, query_vectors):
    """The tone model as it was computed before issue 10: scikit-learn fitted at load, its predict_proba."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    with threadpool_limits(limits=1):
        features = hstack([csr_matrix(np.asarray(vectors, dtype=np.float64)), vectorizer.fit_transform(texts)]).tocsr()
        model = LogisticRegression(C=4.0, class_weight="balanced", max_iter=3000).fit(features, np.array(labels, dtype=int))
    queries_features = hstack([csr_matrix(np.asarray(query_vectors, dtype=np.float64)), vectorizer.transform(queries)])
    return model.predict_proba(queries_features.tocsr())[:, list(model.classes_).index(1)]


def test_the_loaded_tone_model_equals_a_fresh_sklearn_fit(fake_index, fake_service, fake_embedder):
    """The tone model the service loads from the index (fitted at build time, applied with numpy)
    gives the probabilities scikit-learn fitted on the same replies gives."""
    from app.corpus import load_labelled
    from app.retrieval.store import TONE, load_collections
    from app.text import normalize_text

    tone = load_collections(fake_index.store_dir, [TONE])[TONE]
    texts, labels = [row["text"] for row in tone.rows], [row["rude"] for row in tone.rows]
    queries = [normalize_text(row.message) for row in load_labelled(CORPUS / "eval" / "dev.jsonl")]
    queries += FRESH_RUDE + FRESH_POLITE + ["在吗  在吗", "😂😂", "ＸＬ码", "這件衣服"]
    query_vectors = fake_embedder.encode([fake_index.passage_prefix + text for text in queries])
    expected = _sklearn_rudeness(texts, labels, tone.vectors, queries, query_vectors)
    got = fake_service.tone.rudeness(queries, query_vectors)
    assert got.shape == expected.shape == (len(queries),)
    assert np.abs(got - expected).max() <= 1e-6


def test_the_training_file_is_balanced_and_unique():
    messages, replies, labels = load_tone_examples(CORPUS / TONE_EXAMPLES)
    assert len(messages) == len(replies) == len(labels)
    assert sum(labels) >= 200 and labels.count(False) >= 200
    assert len(set(replies)) == len(replies)
    ids = [json.loads(line)["id"] for line in (CORPUS / TONE_EXAMPLES).read_text(encoding="utf-8").splitlines()]
    assert len(set(ids)) == len(ids)


def test_a_bad_training_file_names_the_line(tmp_path):
    path = tmp_path / "tone.jsonl"
    path.write_text('{"id": "t1", "message": "在吗", "reply": "在的", "rude": false}\n'
                    '{"id": "t2", "message": "在吗", "reply": "说", "rude": "yes"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=":2:"):
        load_tone_examples(path)
    with pytest.raises(CorpusError, match="cannot read"):
        load_tone_examples(tmp_path / "missing.jsonl")


def test_the_threshold_comes_from_the_rules_file():
    threshold = InspectionRules.load(CORPUS, Etiquette.load(CORPUS)).tone_threshold
    assert 0.0 < threshold <= 1.0


# Replies written for this test only, none of them in corpus/training/reply_tone.jsonl.
FRESH_RUDE = [
    "这个问题昨天就回答过您了，翻翻聊天记录好吗",
    "电池不耐用是您充电习惯不好，跟产品没关系",
    "尺码不合适那是你自己量错了，别什么都推给我们",
    "快递慢找快递去，我们发出去就不归我们管了",
    "窗帘短了？下单前不量好窗户尺寸，现在说有什么意义",
    "嫌这个杯子贵就去买九块九包邮的，没人拦着你",
]
FRESH_POLITE = [
    "您好，这款窗帘可以按您家窗户尺寸定做，麻烦把宽和高发给我",
    "非常抱歉杯子运输中摔坏了，我们今天就给您补寄一个新的",
    "亲，这个价格已经是店庆价了，实在没法再少，您可以叠加店铺券使用",
    "您好，电池续航大约8小时，充电一次要两个半小时左右",
    "抱歉让您久等了，包裹已经到您所在的区，预计今天下午送达",
    "你好呀，这款卫衣是加绒的，冬天穿很暖和，有问题随时问我哈",
]


@pytest.mark.model
def test_the_real_model_puts_fresh_replies_on_the_right_side(real_model_dir):
    from app.models.embedding import load_embedder
    from app.text import normalize_text

    messages, replies, labels = load_tone_examples(CORPUS / TONE_EXAMPLES)
    assert not (set(FRESH_RUDE) | set(FRESH_POLITE)) & set(replies)
    embedder = load_embedder("", real_model_dir, 32)

    def encode(texts):
        return embedder.encode(["passage: " + normalize_text(text) for text in texts])

    model = ToneModel.fit(replies, labels, encode(replies))
    threshold = InspectionRules.load(CORPUS, Etiquette.load(CORPUS)).tone_threshold
    rude = model.rudeness(FRESH_RUDE, encode(FRESH_RUDE))
    polite = model.rudeness(FRESH_POLITE, encode(FRESH_POLITE))
    assert (rude >= threshold).sum() >= 5, rude.round(2)
    assert (polite < threshold).sum() >= 5, polite.round(2)
