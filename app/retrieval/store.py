"""The built index on disk: collections (rows + BM25 + FAISS) and manifest.json, swapped in atomically."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import IndexMissingError, IndexStaleError
from app.models.linear import Parameters
from app.retrieval.bm25 import BM25Index
from app.retrieval.dense import DenseIndex

# 2: relevance.json (the inspection's relevance model); 3: the scenario classifier and the tone model
# fitted at build time (classifier.json, tone_model.json and their .npy arrays).
SCHEMA_VERSION = 3
MANIFEST = "manifest.json"
REBUILD = "run `kefu build` to rebuild it"

# The collections of an index, one folder each.
PASSAGES = "passages"  # handbook passages
EXAMPLES = "examples"  # the template library's example questions
REPLIES = "replies"  # the template library's replies
BANK = "bank"  # labelled buyer messages (the scenario classifier's training set)
TONE = "tone"  # agents' replies labelled rude or not (the tone model's training set)
COLLECTIONS = (PASSAGES, EXAMPLES, REPLIES, BANK, TONE)


@dataclass(frozen=True)
class Manifest:
    schema_version: int
    model_id: str
    dimension: int
    prefixes: dict[str, str]
    corpus_hash: str
    userdict_hash: str
    counts: dict[str, int]
    built_at: str
    build_seconds: float
    kefu_version: str


@dataclass
class Collection:
    """Rows of one kind (passages, template examples …) searchable by terms and by vector."""

    name: str
    rows: list[dict[str, Any]]
    bm25: BM25Index
    dense: DenseIndex
    vectors: np.ndarray = field(repr=False)

    @classmethod
    def build(cls, name: str, rows: list[dict[str, Any]], terms: list[list[str]], vectors: np.ndarray) -> Collection:
        if not (len(rows) == len(terms) == len(vectors)):
            raise ValueError(f"collection {name}: {len(rows)} rows, {len(terms)} term lists, {len(vectors)} vectors")
        return cls(name, rows, BM25Index.build(terms), DenseIndex.build(vectors), vectors)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True)
        with (folder / "rows.jsonl").open("w", encoding="utf-8") as handle:
            for row in self.rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.bm25.save(folder / "bm25")
        self.dense.save(folder / "vectors.faiss")
        np.save(folder / "vectors.npy", self.vectors, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> Collection:
        with (folder / "rows.jsonl").open(encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle]
        vectors = np.load(folder / "vectors.npy", allow_pickle=False)
        return cls(folder.name, rows, BM25Index.load(folder / "bm25", len(rows)),
                   DenseIndex.load(folder / "vectors.faiss"), vectors)


@dataclass(frozen=True)
class Expectation:
    """What the running configuration needs the index to have been built with."""

    model_id: str
    dimension: int
    prefixes: dict[str, str]
    corpus_hash: str
    userdict_hash: str


def write_store(folder: Path, collections: list[Collection], manifest: Manifest,
                extras: dict[str, dict[str, Any]] | None = None, models: dict[str, Parameters] | None = None) -> None:
    """Write into a temporary sibling, then swap it in: readers never see a half-written index.

    `extras` are small JSON documents stored beside the collections (name -> content). `models` are
    fitted models (name -> parameters, read back by `read_model`): the document as `name.json`, each
    array as `name.key.npy`.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.building-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for collection in collections:
            collection.save(staging / collection.name)
        for name, content in (extras or {}).items():
            (staging / f"{name}.json").write_text(json.dumps(content, ensure_ascii=False, indent=2), encoding="utf-8")
        for name, parameters in (models or {}).items():
            (staging / f"{name}.json").write_text(json.dumps(parameters.document, ensure_ascii=False), encoding="utf-8")
            for key, array in parameters.arrays.items():
                np.save(staging / f"{name}.{key}.npy", array, allow_pickle=False)
        # The manifest goes last: a staging folder without one is recognisably incomplete.
        (staging / MANIFEST).write_text(json.dumps(asdict(manifest), ensure_ascii=False, indent=2), encoding="utf-8")
        retired = folder.parent / f".{folder.name}.retired-{os.getpid()}"
        if folder.exists():
            os.replace(folder, retired)
        os.replace(staging, folder)
        shutil.rmtree(retired, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST
    if not path.is_file():
        raise IndexMissingError(f"no index in {folder}; {REBUILD}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema_version") != SCHEMA_VERSION:
            raise IndexStaleError(
                f"the index in {folder} has schema version {data.get('schema_version')}, "
                f"this kefu reads version {SCHEMA_VERSION}; {REBUILD}"
            )
        return Manifest(**data)
    except (ValueError, TypeError) as exc:
        raise IndexStaleError(f"the index manifest {path} is unreadable ({exc}); {REBUILD}") from exc


def check_manifest(manifest: Manifest, expected: Expectation, folder: Path) -> None:
    """Refuse an index built from other inputs than the ones in use now, saying which differ."""
    differences = []
    if manifest.model_id != expected.model_id or manifest.dimension != expected.dimension:
        differences.append(
            f"model {manifest.model_id} ({manifest.dimension}d) vs {expected.model_id} ({expected.dimension}d)"
        )
    if manifest.prefixes != expected.prefixes:
        differences.append(f"prefixes {manifest.prefixes} vs {expected.prefixes}")
    if manifest.corpus_hash != expected.corpus_hash:
        differences.append("the corpus changed since the build")
    if manifest.userdict_hash != expected.userdict_hash:
        differences.append("the user dictionary or stopwords changed since the build")
    if differences:
        raise IndexStaleError(f"the index in {folder} is stale: {'; '.join(differences)}; {REBUILD}",
                              details=differences)


def read_extra(folder: Path, name: str) -> dict[str, Any]:
    path = folder / f"{name}.json"
    try:
        extra: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return extra
    except (OSError, ValueError) as exc:
        raise IndexStaleError(f"the index in {folder} lacks a readable {path.name} ({exc}); {REBUILD}") from exc


def read_model(folder: Path, name: str) -> Parameters:
    """A fitted model `write_store` stored: `name.json` and every `name.*.npy`, loaded without pickle."""
    document = read_extra(folder, name)
    arrays = {}
    for path in sorted(folder.glob(f"{name}.*.npy")):
        try:
            arrays[path.name.removeprefix(f"{name}.").removesuffix(".npy")] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise IndexStaleError(f"the index in {folder} has an unreadable {path.name} ({exc}); {REBUILD}") from exc
    return Parameters(document, arrays)


def load_collections(folder: Path, names: list[str], progress: Callable[[str], None] | None = None) -> dict[str, Collection]:
    collections = {}
    for name in names:
        path = folder / name
        if not (path / "rows.jsonl").is_file():
            raise IndexStaleError(f"the index in {folder} lacks the collection {name}; {REBUILD}")
        if progress:
            progress(f"loading {name}")
        collections[name] = Collection.load(path)
    return collections
