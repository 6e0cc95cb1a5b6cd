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


def test_the_encoder_threads_setting_reaches_onnxruntime_and_keeps_the_vectors(real_model_dir):
    """KEFU_ENCODER_THREADS runs the encoder on more threads; an index built with one thread still fits."""
    from app.config import Settings
    from app.models.embedding import settings_embedder

    one = settings_embedder(Settings(model_dir=real_model_dir))
    two = settings_embedder(Settings(model_dir=real_model_dir, encoder_threads=2))
    assert one._session.get_session_options().intra_op_num_threads == 1
    assert two._session.get_session_options().intra_op_num_threads == 2
    texts = _messages()[:200]
    cosine = (one.encode(texts) * two.encode(texts)).sum(axis=1)
    assert cosine.min() > 0.9999, cosine.min()


def test_the_serving_vocabulary_tokenises_every_corpus_text_as_the_full_one(real_model_dir):
    """The reduced serving tokenizer (onnx_encoder.reduce_tokenizer) gives exactly the model's ids for
    every text kefu ships: templates, handbooks, every labelled set, both prefixes."""
    import numpy as np
    from tokenizers import Tokenizer

    from app.models.embedding import ONNX_FOLDER, VOCAB_IDS

    full = Tokenizer.from_file(str(real_model_dir / "tokenizer.json"))
    served = Tokenizer.from_file(str(real_model_dir / ONNX_FOLDER / "tokenizer.json"))
    model_ids = np.load(real_model_dir / ONNX_FOLDER / VOCAB_IDS)
    assert served.get_vocab_size(with_added_tokens=False) < full.get_vocab_size(with_added_tokens=False) // 1.5
    texts = _corpus_texts()
    differ = [text for text in texts for prefix in ("query: ", "passage: ")
              if full.encode(prefix + text).ids != model_ids[served.encode(prefix + text).ids].tolist()]
    assert differ == []
    # Outside the served characters the ids may differ, and the text still encodes.
    assert served.encode("Привет").ids


def _corpus_texts() -> list[str]:
    """Every text kefu ships: templates, handbooks, every labelled set, and a few of mixed scripts."""
    import glob
    from pathlib import Path

    import yaml

    corpus = REPO / "corpus"
    texts = ["包邮吗", "XL码 170cm 65kg", "😊好的亲～", "Ｍ码ｔ恤", "café", "bā lí"]
    for path in glob.glob(str(corpus / "**" / "*.jsonl"), recursive=True):
        for line in Path(path).read_text(encoding="utf-8").split("\n"):
            record = json.loads(line) if line.strip() else {}
            texts += [record[key] for key in ("message", "reply") if isinstance(record.get(key), str)]
    for template in yaml.safe_load((corpus / "templates.yaml").read_text(encoding="utf-8")):
        texts += [template["reply"], *template["examples"]]
    for path in glob.glob(str(corpus / "handbooks" / "*.txt")):
        texts += [line for line in Path(path).read_bytes().decode("utf-8", "replace").split("\n") if line.strip()]
    return texts


def test_the_python_unigram_pass_gives_the_ids_of_tokenizers(real_model_dir):
    """UnigramTokenizer keeps `tokenizers`' normalizer and pre-tokenizer and does the Viterbi pass itself (a
    fraction of the memory): the same ids as `tokenizers` on every corpus text with both prefixes, special tokens
    typed in a message, characters no piece holds, other scripts, spaces and texts past 512 tokens."""
    from tokenizers import Tokenizer

    from app.models.embedding import ONNX_FOLDER
    from app.models.onnx_encoder import MAX_TOKENS, UnigramTokenizer

    path = real_model_dir / ONNX_FOLDER / "tokenizer.json"
    reference = Tokenizer.from_file(str(path))
    reference.no_padding()
    reference.enable_truncation(max_length=MAX_TOKENS)
    ours = UnigramTokenizer(path)
    odd = ["", " ", "a  b", "<s>", "</s>", "<unk>", "<pad>", "a<s>b", "<s><s>", " <unk> ", "<s", "亲<pad>在吗",
           "\u200b", "<s>\u200b", "\t\n", "①②", "𠀀𠀁", "\u0301a", "▁", " ▁", "Привет", "مرحبا", "สวัสดี",
           "a" * 3000, "好" * 1200, "ab<s>" * 300]
    differ = [text for text in _corpus_texts() + odd for prefix in ("query: ", "passage: ", "")
              if ours.encode(prefix + text) != reference.encode(prefix + text).ids]
    assert differ == []
