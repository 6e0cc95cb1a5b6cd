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
import re
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

        model_file, tokenizer_file = Path(model_file), Path(tokenizer_file)
        self._tokenizer = UnigramTokenizer(tokenizer_file)
        # A reduced serving tokenizer numbers its pieces from 0; this maps them to the model's ids.
        self._model_ids = None if vocab_ids is None else np.load(vocab_ids, allow_pickle=False)
        if self._model_ids is not None and len(self._model_ids) != self._tokenizer.vocab_size:
            raise ValueError(f"{vocab_ids} maps {len(self._model_ids)} ids, the tokenizer has "
                             f"{self._tokenizer.vocab_size} pieces")

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
            # One text at a time, holding the GIL (~0.06 ms): `tokenizers`' encode_batch gave the same ids but let the
            # GIL go, and on the serve path the encoder thread then waited for it while a request thread read its message
            # (up to the whole reading, a few ms) before it could start the session run.
            ids = self._tokenizer.encode(text)
            ids = ids if self._model_ids is None else self._model_ids[ids].tolist()
            out[row] = self._run(ids)[0]
        return out

    def _run(self, ids: list[int]) -> np.ndarray:
        input_ids = np.asarray([ids], dtype=np.int64)
        mask = np.ones_like(input_ids)
        vectors = self._session.run([self._output], {"input_ids": input_ids, "attention_mask": mask})[0]
        return np.asarray(vectors, dtype=np.float32)


K_UNK_PENALTY = 10.0  # sentencepiece's (and `tokenizers`'): an unknown character scores this below the worst piece


class UnigramTokenizer:
    """What `tokenizers.Tokenizer.from_file(...).encode(text).ids` gives for kefu's e5 tokenizer file (with
    truncation to MAX_TOKENS), with the Unigram model's Viterbi pass done here over a dict of the pieces.

    `tokenizers` keeps a Unigram vocabulary as a byte trie with a hash map in every node: ~100 MB of the
    server's RSS for the ~134,000 serving pieces (most of its peak over 600 MB). The dict is ~20 MB. Its
    normalizer and pre-tokenizer still run in `tokenizers` (loaded from the same file over a vocabulary of
    the specials alone), and the pass below is its `encode_optimized` step for step: candidates from each
    character by increasing length, a later one only when strictly better, an unknown character where no
    one-character piece starts, runs of unknowns fused, so the ids are the same (tests compare them on
    every corpus text and on the special tokens typed in a message).
    """

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer

        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        model, post = raw.get("model", {}), raw.get("post_processor") or {}
        single = [next(iter(step.items())) for step in post.get("single", [])]
        added = raw.get("added_tokens", [])
        if (model.get("type") != "Unigram" or model.get("byte_fallback") or model.get("unk_id") is None
                or post.get("type") != "TemplateProcessing"
                or [(kind, step["id"]) for kind, step in single] != [("SpecialToken", "<s>"), ("Sequence", "A"),
                                                                       ("SpecialToken", "</s>")]
                or any(token["normalized"] or token["lstrip"] or token["rstrip"] or token["single_word"]
                       for token in added)):
            raise ValueError(f"{path}: expected kefu's e5 tokenizer (Unigram, <s> $A </s>, plain special tokens)")
        vocab = model["vocab"]
        self.vocab_size = len(vocab)
        self._ids = {piece: i for i, (piece, _) in enumerate(vocab)}  # the last of equal pieces wins, as there
        self._scores = [float(score) for _, score in vocab]
        self._longest = max(len(piece) for piece, _ in vocab)
        self._unk_id = int(model["unk_id"])
        self._unk_score = min(self._scores) - K_UNK_PENALTY
        specials = post["special_tokens"]
        self._first, self._last = specials["<s>"]["ids"], specials["</s>"]["ids"]
        self._added = {token["content"]: token["id"] for token in added}
        # Longest first: the first alternative that matches wins in `re`, the longest in `tokenizers`.
        self._added_pattern = re.compile("(" + "|".join(re.escape(content) for content in
                                                        sorted(self._added, key=len, reverse=True)) + ")")
        model["vocab"] = vocab[:SPECIALS]
        pipeline = Tokenizer.from_str(json.dumps(raw))
        self._normalizer, self._pre_tokenizer = pipeline.normalizer, pipeline.pre_tokenizer

    def encode(self, text: str) -> list[int]:
        """The model's input ids: <s>, the text's pieces (cut to fit MAX_TOKENS), </s>."""
        ids: list[int] = []
        # Special tokens typed in the text stand for themselves, matched before normalization.
        parts = self._added_pattern.split(text) if self._added else [text]
        for number, part in enumerate(parts):
            if number % 2:
                ids.append(self._added[part])
            elif part:
                for word, _ in self._pre_tokenizer.pre_tokenize_str(self._normalizer.normalize_str(part)):
                    ids += self._viterbi(word)
        return [*self._first, *ids[: MAX_TOKENS - len(self._first) - len(self._last)], *self._last]

    def _viterbi(self, text: str) -> list[int]:
        pieces, scores, longest = self._ids, self._scores, self._longest
        size = len(text)
        best = [0.0] * (size + 1)
        start = [-1] * (size + 1)  # -1: no path ends here yet
        piece = [0] * (size + 1)
        for at in range(size):
            here = best[at]
            single = False
            for end in range(at + 1, min(size, at + longest) + 1):
                found = pieces.get(text[at:end])
                if found is None:
                    continue
                score = scores[found] + here
                if start[end] < 0 or score > best[end]:
                    best[end], start[end], piece[end] = score, at, found
                single = single or end == at + 1
            if not single:
                score = self._unk_score + here
                if start[at + 1] < 0 or score > best[at + 1]:
                    best[at + 1], start[at + 1], piece[at + 1] = score, at, self._unk_id
        out: list[int] = []
        end = size
        while end > 0:
            begin = start[end]
            if piece[end] == self._unk_id:  # a run of unknown characters is one token
                while begin > 0 and piece[begin] == self._unk_id:
                    begin = start[begin]
                out.append(pieces.get(text[begin:end], self._unk_id))
            else:
                out.append(piece[end])
            end = begin
        out.reverse()
        return out
