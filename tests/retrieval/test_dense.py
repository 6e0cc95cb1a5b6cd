import numpy as np

from app.retrieval.dense import DenseIndex


def test_scores_are_a_flat_search_s_bit_for_bit_in_storage_order(tmp_path):
    """DenseIndex.scores runs FAISS's inner-product kernel without a search; every score must be the one a
    search of the whole index gives, bit for bit (a last-digit difference would reorder near-ties), also
    after a save and load and for several queries at once."""
    rng = np.random.default_rng(7)
    stored = rng.normal(size=(1001, 384)).astype(np.float32)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    queries = (stored[rng.integers(0, len(stored), 25)] + rng.normal(0, 0.05, (25, 384))).astype(np.float32)
    index = DenseIndex.build(stored)
    index.save(tmp_path / "vectors.faiss")
    for loaded in (index, DenseIndex.load(tmp_path / "vectors.faiss")):
        scores = loaded.scores(queries)
        distances, labels = loaded._index.search(queries, len(stored))
        expected = np.empty_like(scores)
        np.put_along_axis(expected, labels, distances, axis=1)
        assert scores.dtype == np.float32 and scores.shape == (25, 1001)
        assert np.array_equal(scores, expected)
        assert np.array_equal(loaded.scores(queries[3]), scores[3:4])


def test_an_empty_index_scores_nothing():
    assert DenseIndex.build(np.zeros((0, 8), dtype=np.float32)).scores(np.ones(8, dtype=np.float32)).shape == (1, 0)
