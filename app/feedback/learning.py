"""Learnt questions: buyer messages agents answered with a template, proposed as that template's examples.

The acceptance prior (app/feedback/prior.py) moves a template as a whole; a replay of a simulated week
found it moves nothing measurable. What agents' choices do teach is which *messages* a template answers:
when an agent used a template for a message it was not yet an example of, that message is evidence the
template fits messages like it. Added to the template's examples (by an editor, through the library, so
audited and live within seconds), it lifts the used template to first place more often on later days
(docs/measurements.md, "Learnt questions").

A proposal is one (template, message) pair from accepted events (copied, sent, edited), ranked by how
often agents chose the template over kefu's first suggestion (corrections: the strongest evidence), then
by uses. Left out: messages already an example of any template (normalised), templates the library no
longer has, pairs an editor dismissed, messages no example could hold (blank or over MAX_EXAMPLE_CHARS),
and messages carrying a buyer's own numbers or address (PRIVATE_NUMBER: orders, parcels, phones, e-mail),
which must not end up in a library every agent sees.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.feedback.events import FeedbackEvent
from app.text import normalize_text

if TYPE_CHECKING:
    from app.feedback.store import FeedbackStore
    from app.library.live import LibraryView

MAX_EXAMPLE_CHARS = 200  # longer messages are pasted order dumps or conversations, not questions to learn
# Seven digits or more in a row (order and parcel numbers, phone numbers), or an e-mail address.
PRIVATE_NUMBER = re.compile(r"\d{7,}|[\w.+-]+@[\w-]+\.[\w.]+")


def question_key(message: str) -> str:
    """What two messages share when they are the same question: their normalised text, lower case, without
    spaces (buyers space Chinese words at random)."""
    return "".join(normalize_text(message).lower().split())


@dataclass
class LearntQuestion:
    template_id: str
    message: str  # as the buyer wrote it, the first time
    uses: int = 0  # events where an agent used the template for this message
    corrections: int = 0  # of those, where kefu had put another suggestion first
    as_is: int = 0  # of those, sent as suggested (copied or sent)
    last_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"template_id": self.template_id, "message": self.message, "uses": self.uses,
                "corrections": self.corrections, "as_is": self.as_is,
                "last_at": self.last_at.isoformat() if self.last_at else None}


def learnt_questions(
    items: Iterable[FeedbackEvent],
    examples: Mapping[str, Iterable[str]],
    *,
    dismissed: Collection[tuple[str, str]] = (),
    limit: int | None = None,
) -> list[LearntQuestion]:
    """The proposals from the events, best evidence first. `examples`: each template of the library now
    and its example questions; `dismissed`: (template id, question_key) pairs an editor turned down."""
    known = {question_key(example) for found in examples.values() for example in found}
    proposals: dict[tuple[str, str], LearntQuestion] = {}
    for item in items:
        if not item.accepted or item.template_id is None or item.template_id not in examples:
            continue
        key = question_key(item.message)
        if (not key or len(key) > MAX_EXAMPLE_CHARS or key in known or (item.template_id, key) in dismissed
                or PRIVATE_NUMBER.search(key)):
            continue
        found = proposals.setdefault((item.template_id, key), LearntQuestion(item.template_id, item.message.strip()))
        found.uses += 1
        found.corrections += (item.rank or 1) > 1
        found.as_is += item.action != "edited"
        if item.at is not None and (found.last_at is None or item.at > found.last_at):
            found.last_at = item.at
    ranked = sorted(proposals.values(), key=lambda q: (-q.corrections, -q.uses, q.template_id, q.message))
    return ranked if limit is None else ranked[:limit]


def shop_questions(store: FeedbackStore, shop: str, library: LibraryView, *, since: datetime | None = None,
                   until: datetime | None = None, limit: int | None = None) -> list[LearntQuestion]:
    """The proposals an editor of `shop` is shown: its accepted events (optionally within [since, until))
    against its library as edited, less what its editors dismissed."""
    examples = {item.id: item.body["examples"] for item in library.templates}
    return learnt_questions(store.read(shop, since=since, until=until, accepted_only=True), examples,
                            dismissed=store.dismissed(shop), limit=limit)


def with_examples(body: Mapping[str, Any], messages: Iterable[str]) -> dict[str, Any]:
    """A template body with the messages added to its examples (those it lacks, normalised), in order."""
    have = {question_key(example) for example in body["examples"]}
    added = []
    for message in messages:
        key = question_key(message)
        if key and key not in have:
            have.add(key)
            added.append(message.strip())
    return {**body, "examples": [*body["examples"], *added]}


__all__ = ["MAX_EXAMPLE_CHARS", "PRIVATE_NUMBER", "LearntQuestion", "learnt_questions", "question_key", "shop_questions",
           "with_examples"]
