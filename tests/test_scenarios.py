"""The scenario classifier on the real model: accuracy floors, messy input, abstention, overlap."""

import json
import re

import pytest

from app.corpus import load_labelled, load_templates
from app.models.classifier import is_fragment
from tests.conftest import CORPUS, REPO

DEV = CORPUS / "eval" / "dev.jsonl"
REAL = REPO.parent / "shared" / "realdata" / "jd_buyer_messages_dev.jsonl"


def _key(text: str) -> str:
    # Punctuation and spaces aside; a message of symbols alone ("？", "👌") is its own key.
    return re.sub(r"[\W_]+", "", text.lower()) or text.strip()


def test_dev_set_does_not_overlap_training_messages():
    train = {_key(m.message) for m in load_labelled(CORPUS / "training" / "scenario_bank.jsonl")}
    train |= {_key(example) for t in load_templates(CORPUS) for example in t.examples}
    dev = load_labelled(DEV)
    assert len(dev) >= 200
    assert [m.message for m in dev if _key(m.message) in train] == []


def _accuracy(service, rows):
    predictions = service.classify_many([row["message"] for row in rows])
    correct = [p.label == row["scenario"] or p.label in row.get("also", []) for p, row in zip(predictions, rows)]
    return sum(correct) / len(rows)


@pytest.mark.model
@pytest.mark.skipif(not REAL.is_file(), reason="../shared/realdata is not beside this checkout")
def test_accuracy_on_real_jd_messages(real_service):
    rows = [json.loads(line) for line in REAL.read_text(encoding="utf-8").splitlines()]
    rows = [row for row in rows if row["scenario"]]
    # Measured 0.924 on the 250 labelled messages (2026-11-22).
    assert _accuracy(real_service, rows) >= 0.91


@pytest.mark.model
@pytest.mark.parametrize("message, label", [
    ("這件衣服170斤穿什麼碼", "size"),                 # Traditional
    ("ＸＬ码偏大吗？", "size"),                          # full-width
    ("能便宜点吗😭😭", "price"),                          # emoji
    ("订单[订单x]怎么还没发货 #E-s46", "logistics"),     # JD placeholders
    ("身高170/52kg穿M还是L", "size"),
    ("裤长2尺2的有吗 腰围多少", "size"),
    ("鞋子穿了两天就开胶了，质量太差了，我要退货！！！", "complaint"),
    ("满300减40能和店铺券叠加吗", "price"),
    ("可以开增值税专用发票吗", "other"),
])
def test_messy_messages(real_service, message, label):
    assert real_service.classify(message).label == label


@pytest.mark.model
def test_5000_character_paste_is_classified(real_service):
    message = "收到的杯子碎了，要求退款。" + "我真的很生气，" * 720
    assert len(message) > 5000
    prediction = real_service.classify(message)
    assert prediction.label == "complaint"


@pytest.mark.model
@pytest.mark.parametrize("message", ["哈哈", "?", "嗯", "。。。", "😂😂", "[数字x]"])
def test_fragments_abstain(real_service, message):
    prediction = real_service.classify(message)
    assert prediction.label == "other"
    assert prediction.needs_human


@pytest.mark.model
@pytest.mark.parametrize("message", ["哈哈", "?", "嗯"])
def test_fragments_get_no_substantive_template(real_service, message):
    # A fragment asks nothing: kefu abstains, or answers with an acknowledgement (what a person
    # judged sendable for such messages), never with a policy or a pitch.
    from app.replies import ReplyRequest

    result = real_service.reply(ReplyRequest(message=message))
    top = result.replies[0]
    assert result.needs_human or top.topic in ("other.fragment", "other.greeting", "other.closing", "other.thanks")
    assert not any(reply.template_id.startswith(("price.", "complaint.", "logistics.")) and reply.confidence > 0.5
                   for reply in result.replies)


@pytest.mark.model
def test_two_matters_are_the_two_likeliest_scenarios(real_service):
    # Both matters rank first and second, far above the rest. Whether the runner-up is also reported as
    # `secondary` depends on its share crossing 0.25: a clean install on 2026-12-02 gave size 0.22 here
    # (it had been above), so the threshold is not what this test pins (docs/status.md, seventh session).
    prediction = real_service.classify("偏小了能换吗,运费谁出")
    first, second, third = sorted(prediction.scores, key=prediction.scores.get, reverse=True)[:3]
    assert {first, second} == {"size", "price"}
    assert prediction.scores[second] > 0.1 > prediction.scores[third]


@pytest.mark.model
def test_prediction_carries_scores_and_evidence(real_service):
    prediction = real_service.classify("什么时候发货")
    assert prediction.label == "logistics"
    assert set(prediction.scores) == {"size", "price", "logistics", "complaint", "other"}
    assert sum(prediction.scores.values()) == pytest.approx(1.0, abs=1e-6)
    assert prediction.confidence == max(prediction.scores.values())
    assert prediction.evidence["nearest"][0]["scenario"] == "logistics"


def test_fragment_detection():
    assert all(is_fragment(m) for m in ["哈哈", "?", "嗯嗯", "好的", "ok", "🙂", "。。。", "1", "2024"])
    assert not any(is_fragment(m) for m in ["在吗", "好的谢谢", "包邮吗", "XL", "170斤", "3号发货"])



def test_temperature_is_fitted_when_every_scenario_has_enough_messages():
    import numpy as np

    from app.models.classifier import fit_temperature

    rng = np.random.default_rng(0)
    labels = ["size", "price", "logistics", "complaint", "other"] * 8
    centres = {label: rng.normal(size=16) for label in set(labels)}
    vectors = np.stack([centres[label] + rng.normal(scale=0.8, size=16) for label in labels])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = [f"{label}{i}" for i, label in enumerate(labels)]
    assert fit_temperature(texts, labels, vectors) != 1.0
    # With a scenario missing there is nothing to cross-validate: probabilities stay as they are.
    assert fit_temperature(texts[:4], labels[:4], vectors[:4]) == 1.0


def _dev_inputs(settings, embedder):
    from app.understanding.message import prepare_message

    texts = [prepare_message(row.message) for row in load_labelled(DEV)]
    return texts, embedder.encode([settings.query_prefix + text for text in texts])


def _sklearn_probabilities(texts, labels, vectors, queries, query_vectors, temperature):
    """The ensemble as it was computed before issue 10: scikit-learn fitted at load, its predict_proba."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from app.models.classifier import ClassifierSettings
    from app.vocabulary import SCENARIOS

    y = np.array([SCENARIOS.index(label) for label in labels])
    train = np.ascontiguousarray(vectors, dtype=np.float32)
    with threadpool_limits(limits=1):
        dense = LogisticRegression(C=4.0, max_iter=2000).fit(train, y)
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1)
        chars = LogisticRegression(C=8.0, max_iter=2000).fit(vectorizer.fit_transform(list(texts)), y)
    parts = []
    for model, features in ((dense, query_vectors), (chars, vectorizer.transform(queries))):
        full = np.zeros((len(queries), len(SCENARIOS)))
        full[:, model.classes_] = model.predict_proba(features)
        parts.append(full)
    settings = ClassifierSettings()
    similarities = query_vectors @ train.T
    top = np.argpartition(-similarities, settings.neighbours - 1, axis=1)[:, : settings.neighbours]
    votes = np.zeros((len(queries), len(SCENARIOS)))
    for row in range(len(queries)):
        sims = similarities[row, top[row]]
        np.add.at(votes[row], y[top[row]], np.exp((sims - sims.max()) / settings.knn_temperature))
    parts.append(votes / votes.sum(axis=1, keepdims=True))
    logits = np.log(np.clip(sum(parts) / 3, 1e-9, 1.0)) / temperature
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_the_loaded_classifier_equals_a_fresh_sklearn_fit(fake_index, fake_service, fake_embedder):
    """The classifier the service loads from the index (fitted at build time, applied with numpy)
    gives the probabilities scikit-learn fitted on the same messages gives."""
    import numpy as np

    from app.build import CALIBRATION, training_set
    from app.retrieval.store import BANK, EXAMPLES, load_collections, read_extra

    store = fake_index.store_dir
    texts, labels, vectors = training_set(load_collections(store, [BANK, EXAMPLES]), load_templates(CORPUS))
    temperature = float(read_extra(store, CALIBRATION)["temperature"])
    assert fake_service.classifier.settings.temperature == temperature
    queries, query_vectors = _dev_inputs(fake_index, fake_embedder)
    expected = _sklearn_probabilities(texts, labels, vectors, queries, query_vectors, temperature)
    got = fake_service.classifier.probabilities(queries, query_vectors)
    assert got.shape == expected.shape == (len(queries), 5)
    assert np.abs(got - expected).max() <= 1e-6


def test_the_classifier_learns_from_the_bank_and_each_templates_first_examples(fake_index):
    """Examples past a template's first CLASSIFIER_EXAMPLES feed retrieval and ranking, not the scenario
    classifier, so a template given many examples to rank well cannot pull scenarios its way."""
    from app.build import CLASSIFIER_EXAMPLES, training_set
    from app.retrieval.store import BANK, EXAMPLES, load_collections
    from app.text import normalize_text

    templates = load_templates(CORPUS)
    bank = load_labelled(CORPUS / "training" / "scenario_bank.jsonl")
    texts, labels, vectors = training_set(load_collections(fake_index.store_dir, [BANK, EXAMPLES]), templates)
    expected = [normalize_text(m.message) for m in bank]
    expected += [normalize_text(example) for t in templates for example in t.examples[:CLASSIFIER_EXAMPLES]]
    assert texts == expected and len(labels) == len(vectors) == len(texts)
    assert labels[len(bank):] == [t.scenario for t in templates for _ in t.examples[:CLASSIFIER_EXAMPLES]]
    assert any(len(t.examples) > CLASSIFIER_EXAMPLES for t in templates)  # the cap leaves some out


def test_the_classifier_parameters_round_trip():
    import numpy as np

    from app.models.classifier import ScenarioClassifier

    rng = np.random.default_rng(0)
    labels = ["size", "price", "logistics", "complaint", "other"] * 8
    texts = [f"{label}消息{i}" for i, label in enumerate(labels)]
    vectors = rng.normal(size=(len(labels), 16)).astype(np.float32)
    fitted = ScenarioClassifier.fit(texts, labels, vectors)
    loaded = ScenarioClassifier.from_parameters(texts, labels, vectors, fitted.parameters())
    queries, query_vectors = ["尺码偏大吗", "", "😂"], rng.normal(size=(3, 16)).astype(np.float32)
    assert np.array_equal(loaded.probabilities(queries, query_vectors), fitted.probabilities(queries, query_vectors))
    with pytest.raises(ValueError, match="fitted on 40 messages"):
        ScenarioClassifier.from_parameters(texts[:-1], labels[:-1], vectors[:-1], fitted.parameters())
    with pytest.raises(ValueError, match="dimensions"):
        ScenarioClassifier.from_parameters(texts, labels, vectors[:, :8], fitted.parameters())
