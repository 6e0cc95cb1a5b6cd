"""ReplyInspector: quality inspection (质检) of an agent's reply to a buyer message -> findings and a score.

The rules are data (corpus/inspection_rules.yaml, plus the etiquette the reply generator applies,
corpus/etiquette.yaml). The inspector is pure: no model and no I/O after loading. The caller may
pass what needs a model: the classifier's scenario for the message, the probability that the reply
answers it (app/relevance.py).

Conventions (docs in the YAML say why each word list looks the way it does):
- ok: no finding at all. Every rule is a fault a strict team lead fails the reply for; severity and
  penalty only weigh the score.
- score: 100 minus the penalty of every rule broken, each rule counted once, never below 0.
- greeting is checked on a first turn only. A too-short reply gets too_short, the content rules
  (rude, jd_qin, placeholder, absolute, shouting) and polite (a bare "嗯" has no 您/请 either);
  the rules about what a complete reply holds (greeting, closing, no_apology, relevance) are not
  checked on it.
- rude has two halves: words rude anywhere, and curt cues (没办法, 你自己去问吧) that are rude only
  in a cold register, a reply with no 您, 请, 亲 or apology to soften them. A third, semantic signal
  is the caller's: the ToneModel's rudeness probability (app/tone.py), which adds a rude finding
  (span None) at or above rude.tone_threshold when the word lists found nothing and the reply is
  not too short to judge by its tone.
- no_apology: an apology is owed (unless the caller's flag says otherwise) when a complaint or
  logistics message states a problem in words the lists know ("都五天了还没到" is logistics), and
  on any other complaint-scenario message that is not an inquiry: "吹风机冒烟了" is owed one,
  "怎么退货" and "能退吗" are not.
- relevance has three signals: the caller's probability that the reply answers the message
  (app/relevance.py), a reply talking about another scenario's matters, and a sales pitch where
  the buyer asked about something else.
- spans are character offsets into the reply as given; absence findings have span None.

This module is `app.inspect`; it never shadows the standard library's `inspect` as long as files in
app/ are run as modules (`python -m app.cli`), never as scripts from inside app/.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal, Mapping, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.cleaning import normalize_text
from app.compose import Etiquette
from app.corpus import HANDBOOKS, SCENARIOS, SLOT_PLACEHOLDERS
from app.errors import CorpusError, InputError

INSPECTION_RULES = "inspection_rules.yaml"

RuleName = Literal[
    "rude", "jd_qin", "placeholder", "too_short", "no_apology", "absolute", "relevance",
    "shouting", "polite", "greeting", "closing",
]
RULES: tuple[str, ...] = get_args(RuleName)
Severity = Literal["high", "medium", "low"]
SEVERITIES: tuple[str, ...] = get_args(Severity)
CueScenario = Literal["size", "price", "logistics", "complaint"]
# For each scenario whose replies have a vocabulary of their own, the scenarios a reply to it
# clearly talks about instead when it has none of its own cues. A reply to a complaint often speaks
# of couriers and sizes (补发, 换一码), so only a sales pitch marks it as off the point.
OFF_TOPIC: dict[str, tuple[str, ...]] = {
    "size": ("price", "logistics"),
    "price": ("size", "logistics"),
    "logistics": ("size", "price"),
    "complaint": ("price",),
}
# Order that breaks ties when guessing a message's scenario: a return because of fit is size
# (docs/data-formats.md); otherwise an apology nobody needed costs less than a missing one.
GUESS_ORDER: tuple[str, ...] = ("size", "complaint", "price", "logistics")
# Scenarios in which a message stating a problem is owed an apology (no_apology). Not size ("太紧了
# 能换L吗" is the buyer's fit) and not price ("太贵了" is bargaining).
APOLOGY_SCENARIOS = frozenset({"complaint", "logistics"})
_DETAIL_FIELDS = frozenset({"word", "min_chars", "why"})
# Whitespace and invisible characters: normalize_text drops or merges them, so they are not folded.
_UNFOLDED = re.compile(r"[\s\u200b-\u200d\u2060\ufeff\u00ad\ud800-\udfff]")
_COUNTED = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]", re.IGNORECASE)
_BRACKET = re.compile(r"【([^【】\n]{0,20})】")
_CHINESE_ONLY = re.compile(r"[\u4e00-\u9fff]+")


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    rule: RuleName
    severity: Severity
    detail: str
    span: tuple[int, int] | None  # offsets into the reply; None when something is missing

    def as_dict(self) -> dict:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "detail": self.detail,
            "span": list(self.span) if self.span is not None else None,
        }


@dataclass(frozen=True)
class Inspection:
    ok: bool
    score: int
    findings: tuple[Finding, ...]

    @property
    def rules(self) -> tuple[str, ...]:
        """The rules broken, once each, most severe first."""
        return tuple(dict.fromkeys(finding.rule for finding in self.findings))

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "score": self.score,
            "rules": list(self.rules),
            "findings": [finding.as_dict() for finding in self.findings],
        }


# ---------------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------------


def matchable(text: str) -> str:
    """The text in Simplified Chinese and half-width ASCII, one character for one character.

    Word lists are written once, in Simplified Chinese, and still match 請/您 typed in Traditional and
    ！！ typed full-width; because lengths never change, an offset here is an offset in the original.
    """
    out, at = [], 0
    for separator in _UNFOLDED.finditer(text):
        out.append(_fold_run(text[at : separator.start()]))
        out.append(separator.group())
        at = separator.end()
    out.append(_fold_run(text[at:]))
    return "".join(out)


def _fold_run(run: str) -> str:
    if not run:
        return run
    folded = normalize_text(run)
    if len(folded) == len(run):
        return folded
    # A phrase conversion changed the length: fold character by character instead.
    return "".join(char if len(one := normalize_text(char)) != 1 else one for char in run)


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    text: str  # as matched in the folded text


@dataclass(frozen=True)
class Lexicon:
    """Words and patterns to find, minus hits lying inside a compound that means something else."""

    finders: tuple[re.Pattern, ...]
    exceptions: tuple[re.Pattern, ...]

    @classmethod
    def build(cls, terms: Iterable[str] = (), patterns: Iterable[str] = (), exceptions: Iterable[str] = (),
              exception_patterns: Iterable[str] = ()) -> "Lexicon":
        words = _longest_first(terms)
        compounds = _longest_first(exceptions)
        finders = [re.compile("|".join(map(re.escape, words)), re.IGNORECASE)] if words else []
        # Patterns are compiled one by one: joined, their backreferences (爱(.)不\1) would renumber.
        finders += [re.compile(pattern, re.IGNORECASE) for pattern in patterns]
        # Lookaheads find overlapping compounds too (母亲 and 亲自 in 母亲自己).
        excepts = [re.compile("(?=(" + "|".join(map(re.escape, compounds)) + "))", re.IGNORECASE)] if compounds else []
        excepts += [re.compile(f"(?=({pattern}))", re.IGNORECASE) for pattern in exception_patterns]
        return cls(tuple(finders), tuple(excepts))

    def find(self, text: str) -> tuple[Hit, ...]:
        if not self.finders or not text:
            return ()
        covered = [
            (match.start(), match.start() + len(match.group(1)))
            for pattern in self.exceptions
            for match in pattern.finditer(text)
        ]
        found = sorted(
            (match.start(), -match.end(), match.group())
            for pattern in self.finders
            for match in pattern.finditer(text)
            if match.end() > match.start()
        )
        hits: list[Hit] = []
        reached = 0
        for start, negative_end, word in found:
            end = -negative_end
            if start < reached:
                continue  # overlaps a longer or earlier hit already kept
            if any(low <= start and end <= high for low, high in covered):
                continue
            hits.append(Hit(start, end, word))
            reached = end
        return tuple(hits)


def _overlap(one: Hit, other: Hit) -> bool:
    return one.start < other.end and other.start < one.end


def _longest_first(words: Iterable[str]) -> list[str]:
    # Words are folded like the text they are matched against, so a list may be typed either way.
    folded = {normalize_text(word) for word in words}
    return sorted((word for word in folded if word), key=lambda word: (-len(word), word))


# ---------------------------------------------------------------------------------------------
# The rules as loaded
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    rule: RuleName
    severity: Severity
    penalty: int
    source: str  # "handbook file: quote"
    detail: str  # str.format template with {word}, {min_chars}, {why}
    lexicon: Lexicon
    window: int | None = None  # greeting: from the start; closing: from the end


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
    grievance: Lexicon  # a message stating a problem (no_apology)
    inquiry: Lexicon  # a message asking how something is done or what something is like (no_apology)
    pitch: Lexicon  # a sales pitch in a reply (relevance)
    tone_threshold: float  # rude: the ToneModel probability at or above which a reply is rude
    min_chars: int
    min_answer_probability: float
    min_cues: int
    max_findings_per_rule: int

    @classmethod
    def load(cls, corpus_dir: Path) -> "InspectionRules":
        path = corpus_dir / INSPECTION_RULES
        etiquette = Etiquette.load(corpus_dir)
        try:
            model = _RulesFileModel.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise CorpusError(f"cannot read the inspection rules {path}: {exc}") from exc
        by_name = {rule.rule: rule for rule in model.rules}
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
        grievance = by_name["no_apology"].message_cues
        inquiry = by_name["no_apology"].inquiry_cues
        pitch = by_name["relevance"].pitch
        assert cold is not None and grievance is not None and inquiry is not None and pitch is not None
        try:
            cues = {
                name: ScenarioCues(entry.label, Lexicon.build(entry.terms, entry.patterns))
                for name, entry in model.scenario_cues.items()
            }
            cold_cues = ColdCues(
                cues=Lexicon.build(cold.terms, cold.patterns, cold.except_),
                warm=Lexicon.build(cold.warm, exceptions=cold.warm_except),
            )
            grievance_cues, pitch_cues, inquiry_cues = (cues.lexicon() for cues in (grievance, pitch, inquiry))
        except re.error as exc:
            raise CorpusError(f"{path}: a bad pattern in scenario_cues, rude cold, no_apology message_cues or "
                              f"inquiry_cues, or relevance pitch: {exc}") from exc
        relevance = by_name["relevance"]
        return cls(
            specs=specs,
            etiquette=etiquette,
            brackets=brackets,
            cold=cold_cues,
            cues=cues,
            grievance=grievance_cues,
            inquiry=inquiry_cues,
            pitch=pitch_cues,
            tone_threshold=float(by_name["rude"].tone_threshold or 0.0),
            min_chars=by_name["too_short"].min_chars or 0,
            min_answer_probability=float(relevance.min_answer_probability or 0.0),
            min_cues=relevance.min_cues or 1,
            max_findings_per_rule=model.max_findings_per_rule,
        )


class _SourceModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    doc: str
    quote: str = Field(min_length=2)


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


class _MessageCuesModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    terms: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    except_: list[str] = Field(default_factory=list, alias="except")

    def lexicon(self) -> "Lexicon":
        return Lexicon.build(self.terms, self.patterns, self.except_)


class _RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    rule: RuleName
    severity: Severity
    penalty: int = Field(ge=0, le=100)
    source: _SourceModel
    detail: str = Field(min_length=2)
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
    message_cues: _MessageCuesModel | None = None  # no_apology only
    inquiry_cues: _MessageCuesModel | None = None  # no_apology only
    pitch: _MessageCuesModel | None = None  # relevance only


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
    "no_apology": ("message_cues", "inquiry_cues"),  # the apology words are etiquette.yaml's markers and `terms`
    "absolute": ("terms",),
    "relevance": ("min_answer_probability", "min_cues", "pitch"),
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
    if not (corpus_dir / HANDBOOKS / model.source.doc).is_file():
        raise CorpusError(f"{path}: rule {name} cites a missing handbook {model.source.doc}")
    unknown = {field for _, field, _, _ in string.Formatter().parse(model.detail) if field} - _DETAIL_FIELDS
    if unknown:
        raise CorpusError(f"{path}: rule {name} detail uses {sorted(unknown)}; allowed: {sorted(_DETAIL_FIELDS)}")
    terms, patterns = list(model.terms), list(model.patterns)
    # What the reply generator already enforces is inspected with the very same words.
    if name == "no_apology":
        terms += etiquette.complaint.apology_markers
    elif name == "absolute":
        terms += [word for word, _ in etiquette.absolute]
    elif name == "shouting":
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
        source=f"{model.source.doc}: {model.source.quote}",
        detail=model.detail,
        lexicon=lexicon,
        window=model.window,
    )


# ---------------------------------------------------------------------------------------------
# The inspector
# ---------------------------------------------------------------------------------------------


class ReplyInspector:
    def __init__(self, rules: InspectionRules) -> None:
        self.rules = rules
        # OpenCC reads its dictionaries on first use; do it here so inspect() never touches the disk.
        matchable("測試")

    @classmethod
    def load(cls, corpus_dir: Path) -> "ReplyInspector":
        return cls(InspectionRules.load(corpus_dir))

    def inspect(
        self,
        message: str,
        reply: str,
        *,
        platform: str = "taobao",
        first_turn: bool = True,
        scenario: str | None = None,
        complaint: bool | None = None,
        relevance: float | None = None,
        rudeness: float | None = None,
    ) -> Inspection:
        """Inspect one reply.

        scenario: the message's scenario as the classifier predicted it; None guesses it from the
        message's words (scenario_cues). complaint: overrides "scenario is complaint and the
        message states a problem" for the apology rule. relevance: the caller's probability that the
        reply answers the message (app/relevance.py); None skips that half of the relevance rule. rudeness: the ToneModel's
        probability that the reply is rude (app/tone.py); None skips the semantic half of rude.
        """
        rules = self.rules
        self._check(message, reply, platform, scenario, relevance, rudeness)
        text = matchable(reply)
        findings: list[Finding] = []

        short = len(_COUNTED.findall(text)) < rules.min_chars
        rude = self._found("rude", reply, self._rude(text))
        # The tone model learnt from whole replies; on "稍等" or "嗯嗯" its score means nothing.
        if not rude and not short and rudeness is not None and rudeness >= rules.tone_threshold:
            spec = rules.specs["rude"]
            rude.append(Finding("rude", spec.severity, f"语气生硬/不耐烦（语义模型 {rudeness:.2f}）", None))
        findings += rude
        if not rules.etiquette.platforms[platform].allows_qin:
            findings += self._found("jd_qin", reply, self._find("jd_qin", text))
        findings += self._found("placeholder", reply, self._placeholders(text))
        findings += self._found("absolute", reply, self._find("absolute", text))
        findings += self._found("shouting", reply, self._find("shouting", text))

        if not self._find("polite", text):
            findings.append(self._missing("polite"))
        if short:
            findings.append(self._missing("too_short"))
        else:
            topic = scenario if scenario is not None else self.guess_scenario(message)
            owed = complaint if complaint is not None else self.owes_apology(message, topic)
            if owed and not self._find("no_apology", text):
                findings.append(self._missing("no_apology"))
            off_topic = self._relevance(message, reply, text, topic, relevance)
            if off_topic is not None:
                findings.append(off_topic)
            if first_turn and not self._greets(text):
                findings.append(self._missing("greeting"))
            if not self._closes(text):
                findings.append(self._missing("closing"))

        findings.sort(key=lambda f: (SEVERITIES.index(f.severity), RULES.index(f.rule), f.span or (-1, -1)))
        broken = {finding.rule for finding in findings}
        score = max(0, 100 - sum(rules.specs[rule].penalty for rule in broken))
        return Inspection(ok=not findings, score=score, findings=tuple(findings))

    def guess_scenario(self, message: str) -> str | None:
        """The scenario with the most different cue words in the message; None when there are none."""
        text = matchable(message or "")
        counts = {
            name: len({hit.text.lower() for hit in cues.lexicon.find(text)})
            for name, cues in self.rules.cues.items()
        }
        best = max(counts.values(), default=0)
        if best == 0:
            return None
        return next(name for name in GUESS_ORDER if counts.get(name) == best)

    # -- checks --------------------------------------------------------------------------------

    def _check(self, message: object, reply: object, platform: str, scenario: str | None,
               relevance: float | None, rudeness: float | None = None) -> None:
        if not isinstance(message, str) or not isinstance(reply, str):
            raise InputError("the message and the reply must be text")
        platforms = self.rules.etiquette.platforms
        if platform not in platforms:
            raise InputError(f"unknown platform {platform!r}; valid platforms: {', '.join(platforms)}")
        if scenario is not None and scenario not in SCENARIOS:
            raise InputError(f"unknown scenario {scenario!r}; valid scenarios: {', '.join(SCENARIOS)}")
        if relevance is not None and not (isinstance(relevance, (int, float)) and 0.0 <= relevance <= 1.0):
            raise InputError(f"relevance must be a probability between 0 and 1, got {relevance!r}")
        if rudeness is not None and not (isinstance(rudeness, (int, float)) and 0.0 <= rudeness <= 1.0):
            raise InputError(f"rudeness must be a probability between 0 and 1, got {rudeness!r}")

    def _find(self, rule: str, text: str) -> tuple[Hit, ...]:
        return self.rules.specs[rule].lexicon.find(text)

    def _rude(self, text: str) -> tuple[Hit, ...]:
        """Words rude anywhere, then curt cues in a cold register where they add a new span."""
        hits = self._find("rude", text)
        curt = [hit for hit in self.rules.cold.find(text) if not any(_overlap(hit, other) for other in hits)]
        return tuple(sorted((*hits, *curt), key=lambda hit: hit.start))

    def owes_apology(self, message: str, scenario: str | None) -> bool:
        """Whether a reply to this message must apologise (no_apology), given its scenario.

        The reply generator asks the same question, so its suggestions pass this inspection.
        """
        if scenario not in APOLOGY_SCENARIOS:
            return False
        text = matchable(message)
        # A late or lost parcel is a grievance too ("都五天了还没到" is logistics).
        if self.rules.grievance.find(text):
            return True
        # A complaint in words no list foresees ("吹风机用了一周就冒烟了") is owed one as well; the
        # complaint scenario also covers asking how returns work ("怎么退货"), which states no problem.
        return scenario == "complaint" and not self.rules.inquiry.find(text)

    def _placeholders(self, text: str) -> tuple[Hit, ...]:
        hits = list(self._find("placeholder", text))
        brackets = self.rules.brackets
        for match in _BRACKET.finditer(text):
            inside_hit = any(hit.start <= match.start() < hit.end for hit in hits)
            if not inside_hit and brackets.is_placeholder(match.group(), match.group(1)):
                hits.append(Hit(match.start(), match.end(), match.group()))
        return tuple(sorted(hits, key=lambda hit: hit.start))

    def _greets(self, text: str) -> bool:
        window = self.rules.specs["greeting"].window or 0
        start = len(text) - len(text.lstrip())
        return any(hit.start < start + window for hit in self._find("greeting", text))

    def _closes(self, text: str) -> bool:
        window = self.rules.specs["closing"].window or 0
        end = len(text.rstrip())
        # In the last `window` characters and in the second half: 感谢您的耐心等待 opening a short
        # reply thanks the buyer for waiting; it does not see them off.
        return any(hit.end > end - window and hit.start >= end // 2 for hit in self._find("closing", text))

    def _relevance(self, message: str, reply: str, text: str, topic: str | None,
                   answer_probability: float | None) -> Finding | None:
        rules = self.rules
        reasons: list[str] = []
        span = None
        if answer_probability is not None and answer_probability < rules.min_answer_probability:
            reasons.append(f"语义上不像在回答这条消息（相关度 {answer_probability:.2f}，低于 {rules.min_answer_probability:.2f}）")
        if topic in OFF_TOPIC and not self._on_topic(text, topic):
            others = OFF_TOPIC[topic]
            found = {name: rules.cues[name].lexicon.find(text) for name in others}
            distinct = {name: {hit.text.lower() for hit in hits} for name, hits in found.items()}
            other = max(others, key=lambda name: (len(distinct[name]), -others.index(name)))
            if len(distinct[other]) >= rules.min_cues:
                first = found[other][0]
                span = (first.start, first.end)
                words = "、".join(dict.fromkeys(reply[h.start : h.end] for h in found[other]))
                reasons.append(f"买家问的是{rules.cues[topic].label}，回复却在说{rules.cues[other].label}（{words}）")
        answered = topic in rules.cues and bool(rules.cues[topic].lexicon.find(text))
        if topic != "price" and not answered and not rules.cues["price"].lexicon.find(matchable(message)):
            # A sales pitch in place of an answer: the buyer asked about anything but price, and
            # the reply says nothing of what they asked about (an apology alone does not count).
            pitch = rules.pitch.find(text)
            words = list(dict.fromkeys(reply[h.start : h.end] for h in pitch))
            if len({word.lower() for word in words}) >= rules.min_cues:
                span = span or (pitch[0].start, pitch[0].end)
                reasons.append(f"回复在推销（{'、'.join(words)}），买家并没有问价格优惠")
        if not reasons:
            return None
        spec = rules.specs["relevance"]
        return Finding("relevance", spec.severity, self._detail(spec, why="：" + "；".join(reasons)), span)

    def _on_topic(self, text: str, topic: str) -> bool:
        if self.rules.cues[topic].lexicon.find(text):
            return True
        # An apology answers a complaint even when it names nothing that went wrong.
        return topic == "complaint" and bool(self._find("no_apology", text))

    # -- findings ------------------------------------------------------------------------------

    def _found(self, rule: str, reply: str, hits: tuple[Hit, ...]) -> list[Finding]:
        spec = self.rules.specs[rule]
        return [
            Finding(rule, spec.severity, self._detail(spec, word=reply[hit.start : hit.end]), (hit.start, hit.end))
            for hit in hits[: self.rules.max_findings_per_rule]
        ]

    def _missing(self, rule: str) -> Finding:
        spec = self.rules.specs[rule]
        return Finding(rule, spec.severity, self._detail(spec), None)

    def _detail(self, spec: RuleSpec, *, word: str = "", why: str = "") -> str:
        return spec.detail.format(word=word, why=why, min_chars=self.rules.min_chars)


__all__ = ["Finding", "Inspection", "InspectionRules", "ReplyInspector", "RULES", "matchable"]
