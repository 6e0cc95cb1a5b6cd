"""The relevance model: pairs from the corpus, a fit that separates answers, stored coefficients."""

import numpy as np
import pytest

from app.models.relevance import NEGATIVES_PER_ANSWER, RelevanceModel, pair_features, training_pairs


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _topics(rng, count: int, dimension: int = 8):
    """Questions and answers that share a direction per topic: an answer sits near its question."""
    centres = _unit(rng.normal(size=(4, dimension)))
    groups = rng.integers(0, 4, size=count)
    questions = _unit(centres[groups] + 0.2 * rng.normal(size=(count, dimension)))
    answers = _unit(centres[groups] + 0.2 * rng.normal(size=(count, dimension)))
    return questions, answers, [f"topic-{g}" for g in groups]


def test_pairs_hold_each_answer_and_non_answers_from_other_groups():
    rng = np.random.default_rng(1)
    questions, answers, groups = _topics(rng, 40)
    messages, replies, labels = training_pairs(questions, answers, groups)
    assert len(messages) == len(replies) == len(labels) == 40 * (1 + NEGATIVES_PER_ANSWER)
    assert labels.sum() == 40
    for message, reply, label in zip(messages, replies, labels):
        i = int(np.argmax(questions @ message))
        j = int(np.argmax(answers @ reply))
        assert (i == j) == bool(label)
        if not label:
            assert groups[i] != groups[j]
    # Deterministic: the index is rebuilt identically.
    again = training_pairs(questions, answers, groups)
    assert all(np.array_equal(a, b) for a, b in zip((messages, replies, labels), again))


def test_pairs_refuse_mismatched_or_single_group_input():
    questions = np.eye(3)
    with pytest.raises(ValueError, match="one answer and one group"):
        training_pairs(questions, questions[:2], ["a", "b", "c"])
    with pytest.raises(ValueError, match="two groups"):
        training_pairs(questions, questions, ["a", "a", "a"])


def test_the_model_tells_answers_from_non_answers_and_survives_json():
    rng = np.random.default_rng(2)
    model = RelevanceModel.fit(*training_pairs(*_topics(rng, 200)))
    questions, answers, groups = _topics(np.random.default_rng(3), 60)
    shuffled = answers[np.roll(np.arange(60), 7)]
    other = np.array([g != h for g, h in zip(groups, np.roll(groups, 7))])
    right = model.probability(questions, answers)
    wrong = model.probability(questions, shuffled)[other]
    assert right.mean() > 0.8 and wrong.mean() < 0.2
    restored = RelevanceModel.from_json(model.as_json(), dimension=8)
    np.testing.assert_allclose(restored.probability(questions, answers), right, atol=1e-5)
    assert model.probability(np.zeros((0, 8)), np.zeros((0, 8))).shape == (0,)


def test_stored_coefficients_must_fit_the_embedder():
    model = RelevanceModel(np.zeros(17), 0.0)
    with pytest.raises(ValueError, match=r"expected \(769,\)"):
        RelevanceModel.from_json(model.as_json(), dimension=384)
    with pytest.raises(ValueError, match="pair up"):
        pair_features(np.zeros((2, 8)), np.zeros((3, 8)))


def test_service_refuses_an_index_without_the_relevance_model(tmp_path, fake_index, fake_embedder):
    import shutil

    from app.config import Settings
    from app.errors import IndexStaleError
    from app.service import KefuService

    settings = Settings(corpus_dir=fake_index.corpus_dir, index_dir=tmp_path / "index")
    shutil.copytree(fake_index.store_dir, settings.store_dir)
    (settings.store_dir / "relevance.json").write_text('{"weights": [1, 2], "bias": 0}', encoding="utf-8")
    with pytest.raises(IndexStaleError, match="kefu build"):
        KefuService.load(settings, embedder=fake_embedder)
    (settings.store_dir / "relevance.json").unlink()
    with pytest.raises(IndexStaleError, match="relevance.json"):
        KefuService.load(settings, embedder=fake_embedder)
