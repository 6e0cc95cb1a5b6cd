"""KefuService: the seam the CLI and the API share (load once; classify -> retrieve -> compose)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from app.cleaning import normalize_text
from app.compose import Etiquette, ReplyComposer
from app.config import PLATFORMS, Settings
from app.corpus import load_templates
from app.embedding import Embedder, load_embedder
from app.errors import IndexStaleError, InputError
from app.inspect import Inspection, ReplyInspector
from app.indexing import (
    CALIBRATION,
    COLLECTIONS,
    RELEVANCE,
    EXAMPLES,
    PASSAGES,
    REPLIES,
    TONE,
    expectation,
    make_tokenizer,
    training_set,
)
from app.retrieval.hybrid import FusionSettings, HybridRetriever, PassageHit, SearchResult
from app.relevance import RelevanceModel
from app.retrieval.store import REBUILD, check_manifest, load_collections, read_extra, read_manifest
from app.tone import ToneModel
from app.scenarios import ClassifierSettings, ScenarioClassifier, ScenarioPrediction, split_clauses

MAX_TOP_K = 20
SUPPORT_PASSAGES = 2
# Encoders see at most 512 tokens; a 5,000-character paste is classified on its opening, where
# buyers state their matter, and segmented in full for BM25.
MAX_ENCODED_CHARS = 480
# JD's anonymisation: "[数字x]", "[金额x]", "[订单x]" … and emoji codes like "#E-s46".
_PLACEHOLDER = re.compile(r"\[(数字|金额|订单|姓名|地址|电话|日期|时间|站点|身份证号|链接|邮箱)x?\]")
_PLACEHOLDER_WORDS = {"数字": "1", "金额": "10元", "订单": "订单", "姓名": "", "地址": "地址", "电话": "电话",
                      "日期": "今天", "时间": "今天", "站点": "站点", "身份证号": "身份证", "链接": "链接", "邮箱": "邮箱"}
_EMOJI_CODE = re.compile(r"#E-[a-z]\d+")


@dataclass(frozen=True)
class Turn:
    role: str  # "buyer" | "agent"
    text: str


@dataclass(frozen=True)
class ReplyRequest:
    message: str
    platform: str = "taobao"
    top_k: int = 3
    first_turn: bool | None = None  # None: decided by the history (no agent turn yet -> first turn)
    history: tuple[Turn, ...] = ()
    slots: Mapping[str, str] = field(default_factory=dict)

    def is_first_turn(self) -> bool:
        if self.first_turn is not None:
            return self.first_turn
        return not any(turn.role == "agent" for turn in self.history)


@dataclass(frozen=True)
class SuggestedReply:
    text: str
    template_id: str
    scenario: str
    topic: str
    score: float
    components: dict[str, float]
    terms: tuple[str, ...]
    source: dict
    missing_slots: tuple[str, ...]
    example: str

    def as_dict(self) -> dict:
        return {
            "text": self.text,
            "template_id": self.template_id,
            "scenario": self.scenario,
            "topic": self.topic,
            "score": round(self.score, 4),
            "components": {name: round(value, 4) for name, value in self.components.items()},
            "terms": list(self.terms),
            "source": self.source,
            "missing_slots": list(self.missing_slots),
            "example": self.example,
        }


@dataclass(frozen=True)
class ReplyResult:
    message: str
    platform: str
    first_turn: bool
    scenario: ScenarioPrediction
    replies: tuple[SuggestedReply, ...]
    support: tuple[PassageHit, ...] = ()  # handbook passages behind the answer, for the agent to check

    @property
    def needs_human(self) -> bool:
        return self.scenario.needs_human

    def as_dict(self) -> dict:
        return {
            "message": self.message,
            "platform": self.platform,
            "first_turn": self.first_turn,
            "scenario": self.scenario.as_dict(),
            "needs_human": self.needs_human,
            "replies": [reply.as_dict() for reply in self.replies],
            "support": [
                {"id": hit.id, "doc": hit.doc, "heading": list(hit.heading), "text": hit.text,
                 "score": round(hit.score, 6)}
                for hit in self.support
            ],
        }


class KefuService:
    def __init__(self, settings: Settings, retriever: HybridRetriever, classifier: ScenarioClassifier,
                 composer: ReplyComposer, inspector: ReplyInspector, tone: ToneModel,
                 relevance: RelevanceModel) -> None:
        self.settings = settings
        self.retriever = retriever
        self.classifier = classifier
        self.composer = composer
        self.inspector = inspector
        self.tone = tone
        self.relevance = relevance
        # The API calls one service from many threads. The rest of the path is read-only; the
        # encoder is serialised because concurrent torch forwards only fight over the same cores.
        self._encoder_lock = threading.Lock()

    @classmethod
    def load(
        cls,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        progress: Callable[[str], None] = lambda message: None,
    ) -> "KefuService":
        """Load the index and model once; refuse a missing or stale index with how to fix it."""
        store = settings.store_dir
        manifest = read_manifest(store)  # fails fast, before the model loads, when there is no index
        tokenizer = make_tokenizer(settings.corpus_dir)
        if embedder is None:
            progress("loading the embedding model")
            embedder = load_embedder(settings.embedding_model, settings.default_model_dir, settings.embedding_batch_size)
        check_manifest(manifest, expectation(settings, embedder, tokenizer), store)
        collections = load_collections(store, list(COLLECTIONS), progress)
        templates = load_templates(settings.corpus_dir)
        retriever = HybridRetriever(
            tokenizer,
            embedder,
            {name: collections[name] for name in (PASSAGES, EXAMPLES, REPLIES)},
            templates,
            query_prefix=settings.query_prefix,
            fusion=FusionSettings(
                method=settings.fusion,
                rrf_k=settings.rrf_k,
                bm25_weight=settings.bm25_weight,
                dense_weight=settings.dense_weight,
            ),
        )
        progress("training the scenario classifier")
        texts, labels, vectors = training_set(collections, templates)
        temperature = float(read_extra(store, CALIBRATION)["temperature"])
        classifier = ScenarioClassifier(texts, labels, vectors, ClassifierSettings(temperature=temperature))
        tone = collections[TONE]
        tone_model = ToneModel([row["text"] for row in tone.rows], [row["rude"] for row in tone.rows], tone.vectors)
        # Rules load here, not on first use, so a malformed rules file stops the service at start.
        composer = ReplyComposer(Etiquette.load(settings.corpus_dir))
        try:
            relevance = RelevanceModel.from_json(read_extra(store, RELEVANCE), embedder.dimension)
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexStaleError(f"the relevance model in {store} is unreadable ({exc}); {REBUILD}") from exc
        return cls(settings, retriever, classifier, composer, ReplyInspector.load(settings.corpus_dir), tone_model,
                   relevance)

    def search(self, query: str, top_k: int = 5) -> SearchResult:
        text = prepare_message(query, what="query")
        return self.retriever.search(text, check_top_k(top_k), vector=self._encode([text]))

    def classify(self, message: str) -> ScenarioPrediction:
        return self.classify_many([message])[0]

    def classify_many(self, messages: Sequence[str]) -> list[ScenarioPrediction]:
        texts = [prepare_message(message) for message in messages]
        return self._classify(texts, self._encode(texts))

    def reply(self, request: ReplyRequest) -> ReplyResult:
        return self.reply_many([request])[0]

    def reply_many(self, requests: Sequence[ReplyRequest]) -> list[ReplyResult]:
        """Many messages at once: one batched encoding, same answers as one by one."""
        return [result for result, _ in self.review_many(requests, [None] * len(requests))]

    def review_many(self, requests: Sequence[ReplyRequest],
                    agent_replies: Sequence[str | None]) -> list[tuple[ReplyResult, Inspection | None]]:
        """Suggestions for every message and inspection of the agent's reply where there is one.

        What `reply_many` and `inspect_many` give one after the other, with each message encoded
        and classified once (batch evaluation of an inspection set needs both).
        """
        if len(agent_replies) != len(requests):
            raise InputError("one agent reply (or None) per request")
        for request, reply in zip(requests, agent_replies):
            check_platform(request.platform)
            check_top_k(request.top_k)
            if reply is not None:
                check_reply(reply)
        texts, vectors, predictions = self._understand([request.message for request in requests])
        results = [
            self._reply(request, text, vector[None, :], prediction)
            for request, text, vector, prediction in zip(requests, texts, vectors, predictions)
        ]
        rows = [i for i, reply in enumerate(agent_replies) if reply is not None]
        inspections = iter(self._inspections(
            [(requests[i].message, agent_replies[i], requests[i].platform, requests[i].is_first_turn()) for i in rows],
            vectors[rows], [predictions[i] for i in rows],
        ))
        return [(result, next(inspections) if reply is not None else None)
                for result, reply in zip(results, agent_replies)]

    def _understand(self, messages: Sequence[str]) -> tuple[list[str], np.ndarray, list[ScenarioPrediction]]:
        """Each message prepared, encoded (one batch) and classified."""
        texts = [prepare_message(message) for message in messages]
        vectors = self._encode(texts)
        return texts, vectors, self._classify(texts, vectors)

    def inspect_many(self, items: Sequence[tuple[str, str, str, bool]]) -> list[Inspection]:
        """Quality inspection of agents' replies: (message, reply, platform, first_turn) each.

        The message's scenario comes from the classifier; relevance is the relevance model's
        probability that the reply answers the message (app/relevance.py).
        """
        for _, reply, platform, _ in items:
            check_platform(platform)
            check_reply(reply)
        _, vectors, predictions = self._understand([message for message, *_ in items])
        return self._inspections(items, vectors, predictions)

    def _inspections(self, items: Sequence[tuple[str, str, str, bool]], vectors: np.ndarray,
                     predictions: Sequence[ScenarioPrediction]) -> list[Inspection]:
        if not items:
            return []
        replies = [normalize_text(reply)[:MAX_ENCODED_CHARS] for _, reply, _, _ in items]
        with_text = [i for i, reply in enumerate(replies) if reply]
        relevance: dict[int, float] = {}
        rudeness: dict[int, float] = {}
        if with_text:
            with self._encoder_lock:
                reply_vectors = self.retriever.embedder.encode([self.settings.passage_prefix + replies[i]
                                                                 for i in with_text])
            answers = self.relevance.probability(vectors[with_text], reply_vectors)
            relevance = {i: float(p) for i, p in zip(with_text, answers)}
            scores = self.tone.rudeness([replies[i] for i in with_text], reply_vectors)
            rudeness = {i: float(score) for i, score in zip(with_text, scores)}
        return [
            self.inspector.inspect(message, reply, platform=platform, first_turn=first_turn,
                                   scenario=prediction.label if not prediction.needs_human else None,
                                   relevance=relevance.get(i), rudeness=rudeness.get(i))
            for i, ((message, reply, platform, first_turn), prediction) in enumerate(zip(items, predictions))
        ]

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        with self._encoder_lock:
            return self.retriever.encode([text[:MAX_ENCODED_CHARS] for text in texts])

    def _classify(self, texts: Sequence[str], vectors: np.ndarray) -> list[ScenarioPrediction]:
        clause_sets = [split_clauses(text[:MAX_ENCODED_CHARS]) for text in texts]
        flat = [clause for clauses in clause_sets if len(clauses) > 1 for clause in clauses]
        flat_vectors = self._encode(flat) if flat else np.zeros((0, vectors.shape[1]), dtype=np.float32)
        clause_vectors, at = [], 0
        for clauses in clause_sets:
            count = len(clauses) if len(clauses) > 1 else 0
            clause_vectors.append(flat_vectors[at : at + count])
            at += count
        return self.classifier.classify(texts, vectors, clause_sets, clause_vectors)

    def _reply(self, request: ReplyRequest, text: str, vector: np.ndarray,
               prediction: ScenarioPrediction) -> ReplyResult:
        retriever = self.retriever
        terms = retriever.tokenizer.tokenize(text)
        scores = retriever.template_scores(terms, vector)
        # A complaint, or a late or lost parcel: apologise first and sell nothing (the inspection
        # asks the same of agents' replies).
        complaint = prediction.label == "complaint" or self.inspector.owes_apology(text, prediction.label)
        # Fused scores (RRF) are put on 0..1 by the best a template can get, then weighted by the
        # probability of the template's scenario: the predicted scenario is preferred, not required.
        fused = scores.fused / max(float(scores.fused.max(initial=0.0)), 1e-9)
        weights = np.array([0.5 + prediction.scores[t.scenario] for t in retriever.templates]) / 1.5
        # When the classifier abstains no suggestion may look like a confident match.
        final = fused * weights * (0.5 if prediction.needs_human else 1.0)
        eligible = np.array([
            request.platform in t.platforms and not (complaint and self.composer.is_upsell(t))
            for t in retriever.templates
        ])
        final = np.where(eligible, final, -1.0)
        order = np.argsort(-final, kind="stable")[: request.top_k]
        replies = []
        for hit, index in zip(retriever.template_hits(terms, scores, request.top_k, order), order):
            template = hit.template
            composed = self.composer.compose(
                template,
                platform=request.platform,
                first_turn=request.is_first_turn(),
                complaint=complaint or template.scenario == "complaint",
                slots=request.slots,
            )
            replies.append(SuggestedReply(
                text=composed.text,
                template_id=template.id,
                scenario=template.scenario,
                topic=template.topic,
                score=float(final[index]),
                components={"fused": hit.score, "bm25": hit.bm25, "dense": hit.dense},
                terms=hit.terms,
                source={"doc": template.source.doc or "team", "heading": template.source.heading,
                        "label": template.source.label},
                missing_slots=composed.missing_slots,
                example=hit.example,
            ))
        support = tuple(retriever.passage_hits(terms, vector, SUPPORT_PASSAGES))
        return ReplyResult(request.message, request.platform, request.is_first_turn(), prediction, tuple(replies),
                           support)


def prepare_message(message: str, *, what: str = "message") -> str:
    """The normalized form of a buyer message, or InputError when nothing is left to work with."""
    if not isinstance(message, str):
        raise InputError(f"the {what} must be text")
    text = normalize_text(message)
    text = _PLACEHOLDER.sub(lambda m: _PLACEHOLDER_WORDS[m.group(1)], text)
    text = _EMOJI_CODE.sub("", text).strip()
    if not text:
        raise InputError(f"the {what} is empty; paste the buyer's message" if what == "message"
                         else f"the {what} is empty")
    return text


def check_top_k(top_k: int) -> int:
    if not 1 <= top_k <= MAX_TOP_K:
        raise InputError(f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}")
    return top_k


def check_reply(reply: object) -> str:
    if not isinstance(reply, str):
        raise InputError("the reply must be text")
    return reply


def check_platform(platform: str) -> str:
    if platform not in PLATFORMS:
        raise InputError(f"unknown platform {platform!r}; valid platforms: {', '.join(PLATFORMS)}")
    return platform


__all__ = ["KefuService", "ReplyRequest", "ReplyResult", "SuggestedReply", "Turn"]
