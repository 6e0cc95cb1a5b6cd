"""ReplyComposer: a template plus the handbooks' etiquette -> a ready-to-send reply."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from app.corpus import SLOT_PATTERN, SLOT_PLACEHOLDERS, Template
from app.etiquette import Etiquette

_LEADING_ADDRESS = re.compile(r"^(?:(?:亲爱的|亲|您好|你好)[,，~～!！\s]*)+")


@dataclass(frozen=True)
class ComposedText:
    text: str
    missing_slots: tuple[str, ...]  # slots shown as 【…】 for the agent to fill


class ReplyComposer:
    def __init__(self, etiquette: Etiquette) -> None:
        self.etiquette = etiquette

    def compose(
        self,
        template: Template,
        *,
        platform: str,
        first_turn: bool,
        complaint: bool,
        slots: Mapping[str, str] | None = None,
    ) -> ComposedText:
        body, missing = fill_slots(template.reply, slots or {})
        return ComposedText(self.dress(body, platform=platform, first_turn=first_turn, complaint=complaint), missing)

    def holding(self, *, platform: str, first_turn: bool, complaint: bool) -> str:
        """The one reply offered when no template answers: the agent says they are checking."""
        return self.dress(self.etiquette.holding, platform=platform, first_turn=first_turn, complaint=complaint)

    def dress(self, body: str, *, platform: str, first_turn: bool, complaint: bool) -> str:
        """A reply body with the platform's etiquette: greeting on the first turn, apology first on a
        complaint, the closing, no 亲 where the platform forbids it."""
        rules = self.etiquette
        profile = rules.platforms[platform]
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
        return text

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

    def replace(match: re.Match[str]) -> str:
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

