"""KefuService: the seam the CLI and the API share; orchestration only (understand -> retrieve -> rank -> compose)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from app.build import CALIBRATION, CLASSIFIER, RELEVANCE, TONE_MODEL, expectation, make_tokenizer, training_set
from app.clib import c_function
from app.compose import ReplyComposer
from app.config import Settings
from app.corpus import PLATFORM_FACTS, Template, load_templates
from app.errors import IndexStaleError, InputError
from app.etiquette import Etiquette
from app.feedback.prior import NO_PRIOR, AcceptancePrior
from app.inspection import Inspection, ReplyInspector
from app.models.classifier import ClassifierSettings, ScenarioClassifier, ScenarioPrediction
from app.models.embedding import Embedder, settings_embedder
from app.models.relevance import RelevanceModel
from app.models.reranker import Reranker
from app.models.serving import BatchSettings, EncoderCache, MicroBatcher
from app.models.tone import ToneModel
from app.replies import (
    InspectionRequest,
    ReplyRequest,
    ReplyResult,
    Review,
    SuggestedReply,
    check_platform,
    check_reply,
    check_top_k,
)
from app.retrieval.hybrid import FusionSettings, HybridRetriever, Lexical, SearchResult, TemplateScores
from app.retrieval.ranking import (
    CandidateSignals,
    Eligibility,
    MessageContext,
    candidate_features,
    candidates,
    size_chart_for,
)
from app.retrieval.store import (
    COLLECTIONS,
    EXAMPLES,
    PASSAGES,
    REBUILD,
    REPLIES,
    TONE,
    check_manifest,
    load_collections,
    read_extra,
    read_manifest,
    read_model,
    verify_store,
)
from app.shop import SIZE_CHARTS, ShopProfile, load_shop_profile
from app.text import normalize_text
from app.understanding.entities import Entities
from app.understanding.message import prepare_message
from app.understanding.situation import MessageReader, Understanding
from app.vocabulary import PLATFORMS

SUPPORT_PASSAGES = 2
HOLDING = "holding"  # the template id of the holding reply offered when kefu abstains
# Encoders see at most 512 tokens; a 5,000-character paste is classified on its opening, where
# buyers state their matter, and segmented in full for BM25.
MAX_ENCODED_CHARS = 480


@dataclass(frozen=True)
class _EmbeddedReplies:
    texts: list[str]  # normalized, cut to what the encoder sees
    vectors: list[np.ndarray | None]  # None for a reply with no text left


@dataclass(frozen=True)
class _Reading:
    """What a message's words tell before its vector is there: worked out while the encoder embeds it."""

    lexical: Lexical
    understood: Understanding
    sizes: dict[str, str]  # size chart -> the size it gives for what the buyer stated


@dataclass(frozen=True)
class _Understood:
    texts: list[str]  # the prepared messages
    vectors: np.ndarray
    predictions: list[ScenarioPrediction]
    replies: _EmbeddedReplies
    readings: list[_Reading]  # one per message when the caller asked for them (replies), else none


@dataclass(frozen=True)
class ServiceInfo:
    """What /readyz reports: the model in use and the size of the loaded library."""

    model: str
    passages: int
    examples: int
    templates: int


class KefuService:
    def __init__(self, settings: Settings, retriever: HybridRetriever, classifier: ScenarioClassifier,
                 composer: ReplyComposer, inspector: ReplyInspector, tone: ToneModel,
                 relevance: RelevanceModel, reranker: Reranker, reader: MessageReader, shop: ShopProfile) -> None:
        self.settings = settings
        self.retriever = retriever
        self.classifier = classifier
        self.composer = composer
        self.inspector = inspector
        self.tone = tone
        self.relevance = relevance
        self.reranker = reranker
        self.reader = reader
        self.shop = shop
        self.facts = {platform: platform_facts(shop.facts(), platform) for platform in PLATFORMS}
        self.eligibility = Eligibility(retriever.templates)

    @classmethod
    def load(
        cls,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        reranker: Reranker | None = None,
        progress: Callable[[str], None] = lambda message: None,
    ) -> KefuService:
        """Load the index and model once; refuse a missing or stale index with how to fix it."""
        # The version the link points at now: a build publishing meanwhile does not mix two indexes.
        store = settings.store_dir.resolve()
        manifest = read_manifest(store)  # fails fast, before the model loads, when there is no index
        # The encoder loads on a thread of its own: onnxruntime builds its session outside the GIL, so that
        # overlaps the dictionary and the index read here (pure Python, GIL-bound), ~0.3 s of every start-up.
        encoder: Future[Embedder] = Future()
        if embedder is None:
            progress("loading the embedding model")
            _run_in_thread(settings_embedder, settings, encoder)
        else:
            encoder.set_result(embedder)
        tokenizer = make_tokenizer(settings.corpus_dir)
        verify_store(store, manifest)  # every file as its build wrote it (size, SHA-256)
        # The tone collection is training data only: the tone model comes fitted, as arrays.
        collections = load_collections(store, [name for name in COLLECTIONS if name != TONE], progress,
                                       manifest.counts)
        embedder = encoder.result()
        check_manifest(manifest, expectation(settings, embedder, tokenizer), store)
        # Concurrent requests share encoder calls; repeated texts skip them (app/models/serving.py).
        embedder = EncoderCache(MicroBatcher(embedder, BatchSettings(
            window_seconds=settings.batch_window_ms / 1000, max_batch=settings.embedding_batch_size,
            max_pending=settings.max_pending_texts)), size=settings.encoder_cache_size)
        templates = load_templates(settings.corpus_dir)
        retriever = HybridRetriever(
            tokenizer,
            embedder,
            {name: collections[name] for name in (PASSAGES, EXAMPLES, REPLIES)},
            templates,
            query_prefix=settings.query_prefix,
            passage_prefix=settings.passage_prefix,
            fusion=FusionSettings(
                method=settings.fusion,
                rrf_k=settings.rrf_k,
                bm25_weight=settings.bm25_weight,
                dense_weight=settings.dense_weight,
            ),
        )
        # Both were fitted at build time; loading them is reading arrays (nothing is trained here).
        progress("loading the scenario classifier and the tone model")
        texts, labels, vectors = training_set(collections, templates)
        temperature = float(read_extra(store, CALIBRATION)["temperature"])
        try:
            classifier = ScenarioClassifier.from_parameters(texts, labels, vectors, read_model(store, CLASSIFIER),
                                                            ClassifierSettings(temperature=temperature))
            tone_model = ToneModel.from_parameters(read_model(store, TONE_MODEL), embedder.dimension)
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexStaleError(f"the scenario classifier or tone model in {store} is unreadable ({exc}); "
                                  f"{REBUILD}") from exc
        # Rules load here, not on first use, so a malformed rules file stops the service at start;
        # the etiquette is loaded once and shared by the composer and the inspector.
        etiquette = Etiquette.load(settings.corpus_dir)
        try:
            relevance = RelevanceModel.from_json(read_extra(store, RELEVANCE), embedder.dimension)
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexStaleError(f"the relevance model in {store} is unreadable ({exc}); {REBUILD}") from exc
        return cls(settings, retriever, classifier, ReplyComposer(etiquette),
                   ReplyInspector.load(settings.corpus_dir, etiquette), tone_model, relevance,
                   reranker or Reranker.load(settings.corpus_dir), MessageReader.load(settings.corpus_dir),
                   load_shop_profile(settings.corpus_dir))

    def with_library(self, retriever: HybridRetriever, shop: ShopProfile) -> KefuService:
        """The same models over another library and shop profile (a live edit, app/library/live.py): the
        scenario classifier, tone and relevance models stay as the index's build fitted them."""
        return KefuService(self.settings, retriever, self.classifier, self.composer, self.inspector, self.tone,
                           self.relevance, self.reranker, self.reader, shop)

    def info(self) -> ServiceInfo:
        retriever = self.retriever
        return ServiceInfo(retriever.embedder.model_id, len(retriever.passages.rows), len(retriever.examples.rows),
                           len(retriever.templates))

    def search(self, query: str, top_k: int = 5) -> SearchResult:
        text = prepare_message(query, what="query")
        top_k = check_top_k(top_k)
        return self.retriever.search(text, top_k, encoding=self.retriever.submit_together([text[:MAX_ENCODED_CHARS]], []))

    def classify(self, message: str) -> ScenarioPrediction:
        return self.classify_many([message])[0]

    def classify_many(self, messages: Sequence[str]) -> list[ScenarioPrediction]:
        return self._understand(messages).predictions

    def reply(self, request: ReplyRequest, prior: AcceptancePrior = NO_PRIOR) -> ReplyResult:
        return self.reply_many([request], prior)[0]

    def reply_many(self, requests: Sequence[ReplyRequest], prior: AcceptancePrior = NO_PRIOR) -> list[ReplyResult]:
        """Many messages at once: one batched encoding, same answers as one by one. `prior`: the shop's
        agents' acceptance of each template (app/feedback/prior.py), none by default."""
        return [review.result for review in self.review_many(requests, [None] * len(requests), prior=prior)]

    def review_many(self, requests: Sequence[ReplyRequest], agent_replies: Sequence[str | None],
                    positions: Sequence[str] | None = None, *, prior: AcceptancePrior = NO_PRIOR) -> list[Review]:
        """Suggestions for every message and inspection of the agent's reply where there is one.

        What `reply_many` and `inspect_many` give one after the other, with each message encoded
        and classified once: messages and the agents' replies go to the encoder in
        one call (batch evaluation of an inspection set needs both).
        """
        if len(agent_replies) != len(requests):
            raise InputError("one agent reply (or None) per request")
        for request, reply in zip(requests, agent_replies):
            check_platform(request.platform)
            check_top_k(request.top_k)
            if reply is not None:
                check_reply(reply)
        rows = [i for i, reply in enumerate(agent_replies) if reply is not None]
        # Where each agent reply stands; without it, as the request's history says (first or middle).
        if positions is None:
            positions = ["first" if request.is_first_turn() else "middle" for request in requests]
        inspected = [InspectionRequest(requests[i].message, agent_replies[i] or "", requests[i].platform,
                                       positions[i]) for i in rows]
        understood = self._understand([request.message for request in requests], [item.reply for item in inspected],
                                      requests)
        results = [
            self._reply(request, text, vector[None, :], prediction, reading, prior)
            for request, text, vector, prediction, reading in zip(requests, understood.texts, understood.vectors,
                                                                   understood.predictions, understood.readings)
        ]
        inspections = iter(self._inspections(inspected, understood.vectors[rows],
                                             [understood.predictions[i] for i in rows], understood.replies))
        return [Review(result, next(inspections) if reply is not None else None)
                for result, reply in zip(results, agent_replies)]

    def inspect_many(self, items: Sequence[InspectionRequest]) -> list[Inspection]:
        """Quality inspection of agents' replies.

        The message's scenario comes from the classifier; relevance is the relevance model's
        probability that the reply answers the message (app/models/relevance.py).
        """
        for item in items:
            check_platform(item.platform)
            check_reply(item.reply)
        understood = self._understand([item.message for item in items], [item.reply for item in items])
        return self._inspections(items, understood.vectors, understood.predictions, understood.replies)

    def inspect_fast(self, item: InspectionRequest) -> Inspection:
        """The word and pattern rules alone, no encoder call: what the side panel asks while the agent types.
        The message's scenario is guessed from its words; tone and relevance wait for the full check."""
        check_platform(item.platform)
        check_reply(item.reply)
        return self.inspector.inspect(item.message, item.reply, platform=item.platform, position=item.position)

    def _understand(self, messages: Sequence[str], replies: Sequence[str] = (),
                    requests: Sequence[ReplyRequest] = ()) -> _Understood:
        """Each message prepared and classified, and the agents' replies embedded, with one encoder call
        for the messages and the replies: one text per message (its clauses are not encoded, see
        ScenarioClassifier.classify).

        The encoder runs on its own thread (app/models/serving.py) and out of the GIL; meanwhile this
        thread does what needs no vector: the words' part of the classifier and, for `requests` (one per
        message), the reading of each message (terms, BM25, entities, stage, mood, sizes).
        """
        texts = [prepare_message(message) for message in messages]
        normalized = [normalize_text(reply)[:MAX_ENCODED_CHARS] for reply in replies]
        with_text = [reply for reply in normalized if reply]
        encoding = self.retriever.submit_together([text[:MAX_ENCODED_CHARS] for text in texts], with_text)
        words = self.classifier.word_probabilities(texts)
        readings = [self._read(request, text) for request, text in zip(requests, texts)]
        vectors = encoding.result()
        vectors, passages = vectors[: len(texts)], vectors[len(texts) :]
        predictions = self.classifier.classify(texts, vectors, words)
        found = iter(passages)
        reply_vectors = [next(found) if reply else None for reply in normalized]
        return _Understood(texts, vectors, predictions, _EmbeddedReplies(normalized, reply_vectors), readings)

    def _read(self, request: ReplyRequest, text: str) -> _Reading:
        understood = self.reader.understand(text, request.history)
        entities = understood.entities
        # The sizes the shop's charts give for what the buyer stated (a template built on one needs it).
        sizes = {}
        for chart in SIZE_CHARTS:
            advice = self.shop.recommend_size(chart, height_cm=entities.height_cm, weight_kg=entities.weight_kg,
                                              foot_length_mm=entities.foot_length_mm, waist_cm=entities.waist_cm)
            if advice is not None:
                sizes[chart] = advice.size
        return _Reading(self.retriever.lexical(text), understood, sizes)

    def _inspections(self, items: Sequence[InspectionRequest], vectors: np.ndarray,
                     predictions: Sequence[ScenarioPrediction], replies: _EmbeddedReplies) -> list[Inspection]:
        if not items:
            return []
        embedded = {i: vector for i, vector in enumerate(replies.vectors) if vector is not None}
        with_text = list(embedded)
        relevance: dict[int, float] = {}
        rudeness: dict[int, float] = {}
        if with_text:
            reply_vectors = np.stack(list(embedded.values()))
            answers = self.relevance.probability(vectors[with_text], reply_vectors)
            relevance = {i: float(p) for i, p in zip(with_text, answers)}
            scores = self.tone.rudeness([replies.texts[i] for i in with_text], reply_vectors)
            rudeness = {i: float(score) for i, score in zip(with_text, scores)}
        return [
            self.inspector.inspect(item.message, item.reply, platform=item.platform, position=item.position,
                                   scenario=prediction.label if not prediction.needs_human else None,
                                   relevance=relevance.get(i), rudeness=rudeness.get(i))
            for i, (item, prediction) in enumerate(zip(items, predictions))
        ]

    def rank(self, request: ReplyRequest, text: str, vector: np.ndarray, prediction: ScenarioPrediction,
             reading: _Reading | None = None, prior: AcceptancePrior = NO_PRIOR) -> Ranked:
        """The candidates for a prepared message, best first, with the reranker's evidence."""
        retriever = self.retriever
        templates = retriever.templates
        reading = reading or self._read(request, text)
        context = self._context(request, text, prediction, reading)
        scores = retriever.template_scores(reading.lexical, vector)
        found = candidates(templates, scores.fused, prediction, context, eligible=self.eligibility.mask(context))
        # The model-based signals are worked out for the candidates only (zero for the other templates).
        relevance, pairs, coverage = np.zeros(len(templates)), np.zeros(len(templates)), np.zeros(len(templates))
        if len(found.indices):
            relevance[found.indices] = self.relevance.probability(
                np.repeat(vector, len(found.indices), axis=0), retriever.replies.vectors[found.indices])
            pairs[found.indices] = retriever.example_pairs(scores, found.indices)
            coverage[found.indices] = retriever.term_coverage(reading.lexical.terms, found.indices)
        signals = CandidateSignals(scores.dense, scores.reply_dense, scores.bm25, relevance, pairs, coverage)
        features = candidate_features(templates, found, signals, prediction, context)
        probability = prior.adjust([templates[i].id for i in found.indices], self.reranker.probability(features))
        order = np.argsort(-probability, kind="stable")
        return Ranked(context, reading.lexical, scores, found.indices[order], probability[order], features[order])

    def _context(self, request: ReplyRequest, text: str, prediction: ScenarioPrediction,
                 reading: _Reading | None = None) -> MessageContext:
        reading = reading or self._read(request, text)
        understood = reading.understood
        # A complaint, or a late or lost parcel: apologise first and sell nothing (the inspection
        # asks the same of agents' replies).
        apology_owed = prediction.label == "complaint" or self.composer.etiquette.owes_apology(text, prediction.label)
        return MessageContext(request.platform, stage=understood.stage, mood=understood.mood,
                              category=understood.category, stated=understood.facts, ordered=understood.ordered,
                              apology_owed=apology_owed or understood.mood == "upset", sizes=reading.sizes,
                              said=_said(understood.entities))

    def _slots(self, request: ReplyRequest, template: Template, context: MessageContext) -> dict[str, str]:
        """What fills a template's slots: the shop's facts (for this platform), what the buyer stated, the
        size from the shop's chart, and last (winning) what the request carries."""
        values = dict(self.facts[request.platform])
        values.update(context.said)
        chart = size_chart_for(template)
        if chart is not None and chart in context.sizes:
            values["recommended_size"] = context.sizes[chart]
        values.update(request.slots)
        return values

    def _reply(self, request: ReplyRequest, text: str, vector: np.ndarray, prediction: ScenarioPrediction,
               reading: _Reading, prior: AcceptancePrior = NO_PRIOR) -> ReplyResult:
        retriever = self.retriever
        ranked = self.rank(request, text, vector, prediction, reading, prior)
        context = ranked.context
        support = tuple(retriever.passage_hits(ranked.lexical, vector, SUPPORT_PASSAGES))
        abstention = self._abstention(ranked)
        if abstention is not None:
            holding = self.composer.holding(platform=request.platform, first_turn=request.is_first_turn(),
                                            complaint=context.apology_owed)
            reply = SuggestedReply(text=holding, template_id=HOLDING, scenario=prediction.label, topic=HOLDING,
                                   score=0.0, components={}, terms=(), source={"doc": "etiquette", "heading": None,
                                                                              "label": "etiquette"},
                                   missing_slots=(), example="", confidence=0.0, holding=True)
            return ReplyResult(request.message, request.platform, request.is_first_turn(), prediction, (reply,),
                               support, abstention)
        shown = ranked.order[: request.top_k]
        hits = retriever.template_hits(ranked.lexical.terms, ranked.scores, request.top_k, shown)
        replies = []
        for hit, confidence in zip(hits, ranked.probability):
            template = hit.template
            composed = self.composer.compose(
                template,
                platform=request.platform,
                first_turn=request.is_first_turn(),
                complaint=context.apology_owed or template.scenario == "complaint",
                slots=self._slots(request, template, context),
            )
            replies.append(SuggestedReply(
                text=composed.text,
                template_id=template.id,
                scenario=template.scenario,
                topic=template.topic,
                score=float(confidence),
                components={"fused": hit.score, "bm25": hit.bm25, "dense": hit.dense},
                terms=hit.terms,
                source={"doc": template.source.kind, "heading": template.source.heading,
                        "label": template.source.label},
                missing_slots=composed.missing_slots,
                example=hit.example,
                confidence=float(confidence),
            ))
        return ReplyResult(request.message, request.platform, request.is_first_turn(), prediction, tuple(replies),
                           support)

    def _abstention(self, ranked: Ranked) -> str | None:
        """Why a person should answer this message instead of a suggestion, or None."""
        if len(ranked.order) == 0:
            return "没有适用于这个商品、平台或订单状态的话术，请人工回复"
        best = float(ranked.probability[0])
        if best < self.reranker.abstain_below:
            topic = self.retriever.templates[int(ranked.order[0])].topic
            return f"没有能直接回答这条消息的话术（最接近的是{topic}，可直接发送的把握只有{best:.0%}），请人工回复"
        return None


def _run_in_thread(function: Callable[[Settings], Embedder], settings: Settings, out: Future[Embedder]) -> None:
    """`function(settings)` on a daemon thread, its result or exception into `out` (a failed load elsewhere
    does not wait for it)."""
    def run() -> None:
        try:
            loaded = function(settings)
        except BaseException as exc:  # the loading thread re-raises it from out.result()
            out.set_exception(exc)
            return
        _return_freed_memory()
        out.set_result(loaded)

    threading.Thread(target=run, name="kefu-encoder-load", daemon=True).start()


def _return_freed_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's malloc_trim; elsewhere nothing is done).

    A thread allocates from a heap of its own, and what onnxruntime frees after building its session there
    (the graph before optimisation, weights before packing) stayed in the server's RSS: 7-25 MB more than
    loading on one thread, measured; trimmed, the same as one thread.
    """
    trim = c_function("malloc_trim")
    if trim is not None:  # glibc
        trim(0)


def platform_facts(facts: dict[str, str], platform: str) -> dict[str, str]:
    """The shop's facts as one platform's replies name them: "{payment_methods}" is the JD list on JD."""
    values = dict(facts)
    for name in PLATFORM_FACTS:
        value = facts.get(f"{name}.{platform}")
        if value:
            values[name] = value
    return values


def _said(entities: Entities) -> dict[str, str]:
    """Slots the buyer's own words fill, where they are unambiguous (one order number, one size …)."""
    said = {}
    for slot, values in (("order_id", entities.order_numbers), ("size", entities.sizes),
                         ("amount", tuple(amount.text for amount in entities.amounts))):
        if len(values) == 1:
            said[slot] = values[0]
    return said


@dataclass(frozen=True)
class Ranked:
    """A message's candidates after reranking, best first."""

    context: MessageContext
    lexical: Lexical  # the message's terms and BM25 scores
    scores: TemplateScores
    order: np.ndarray  # template indices
    probability: np.ndarray  # P(sendable as is), in the same order
    features: np.ndarray  # the reranker's input rows, in the same order


__all__ = ["KefuService", "ServiceInfo"]
