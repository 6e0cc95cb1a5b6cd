"""The int8 ONNX encoder: close to the sentence-transformers reference, and serving without torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import CORPUS, REPO

pytestmark = pytest.mark.model


def _messages() -> list[str]:
    texts = []
    for name in ("eval/dev.jsonl", "training/scenario_bank.jsonl"):
        lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
        texts += ["query: " + json.loads(line)["message"] for line in lines if line.strip()]
    return texts


def test_int8_vectors_stay_within_cosine_099_of_the_reference(real_model_dir):
    from app.models.embedding import load_embedder

    texts = _messages()
    onnx = load_embedder("", real_model_dir, 32, backend="onnx")
    reference = load_embedder("", real_model_dir, 32, backend="sentence-transformers")
    assert onnx.model_id != reference.model_id and "onnx-int8" in onnx.model_id
    a, b = onnx.encode(texts), reference.encode(texts)
    assert a.shape == b.shape == (len(texts), 384) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    cosine = (a * b).sum(axis=1)
    assert len(texts) > 1000 and cosine.min() >= 0.99, (cosine.min(), texts[int(cosine.argmin())])
    assert onnx.encode([]).shape == (0, 384)


def test_serving_a_request_never_imports_torch(real_settings):
    code = """
import json, sys
from app.config import Settings
from app.replies import ReplyRequest
from app.service import KefuService
settings = Settings(corpus_dir=sys.argv[1], index_dir=sys.argv[2], model_dir=sys.argv[3])
result = KefuService.load(settings).reply(ReplyRequest("身高170 体重70kg 穿什么码", platform="jd"))
heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)
print(json.dumps({"heavy": heavy, "scenario": result.scenario.label, "answered": not result.needs_human}))
"""
    args = [str(real_settings.corpus_dir), str(real_settings.index_dir), str(real_settings.default_model_dir)]
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer == {"heavy": [], "scenario": "size", "answered": True}


def test_switching_the_backend_makes_the_index_stale(real_settings):
    from app.errors import IndexStaleError
    from app.service import KefuService

    with pytest.raises(IndexStaleError, match="stale"):
        KefuService.load(real_settings.model_copy(update={"embedding_backend": "sentence-transformers"}))


def test_a_vector_does_not_depend_on_the_texts_encoded_with_it(real_model_dir):
    """Dynamic int8 quantisation scales activations per tensor: in a shared batch one text's vector
    would move with its neighbours, and a reply would change with the traffic around it."""
    from app.models.embedding import load_embedder

    onnx = load_embedder("", real_model_dir, 32, backend="onnx")
    alone = onnx.encode(["query: 尺码表在哪里看"])
    together = onnx.encode(["query: 收到的杯子碎了，我很生气！！！", "query: 尺码表在哪里看", "query: 能便宜点吗"])
    np.testing.assert_array_equal(alone[0], together[1])
