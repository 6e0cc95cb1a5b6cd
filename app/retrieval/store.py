"""The built index on disk: collections (rows + BM25 + FAISS) and manifest.json, verified when read.

Layout: `index/store` is a symbolic link to a versioned folder beside it (`index/store.<stamp>-<pid>-<random>`).
A build writes a new version, then points the link at it with one atomic rename, so a reader always
finds a whole index, the old one or the new one. Builds take a lock (`index/.build.lock`), and each
build removes what earlier, interrupted builds left behind. The manifest lists every file with its
size and SHA-256 and each collection's row count; an index that differs is refused, naming the file.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import IndexBusyError, IndexMissingError, IndexStaleError
from app.models.linear import Parameters
from app.retrieval.bm25 import BM25Index
from app.retrieval.dense import DenseIndex

# 2: relevance.json (the inspection's relevance model); 3: the scenario classifier and the tone model
# fitted at build time (classifier.json, tone_model.json and their .npy arrays); 4: the manifest lists
# every file's size and SHA-256, and the store is a link to a versioned folder; 5: the scenario classifier
# learns from each template's first CLASSIFIER_EXAMPLES examples (app/build.py). Bump it whenever what a
# build fits changes without the corpus changing: `kefu build` would call an older index up to date, and
# the service refuse it.
SCHEMA_VERSION = 5
MANIFEST = "manifest.json"
LOCK = ".build.lock"
KEEP_VERSIONS = 2  # the index served now and the one before it (a server still loading may be reading it)
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
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # path in the store -> {bytes, sha256}


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
        """IndexStaleError, naming the file, when a part is unreadable or the parts disagree on the rows."""
        part = folder / "rows.jsonl"
        try:
            with part.open(encoding="utf-8") as handle:
                rows = [json.loads(line) for line in handle]
            part = folder / "vectors.npy"
            vectors = np.load(part, allow_pickle=False)
            part = folder / "vectors.faiss"
            dense = DenseIndex.load(part)
            part = folder / "bm25"
            bm25 = BM25Index.load(part, len(rows))
        except Exception as exc:  # json, numpy, faiss and bm25s each fail in their own ways on a damaged file
            raise IndexStaleError(f"the index file {part} is unreadable ({type(exc).__name__}: {exc}); {REBUILD}",
                                  details=[str(part)]) from exc
        for name, size in (("vectors.npy", len(vectors)), ("vectors.faiss", dense.size)):
            if size != len(rows):
                raise IndexStaleError(f"the index file {folder / name} holds {size} rows, {folder / 'rows.jsonl'} "
                                      f"{len(rows)}; {REBUILD}", details=[str(folder / name)])
        return cls(folder.name, rows, bm25, dense, vectors)


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
    """Write a new version of the index beside the current one, then point `folder` at it.

    `extras` are small JSON documents stored beside the collections (name -> content). `models` are
    fitted models (name -> parameters, read back by `read_model`): the document as `name.json`, each
    array as `name.key.npy`. The caller holds `build_lock`.
    """
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    # Unique even for builds within one second; never an existing folder (it could be the one served).
    version = f"{folder.name}.{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
    staging = parent / version
    staging.mkdir()
    link = parent / f".{folder.name}.link-{os.getpid()}"
    try:
        for collection in collections:
            collection.save(staging / collection.name)
        for name, content in (extras or {}).items():
            (staging / f"{name}.json").write_text(json.dumps(content, ensure_ascii=False, indent=2), encoding="utf-8")
        for name, parameters in (models or {}).items():
            (staging / f"{name}.json").write_text(json.dumps(parameters.document, ensure_ascii=False), encoding="utf-8")
            for key, array in parameters.arrays.items():
                np.save(staging / f"{name}.{key}.npy", array, allow_pickle=False)
        # The manifest goes last: a version folder without one is recognisably incomplete.
        manifest = replace(manifest, files={path: _fingerprint(staging / path) for path in _files(staging)})
        (staging / MANIFEST).write_text(json.dumps(asdict(manifest), ensure_ascii=False, indent=2), encoding="utf-8")
        previous = _target(folder)
        if folder.exists() and not folder.is_symlink():
            # An index from before versioned folders: moved aside once (the only moment without one).
            previous = f"{folder.name}.legacy-{os.getpid()}"
            os.replace(folder, parent / previous)
        link.unlink(missing_ok=True)
        os.symlink(version, link)  # relative: the index folder can be moved or copied whole
        os.replace(link, folder)  # the one atomic step: readers see the old index or the new one
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        link.unlink(missing_ok=True)
        raise
    prune(folder, keep={version} | ({previous} if previous else set()))


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Held for a whole build: a second build of the same index fails at once, naming the first."""
    index_dir.mkdir(parents=True, exist_ok=True)
    path = index_dir / LOCK
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise IndexBusyError(f"another `kefu build` ({holder}) is writing {index_dir}; wait for it to finish",
                                 details=[holder]) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def prune(folder: Path, keep: set[str] | None = None) -> list[str]:
    """Remove what interrupted or earlier builds left beside `folder`: version folders other than the
    one it points at and the newest complete other one (or `keep`), staging and link leftovers. Call
    it under `build_lock`. Returns the names removed."""
    parent = folder.parent
    if not parent.is_dir():
        return []
    name = folder.name
    current = _target(folder)
    # Version folders (store.*), old-layout staging (.store.building-*, .store.retired-*) and link leftovers.
    versions = [entry for entry in parent.iterdir() if entry.name.startswith((f"{name}.", f".{name}."))]
    if keep is None:
        complete = sorted((entry for entry in versions if entry.name != current and (entry / MANIFEST).is_file()
                           and entry.name.startswith(f"{name}.")), key=lambda entry: entry.stat().st_mtime)
        keep = {entry.name for entry in complete[-(KEEP_VERSIONS - 1):]} | ({current} if current else set())
    removed = []
    for entry in versions:
        if entry.name in keep:
            continue
        if entry.is_symlink() or entry.is_file():
            entry.unlink(missing_ok=True)
        else:
            shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry.name)
    return sorted(removed)


def verify_store(folder: Path, manifest: Manifest) -> None:
    """Refuse an index whose files are not the ones its build wrote (by name, size and SHA-256)."""
    listed = manifest.files
    present = set(_files(folder))
    for path in sorted(set(listed) - present):
        raise IndexStaleError(f"the index in {folder} lacks {path}; {REBUILD}", details=[path])
    for path in sorted(present - set(listed)):
        raise IndexStaleError(f"the index in {folder} holds {path}, which its build did not write; {REBUILD}",
                              details=[path])
    for path in sorted(listed):
        expected = listed[path]
        size = (folder / path).stat().st_size
        if size != expected.get("bytes"):
            raise IndexStaleError(f"the index file {folder / path} has {size} bytes, its build wrote "
                                  f"{expected.get('bytes')}; {REBUILD}", details=[path])
        if _fingerprint(folder / path)["sha256"] != expected.get("sha256"):
            raise IndexStaleError(f"the index file {folder / path} is not the one its build wrote (checksum "
                                  f"differs); {REBUILD}", details=[path])


def _files(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*")
                  if path.is_file() and path.name != MANIFEST)


def _fingerprint(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _target(folder: Path) -> str | None:
    """The version folder `folder` links to, or None."""
    return os.readlink(folder) if folder.is_symlink() else None


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


def load_collections(folder: Path, names: list[str], progress: Callable[[str], None] | None = None,
                     counts: Mapping[str, int] | None = None) -> dict[str, Collection]:
    """The named collections; with `counts` (the manifest's), each must hold the rows its build counted."""
    collections = {}
    for name in names:
        path = folder / name
        if not (path / "rows.jsonl").is_file():
            raise IndexStaleError(f"the index in {folder} lacks the collection {name}; {REBUILD}")
        if progress:
            progress(f"loading {name}")
        collection = Collection.load(path)
        if counts is not None and counts.get(name) != len(collection.rows):
            raise IndexStaleError(f"the index manifest counts {counts.get(name)} rows in {name}, "
                                  f"{path / 'rows.jsonl'} holds {len(collection.rows)}; {REBUILD}",
                                  details=[f"{name}/rows.jsonl"])
        collections[name] = collection
    return collections
