import numpy as np
import pytest

from app.retrieval.fusion import Signal, fuse


def test_rrf_prefers_rows_ranked_high_by_both_signals():
    bm25 = np.array([0.0, 5.0, 3.0], dtype=np.float32)
    dense = np.array([0.9, 0.8, 0.1], dtype=np.float32)
    fused = fuse([Signal(bm25, 1.0, lexical=True), Signal(dense, 1.0, lexical=False)], rrf_k=60)
    # Row 2 is matched by both signals, row 0 by dense alone.
    assert list(np.argsort(-fused)) == [1, 2, 0]
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    # Row 0 had no lexical match: it gets only its dense share.
    assert fused[0] == pytest.approx(1 / 61)


def test_weighted_scales_bm25_by_its_maximum_and_clips_negative_cosines():
    bm25 = np.array([2.0, 4.0], dtype=np.float32)
    dense = np.array([-0.5, 0.5], dtype=np.float32)
    fused = fuse([Signal(bm25, 2.0, lexical=True), Signal(dense, 1.0, lexical=False)], method="weighted")
    assert fused.tolist() == pytest.approx([1.0, 2.5])


def test_weights_scale_each_signal():
    scores = np.array([1.0, 0.0], dtype=np.float32)
    fused = fuse([Signal(scores, 0.5, lexical=True)], rrf_k=1)
    assert fused.tolist() == pytest.approx([0.25, 0.0])


def test_rejects_mismatched_shapes_and_unknown_methods():
    with pytest.raises(ValueError, match="differ in shape"):
        fuse([Signal(np.zeros(2), 1, True), Signal(np.zeros(3), 1, False)])
    with pytest.raises(ValueError, match="choose 'rrf' or 'weighted'"):
        fuse([Signal(np.zeros(2), 1, True)], method="max")
