"""The inspection rules as loaded from corpus/inspection_rules.yaml (schema, checks, compiled word lists).

Each rule cites its handbook; every error names the file and the rule at fault.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.corpus import HANDBOOKS, SLOT_PLACEHOLDERS
from app.errors import CorpusError
from app.etiquette import Etiquette
from app.inspection.questions import QuestionCheck, QuestionsModel
from app.inspection.results import RULES, RuleName, Severity
from app.lexicon import Hit, Lexicon, LexiconSpec
from app.yaml_data import parse_yaml

INSPECTION_RULES = "inspection_rules.yaml"
CueScenario = Literal["size", "price", "logistics", "complaint"]
_DETAIL_FIELDS = frozenset({"word", "min_chars", "why"})
_CHINESE_ONLY = re.compile(r"[\u4e00-\u9fff]+")


@dataclass(frozen=True)
class RuleSpec:
    rule: RuleName
    severity: Severity
    penalty: int
    source: str  # "handbook file: quote"
    detail: str  # str.format template with {word}, {min_chars}, {why}
    lexicon: Lexicon
    window: int | None = None  # greeting: from the start; closing: from the end
    fix: str = ""  # how to put it right, shown to the agent beside the finding


@dataclass(frozen=True)
class BracketNouns:
    """Which 【…】 are unfilled placeholders rather than button names or filled values."""

    known: frozenset[str]  # every placeholder in SLOT_PLACEHOLDERS, brackets included
    suffixes: tuple[str, ...]
    actions: tuple[str, ...]
    max_chars: int
    exempt: frozenset[str]

    def is_placeholder(self, bracketed: str, inner: str) -> bool:
        if bracketed in self.known:
            return True
        inner = inner.strip()
        if not (2 <= len(inner) <= self.max_chars and _CHINESE_ONLY.fullmatch(inner)):
            return False
        if inner in self.exempt or inner.startswith(self.actions):
            return False
        return inner.endswith(self.suffixes)


@dataclass(frozen=True)
class ColdCues:
    """Curt wording that is rude only when nothing in the reply warms it (rude `cold`)."""

    cues: Lexicon
    warm: Lexicon

    def find(self, text: str) -> tuple[Hit, ...]:
        if self.warm.find(text):
            return ()
        return self.cues.find(text)


@dataclass(frozen=True)
class ScenarioCues:
    label: str  # how the detail names the scenario to the agent
    lexicon: Lexicon


@dataclass(frozen=True)
class InspectionRules:
    specs: Mapping[str, RuleSpec]
    etiquette: Etiquette
    brackets: BracketNouns
    cold: ColdCues
    cues: Mapping[str, ScenarioCues]
    pitch: Lexicon  # a sales pitch in a reply (relevance)
    unanswered: QuestionCheck  # the kind of question a reply leaves open (relevance)
    tone_threshold: float  # rude: the ToneModel probability at or above which a reply is rude
    min_chars: int
    short_answers: Lexicon  # too_short: a short reply that is a whole answer (可以的, 明天)
    flat_no: Lexicon  # too_short: ... but not a bare refusal (没有, 不能), matched on what it says
    question_clauses: Lexicon  # too_short: a clause of the buyer's message that asks something
    acknowledgements: Lexicon  # too_short: a buyer message acknowledging (好的 那就拍M了) ...
    questions: Lexicon  # ... unless it asks or reports something
    asks_back: Lexicon  # too_short: question words of a short reply asking what the buyer meant
    fillers: Lexicon  # too_short: what a short reply may consist of and still say nothing (嗯, 稍等, 在的亲)
    presence: Lexicon  # too_short: a buyer's message that only asks whether anyone is there (在吗在吗)
    min_answer_probability: float
    min_cues: int
    max_findings_per_rule: int

    @classmethod
    def load(cls, corpus_dir: Path, etiquette: Etiquette) -> InspectionRules:
        path = corpus_dir / INSPECTION_RULES
        try:
            model = _RulesFileModel.model_validate(parse_yaml(path.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise CorpusError(f"cannot read the inspection rules {path}: {exc}") from exc
        by_name: dict[str, _RuleModel] = {rule.rule: rule for rule in model.rules}
        duplicated = sorted({rule.rule for rule in model.rules if sum(r.rule == rule.rule for r in model.rules) > 1})
        missing = sorted(set(RULES) - set(by_name))
        if duplicated or missing:
            raise CorpusError(f"{path}: every rule exactly once; duplicated {duplicated}, missing {missing}")
        missing_cues = sorted(set(get_args(CueScenario)) - set(model.scenario_cues))
        if missing_cues:
            raise CorpusError(f"{path}: scenario_cues lacks {missing_cues}")
        specs = {name: _spec(by_name[name], etiquette, corpus_dir, path) for name in RULES}
        placeholder = by_name["placeholder"].bracket_nouns
        assert placeholder is not None  # _spec checked it
        brackets = BracketNouns(
            known=frozenset(SLOT_PLACEHOLDERS.values()),
            suffixes=tuple(placeholder.suffixes),
            actions=tuple(placeholder.actions),
            max_chars=placeholder.max_chars,
            exempt=frozenset(by_name["placeholder"].except_),
        )
        cold = by_name["rude"].cold
        pitch = by_name["relevance"].pitch
        assert cold is not None and pitch is not None
        try:
            cues: dict[str, ScenarioCues] = {
                name: ScenarioCues(entry.label, Lexicon.build(entry.terms, entry.patterns))
                for name, entry in model.scenario_cues.items()
            }
            cold_cues = ColdCues(
                cues=Lexicon.build(cold.terms, cold.patterns, cold.except_),
                warm=Lexicon.build(cold.warm, exceptions=cold.warm_except),
            )
            pitch_cues = pitch.lexicon()
            assert by_name["relevance"].unanswered is not None
            unanswered = QuestionCheck(by_name["relevance"].unanswered)
        except re.error as exc:
            raise CorpusError(f"{path}: a bad pattern in scenario_cues, rude cold or relevance pitch or "
                              f"unanswered: {exc}") from exc
        relevance = by_name["relevance"]
        return cls(
            specs=specs,
            etiquette=etiquette,
            brackets=brackets,
            cold=cold_cues,
            cues=cues,
            pitch=pitch_cues,
            unanswered=unanswered,
            tone_threshold=float(by_name["rude"].tone_threshold or 0.0),
            min_chars=by_name["too_short"].min_chars or 0,
            short_answers=_optional(by_name["too_short"].short_answers),
            flat_no=_optional(by_name["too_short"].flat_no),
            question_clauses=_optional(by_name["too_short"].question_clauses),
            acknowledgements=_optional(by_name["too_short"].acknowledgements),
            questions=_optional(by_name["too_short"].questions),
            asks_back=_optional(by_name["too_short"].asks_back),
            fillers=_optional(by_name["too_short"].fillers),
            presence=_optional(by_name["too_short"].presence),
            min_answer_probability=float(relevance.min_answer_probability or 0.0),
            min_cues=relevance.min_cues or 1,
            max_findings_per_rule=model.max_findings_per_rule,
        )


def _optional(spec: LexiconSpec | None) -> Lexicon:
    return (spec or LexiconSpec()).lexicon()


class _SourceModel(BaseModel):
    """Where a rule comes from: a handbook (doc) or a law (law, article), with the words quoted."""

    model_config = ConfigDict(extra="forbid")
    doc: str | None = None
    law: str | None = None
    article: str | None = None
    quote: str = Field(min_length=2)

    @model_validator(mode="after")
    def _one_source(self) -> _SourceModel:
        if (self.doc is None) == (self.law is None) or (self.law is not None) != (self.article is not None):
            raise ValueError("a source names either a handbook (doc) or a law with its article (law, article)")
        return self

    def cite(self) -> str:
        where = self.doc if self.doc is not None else f"《{self.law}》{self.article}"
        return f"{where}: {self.quote}"


class _BracketNounsModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    suffixes: list[str] = Field(min_length=1)
    actions: list[str]
    max_chars: int = Field(ge=2)


class _ColdModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    terms: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    except_: list[str] = Field(default_factory=list, alias="except")
    warm: list[str] = Field(min_length=1)
    warm_except: list[str] = Field(default_factory=list)


class _RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    rule: RuleName
    severity: Severity
    penalty: int = Field(ge=0, le=100)
    source: _SourceModel
    detail: str = Field(min_length=2)
    fix: str = Field(min_length=2)
    terms: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    except_: list[str] = Field(default_factory=list, alias="except")
    except_patterns: list[str] = Field(default_factory=list)
    window: int | None = Field(default=None, ge=1)
    min_chars: int | None = Field(default=None, ge=1)
    min_answer_probability: float | None = Field(default=None, gt=0.0, lt=1.0)
    min_cues: int | None = Field(default=None, ge=1)
    bracket_nouns: _BracketNounsModel | None = None
    cold: _ColdModel | None = None  # rude only
    tone_threshold: float | None = Field(default=None, gt=0.0, le=1.0)  # rude only
    pitch: LexiconSpec | None = None  # relevance only
    unanswered: QuestionsModel | None = None  # relevance only: kinds of question a reply must answer
    # too_short only: a short reply that is a whole answer, a bare refusal, a clause that asks, a buyer
    # message that asks nothing, the question words of a short reply that asks back about the buyer's
    # words, what a reply that says nothing consists of, and a buyer's message that only asks whether
    # anyone is there
    short_answers: LexiconSpec | None = None
    flat_no: LexiconSpec | None = None
    question_clauses: LexiconSpec | None = None
    acknowledgements: LexiconSpec | None = None
    questions: LexiconSpec | None = None
    asks_back: LexiconSpec | None = None
    fillers: LexiconSpec | None = None
    presence: LexiconSpec | None = None


class _CuesModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    terms: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)


class _RulesFileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_findings_per_rule: int = Field(ge=1)
    rules: list[_RuleModel]
    scenario_cues: dict[CueScenario, _CuesModel]


# What each rule cannot do without.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "rude": ("terms", "cold", "tone_threshold"),
    "jd_qin": ("terms",),
    "placeholder": ("bracket_nouns",),
    "too_short": ("min_chars",),
    "no_apology": (),  # what an apology is and when one is owed: etiquette.yaml
    "absolute": ("terms",),
    "ad_law": ("terms",),
    "relevance": ("min_answer_probability", "min_cues", "pitch", "unanswered"),
    "shouting": (),  # etiquette.yaml's shouting pattern suffices
    "polite": ("terms",),
    "greeting": ("terms", "window"),
    "closing": ("terms", "window"),
}


def _spec(model: _RuleModel, etiquette: Etiquette, corpus_dir: Path, path: Path) -> RuleSpec:
    name = model.rule
    lacking = [field for field in _REQUIRED[name] if not getattr(model, field)]
    if lacking:
        raise CorpusError(f"{path}: rule {name} needs {', '.join(lacking)}")
    if model.source.doc is not None and not (corpus_dir / HANDBOOKS / model.source.doc).is_file():
        raise CorpusError(f"{path}: rule {name} cites a missing handbook {model.source.doc}")
    unknown = {field for _, field, _, _ in string.Formatter().parse(model.detail) if field} - _DETAIL_FIELDS
    if unknown:
        raise CorpusError(f"{path}: rule {name} detail uses {sorted(unknown)}; allowed: {sorted(_DETAIL_FIELDS)}")
    terms, patterns = list(model.terms), list(model.patterns)
    if name == "shouting":
        patterns.insert(0, etiquette.shouting.pattern)
    # The placeholder's `except` names bracket contents (BracketNouns), not compounds around a hit.
    exceptions = [] if name == "placeholder" else model.except_
    try:
        lexicon = Lexicon.build(terms, patterns, exceptions, model.except_patterns)
    except re.error as exc:
        raise CorpusError(f"{path}: rule {name} has a bad pattern: {exc}") from exc
    return RuleSpec(
        rule=name,
        severity=model.severity,
        penalty=model.penalty,
        source=model.source.cite(),
        detail=model.detail,
        lexicon=lexicon,
        window=model.window,
        fix=model.fix,
    )
