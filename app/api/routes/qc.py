"""POST /v1/inspect/conversation (behind the token): quality inspection (质检) of one whole conversation.

The same record as one line of `kefu qc --out`, with the full service (scenario, tone and relevance
models). Its request and response bodies live here, beside the route.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from app.api.dependencies import (
    ERROR_RESPONSES,
    JSONBodyRoute,
    authorize,
    check_length,
    current_settings,
    ready_service,
)
from app.api.errors import ApiError
from app.api.responses import JSONResponse
from app.api.schemas import InspectionOut
from app.config import Settings
from app.inspection.conversations import DEFAULT_MAX_MESSAGES, MAX_ID_CHARS, Conversation, message_from_fields
from app.inspection.qc import ConversationInspector, ServiceJudge
from app.service import KefuService
from app.vocabulary import Platform, Position

qc = APIRouter(prefix="/v1", route_class=JSONBodyRoute, dependencies=[Depends(authorize)], responses=ERROR_RESPONSES)

MAX_TURNS = DEFAULT_MAX_MESSAGES
DEFAULT_AGENT = "agent"

_EXAMPLE_TURNS: list[JsonValue] = [
    {"role": "buyer", "text": "衣服破了个洞，怎么回事", "time": "2026-11-30 11:00:00"},
    {"role": "agent", "text": "你自己看清楚再说", "time": "2026-11-30 11:02:00", "agent": "暖暖旗舰店:小王"},
    {"role": "buyer", "text": "什么态度", "time": "2026-11-30 11:05:00"},
]


# What the API documents as a time: an ISO 8601 date and time, or epoch seconds (the chat-log readers
# also take 2026/11/30 and 2026年11月30日; the API keeps to the two forms a schema can state).
_DATE = (r"(?:19|20)\d\d-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
         r"|(?:0[13578]|1[02])-31)")
TIME_PATTERN = rf"^(?:{_DATE}[ T](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?|\d{{1,10}})$"


class ConversationTurnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["buyer", "agent"] = Field(description="who wrote the turn: buyer 买家 or agent 客服")
    text: str = Field(description="the message as sent; at most KEFU_MAX_MESSAGE_CHARS characters",
                      examples=["衣服破了个洞，怎么回事"], json_schema_extra={"minLength": 1, "pattern": r"\S"})
    time: str | None = Field(None, description="when it was sent: 2026-11-30 10:01:02 (ISO 8601 date and time, "
                                               "seconds optional) or seconds since 1970; without times no wait "
                                               "is measured",
                             examples=["2026-11-30 11:00:00"], pattern=TIME_PATTERN)
    agent: str | None = Field(None, max_length=MAX_ID_CHARS, description="on agent turns: the agent's id or "
                                                                         "nickname; default the body's `agent`")


class ConversationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"conversation": "c2", "platform": "taobao", "turns": _EXAMPLE_TURNS}]})

    conversation: str = Field("conversation", min_length=1, max_length=MAX_ID_CHARS,
                              description="the conversation's id, echoed back")
    platform: Platform | None = Field(None, description="the shop's platform; default KEFU_DEFAULT_PLATFORM")
    agent: str | None = Field(None, min_length=1, max_length=MAX_ID_CHARS,
                              description=f"the agent of agent turns that name none (default {DEFAULT_AGENT!r})")
    turns: list[ConversationTurnIn] = Field(min_length=1, max_length=MAX_TURNS,
                                            description=f"the conversation, oldest first (1-{MAX_TURNS} turns)")


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversationTurnOut(_Out):
    line: int = Field(description="the turn's 1-based position in `turns`")
    time: str | None
    role: Literal["buyer", "agent"]
    agent: str | None
    text: str
    position: Position | None = Field(None, description="agent turns: first (owes a greeting), middle, last (owes "
                                                        "a closing)")
    response_s: float | None = Field(None, description="agent turns answering buyer messages first: seconds the "
                                                       "buyer waited since the first of them")
    inspection: InspectionOut | None = Field(None, description="agent turns: judged against the buyer messages "
                                                               "they answer")


class ApologyOut(_Out):
    owed: bool = Field(description="a buyer message states a problem (a complaint, a late or lost parcel)")
    given: bool = Field(description="an agent reply from that message on apologises")


class ConversationQcOut(_Out):
    seq: int
    conversation: str
    line: int
    start: str | None
    end: str | None
    cut: bool
    agents: list[str] = Field(description="the agents who replied, in order of their first reply")
    messages: int
    buyer_messages: int
    replies: int
    replies_ok: int
    ok: bool = Field(description="the agents replied and every reply is fine to send")
    score: float | None = Field(description="the mean of the replies' scores; null when no agent replied")
    first_response_s: float | None = Field(description="seconds from the first buyer message to the reply")
    average_response_s: float | None = Field(description="mean wait of every run of buyer messages answered")
    unanswered: int = Field(description="buyer messages at the end that no agent reply follows")
    apology: ApologyOut
    rules: dict[str, int] = Field(description="replies breaking each rule")
    turns: list[ConversationTurnOut]


@qc.post("/inspect/conversation", response_model=ConversationQcOut, tags=["quality"],
         summary="Quality inspection (质检) of a whole conversation")
def inspect_conversation(body: ConversationIn, service: KefuService = Depends(ready_service),
                         settings: Settings = Depends(current_settings)) -> Response:
    """Each agent reply judged against the buyer messages it answers, in its place (the first owes a greeting,
    the last a closing); waits, unanswered messages and the apology owed. The same record as a line of
    `kefu qc --out`."""
    conversation = body.conversation.strip() or "conversation"
    messages = []
    for number, turn in enumerate(body.turns):
        check_length(f"turns[{number}].text", turn.text, settings.max_message_chars)
        fields = {"conversation": conversation, "role": turn.role, "text": turn.text, "time": turn.time,
                  "agent": turn.agent}
        try:
            messages.append(message_from_fields(fields, number + 1, require_time=False,
                                                default_agent=body.agent or DEFAULT_AGENT))
        except ValueError as exc:
            raise ApiError(422, "invalid_input", f"turns[{number}]: {exc}",
                           [{"field": f"turns.{number}", "message": str(exc)}]) from None
    inspector = ConversationInspector(ServiceJudge(service), platform=body.platform or settings.default_platform)
    verdict = inspector.inspect([Conversation(conversation, 1, tuple(messages))])[0]
    return JSONResponse(verdict.as_dict())


__all__ = ["ConversationIn", "ConversationQcOut", "ConversationTurnIn", "qc"]
