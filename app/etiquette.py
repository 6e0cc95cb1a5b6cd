"""The handbooks' etiquette as loaded: platform profiles, what an apology is and when one is owed.

One module, imported by both the reply generator (app/compose.py) and the quality inspection
(app/inspection/), so kefu's own suggestions and the inspection of agents' replies agree by
construction (corpus/etiquette.yaml).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.errors import CorpusError
from app.lexicon import Lexicon, LexiconSpec, matchable
from app.vocabulary import PLATFORMS
from app.yaml_data import parse_yaml

ETIQUETTE = "etiquette.yaml"
# Scenarios in which a message stating a problem is owed an apology. Not size ("太紧了能换L吗" is
# the buyer's fit) and not price ("太贵了" is bargaining).
APOLOGY_SCENARIOS = frozenset({"complaint", "logistics"})


class PlatformProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    greeting: str
    closing: str
    complaint_greeting: str
    allows_qin: bool


class ComplaintEtiquette(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    apology: str
    apology_markers: list[str] = Field(min_length=1)
    apology_except: list[str] = Field(default_factory=list)  # a marker denied: 不是我们的问题
    closing: str
    cheerful: list[str]
    grievance_cues: LexiconSpec
    inquiry_cues: LexiconSpec


class _EtiquetteModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    platforms: dict[str, PlatformProfile]
    holding: str = Field(min_length=2)
    complaint: ComplaintEtiquette
    shouting: dict[str, str]
    absolute: dict[str, dict[str, str]]
    jd_rewrites: list[tuple[str, str]]


@dataclass(frozen=True)
class Etiquette:
    platforms: Mapping[str, PlatformProfile]
    holding: str  # the one reply offered when kefu abstains
    complaint: ComplaintEtiquette
    shouting: re.Pattern[str]
    absolute: tuple[tuple[str, str], ...]  # word -> modest wording, longest word first
    no_qin_rewrites: tuple[tuple[re.Pattern[str], str], ...]
    apology: Lexicon  # what counts as an apology
    grievance: Lexicon  # a message stating a problem
    inquiry: Lexicon  # a message asking how something is done or what something is like

    @classmethod
    def load(cls, corpus_dir: Path) -> Etiquette:
        path = corpus_dir / ETIQUETTE
        try:
            model = _EtiquetteModel.model_validate(parse_yaml(path.read_text(encoding="utf-8")))
            rewrites = tuple((re.compile(pattern), replacement) for pattern, replacement in model.jd_rewrites)
            shouting = re.compile(model.shouting["pattern"])
            cues = (model.complaint.grievance_cues.lexicon(), model.complaint.inquiry_cues.lexicon())
        except (OSError, yaml.YAMLError, ValidationError, re.error, KeyError) as exc:
            raise CorpusError(f"cannot read the etiquette rules {path}: {exc}") from exc
        if set(model.platforms) != set(PLATFORMS):
            raise CorpusError(f"{path}: platforms must be exactly {', '.join(PLATFORMS)}")
        # Longest first, so "全网最低" is not half-replaced by a shorter entry.
        absolute = tuple(sorted(model.absolute["replacements"].items(), key=lambda kv: -len(kv[0])))
        apology = Lexicon.build(model.complaint.apology_markers, exceptions=model.complaint.apology_except)
        return cls(model.platforms, model.holding, model.complaint, shouting, absolute, rewrites, apology, *cues)

    def has_apology(self, text: str) -> bool:
        return bool(self.apology.find(matchable(text)))

    def owes_apology(self, message: str, scenario: str | None) -> bool:
        """Whether a reply to this buyer message must apologise, given the message's scenario."""
        if scenario not in APOLOGY_SCENARIOS:
            return False
        text = matchable(message)
        # A late or lost parcel is a grievance too ("都五天了还没到" is logistics).
        if self.grievance.find(text):
            return True
        # A complaint in words no list foresees ("吹风机用了一周就冒烟了") is owed one as well; the
        # complaint scenario also covers asking how returns work ("怎么退货"), which states no problem.
        return scenario == "complaint" and not self.inquiry.find(text)


__all__ = ["APOLOGY_SCENARIOS", "ComplaintEtiquette", "Etiquette", "PlatformProfile"]
