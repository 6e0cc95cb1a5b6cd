"""ReplyComposer: a template plus the handbooks' etiquette -> a ready-to-send reply."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from app.corpus import SLOT_PATTERN, SLOT_PLACEHOLDERS, Template
from app.errors import CorpusError

ETIQUETTE = "etiquette.yaml"
_LEADING_ADDRESS = re.compile(r"^(?:(?:亲爱的|亲|您好|你好)[,，~～!！\s]*)+")


class _PlatformModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    greeting: str
    closing: str
    complaint_greeting: str
    allows_qin: bool


class _ComplaintModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    apology: str
    apology_markers: list[str]
    closing: str
    cheerful: list[str]
    upsell_topics: list[str]


class _EtiquetteModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    platforms: dict[str, _PlatformModel]
    complaint: _ComplaintModel
    shouting: dict[str, str]
    absolute: dict[str, dict[str, str]]
    jd_rewrites: list[tuple[str, str]]


@dataclass(frozen=True)
class Etiquette:
    platforms: Mapping[str, _PlatformModel]
    complaint: _ComplaintModel
    shouting: re.Pattern
    absolute: tuple[tuple[str, str], ...]
    no_qin_rewrites: tuple[tuple[re.Pattern, str], ...]

    @classmethod
    def load(cls, corpus_dir: Path) -> "Etiquette":
        path = corpus_dir / ETIQUETTE
        try:
            model = _EtiquetteModel.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
            rewrites = tuple((re.compile(pattern), replacement) for pattern, replacement in model.jd_rewrites)
            shouting = re.compile(model.shouting["pattern"])
        except (OSError, yaml.YAMLError, ValidationError, re.error, KeyError) as exc:
            raise CorpusError(f"cannot read the etiquette rules {path}: {exc}") from exc
        if set(model.platforms) != {"taobao", "tmall", "jd"}:
            raise CorpusError(f"{path}: platforms must be exactly taobao, tmall, jd")
        # Longest first, so "全网最低" is not half-replaced by a shorter entry.
        absolute = tuple(sorted(model.absolute["replacements"].items(), key=lambda kv: -len(kv[0])))
        return cls(model.platforms, model.complaint, shouting, absolute, rewrites)

    def has_apology(self, text: str) -> bool:
        return any(marker in text for marker in self.complaint.apology_markers)


@dataclass(frozen=True)
class ComposedText:
    text: str
    missing_slots: tuple[str, ...]  # slots shown as 【…】 for the agent to fill


class ReplyComposer:
    def __init__(self, etiquette: Etiquette) -> None:
        self.etiquette = etiquette

    def is_upsell(self, template: Template) -> bool:
        return template.topic in self.etiquette.complaint.upsell_topics

    def compose(
        self,
        template: Template,
        *,
        platform: str,
        first_turn: bool,
        complaint: bool,
        slots: Mapping[str, str] | None = None,
    ) -> ComposedText:
        rules = self.etiquette
        profile = rules.platforms[platform]
        body, missing = fill_slots(template.reply, slots or {})
        body = self.tidy(body)
        if complaint:
            for mark in rules.complaint.cheerful:
                body = body.replace(mark, "")
            if not rules.has_apology(body):
                body = rules.complaint.apology + body
            greeting = profile.complaint_greeting if first_turn else ""
            closing = rules.complaint.closing
        else:
            greeting = profile.greeting if first_turn else ""
            closing = profile.closing
        if greeting:
            # The greeting already addresses the buyer; "亲，欢迎光临～亲，我们家…" reads as a machine.
            body = _LEADING_ADDRESS.sub("", body)
        text = "".join(part for part in (greeting, _sentence(body), closing) if part)
        if not profile.allows_qin:
            text = self.without_qin(text)
        return ComposedText(text, missing)

    def tidy(self, text: str) -> str:
        """No shouting and no absolute promises, whatever the template says."""
        text = self.etiquette.shouting.sub(lambda m: "？" if m.group()[0] in "?？" else "。", text)
        for word, replacement in self.etiquette.absolute:
            text = text.replace(word, replacement)
        return text

    def without_qin(self, text: str) -> str:
        for pattern, replacement in self.etiquette.no_qin_rewrites:
            text = pattern.sub(replacement, text)
        return text


def fill_slots(text: str, values: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    """Fill {slot}s from the request; unfilled ones become 【…】 placeholders, never a raw {slot}."""
    missing: list[str] = []

    def replace(match: re.Match) -> str:
        name = match.group(1)
        value = str(values.get(name, "")).strip()
        if value:
            return value
        missing.append(name)
        return SLOT_PLACEHOLDERS.get(name, f"【{name}】")

    return SLOT_PATTERN.sub(replace, text), tuple(dict.fromkeys(missing))


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in "。！？!?～~）)】」”" else text + "。"

