"""What the service is asked and what it answers: reply requests, suggestions, reviews, input checks.

Frozen dataclasses shared by the service, the CLI, the API and the evaluation runner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.errors import InputError
from app.inspection.results import Inspection
from app.models.classifier import ScenarioPrediction
from app.retrieval.hybrid import PassageHit
from app.vocabulary import PLATFORMS

MAX_TOP_K = 20


@dataclass(frozen=True)
class Turn:
    role: str  # "buyer" | "agent"
    text: str


@dataclass(frozen=True)
class ReplyRequest:
    message: str
    platform: str = "taobao"
    top_k: int = 3
    first_turn: bool | None = None  # None: decided by the history (no agent turn yet -> first turn)
    history: tuple[Turn, ...] = ()
    slots: Mapping[str, str] = field(default_factory=dict)

    def is_first_turn(self) -> bool:
        if self.first_turn is not None:
            return self.first_turn
        return not any(turn.role == "agent" for turn in self.history)


@dataclass(frozen=True)
class SuggestedReply:
    text: str
    template_id: str
    scenario: str
    topic: str
    score: float
    components: dict[str, float]
    terms: tuple[str, ...]
    source: dict[str, Any]
    missing_slots: tuple[str, ...]
    example: str
    confidence: float = 0.0  # calibrated probability that it can be sent as it is (app/models/reranker.py)
    holding: bool = False  # a holding reply ("稍等，我帮您核实一下"), not an answer: kefu abstained

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "template_id": self.template_id,
            "scenario": self.scenario,
            "topic": self.topic,
            "score": round(self.score, 4),
            "confidence": round(self.confidence, 4),
            "holding": self.holding,
            "components": {name: round(value, 4) for name, value in self.components.items()},
            "terms": list(self.terms),
            "source": self.source,
            "missing_slots": list(self.missing_slots),
            "example": self.example,
        }


@dataclass(frozen=True)
class ReplyResult:
    message: str
    platform: str
    first_turn: bool
    scenario: ScenarioPrediction
    replies: tuple[SuggestedReply, ...]
    support: tuple[PassageHit, ...] = ()  # handbook passages behind the answer, for the agent to check
    # Why no suggestion is worth sending, for the agent to read; None when kefu answers.
    abstention: str | None = None

    @property
    def needs_human(self) -> bool:
        return self.abstention is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "platform": self.platform,
            "first_turn": self.first_turn,
            "scenario": self.scenario.as_dict(),
            "needs_human": self.needs_human,
            "abstention": self.abstention,
            "replies": [reply.as_dict() for reply in self.replies],
            "support": [
                {"id": hit.id, "doc": hit.doc, "heading": list(hit.heading), "text": hit.text,
                 "score": round(hit.score, 6)}
                for hit in self.support
            ],
        }


@dataclass(frozen=True)
class InspectionRequest:
    """An agent's reply to a buyer message, to inspect; position: where the reply stands in the conversation
    (first: owes a greeting; last: owes a closing; middle, the default when unknown: owes neither)."""

    message: str
    reply: str
    platform: str = "taobao"
    position: str = "middle"


@dataclass(frozen=True)
class Review:
    """kefu's suggestions for a message and, when the agent's reply was given, its inspection."""

    result: ReplyResult
    inspection: Inspection | None


def check_top_k(top_k: int) -> int:
    if not 1 <= top_k <= MAX_TOP_K:
        raise InputError(f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}")
    return top_k


def check_reply(reply: object) -> str:
    if not isinstance(reply, str):
        raise InputError("the reply must be text")
    return reply


def check_platform(platform: str) -> str:
    if platform not in PLATFORMS:
        raise InputError(f"unknown platform {platform!r}; valid platforms: {', '.join(PLATFORMS)}")
    return platform
