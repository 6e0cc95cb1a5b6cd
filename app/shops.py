"""Several shops in one service: the bundled shop (KEFU_SHOP over corpus/ and index/) and every folder of
KEFU_SHOPS_DIR (default shops/), each with its own library, profile, handbooks and index.

A shop's folder holds what is the shop's: templates.yaml and/or quick_phrases.yaml (`kefu import --shop`),
shop.yaml, and optionally handbooks/ (with handbook_profiles.yaml); without handbooks it answers with
the bundled shop's passages. `kefu build --shop ID` indexes it into <folder>/index: its template
questions and replies (and its passages) only. Everything that is not the shop's own, the encoder, the
scenario classifier, the tone, relevance and reranking models, the etiquette and the inspection rules,
comes from the bundled shop's index and is shared in memory by all shops.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from app import __version__
from app.build import BuildReport, make_tokenizer, prefixes
from app.config import Settings
from app.corpus import (
    HANDBOOK_PROFILES,
    HANDBOOKS,
    LIBRARY_FILES,
    handbook_paths,
    load_handbook_profiles,
    load_templates,
)
from app.errors import CorpusError, IndexError_, IndexStaleError, NotFoundError
from app.handbooks.chunking import split_passages
from app.handbooks.cleaning import CleaningProfile, clean_handbook
from app.models.embedding import Embedder, prepare_default_model, settings_embedder
from app.retrieval.store import (
    EXAMPLES,
    PASSAGES,
    REPLIES,
    SCHEMA_VERSION,
    Collection,
    Expectation,
    Manifest,
    build_lock,
    check_manifest,
    load_collections,
    prune,
    read_manifest,
    verify_store,
    write_store,
)
from app.service import KefuService
from app.shop import SHOP, load_shop_profile
from app.text import normalize_text

SHOP_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
INDEX = "index"


def shop_ids(settings: Settings) -> list[str]:
    """The bundled shop first, then every shop folder (one holding a library file), sorted."""
    found = [settings.shop]
    if settings.shops_dir.is_dir():
        for folder in sorted(settings.shops_dir.iterdir()):
            if folder.is_dir() and folder.name != settings.shop and SHOP_ID.match(folder.name) and \
                    any((folder / name).is_file() for name, _ in LIBRARY_FILES):
                found.append(folder.name)
    return found


def shop_folder(settings: Settings, shop: str) -> Path:
    """The folder of a shop other than the bundled one; NotFoundError naming the shops there are."""
    if shop != settings.shop and shop in shop_ids(settings):
        return settings.shops_dir / shop
    raise NotFoundError(f"no shop {shop!r} in {settings.shops_dir}; shops: {', '.join(shop_ids(settings))}")


def own_handbooks(folder: Path) -> bool:
    return any((folder / HANDBOOKS).glob("*.txt"))


def shop_fingerprint(folder: Path) -> str:
    """Hash of what a shop's index is built from: its library files and handbooks."""
    digest = hashlib.sha256()
    inputs = (handbook_paths(folder) if own_handbooks(folder) else []) + \
        [folder / HANDBOOK_PROFILES] + [folder / name for name, _ in LIBRARY_FILES]
    for path in inputs:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update((path.read_bytes() if path.is_file() else b"<missing>") + b"\0")
    return digest.hexdigest()


def build_shop(settings: Settings, shop: str, *, embedder: Embedder | None = None,
               progress: Callable[[str], None] = lambda message: None) -> BuildReport:
    """Index one shop's library (and handbooks) into its folder, with the bundled shop's encoder and
    dictionary; published atomically like the bundled index."""
    folder = shop_folder(settings, shop)
    index_dir = folder / INDEX
    store = index_dir / "store"
    with build_lock(index_dir):
        prune(store)
        started = time.perf_counter()
        converted = False
        if embedder is None:
            if not settings.embedding_model:
                converted = prepare_default_model(settings.default_model_dir, progress=progress,
                                                  backend=settings.embedding_backend)
            embedder = settings_embedder(settings)
        tokenizer = make_tokenizer(settings.corpus_dir)
        templates = load_templates(folder)
        if not templates:
            raise CorpusError(f"shop {shop} has no templates in {folder}")
        sources: dict[str, tuple[list[dict], str]] = {
            EXAMPLES: ([{"template_id": t.id, "text": normalize_text(e)} for t in templates for e in t.examples],
                       settings.example_prefix),
            REPLIES: ([{"template_id": t.id, "text": normalize_text(t.reply)} for t in templates],
                      settings.passage_prefix),
        }
        if own_handbooks(folder):
            profiles = load_handbook_profiles(folder)
            passages = []
            for path in handbook_paths(folder):
                try:
                    raw = path.read_text(encoding="utf-8")
                except UnicodeDecodeError as exc:
                    raise CorpusError(f"handbook {path} is not UTF-8: {exc}") from exc
                passages.extend(split_passages(clean_handbook(path.name, raw,
                                                              profiles.get(path.name, CleaningProfile()))))
            sources[PASSAGES] = ([{"id": p.id, "doc": p.doc, "heading": list(p.heading), "text": p.text,
                                   "start": p.start, "end": p.end} for p in passages], settings.passage_prefix)
        collections = []
        for name, (rows, prefix) in sources.items():
            progress(f"shop {shop}: embedding {len(rows)} {name}")
            terms = [tokenizer.tokenize(row["text"]) for row in rows]
            for row, row_terms in zip(rows, terms):
                row["terms"] = row_terms
            collections.append(Collection.build(name, rows, terms,
                                                embedder.encode([prefix + row["text"] for row in rows])))
        counts = {c.name: len(c.rows) for c in collections} | {"templates": len(templates)}
        seconds = round(time.perf_counter() - started, 2)
        manifest = Manifest(schema_version=SCHEMA_VERSION, model_id=embedder.model_id, dimension=embedder.dimension,
                            prefixes=prefixes(settings), corpus_hash=shop_fingerprint(folder),
                            userdict_hash=tokenizer.fingerprint, counts=counts,
                            built_at=datetime.now(UTC).isoformat(timespec="seconds"), build_seconds=seconds,
                            kefu_version=__version__)
        write_store(store, collections, manifest)
    return BuildReport(store, counts, seconds, converted)


def load_shop(base: KefuService, settings: Settings, shop: str) -> KefuService:
    """The service for another shop of `settings`: `base` (the bundled shop's, loaded from its index) over the
    shop's own library, profile and passages. A missing or stale shop index is refused naming the command."""
    folder = shop_folder(settings, shop)
    store = (folder / INDEX / "store").resolve()
    rebuild = f"run `kefu build --shop {shop}`"
    try:
        manifest = read_manifest(store)
        retriever = base.retriever
        check_manifest(manifest, Expectation(model_id=retriever.embedder.model_id,
                                             dimension=retriever.embedder.dimension, prefixes=prefixes(base.settings),
                                             corpus_hash=shop_fingerprint(folder),
                                             userdict_hash=retriever.tokenizer.fingerprint), store)
        verify_store(store, manifest)
        names = [EXAMPLES, REPLIES] + ([PASSAGES] if own_handbooks(folder) else [])
        collections = load_collections(store, names, None, manifest.counts)
        templates = load_templates(folder)
        shop_retriever = retriever.with_templates(templates, collections[EXAMPLES], collections[REPLIES],
                                                  collections.get(PASSAGES))
    except IndexError_ as exc:
        # The bundled index's advice (`kefu build`) would rebuild the wrong index.
        raise type(exc)(f"shop {shop}: {exc.message.replace('run `kefu build` to rebuild it', rebuild)}",
                        details=exc.details) from exc
    except (KeyError, ValueError) as exc:
        raise IndexStaleError(f"shop {shop}: its index does not match its library ({exc}); {rebuild}") from exc
    shop_settings = replace_settings(settings, shop, folder)
    return KefuService(shop_settings, shop_retriever, base.classifier, base.composer, base.inspector, base.tone,
                       base.relevance, base.reranker, base.reader, load_shop_profile(folder))


def replace_settings(settings: Settings, shop: str, folder: Path) -> Settings:
    """The settings a shop's service carries: its shop id and corpus folder (what edits are checked against)."""
    return settings.model_copy(update={"shop": shop, "corpus_dir": folder, "index_dir": folder / INDEX})


__all__ = ["SHOP", "SHOP_ID", "build_shop", "load_shop", "shop_folder", "shop_fingerprint", "shop_ids"]
