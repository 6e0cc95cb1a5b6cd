"""Where the buyer's order stands and how the buyer feels, read from the message and the chat so far.

The stage comes from cues (`corpus/understanding.yaml`, section `situation`), looked for in this order:
1. a stage cue in the message; when several stages are cued, the most advanced wins (a buyer who
   talks about a refund under way has received the goods), and an "ordered" cue (已经拍了, 付款了)
   outweighs a pre-purchase one;
2. an "ordered" cue in the message: at least awaiting dispatch, or the later stage the history shows;
3. a "not yet" cue in the message (还没拍, 再看看): pre-purchase;
4. the most advanced stage the history cues (orders only move forward; agents' turns count too:
   "已为您申请拦截" says in transit);
5. an "ordered" cue in the history: awaiting dispatch;
6. a hint in the message, then in each earlier turn, latest first: questions a buyer asks while
   choosing (穿什么码, 多少钱), or a height, weight or size given to choose one: pre-purchase;
7. otherwise unknown.
So the latest message wins over the history wherever it says something, and a hint never outweighs a
cue. `ordered` is True at any stage after ordering, False on a "not yet" cue, else None.

The mood is the message's alone: upset on any upset cue, or on a problem with the goods (破了, 少发)
unless the message calmly asks for a standard remedy ("板裂了 能补发一块吗"); closing on an
acknowledgement or goodbye when the message asks nothing new ("好的 谢谢", not "好的 那什么时候发货");
else neutral.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol, get_args

from app.errors import CorpusError
from app.lexicon import Lexicon, LexiconSpec, matchable
from app.text import normalize_text
from app.understanding.entities import (
    UNDERSTANDING,
    Entities,
    EntityExtractor,
    WordsModel,
    build_lexicon,
    default_corpus_dir,
    read_section,
)
from app.vocabulary import Category, Fact, Mood, Stage

# The stages a cue can name, most advanced first: the order in which a message's cues are weighed.
KnownStage = Literal["after_sale", "delivered", "in_transit", "awaiting_dispatch", "pre_purchase"]
STAGE_ORDER: tuple[KnownStage, ...] = get_args(KnownStage)
AFTER_ORDER: frozenset[Stage] = frozenset({"awaiting_dispatch", "in_transit", "delivered", "after_sale"})
CuedMood = Literal["upset", "closing"]
SIZING: frozenset[Fact] = frozenset({"height", "weight", "foot_length", "waist", "size"})


class TurnLike(Protocol):
    """A turn of the chat so far (app/replies.py `Turn` is one): who spoke ("buyer" or "agent") and what."""

    @property
    def role(self) -> str: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class Situation:
    stage: Stage
    mood: Mood
    ordered: bool | None  # True: clearly ordered or paid; False: clearly not yet; None: not said
    cues: tuple[str, ...] = ()  # the words that decided stage, order and mood (for a size question, the facts given)


@dataclass(frozen=True)
class Understanding:
    """A buyer message understood: the facts it and the buyer's earlier turns state, and the situation."""

    entities: Entities
    situation: Situation

    @property
    def stage(self) -> Stage:
        return self.situation.stage

    @property
    def mood(self) -> Mood:
        return self.situation.mood

    @property
    def ordered(self) -> bool | None:
        return self.situation.ordered

    @property
    def category(self) -> Category | None:
        return self.entities.category

    @property
    def facts(self) -> frozenset[Fact]:
        return self.entities.facts()


class SituationWords(WordsModel):
    stages: dict[KnownStage, LexiconSpec]
    stage_hints: dict[KnownStage, LexiconSpec]
    ordered: LexiconSpec
    not_ordered: LexiconSpec
    moods: dict[CuedMood, LexiconSpec]
    grievances: LexiconSpec
    calm_requests: LexiconSpec
    questions: LexiconSpec


@dataclass(frozen=True)
class _StageReading:
    stage: Stage
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class _OrderReading:
    ordered: bool | None
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class _MoodReading:
    mood: Mood
    words: tuple[str, ...] = ()


class SituationReader:
    """Reads the stage, the mood and whether the buyer has ordered from a normalised message and its history."""

    def __init__(self, words: SituationWords, entities: EntityExtractor, path: Path) -> None:
        missing = [f"situation.stages.{stage}" for stage in STAGE_ORDER if stage not in words.stages]
        missing += [f"situation.moods.{mood}" for mood in get_args(CuedMood) if mood not in words.moods]
        if missing:
            raise CorpusError(f"{path}: missing {', '.join(missing)}")
        self._stages = {stage: build_lexicon(words.stages[stage], f"situation.stages.{stage}", path)
                        for stage in STAGE_ORDER}
        self._hints = {stage: build_lexicon(spec, f"situation.stage_hints.{stage}", path)
                       for stage, spec in words.stage_hints.items()}
        self._ordered = build_lexicon(words.ordered, "situation.ordered", path)
        self._not_ordered = build_lexicon(words.not_ordered, "situation.not_ordered", path)
        self._upset = build_lexicon(words.moods["upset"], "situation.moods.upset", path)
        self._closing = build_lexicon(words.moods["closing"], "situation.moods.closing", path)
        self._grievances = build_lexicon(words.grievances, "situation.grievances", path)
        self._calm = build_lexicon(words.calm_requests, "situation.calm_requests", path)
        self._questions = build_lexicon(words.questions, "situation.questions", path)
        self._entities = entities

    @classmethod
    def load(cls, corpus_dir: Path) -> SituationReader:
        return _situation_reader(corpus_dir.resolve())

    def read(self, text: str, history: Sequence[TurnLike] = ()) -> Situation:
        folded = matchable(text)
        earlier = [matchable(normalize_text(turn.text)) for turn in reversed(history)]  # latest first
        stage = self._stage(folded, earlier)
        order = self._order(folded, earlier, stage.stage)
        mood = self._mood(folded)
        cues = tuple(dict.fromkeys(stage.words + order.words + mood.words))
        return Situation(stage.stage, mood.mood, order.ordered, cues)

    def _mood(self, folded: str) -> _MoodReading:
        if upset := _words(self._upset, folded):
            return _MoodReading("upset", upset)
        if (grievance := _problems(self._grievances, folded)) and not self._calm.find(folded):
            return _MoodReading("upset", grievance)
        closing = _words(self._closing, folded)
        if closing and not self._questions.find(folded):
            return _MoodReading("closing", closing)
        return _MoodReading("neutral")

    def _stage(self, folded: str, earlier: list[str]) -> _StageReading:
        cued = self._cued_stage(folded)
        if cued is not None and cued.stage != "pre_purchase":
            return cued
        cued_before = [found for turn in earlier if (found := self._cued_stage(turn))]
        history = min(cued_before, key=lambda found: STAGE_ORDER.index(found.stage), default=None)
        if ordered := _words(self._ordered, folded):
            if history is not None and history.stage in AFTER_ORDER:
                return _StageReading(history.stage, ordered + history.words)
            return _StageReading("awaiting_dispatch", ordered)
        if cued is not None:
            return cued
        if not_yet := _words(self._not_ordered, folded):
            return _StageReading("pre_purchase", not_yet)
        if history is not None:
            return history
        for turn in earlier:
            if ordered := _words(self._ordered, turn):
                return _StageReading("awaiting_dispatch", ordered)
        for turn in (folded, *earlier):
            for stage, lexicon in self._hints.items():
                if hinted := _words(lexicon, turn):
                    return _StageReading(stage, hinted)
            # Heights, weights and sizes are given to choose a size: before buying.
            stated = self._entities.extract(turn)
            if sizing := stated.facts() & SIZING:
                return _StageReading("pre_purchase", tuple(sorted(sizing)))
            if stated.size_change:
                return _StageReading("pre_purchase", ("size_change",))
        return _StageReading("unknown")

    def _cued_stage(self, folded: str) -> _StageReading | None:
        for stage in STAGE_ORDER:
            cued = _words(self._stages[stage], folded)
            if stage == "delivered":
                cued += _problems(self._grievances, folded)  # a problem with the goods: they are in hand
            if cued:
                return _StageReading(stage, tuple(dict.fromkeys(cued)))
        return None

    def _order(self, folded: str, earlier: list[str], stage: Stage) -> _OrderReading:
        if stage in AFTER_ORDER:
            return _OrderReading(True, _words(self._ordered, folded))
        if not_yet := _words(self._not_ordered, folded):
            return _OrderReading(False, not_yet)
        for turn in earlier:
            if not_yet := _words(self._not_ordered, turn):
                return _OrderReading(False, not_yet)
            if ordered := _words(self._ordered, turn):
                return _OrderReading(True, ordered)
        return _OrderReading(None)


def _words(lexicon: Lexicon, folded: str) -> tuple[str, ...]:
    return tuple(hit.text for hit in lexicon.find(folded))


# "会不会掉色", "怕起球", "缩水吗": a problem asked about or feared, not one that happened.
_FEARED_BEFORE = re.compile(r"(?:会不会|会|怕|担心|是否|容易|不会|防止|避免|有没有)\s?$")
_FEARED_AFTER = re.compile(r"^\S{0,2}?(?:吗|不\b)")


def _problems(lexicon: Lexicon, folded: str) -> tuple[str, ...]:
    return tuple(
        hit.text for hit in lexicon.find(folded)
        if not _FEARED_BEFORE.search(folded[: hit.start]) and not _FEARED_AFTER.match(folded[hit.end :])
    )


class MessageReader:
    """Everything kefu reads from a buyer message beyond its scenario; load once, read every request."""

    def __init__(self, entities: EntityExtractor, situation: SituationReader) -> None:
        self.entities = entities
        self.situation = situation

    @classmethod
    def load(cls, corpus_dir: Path) -> MessageReader:
        return cls(EntityExtractor.load(corpus_dir), SituationReader.load(corpus_dir))

    def understand(self, text: str, history: Sequence[TurnLike] = ()) -> Understanding:
        """The message (normalised, app/understanding/message.py) with the chat so far, oldest turn first.

        Facts come from the message, then from the buyer's earlier turns, latest first. The product is
        the one the message names, else the one the chat names (often only the agent does: "这款羽绒服…"),
        and only then the one the message or the chat hints at.
        """
        reader = self.entities
        earlier = [normalize_text(turn.text) for turn in reversed(history)]
        own = reader.extract(text)
        entities = own
        for turn, said in zip(reversed(history), earlier):
            if turn.role == "buyer":
                entities = entities.completed_by(reader.extract(said))
        if not entities.photo and _sent_as_asked(text) and _agent_asked_for_photo(reader, history, earlier):
            entities = replace(entities, photo=True)  # "发了" right after the agent asked for a photo
        category = (
            reader.named_category(text)
            or next((found for said in earlier if (found := reader.named_category(said))), None)
            or own.category
            or next((found for said in earlier if (found := reader.hinted_category(said, reader.extract(said)))), None)
        )
        return Understanding(replace(entities, category=category), self.situation.read(text, history))


# "发了", "传过了", "已经发你了": the buyer has sent what was just asked for (not "还没发", not "发了吗").
_SENT = re.compile(r"(?<![没未不])(?:发|传)(?:过|给你|你|过去|上去)?了(?!吗|没|\?)")


def _sent_as_asked(text: str) -> bool:
    return bool(_SENT.search(matchable(text)))


def _agent_asked_for_photo(reader: EntityExtractor, history: Sequence[TurnLike], earlier: list[str]) -> bool:
    """The agent's latest turn, with no buyer turn after it, asks for (mentions) a photo or video."""
    for turn, said in zip(reversed(history), earlier):
        if turn.role != "agent":
            return False
        if reader.extract(said).photo:
            return True
    return False


@functools.cache
def _situation_reader(corpus_dir: Path) -> SituationReader:
    words = read_section(corpus_dir, "situation", SituationWords)
    return SituationReader(words, EntityExtractor.load(corpus_dir), corpus_dir / UNDERSTANDING)


def read_situation(text: str, history: Sequence[TurnLike] = (), corpus_dir: Path | None = None) -> Situation:
    """Stage, mood and whether the buyer has ordered, for a normalised message and the chat so far (oldest first)."""
    return SituationReader.load(corpus_dir or default_corpus_dir()).read(text, history)


def understand(text: str, history: Sequence[TurnLike] = (), corpus_dir: Path | None = None) -> Understanding:
    """The one entry point: the facts stated (message first, then the buyer's earlier turns) and the situation."""
    return MessageReader.load(corpus_dir or default_corpus_dir()).understand(text, history)


__all__ = ["AFTER_ORDER", "STAGE_ORDER", "KnownStage", "MessageReader", "Situation", "SituationReader",
           "SituationWords", "TurnLike", "Understanding", "read_situation", "understand"]
