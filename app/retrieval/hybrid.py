"""HybridRetriever: one query against handbook passages and templates, BM25 and dense fused."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.corpus import Template
from app.errors import IndexStaleError
from app.models.embedding import Embedder
from app.models.serving import Pending, submit
from app.retrieval.fusion import FusionMethod, Signal, fuse
from app.retrieval.store import EXAMPLES, PASSAGES, REPLIES, Collection
from app.retrieval.tokenizer import ShopTokenizer


@dataclass(frozen=True)
class FusionSettings:
    method: FusionMethod = "rrf"
    rrf_k: int = 60
    bm25_weight: float = 1.0
    dense_weight: float = 1.0
    # Matching the buyer message against a template's reply is weaker evidence than against the
    # questions buyers ask for it, so the reply signals count for less.
    reply_weight: float = 0.5


@dataclass(frozen=True)
class PassageHit:
    id: str
    doc: str
    heading: tuple[str, ...]
    text: str
    score: float
    bm25: float
    dense: float
    terms: tuple[str, ...]


@dataclass(frozen=True)
class TemplateHit:
    template: Template
    score: float
    bm25: float
    dense: float
    terms: tuple[str, ...]
    example: str  # the template's example question closest to the query


@dataclass(frozen=True)
class TemplateScores:
    """Every template's scores for one query, in library order."""

    fused: np.ndarray
    bm25: np.ndarray
    dense: np.ndarray
    example_dense: np.ndarray  # cosine to every example question, in the examples collection's order
    reply_dense: np.ndarray  # cosine to each template's reply


@dataclass(frozen=True)
class Lexical:
    """A query's word-level evidence: its terms and their BM25 scores, which need no vector. The
    service works them out while the encoder embeds the message."""

    terms: tuple[str, ...]
    example_bm25: np.ndarray  # best BM25 score of each template's example questions, in library order
    reply_bm25: np.ndarray  # BM25 of each template's reply
    passage_bm25: np.ndarray  # BM25 of each handbook passage


@dataclass(frozen=True)
class SearchResult:
    query_terms: tuple[str, ...]
    passages: tuple[PassageHit, ...]
    templates: tuple[TemplateHit, ...]

    def as_records(self) -> list[dict[str, Any]]:
        """The JSON form of a search (templates, then passages), shared by the CLI and the API."""
        records = []
        for hit in self.templates:
            t = hit.template
            records.append({
                "kind": "template", "id": t.id, "text": t.reply, "doc": t.source.kind,
                "heading": [t.source.heading] if t.source.heading else [], "scenario": t.scenario,
                "topic": t.topic, "source": t.source.label, "example": hit.example,
                "score": round(hit.score, 6), "bm25": round(hit.bm25, 4), "dense": round(hit.dense, 4),
                "terms": list(hit.terms),
            })
        for passage in self.passages:
            records.append({
                "kind": "passage", "id": passage.id, "text": passage.text, "doc": passage.doc,
                "heading": list(passage.heading), "score": round(passage.score, 6), "bm25": round(passage.bm25, 4),
                "dense": round(passage.dense, 4), "terms": list(passage.terms),
            })
        return records


class HybridRetriever:
    def __init__(
        self,
        tokenizer: ShopTokenizer,
        embedder: Embedder,
        collections: dict[str, Collection],
        templates: Sequence[Template],
        *,
        query_prefix: str,
        passage_prefix: str = "passage: ",
        fusion: FusionSettings = FusionSettings(),
    ) -> None:
        self.tokenizer = tokenizer
        self.embedder = embedder
        self.templates = tuple(templates)
        self.passages = collections[PASSAGES]
        self.examples = collections[EXAMPLES]
        self.replies = collections[REPLIES]
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        self._fusion = fusion
        ids = [t.id for t in self.templates]
        if [row["template_id"] for row in self.replies.rows] != ids:
            raise IndexStaleError("the index's templates differ from corpus/templates.yaml; run `kefu build`")
        # Example rows are stored template by template, so each template owns one contiguous run.
        first: dict[str, int] = {}
        for position, row in enumerate(self.examples.rows):
            first.setdefault(row["template_id"], position)
        self._example_starts = np.array([first[template_id] for template_id in ids])
        self._example_owner = np.repeat(np.arange(len(ids)), np.diff(self._example_starts, append=len(self.examples.rows)))
        vocabularies: list[set[str]] = [set() for _ in ids]
        for owner, row in zip(self._example_owner, self.examples.rows):
            vocabularies[owner].update(row["terms"])
        self._example_vocabularies = tuple(frozenset(words) for words in vocabularies)

    def with_templates(self, templates: Sequence[Template], examples: Collection, replies: Collection,
                       passages: Collection | None = None) -> HybridRetriever:
        """The same retriever (tokenizer, encoder, fusion; its handbook passages unless others are given) over
        another library: a live edit of the templates (app/library/live.py), another shop (app/shops.py)."""
        return HybridRetriever(self.tokenizer, self.embedder, {PASSAGES: passages or self.passages,
                                                               EXAMPLES: examples, REPLIES: replies}, templates,
                               query_prefix=self._query_prefix, passage_prefix=self._passage_prefix,
                               fusion=self._fusion)

    def encode_together(self, queries: Sequence[str], passages: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors for normalized buyer messages (as queries) and reply texts (as the index embeds
        replies), in one encoder call: a request's texts travel to the encoder together."""
        vectors = self.submit_together(queries, passages).result()
        return vectors[: len(queries)], vectors[len(queries) :]

    def submit_together(self, queries: Sequence[str], passages: Sequence[str]) -> Pending:
        """What `encode_together` does, started in the background: the queries' rows first, then the
        passages'."""
        return submit(self.embedder, [self._query_prefix + text for text in queries]
                      + [self._passage_prefix + text for text in passages])

    def lexical(self, text: str) -> Lexical:
        """The terms of a normalized message and their BM25 scores against every collection."""
        terms = self.tokenizer.tokenize(text)
        return Lexical(tuple(terms), np.maximum.reduceat(self.examples.bm25.scores(terms), self._example_starts),
                       self.replies.bm25.scores(terms), self.passages.bm25.scores(terms))

    def template_scores(self, lexical: Lexical, vector: np.ndarray) -> TemplateScores:
        example_dense = self.examples.dense.scores(vector)[0]
        bm25 = lexical.example_bm25
        dense = np.maximum.reduceat(example_dense, self._example_starts)
        f = self._fusion
        reply_dense = self.replies.dense.scores(vector)[0]
        fused = fuse(
            [
                Signal(bm25, f.bm25_weight, lexical=True),
                Signal(dense, f.dense_weight, lexical=False),
                Signal(lexical.reply_bm25, f.reply_weight * f.bm25_weight, lexical=True),
                Signal(reply_dense, f.reply_weight * f.dense_weight, lexical=False),
            ],
            method=f.method,
            rrf_k=f.rrf_k,
        )
        return TemplateScores(fused, bm25, dense, example_dense, reply_dense)

    def search(self, text: str, top_k: int = 5, *, encoding: Pending | None = None) -> SearchResult:
        """Top passages and templates for one normalized message; `encoding` is its vector on the way
        when the caller started it (else the whole text is encoded here)."""
        pending = self.submit_together([text], []) if encoding is None else encoding
        lexical = self.lexical(text)  # while the encoder works
        vector = pending.result()
        scores = self.template_scores(lexical, vector)
        templates = tuple(self.template_hits(lexical.terms, scores, top_k))
        return SearchResult(lexical.terms, tuple(self.passage_hits(lexical, vector, top_k)), templates)

    def _examples_of(self, index: int) -> slice:
        """Where template `index`'s example questions sit in the examples collection."""
        starts = self._example_starts
        return slice(int(starts[index]), int(starts[index + 1]) if index + 1 < len(starts) else len(self.examples.rows))

    def example_pairs(self, scores: TemplateScores, indices: np.ndarray) -> np.ndarray:
        """For each template in `indices`: the mean cosine of its two example questions closest to the
        query (its only one's, when it has one). Two examples that agree are steadier evidence that a
        template fits than one that happens to lie close."""
        # Over the whole library at once (a few microseconds; a loop over the candidates' runs is 30 times
        # slower): the second closest is the best of the rest, or the best again when tied or alone.
        starts = self._example_starts
        is_best = scores.example_dense >= scores.dense[self._example_owner]
        rest = np.maximum.reduceat(np.where(is_best, -np.inf, scores.example_dense), starts)
        tied = np.add.reduceat(is_best.astype(np.int64), starts) > 1
        second = np.where(tied | np.isinf(rest), scores.dense, rest)
        pairs: np.ndarray = ((scores.dense + second) / 2)[indices]
        return pairs

    def term_coverage(self, terms: Sequence[str], indices: np.ndarray) -> np.ndarray:
        """For each template in `indices`: the share of the message's distinct terms that its example questions
        use, taken together. A template whose examples account for most of what the buyer said fits better
        than one that shares a single word with one example. 1 for a message with no terms (no lexical
        evidence either way, as for the BM25 share)."""
        wanted = set(terms)
        if not wanted:
            return np.ones(len(indices))
        return np.array([len(wanted & self._example_vocabularies[int(i)]) / len(wanted) for i in indices])

    def template_hits(self, terms: Sequence[str], scores: TemplateScores, top_k: int,
                      order: np.ndarray | None = None) -> Iterator[TemplateHit]:
        order = np.argsort(-scores.fused, kind="stable") if order is None else order
        wanted = set(terms)
        for index in order[:top_k]:
            # The template's example closest to the query by dense score (the stronger signal on short text),
            # looked up only for the templates shown.
            run = self._examples_of(int(index))
            example_row = self.examples.rows[run.start + int(np.argmax(scores.example_dense[run]))]
            matched = wanted & (set(example_row["terms"]) | set(self.replies.rows[index]["terms"]))
            yield TemplateHit(
                template=self.templates[index],
                score=float(scores.fused[index]),
                bm25=float(scores.bm25[index]),
                dense=float(scores.dense[index]),
                terms=tuple(t for t in dict.fromkeys(terms) if t in matched),
                example=example_row["text"],
            )

    def passage_hits(self, lexical: Lexical, vector: np.ndarray, top_k: int) -> Iterator[PassageHit]:
        terms = lexical.terms
        bm25 = lexical.passage_bm25
        dense = self.passages.dense.scores(vector)[0]
        f = self._fusion
        fused = fuse(
            [Signal(bm25, f.bm25_weight, lexical=True), Signal(dense, f.dense_weight, lexical=False)],
            method=f.method,
            rrf_k=f.rrf_k,
        )
        wanted = set(terms)
        for index in np.argsort(-fused, kind="stable")[:top_k]:
            row = self.passages.rows[index]
            matched = wanted & set(row["terms"])
            yield PassageHit(
                id=row["id"],
                doc=row["doc"],
                heading=tuple(row["heading"]),
                text=row["text"],
                score=float(fused[index]),
                bm25=float(bm25[index]),
                dense=float(dense[index]),
                terms=tuple(t for t in dict.fromkeys(terms) if t in matched),
            )
