"""A feedback event: one agent's use (or not) of one suggestion."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

# copied: the reply copied as suggested; sent: sent as suggested (by a chat-tool plugin); edited: sent
# after the agent changed it (sent_text holds what went out); ignored: shown and not used.
Action = Literal["copied", "sent", "edited", "ignored"]
ACTIONS: tuple[str, ...] = get_args(Action)
ACCEPTED = ("copied", "sent", "edited")  # the agent used the suggestion, as is or edited


@dataclass(frozen=True)
class FeedbackEvent:
    shop: str
    action: Action
    message: str  # the buyer message the suggestion answered
    template_id: str | None = None  # None: nothing suggested was used (action ignored)
    suggestion_id: str | None = None  # the /v1/reply answer the suggestion came from
    scenario: str | None = None
    rank: int | None = None  # 1-based place among the suggestions shown
    score: float | None = None
    confidence: float | None = None
    sent_text: str | None = None  # what the agent sent, for edited (and sent, when given)
    agent: str | None = None
    platform: str | None = None
    at: datetime | None = None  # set by the store when recorded

    @property
    def accepted(self) -> bool:
        return self.action in ACCEPTED


__all__ = ["ACCEPTED", "ACTIONS", "Action", "FeedbackEvent"]
