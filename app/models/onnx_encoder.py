"""The ONNX Runtime encoder of the default model (multilingual-e5-small), int8, and how it is made.

Two halves with different dependencies:
- build time: `export_onnx` and `quantize` need torch, sentence-transformers, onnx, onnxscript and
  onnxruntime's quantization tools (the `build` extra); they are imported inside the functions.
- serve time: `OnnxEmbedder` needs only numpy, onnxruntime and `tokenizers`: serving never imports
  torch or sentence-transformers (tests/test_onnx_encoder.py checks it in a subprocess).

The exported graph takes input_ids and attention_mask and returns the mean-pooled, L2-normalised
sentence vector, so an encode is one session call and the pooling cannot drift from the
sentence-transformers Pooling/Normalize modules it mirrors. Figures behind the choices below are
in docs/measurements.md ("ONNX encoder").
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MAX_TOKENS = 512  # sentence_bert_config.json max_seq_length; specials count towards it
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "sentence_embedding"
# The serving tokenizer keeps the vocabulary's pieces made of these characters only (plus the four
# specials): ASCII, Latin-1, Latin Extended and IPA (pinyin tone marks), general punctuation, CJK
# symbols, ideographs and compatibility ideographs, kana, full-width forms, arrows, shapes, enclosed
# numbers, emoji and their variation selectors (❤️ is U+2764 U+FE0F), vertical and small forms.
# 250,002 pieces become ~134,000 and the Tokenizer's memory falls from ~290 MB to ~100 MB. Any text
# made of these characters tokenises to exactly the same ids (tests check every corpus text); text in
# other scripts (Cyrillic, Arabic, Thai …) splits into smaller pieces or <unk>.
SERVING_CHARACTERS: tuple[tuple[int, int], ...] = (
    (0x0000, 0x02FF), (0x2000, 0x206F), (0x2150, 0x27BF), (0x3000, 0x30FF), (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFE00, 0xFE6F), (0xFF00, 0xFFEF), (0x1F000, 0x1FAFF),
    (0x20000, 0x2FFFF),
)
SPECIALS = 4  # <s>, <pad>, </s>, <unk>: ids 0-3, kept where they are


def reduce_tokenizer(source: Path, out_json: Path, out_ids: Path) -> int:
    """Write the serving tokenizer (the pieces of SERVING_CHARACTERS, renumbered from 0) and the array
    mapping its ids back to the model's; return how many pieces it keeps. Build time."""
    raw = json.loads(Path(source).read_text(encoding="utf-8"))
    model = raw["model"]
    if model.get("type") != "Unigram" or model.get("unk_id") != 3:
        raise ValueError(f"{source}: expected the e5/XLM-R Unigram tokenizer with <unk> at id 3")

    def served(piece: str) -> bool:
        return all(any(lo <= ord(ch) <= hi for lo, hi in SERVING_CHARACTERS) for ch in piece)

    keep = [i for i, (piece, _) in enumerate(model["vocab"]) if i < SPECIALS or served(piece)]
    model["vocab"] = [model["vocab"][i] for i in keep]
    # <mask> (id 250001) is for pre-training; nothing kefu encodes contains it.
    raw["added_tokens"] = [token for token in raw.get("added_tokens", []) if token["id"] < SPECIALS]
    Path(out_json).write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    np.save(out_ids, np.asarray(keep, dtype=np.int64), allow_pickle=False)
    return len(keep)


# torchlib (the dynamo exporter's op library) is written against opset 18; its default of 20 and
# anything lower run onnx's version converter over the graph, one more step that can fail.
OPSET = 18


def export_onnx(model_dir: Path, out: Path) -> Path:
    """Export the sentence-transformers model in `model_dir` to an fp32 ONNX file at `out`.

    Uses torch.export (the `dynamo=True` exporter, which needs onnxscript) rather than the legacy
    TorchScript tracer: the tracer is deprecated in torch 2.13 and bakes Python-side decisions taken
    on the example batch into the graph (transformers' mask and SDPA code emits a dozen
    TracerWarnings), while torch.export keeps shapes symbolic and fails loudly instead.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    model_dir, out = Path(model_dir), Path(out)
    _check_pipeline(model_dir)
    st = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)  # a local folder
    encoder = _pooled_encoder(st[0].auto_model).eval()

    # The example batch has a padded row so the traced attention mask path is the general one.
    ids = torch.tensor([[0, 6, 10, 2], [0, 6, 2, 1]], dtype=torch.long)
    mask = (ids != 1).long()
    batch = torch.export.Dim("batch", min=1, max=4096)
    seq = torch.export.Dim("seq", min=2, max=MAX_TOKENS)
    out.parent.mkdir(parents=True, exist_ok=True)
    # The exporter warns about its own internals (a deprecated pytree check, axis names it merges);
    # they say nothing about this model, and a build whose caller turns warnings into errors (the
    # test suite) must not fail on them. Build time only, one thread.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(
                encoder,
                (ids, mask),
                str(out),
                input_names=list(INPUT_NAMES),
                output_names=[OUTPUT_NAME],
                dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
                opset_version=OPSET,
                dynamo=True,
                # One self-contained file: the fp32 model is ~470 MB, under protobuf's 2 GB limit, and a
                # sidecar weights file is one more thing to lose when the folder is copied.
                external_data=False,
                verbose=False,
            )
    return out


def _check_pipeline(model_dir: Path) -> None:
    """Refuse folders whose pipeline the in-graph pooling head would not reproduce.

    Read from the folder's JSON rather than the loaded modules: the module classes moved between
    sentence-transformers releases, the on-disk keys did not.
    """
    modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    pooling_dir = next((m["path"] for m in modules if m["type"].endswith("Pooling")), None)
    pooling = json.loads((model_dir / pooling_dir / "config.json").read_text(encoding="utf-8")) if pooling_dir else {}
    mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
        v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"
    )
    if kinds != ["Transformer", "Pooling", "Normalize"] or not mean_only or not pooling.get("include_prompt", True):
        raise ValueError(f"{model_dir}: expected Transformer -> mean Pooling (prompt included) -> Normalize, "
                         f"found {kinds} with pooling {pooling}")  # fmt: skip


def _pooled_encoder(transformer: Any) -> Any:
    """Wrap the transformer with the Pooling + Normalize steps (class built here: it needs torch)."""
    import torch

    class PooledEncoder(torch.nn.Module):
        def __init__(self, transformer: torch.nn.Module) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            # token_type_ids is left out: XLM-R has one segment and the model fills zeros itself, so
            # the ONNX graph has two inputs and callers cannot feed a wrong third one.
            hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            # Same clamp as sentence-transformers' Pooling, so an all-padding row gives zeros, not NaN.
            mean = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    return PooledEncoder(transformer)


def quantize(fp32_path: Path, int8_path: Path) -> Path:
    """Dynamically quantise `fp32_path` to int8 weights; returns `int8_path`.

    Choices, each measured on the project's 1157 messages (docs/measurements.md, "ONNX encoder"):
    * per_channel=True: one scale per output column instead of one per matrix. Without it the
      minimum cosine to the reference was 0.984 (QUInt8) / 0.977 (QInt8).
    * with per-channel scales QInt8 and QUInt8 weights are equally accurate, and QInt8 runs ORT's
      u8 x s8 kernels (VNNI on the target CPU) faster, so QInt8.
    * the FFN down-projections (1536 -> 384) stay fp32. Their input is the post-GELU activation,
      whose few large outliers a single dynamic uint8 scale per tensor cannot hold; leaving just
      these 12 out lifted the minimum cosine from 0.991 to 0.998, more than any other group.
    * the token-embedding Gather is quantised: that 250k x 384 table is 82% of all weights, so the
      file shrinks ~3.4x; the position and segment tables are tiny and stay fp32.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32_path, int8_path = Path(fp32_path), Path(int8_path)
    graph = onnx.load(str(fp32_path), load_external_data=False).graph
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}

    def weight(node: Any) -> tuple[int, ...]:
        return next((shapes[name] for name in node.input if name in shapes), ())

    # Matched by shape, not by name: the dynamo exporter renames folded weights (val_123).
    # A MatMul weight is (in, out), so in > out singles out the down-projections.
    matmuls = [(n.name, weight(n)) for n in graph.node if n.op_type == "MatMul"]
    down_projections = [name for name, w in matmuls if len(w) == 2 and w[0] > w[1]]
    gathers = [(n.name, weight(n)) for n in graph.node if n.op_type == "Gather"]
    small_tables = [name for name, w in gathers if len(w) == 2 and w[0] < 10_000]
    if not down_projections:  # the rule found nothing: a graph unlike the one this was measured on
        raise ValueError(f"{fp32_path}: no FFN down-projection MatMul (weight in > out) found")
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    quantize_dynamic(
        str(fp32_path),
        str(int8_path),
        op_types_to_quantize=["MatMul", "Gather"],
        per_channel=True,
        reduce_range=False,  # measured: 7-bit weights cost ~0.04 of minimum cosine
        weight_type=QuantType.QInt8,
        nodes_to_exclude=down_projections + small_tables,
    )
    return int8_path


class OnnxEmbedder:
    """kefu's Embedder protocol on onnxruntime: L2-normalised float32 rows, prefixes are the caller's.

    Each text is its own session run. Dynamic int8 quantisation scales activations per tensor, so
    in a padded batch a text's vector would depend on the texts beside it (cosine ≈ 0.9987 to the
    same text alone): replies would change with the traffic they were batched with. One run per
    text is reproducible, needs no padding, and measured as fast here (190 messages/s either way,
    docs/measurements.md).
    """

    def __init__(
        self,
        model_file: Path,
        tokenizer_file: Path,
        *,
        vocab_ids: Path | None = None,
        threads: int | None = None,
        model_id: str | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_file, tokenizer_file = Path(model_file), Path(tokenizer_file)
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        # One text per run, so nothing is padded; truncation counts the <s> ... </s> the
        # post-processor adds, as sentence-transformers does.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        # A reduced serving tokenizer numbers its pieces from 0; this maps them to the model's ids.
        self._model_ids = None if vocab_ids is None else np.load(vocab_ids, allow_pickle=False)
        if self._model_ids is not None and len(self._model_ids) != self._tokenizer.get_vocab_size(with_added_tokens=False):
            raise ValueError(f"{vocab_ids} maps {len(self._model_ids)} ids, the tokenizer has "
                             f"{self._tokenizer.get_vocab_size(with_added_tokens=False)} pieces")

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # One graph call at a time, so an inter-op pool would only add idle threads.
        options.inter_op_num_threads = 1
        # Default 1: on the shared 2-core target, 1 thread was as fast as 2 for single messages and
        # faster for batches (docs/measurements.md), because a second worker that the scheduler parks stalls
        # every parallel region; it also leaves a core to the web server.
        threads = 1 if threads is None else threads
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        options.intra_op_num_threads = threads
        # Workers spin-wait after each call by default; on a busy 2-core box that burns the CPU
        # the other processes (and the next request's tokenisation) need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        names = [i.name for i in self._session.get_inputs()]
        if sorted(names) != sorted(INPUT_NAMES):
            raise ValueError(f"{model_file} takes inputs {names}, expected {list(INPUT_NAMES)}")
        self._output = self._session.get_outputs()[0].name

        self.model_id = model_id or f"onnx:{model_file.name}"
        dim = self._session.get_outputs()[0].shape[-1]
        # The exporter writes the width as a number; run a probe only if some tool made it symbolic.
        self.dimension = int(dim) if isinstance(dim, int) else int(self._run([0, 2]).shape[1])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts, not one string")
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            # One text at a time, holding the GIL (~0.06 ms): encode_batch gives the same ids but lets the GIL go,
            # and on the serve path the encoder thread then waited for it while a request thread read its message
            # (up to the whole reading, a few ms) before it could start the session run.
            encoding = self._tokenizer.encode(text)
            ids = encoding.ids if self._model_ids is None else self._model_ids[encoding.ids].tolist()
            out[row] = self._run(ids)[0]
        return out

    def _run(self, ids: list[int]) -> np.ndarray:
        input_ids = np.asarray([ids], dtype=np.int64)
        mask = np.ones_like(input_ids)
        vectors = self._session.run([self._output], {"input_ids": input_ids, "attention_mask": mask})[0]
        return np.asarray(vectors, dtype=np.float32)
