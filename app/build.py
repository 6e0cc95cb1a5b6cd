"""`kefu build` (build time): handbooks and script library -> cleaned passages -> BM25 + FAISS collections,
and the scenario classifier (with its calibration), the tone model and the relevance model fitted; also what a
built index must match."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from app import __version__
from app.config import Settings
from app.corpus import (
    SCENARIO_BANK,
    STOPWORDS,
    TONE_EXAMPLES,
    USERDICT,
    Template,
    corpus_fingerprint,
    handbook_paths,
    load_handbook_profiles,
    load_labelled,
    load_templates,
)
from app.errors import CorpusError, IndexError_
from app.handbooks.chunking import split_passages
from app.handbooks.cleaning import CleaningProfile, clean_handbook
from app.models.classifier import ScenarioClassifier, fit_temperature
from app.models.embedding import Embedder, prepare_default_model, settings_embedder
from app.models.relevance import RelevanceModel, training_pairs
from app.models.tone import ToneModel, load_tone_examples
from app.retrieval.store import (
    BANK,
    EXAMPLES,
    PASSAGES,
    REPLIES,
    SCHEMA_VERSION,
    TONE,
    Collection,
    Expectation,
    Manifest,
    build_lock,
    check_manifest,
    prune,
    read_manifest,
    verify_store,
    write_store,
)
from app.retrieval.tokenizer import ShopTokenizer
from app.text import normalize_text

Progress = Callable[[str], None]

CALIBRATION = "calibration"
RELEVANCE = "relevance"
CLASSIFIER = "classifier"  # the scenario classifier's regressions and n-gram weights
TONE_MODEL = "tone_model"
# The scenario classifier learns from the scenario bank and each template's first eight example questions
# (most templates have 5-8), not all of them: the templates given many examples to rank well (up to 24)
# pulled scenarios their way as the library grew (docs/measurements.md, issue 11, tenth session).
# Retrieval and the reranker still use every example.
CLASSIFIER_EXAMPLES = 8


@dataclass(frozen=True)
class BuildReport:
    folder: Path
    counts: dict[str, int]
    seconds: float
    model_converted: bool
    up_to_date: bool = False  # nothing was built: the index already matched corpus, model and settings


def make_tokenizer(corpus_dir: Path) -> ShopTokenizer:
    return ShopTokenizer(corpus_dir / USERDICT, corpus_dir / STOPWORDS)


def prefixes(settings: Settings) -> dict[str, str]:
    return {"query": settings.query_prefix, "example": settings.example_prefix, "passage": settings.passage_prefix}


def expectation(settings: Settings, embedder: Embedder, tokenizer: ShopTokenizer) -> Expectation:
    return Expectation(
        model_id=embedder.model_id,
        dimension=embedder.dimension,
        prefixes=prefixes(settings),
        corpus_hash=corpus_fingerprint(settings.corpus_dir),
        userdict_hash=tokenizer.fingerprint,
    )


class LabelledVectors(NamedTuple):
    """Labelled texts with their vectors, row for row: what a model is fitted on."""

    texts: list[str]
    labels: list[Any]  # a scenario name, or True/False for rude
    vectors: np.ndarray


def training_set(collections: dict[str, Collection], templates: Sequence[Template]) -> LabelledVectors:
    """The classifier's labelled messages: the scenario bank plus each template's first
    CLASSIFIER_EXAMPLES example questions."""
    scenario_of = {t.id: t.scenario for t in templates}
    bank, examples = collections[BANK], collections[EXAMPLES]
    taken: dict[str, int] = {}
    kept = []
    for row_number, row in enumerate(examples.rows):
        taken[row["template_id"]] = taken.get(row["template_id"], 0) + 1
        if taken[row["template_id"]] <= CLASSIFIER_EXAMPLES:
            kept.append(row_number)
    texts = [row["text"] for row in bank.rows] + [examples.rows[i]["text"] for i in kept]
    labels = [row["scenario"] for row in bank.rows] + [scenario_of[examples.rows[i]["template_id"]] for i in kept]
    return LabelledVectors(texts, labels, np.vstack([bank.vectors, examples.vectors[kept]]))


def tone_set(collections: dict[str, Collection]) -> LabelledVectors:
    """The tone model's labelled replies: the tone collection."""
    tone = collections[TONE]
    return LabelledVectors([row["text"] for row in tone.rows], [row["rude"] for row in tone.rows], tone.vectors)


def fit_relevance(collections: dict[str, Collection], templates: Sequence[Template], tone_questions: np.ndarray) -> RelevanceModel:
    """The relevance model from the template examples with their replies and the tone file's
    messages with theirs (app/models/relevance.py); non-answers come from other topics or messages."""
    examples, tone = collections[EXAMPLES], collections[TONE]
    reply_of = {row["template_id"]: vector for row, vector in zip(collections[REPLIES].rows, collections[REPLIES].vectors)}
    topic_of = {t.id: t.topic for t in templates}
    owners = [row["template_id"] for row in examples.rows]
    pairs = [
        training_pairs(examples.vectors, np.array([reply_of[o] for o in owners]), [topic_of[o] for o in owners]),
        training_pairs(tone_questions, tone.vectors, [str(i) for i in range(len(tone.rows))]),
    ]
    return RelevanceModel.fit(*(np.concatenate(parts) for parts in zip(*pairs)))


def build_index(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    force: bool = True,
    progress: Progress = lambda message: None,
) -> BuildReport:
    """Build the index into settings.store_dir (under its build lock): convert the default model if
    needed, embed the corpus, fit the models, and publish the new version atomically."""
    with build_lock(settings.index_dir):
        prune(settings.store_dir)  # what builds interrupted earlier left behind
        return _build_locked(settings, embedder=embedder, force=force, progress=progress)


def _build_locked(settings: Settings, *, embedder: Embedder | None, force: bool, progress: Progress) -> BuildReport:
    started = time.perf_counter()
    converted = False
    if embedder is None:
        if not settings.embedding_model:
            progress(f"preparing the embedding model in {settings.default_model_dir}")
            converted = prepare_default_model(settings.default_model_dir, progress=progress,
                                              backend=settings.embedding_backend)
        embedder = settings_embedder(settings)
    tokenizer = make_tokenizer(settings.corpus_dir)
    corpus_dir = settings.corpus_dir
    if not force:
        try:
            manifest = read_manifest(settings.store_dir)
            check_manifest(manifest, expectation(settings, embedder, tokenizer), settings.store_dir)
            verify_store(settings.store_dir, manifest)
            return BuildReport(settings.store_dir, manifest.counts, 0.0, converted, up_to_date=True)
        except IndexError_:
            pass  # missing or stale: build

    progress("cleaning handbooks")
    passages = []
    profiles = load_handbook_profiles(corpus_dir)
    for path in handbook_paths(corpus_dir):
        try:
            raw = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusError(f"handbook {path} is not UTF-8: {exc}") from exc
        passages.extend(split_passages(clean_handbook(path.name, raw, profiles.get(path.name, CleaningProfile()))))
    templates = load_templates(corpus_dir)
    bank = load_labelled(corpus_dir / SCENARIO_BANK)
    tone_messages, tone_replies, tone_labels = load_tone_examples(corpus_dir / TONE_EXAMPLES)

    sources: dict[str, tuple[list[dict], str]] = {
        PASSAGES: (
            [{"id": p.id, "doc": p.doc, "heading": list(p.heading), "text": p.text, "start": p.start, "end": p.end}
             for p in passages],
            settings.passage_prefix,
        ),
        EXAMPLES: (
            [{"template_id": t.id, "text": normalize_text(example)} for t in templates for example in t.examples],
            settings.example_prefix,
        ),
        REPLIES: ([{"template_id": t.id, "text": normalize_text(t.reply)} for t in templates], settings.passage_prefix),
        BANK: (
            [{"id": m.id, "text": normalize_text(m.message), "scenario": m.scenario, "also": list(m.also)} for m in bank],
            settings.query_prefix,
        ),
        # Agents' replies labelled rude or not, embedded as the inspection embeds replies.
        TONE: (
            [{"text": normalize_text(reply), "rude": rude} for reply, rude in zip(tone_replies, tone_labels)],
            settings.passage_prefix,
        ),
    }
    collections = []
    for name, (rows, prefix) in sources.items():
        progress(f"embedding {len(rows)} {name}")
        texts = [row["text"] for row in rows]
        terms = [tokenizer.tokenize(text) for text in texts]
        for row, row_terms in zip(rows, terms):
            row["terms"] = row_terms
        vectors = embedder.encode([prefix + text for text in texts])
        collections.append(Collection.build(name, rows, terms, vectors))

    progress("calibrating the scenario classifier (5-fold cross-validation)")
    by_name = {c.name: c for c in collections}
    texts, labels, vectors = training_set(by_name, templates)
    calibration = {"temperature": fit_temperature(texts, labels, vectors), "folds": 5,
                   "training_messages": len(texts)}
    progress("training the scenario classifier and the tone model")
    # Its temperature is applied when the service loads it, from the calibration.
    classifier = ScenarioClassifier.fit(texts, labels, vectors)
    tone_model = ToneModel.fit(*tone_set(by_name))

    progress(f"training the relevance model (embedding {len(tone_messages)} tone messages)")
    tone_questions = embedder.encode([settings.query_prefix + normalize_text(m) for m in tone_messages])
    relevance = fit_relevance(by_name, templates, tone_questions)

    expected = expectation(settings, embedder, tokenizer)
    counts = {c.name: len(c.rows) for c in collections} | {"templates": len(templates)}
    seconds = round(time.perf_counter() - started, 2)
    manifest = Manifest(
        schema_version=SCHEMA_VERSION,
        model_id=expected.model_id,
        dimension=expected.dimension,
        prefixes=expected.prefixes,
        corpus_hash=expected.corpus_hash,
        userdict_hash=expected.userdict_hash,
        counts=counts,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        build_seconds=seconds,
        kefu_version=__version__,
    )
    progress(f"writing the index to {settings.store_dir}")
    write_store(settings.store_dir, collections, manifest,
                extras={CALIBRATION: calibration, RELEVANCE: relevance.as_json()},
                models={CLASSIFIER: classifier.parameters(), TONE_MODEL: tone_model.parameters()})
    return BuildReport(settings.store_dir, counts, seconds, converted)
