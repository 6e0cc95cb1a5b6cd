"""The shop corpus as data: handbooks, the script library, labelled buyer messages, fingerprints."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.errors import CorpusError
from app.handbooks.cleaning import EXTRA_STEPS, CleaningProfile
from app.shop import fact_placeholders
from app.vocabulary import Category, Fact, Mood, Platform, Scenario, Stage
from app.yaml_data import parse_yaml

# Slot name -> placeholder shown to the agent when nothing fills it (docs/data-formats.md): what a
# request carries, the size kefu computes from the shop's chart, and the shop's facts (app/shop.py).
REQUEST_SLOTS: dict[str, str] = {
    "product": "【商品名】",
    "order_id": "【订单号】",
    "coupon": "【优惠券】",
    "amount": "【金额】",
    "size": "【尺码】",
    "tracking_no": "【快递单号】",
    "courier": "【快递公司】",
    "date": "【日期】",
    "days": "【天数】",
    "gift": "【赠品】",
    "address": "【地址】",
    "agent": "【客服名】",
    "shop": "【店铺名】",
}
# Facts a shop sets per platform ("payment_methods.jd") are named in templates without the platform
# ("{payment_methods}"): the reply takes the value for the platform it is written for.
PLATFORM_FACTS: dict[str, str] = {"payment_methods": "【支付方式】", "price_protection.how_to_apply": "【价保申请方式】"}
SLOT_PLACEHOLDERS: dict[str, str] = {**REQUEST_SLOTS, "recommended_size": "【推荐尺码】", **fact_placeholders(),
                                     **PLATFORM_FACTS}
SLOT_PATTERN = re.compile(r"\{([a-z_]+(?:\.[a-z_]+)*)\}")

HANDBOOKS = "handbooks"
HANDBOOK_PROFILES = "handbook_profiles.yaml"
TEMPLATES = "templates.yaml"
QUICK_PHRASES = "quick_phrases.yaml"  # the shop's own phrases, written by `kefu import` (app/phrases.py)
LIBRARY_FILES = ((TEMPLATES, False), (QUICK_PHRASES, True))  # the library's files in order; True: imported
TEAM_EXAMPLES = 5  # a team template comes with at least this many example questions; an imported phrase with one
SCENARIO_BANK = "training/scenario_bank.jsonl"
TONE_EXAMPLES = "training/reply_tone.jsonl"
USERDICT = "userdict.txt"
STOPWORDS = "stopwords.txt"


@dataclass(frozen=True)
class Source:
    doc: str | None  # handbook file name; None for team-written templates
    heading: str | None  # the handbook's heading, or an imported phrase's group
    imported: str | None = None  # "file:line" an imported phrase came from

    @property
    def label(self) -> str:
        if self.imported:
            return f"imported {self.imported}" + (f" > {self.heading}" if self.heading else "")
        return f"{self.doc} > {self.heading}" if self.doc else "team"

    @property
    def kind(self) -> str:
        """What the API calls the source: a handbook's file name, "team" or "imported"."""
        return self.doc or ("imported" if self.imported else "team")


@dataclass(frozen=True)
class Applicability:
    """Where a template answers the message: empty tuples mean "anywhere"."""

    stages: tuple[str, ...] = ()  # order stages it fits; a message of unknown stage is never excluded
    moods: tuple[str, ...] = ()  # buyer moods it fits
    categories: tuple[str, ...] = ()  # product categories it is written for; a message naming none fits
    needs: tuple[str, ...] = ()  # facts the reply is built on: suggested only when the message states them
    asks: tuple[str, ...] = ()  # facts the reply asks for: never suggested when the message states them


@dataclass(frozen=True)
class Template:
    id: str
    scenario: str
    topic: str
    reply: str
    examples: tuple[str, ...]
    platforms: tuple[str, ...]
    source: Source
    applies: Applicability = Applicability()
    pitch: bool = False  # a sales pitch: never after an order, to an upset buyer, or to one closing the chat

    @functools.cached_property
    def slots(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(SLOT_PATTERN.findall(self.reply)))


@dataclass(frozen=True)
class LabelledMessage:
    id: str
    message: str
    scenario: str
    also: tuple[str, ...] = ()


class _SourceModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    doc: str
    heading: str


class _ImportedModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    imported: str = Field(min_length=1)  # the file's name
    line: int = Field(ge=1)
    group: str | None = None


class _ApplicabilityModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stages: list[Stage] = Field(default_factory=list)
    moods: list[Mood] = Field(default_factory=list)
    categories: list[Category] = Field(default_factory=list)
    needs: list[Fact] = Field(default_factory=list)
    asks: list[Fact] = Field(default_factory=list)


class _TemplateModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
    scenario: Scenario
    topic: str
    reply: str = Field(min_length=2)
    examples: list[str] = Field(min_length=1)  # TEAM_EXAMPLES for the team's library, checked on load
    platforms: list[Platform] = Field(min_length=1)
    source: Literal["team"] | _SourceModel | _ImportedModel
    applies: _ApplicabilityModel = Field(default_factory=_ApplicabilityModel)
    pitch: bool = False

    @field_validator("reply")
    @classmethod
    def _known_slots(cls, reply: str) -> str:
        unknown = set(SLOT_PATTERN.findall(reply)) - SLOT_PLACEHOLDERS.keys()
        if unknown:
            raise ValueError(f"unknown slots {sorted(unknown)}; allowed: {sorted(SLOT_PLACEHOLDERS)}")
        return reply


class _LabelledModel(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    message: str = Field(min_length=1)
    scenario: Scenario
    also: list[Scenario] = Field(default_factory=list)


def load_templates(corpus_dir: Path) -> tuple[Template, ...]:
    """The team's library (templates.yaml), then the shop's imported phrases (quick_phrases.yaml, optional)."""
    templates: list[Template] = []
    seen: set[str] = set()
    for name, imported in LIBRARY_FILES:
        path = corpus_dir / name
        for position, entry in enumerate(library_entries(path, optional=imported), start=1):
            try:
                template = validate_entry(entry, imported=imported, corpus_dir=corpus_dir)
            except CorpusError as exc:
                raise CorpusError(f"{path}: template #{position} {exc.message}", details=exc.details) from exc
            if template.id in seen:
                raise CorpusError(f"{path}: duplicate template id {template.id}")
            seen.add(template.id)
            templates.append(template)
    return tuple(templates)


def library_entries(path: Path, *, optional: bool = False) -> list[Any]:
    """The raw entries of a library file (a YAML list), unchecked; [] for an optional file that is
    missing or empty. CorpusError when it cannot be read or is not a list."""
    if optional and not path.is_file():
        return []
    try:
        raw = copy.deepcopy(_parsed_library(path.read_text(encoding="utf-8")))  # the caller's own, to change
    except (OSError, yaml.YAMLError) as exc:
        raise CorpusError(f"cannot read the script library {path}: {exc}") from exc
    if optional and raw is None:
        return []
    if not isinstance(raw, list):
        raise CorpusError(f"{path} must be a YAML list of templates")
    return raw


@functools.lru_cache(maxsize=8)
def _parsed_library(text: str) -> Any:
    """A library file's YAML, parsed once per content: at start-up the service's templates and the live library
    (app/library/live.py) both read it, and parsing took 35-70 ms of the start-up each time (a copy, 4 ms)."""
    return parse_yaml(text)


def validate_entry(entry: object, *, imported: bool, corpus_dir: Path | None = None) -> Template:
    """One library entry as a Template, or CorpusError saying what is wrong with it. Team entries need
    TEAM_EXAMPLES examples and a team or handbook source; imported ones (quick_phrases.yaml) one example."""
    name = entry.get("id") if isinstance(entry, dict) else None
    try:
        model = _TemplateModel.model_validate(entry)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(part) for part in error['loc']) or 'entry'}: {error['msg']}"
                             for error in exc.errors())
        raise CorpusError(f"({name}) is invalid: {problems}") from None
    if not imported and len(model.examples) < TEAM_EXAMPLES:
        raise CorpusError(f"({model.id}) has {len(model.examples)} examples; a team template needs {TEAM_EXAMPLES}")
    if not imported and isinstance(model.source, _ImportedModel):
        raise CorpusError(f"({model.id}) is an imported phrase: it belongs in {QUICK_PHRASES}")
    if not model.topic.startswith(model.scenario + "."):
        raise CorpusError(f"({model.id}) topic {model.topic} is not under {model.scenario}")
    if isinstance(model.source, _ImportedModel):
        source = Source(None, model.source.group, f"{model.source.imported}:{model.source.line}")
    elif model.source == "team":
        source = Source(None, None)
    else:
        source = Source(model.source.doc, model.source.heading)
    if source.doc and corpus_dir is not None and not (corpus_dir / HANDBOOKS / source.doc).is_file():
        raise CorpusError(f"({model.id}) cites a missing handbook {source.doc}")
    return Template(
        id=model.id,
        scenario=model.scenario,
        topic=model.topic,
        reply=model.reply.strip(),
        examples=tuple(e.strip() for e in model.examples),
        platforms=tuple(model.platforms),
        source=source,
        applies=Applicability(*(tuple(getattr(model.applies, name)) for name in
                                ("stages", "moods", "categories", "needs", "asks"))),
        pitch=model.pitch,
    )


def load_labelled(path: Path) -> tuple[LabelledMessage, ...]:
    """Labelled buyer messages from a team-owned JSON Lines file (strict: any bad line is an error)."""
    messages = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            model = _LabelledModel.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise CorpusError(f"{path}:{number}: {exc}") from exc
        messages.append(LabelledMessage(model.id, model.message, model.scenario, tuple(model.also)))
    return tuple(messages)


def handbook_paths(corpus_dir: Path) -> list[Path]:
    paths = sorted((corpus_dir / HANDBOOKS).glob("*.txt"))
    if not paths:
        raise CorpusError(f"no handbooks in {corpus_dir / HANDBOOKS}")
    return paths


class _ProfileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    blocks: list[str] = Field(default_factory=list)
    structure: list[str] = Field(default_factory=list)

    @field_validator("blocks", "structure")
    @classmethod
    def _known_steps(cls, steps: list[str]) -> list[str]:
        unknown = sorted(set(steps) - EXTRA_STEPS.keys())
        if unknown:
            raise ValueError(f"unknown cleaning steps {unknown}; allowed: {sorted(EXTRA_STEPS)}")
        return steps


def load_handbook_profiles(corpus_dir: Path) -> dict[str, CleaningProfile]:
    """Each handbook's cleaning profile by file name (handbook_profiles.yaml; optional)."""
    path = corpus_dir / HANDBOOK_PROFILES
    if not path.is_file():
        return {}
    try:
        raw = parse_yaml(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CorpusError(f"cannot read the handbook cleaning profiles {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise CorpusError(f"{path} must map handbook file names to cleaning profiles")
    profiles = {}
    for name, entry in raw.items():
        if not (corpus_dir / HANDBOOKS / str(name)).is_file():
            raise CorpusError(f"{path}: {name} names no handbook in {corpus_dir / HANDBOOKS}")
        try:
            model = _ProfileModel.model_validate(entry or {})
        except ValidationError as exc:
            raise CorpusError(f"{path}: the profile of {name} is invalid: {exc}") from exc
        profiles[str(name)] = CleaningProfile(tuple(model.blocks), tuple(model.structure))
    return profiles


def corpus_fingerprint(corpus_dir: Path) -> str:
    """Hash of every input the index is built from; a change means the index is stale."""
    digest = hashlib.sha256()
    inputs = handbook_paths(corpus_dir) + [
        corpus_dir / name
        for name in (HANDBOOK_PROFILES, TEMPLATES, QUICK_PHRASES, SCENARIO_BANK, TONE_EXAMPLES, USERDICT, STOPWORDS)
    ]
    for path in inputs:
        digest.update(path.relative_to(corpus_dir).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
        digest.update(b"\0")
    return digest.hexdigest()
