"""Quality inspection (质检) of whole conversations: every agent reply judged in its place, figures per agent.

A judge inspects agent replies: `RuleJudge` (kefu qc --fast) runs the word and pattern rules alone,
`ServiceJudge` runs the full service (the classifier's scenario, the tone and relevance models) in
batches, the way evaluation/runner.py drives it offline. `ConversationInspector` turns finished
conversations into verdicts; `QcTally` aggregates verdicts with memory that does not grow with the
log: counters, sparse response-time histograms, and heaps of the N worst conversations.

Attribution. A reply is its agent's. A wait belongs to the agent who answered; the first response to
the agent who answered the first buyer run; unanswered buyer messages to the agent who spoke last
before them (nobody's when no agent spoke: the conversation is unattended); a missing apology to the
agent who answered the first buyer run owed one. A conversation counts for every agent who replied in
it, and is "ok" for an agent when every reply of theirs in it is fine to send.

Apology, conversation-wide: owed when a buyer run states a problem (Etiquette.owes_apology on the
scenario the words suggest, in both modes); given when an agent reply from that run on apologises.
Each reply's own no_apology finding is the per-reply view of the same rule.

Percentiles (p50, p90: nearest rank) come from a histogram of whole seconds below 5 minutes, exact
when the log keeps whole seconds (a fraction is dropped), and of buckets 1 % wide above, reported at
their geometric middle: within 0.5 %. Means are exact.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from app.errors import InputError
from app.inspection.conversations import (
    BadLine,
    ChatMessage,
    Conversation,
    ConversationAssembler,
    ConversationFigures,
    measure_conversation,
    read_conversations,
)
from app.inspection.inspector import ReplyInspector
from app.inspection.results import BLOCKING, RULES, SEVERITIES, Inspection
from app.pipeline import InOrder
from app.vocabulary import PLATFORMS, Position

if TYPE_CHECKING:
    from app.service import KefuService

DEFAULT_BATCH = 64  # replies per judge call: one encoder call per batch in full mode
DEFAULT_WORST = 20
WORST_PER_AGENT = 3
MAX_REPORTED_BAD_LINES = 100  # all are counted; the first ones are kept with their reasons
# The response-time chart: its bins in seconds (the last is open) and their labels.
DISTRIBUTION_EDGES = (0, 10, 30, 60, 120, 300, 600, 1800)
DISTRIBUTION_LABELS = ("10秒内", "10-30秒", "30秒-1分", "1-2分", "2-5分", "5-10分", "10-30分", "30分以上")


@dataclass(frozen=True)
class ReplyToJudge:
    message: str  # the buyer run the reply answers ("" when no buyer spoke before it)
    reply: str
    platform: str
    position: Position


class ReplyJudge(Protocol):
    """Inspects agent replies; `inspector` is the rule inspector behind it (for the closing and apology);
    `in_flight` is how many batches it can usefully work on at once."""

    in_flight: int

    @property
    def inspector(self) -> ReplyInspector: ...

    def judge(self, items: Sequence[ReplyToJudge]) -> list[Inspection]: ...


class RuleJudge:
    """The word and pattern rules alone: no encoder, no model (kefu qc --fast)."""

    in_flight = 1  # pure Python: a second thread would only take turns with the first

    def __init__(self, inspector: ReplyInspector) -> None:
        self._inspector = inspector

    @property
    def inspector(self) -> ReplyInspector:
        return self._inspector

    def judge(self, items: Sequence[ReplyToJudge]) -> list[Inspection]:
        inspect = self._inspector.inspect
        return [inspect(item.message, item.reply, platform=item.platform, position=item.position) for item in items]


class ServiceJudge:
    """The full service: KefuService.inspect_many over each batch (scenario, tone, relevance).

    A reply with no buyer message to answer (the agent spoke first, or the buyer sent only an emoji
    code) has nothing for the models to read: the rules alone judge it.
    """

    # While one batch is encoded (onnxruntime, outside the GIL) the other's rules run in Python.
    in_flight = 2

    def __init__(self, service: KefuService) -> None:
        self.service = service

    @property
    def inspector(self) -> ReplyInspector:
        return self.service.inspector

    def judge(self, items: Sequence[ReplyToJudge]) -> list[Inspection]:
        from app.replies import InspectionRequest
        from app.understanding.message import prepare_message

        modelled: list[int] = []
        for i, item in enumerate(items):
            try:
                prepare_message(item.message)
            except InputError:
                continue
            modelled.append(i)
        found = self.service.inspect_many([
            InspectionRequest(items[i].message, items[i].reply, items[i].platform, items[i].position) for i in modelled
        ]) if modelled else []
        by_row = dict(zip(modelled, found))
        inspect = self.inspector.inspect
        return [by_row[i] if i in by_row else inspect(item.message, item.reply, platform=item.platform,
                                                      position=item.position)
                for i, item in enumerate(items)]


@dataclass(frozen=True)
class ConversationVerdict:
    conversation: Conversation
    figures: ConversationFigures
    inspections: tuple[Inspection, ...]  # one per figures.replies
    apology_owed: bool
    apology_given: bool
    apology_agent: str | None  # who answered the first buyer run owed an apology

    @property
    def ok(self) -> bool:
        """The agents replied and every reply is fine to send."""
        return bool(self.inspections) and all(inspection.ok for inspection in self.inspections)

    @property
    def failed(self) -> int:
        return sum(not inspection.ok for inspection in self.inspections)

    @property
    def apology_missing(self) -> bool:
        return self.apology_owed and not self.apology_given

    @property
    def score(self) -> float | None:
        """The mean of the replies' scores; None when no agent replied."""
        if not self.inspections:
            return None
        return round(sum(inspection.score for inspection in self.inspections) / len(self.inspections), 1)

    @property
    def agents(self) -> tuple[str, ...]:
        figures = self.figures
        return tuple(dict.fromkeys(figures.agent_of(reply) for reply in figures.replies))

    @property
    def spotless(self) -> bool:
        return (not self.figures.unanswered and not self.apology_missing
                and not any(inspection.findings for inspection in self.inspections))

    def badness(self) -> tuple[int, int, int, int, int]:
        """Worse is larger: replies not fine to send, buyer messages unanswered, a missing apology, the lowest
        reply score; the earlier conversation first on a tie."""
        lowest = min((inspection.score for inspection in self.inspections), default=100)
        return (self.failed, self.figures.unanswered, int(self.apology_missing), 100 - lowest,
                -self.conversation.seq)

    def rules(self) -> dict[str, int]:
        """Replies breaking each rule, in the rules' order."""
        counts = Counter(rule for inspection in self.inspections for rule in inspection.rules)
        return {rule: counts[rule] for rule in RULES if counts[rule]}

    def as_dict(self) -> dict[str, Any]:
        figures = self.figures
        messages = figures.messages
        judged = {reply.index: (reply, inspection) for reply, inspection in zip(figures.replies, self.inspections)}
        turns = []
        for index, message in enumerate(messages):
            turn: dict[str, Any] = {"line": message.line, "time": clock(message.time), "role": message.role,
                                    "agent": message.agent, "text": message.text}
            if index in judged:
                reply, inspection = judged[index]
                turn["position"] = reply.position
                turn["response_s"] = reply.response_seconds
                turn["inspection"] = inspection.as_dict()
            turns.append(turn)
        average = figures.average_response_seconds
        return {
            "seq": self.conversation.seq,
            "conversation": self.conversation.id,
            **({} if self.conversation.file is None else {"file": self.conversation.file}),
            "line": min((message.line for message in messages), default=0),
            "start": clock(messages[0].time) if messages else None,
            "end": clock(messages[-1].time) if messages else None,
            "cut": self.conversation.cut,
            "agents": list(self.agents),
            "messages": len(messages),
            "buyer_messages": figures.buyer_messages,
            "replies": len(self.inspections),
            "replies_ok": len(self.inspections) - self.failed,
            "ok": self.ok,
            "score": self.score,
            "first_response_s": figures.first_response_seconds,
            "average_response_s": None if average is None else round(average, 1),
            "unanswered": figures.unanswered,
            "apology": {"owed": self.apology_owed, "given": self.apology_given},
            "rules": self.rules(),
            "turns": turns,
        }


def clock(time: datetime | None) -> str | None:
    return None if time is None else time.isoformat(sep=" ")


class ConversationInspector:
    """Finished conversations -> verdicts: figures, then every agent reply judged against what it answers."""

    def __init__(self, judge: ReplyJudge, *, platform: str = "taobao") -> None:
        if platform not in PLATFORMS:
            raise InputError(f"unknown platform {platform!r}; valid platforms: {', '.join(PLATFORMS)}")
        self.judge = judge
        self.platform = platform

    def inspect(self, conversations: Sequence[Conversation]) -> list[ConversationVerdict]:
        """All replies of all the conversations go to the judge in one call."""
        measured = [measure_conversation(conversation) for conversation in conversations]
        items = [ReplyToJudge(reply.message, figures.messages[reply.index].text, self.platform, reply.position)
                 for figures in measured for reply in figures.replies]
        judged = iter(self.judge.judge(items) if items else [])
        verdicts = []
        for conversation, figures in zip(conversations, measured):
            inspections = []
            for reply in figures.replies:
                inspection = next(judged)
                if reply.owes_closing_too:
                    inspection = self._with_closing(inspection, reply.message, figures.messages[reply.index].text)
                inspections.append(inspection)
            owed, given, agent = self._apology(figures)
            verdicts.append(ConversationVerdict(conversation, figures, tuple(inspections), owed, given, agent))
        return verdicts

    def _with_closing(self, inspection: Inspection, message: str, reply: str) -> Inspection:
        """The only agent message owes a closing as well as the greeting it was judged for."""
        inspector = self.judge.inspector
        closing = inspector.inspect(message, reply, platform=self.platform, position="last")
        extra = tuple(finding for finding in closing.findings if finding.rule == "closing")
        if not extra or "closing" in inspection.rules:
            return inspection
        findings = sorted((*inspection.findings, *extra),
                          key=lambda f: (SEVERITIES.index(f.severity), RULES.index(f.rule), f.span or (-1, -1)))
        penalty = inspector.rules.specs["closing"].penalty
        return Inspection(ok=inspection.ok and not any(f.severity in BLOCKING for f in extra),
                          score=max(0, inspection.score - penalty), findings=tuple(findings))

    def _apology(self, figures: ConversationFigures) -> tuple[bool, bool, str | None]:
        inspector = self.judge.inspector
        etiquette = inspector.rules.etiquette
        owed_run: int | None = None
        agent = None
        seen: set[int] = set()
        for reply in figures.replies:
            if reply.run is None or reply.run in seen:
                continue
            seen.add(reply.run)
            if etiquette.owes_apology(reply.message, inspector.guess_scenario(reply.message)):
                owed_run, agent = reply.run, figures.agent_of(reply)
                break
        if owed_run is None:
            return False, False, None
        given = any(etiquette.has_apology(figures.messages[reply.index].text) for reply in figures.replies
                    if reply.run is not None and reply.run >= owed_run)
        return True, given, agent


# -- aggregation -----------------------------------------------------------------------------------


class ResponseHistogram:
    """Response times with bounded memory: whole seconds below EXACT_SECONDS, buckets 1 % wide above."""

    EXACT_SECONDS = 300
    STEP = 1.01

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}  # sparse: at most 300 + ~100 per factor e of the longest wait
        self.count = 0
        self.total = 0.0

    def add(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        bucket = self.bucket(seconds)
        self.buckets[bucket] = self.buckets.get(bucket, 0) + 1
        self.count += 1
        self.total += seconds

    @classmethod
    def bucket(cls, seconds: float) -> int:
        if seconds < cls.EXACT_SECONDS:
            return int(seconds)
        return cls.EXACT_SECONDS + int(math.log(seconds / cls.EXACT_SECONDS) / math.log(cls.STEP))

    @classmethod
    def lower(cls, bucket: int) -> float:
        if bucket < cls.EXACT_SECONDS:
            return float(bucket)
        return cls.EXACT_SECONDS * cls.STEP ** (bucket - cls.EXACT_SECONDS)

    @classmethod
    def value(cls, bucket: int) -> float:
        """What a bucket reports: its second, or the geometric middle of a 1 % bucket."""
        if bucket < cls.EXACT_SECONDS:
            return float(bucket)
        return round(cls.lower(bucket) * math.sqrt(cls.STEP), 1)

    def percentile(self, q: float) -> float | None:
        """Nearest rank: the smallest value with at least q of all values at or below it."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count - 1e-9))
        seen = 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                return self.value(bucket)
        raise AssertionError("unreachable: the counts add up to count")

    def mean(self) -> float | None:
        return round(self.total / self.count, 1) if self.count else None

    def distribution(self, edges: Sequence[float] = DISTRIBUTION_EDGES) -> list[int]:
        """Counts per bin [edges[i], edges[i+1]), the last bin open; a 1 % bucket goes where it starts."""
        counts = [0] * len(edges)
        for bucket, count in self.buckets.items():
            start = self.lower(bucket)
            index = max(i for i, edge in enumerate(edges) if start >= edge)
            counts[index] += count
        return counts

    def figures(self) -> dict[str, Any]:
        return {"count": self.count, "p50": self.percentile(0.5), "p90": self.percentile(0.9), "mean": self.mean()}


class WorstConversations:
    """The `limit` worst verdicts seen (ConversationVerdict.badness), in a heap: memory never grows past it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._heap: list[tuple[tuple[int, int, int, int, int], ConversationVerdict]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def offer(self, verdict: ConversationVerdict) -> None:
        if self.limit <= 0:
            return
        entry = (verdict.badness(), verdict)  # badness ends with -seq: never a tie, verdicts never compared
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, entry)
        elif entry[0] > self._heap[0][0]:
            heapq.heapreplace(self._heap, entry)

    def worst_first(self) -> list[ConversationVerdict]:
        return [verdict for _, verdict in sorted(self._heap, key=lambda entry: entry[0], reverse=True)]


class AgentTally:
    """One agent's figures (or everybody's, agent None), added up conversation by conversation."""

    def __init__(self, worst: int = WORST_PER_AGENT) -> None:
        self.conversations = 0
        self.with_replies = 0
        self.conversations_ok = 0
        self.replies = 0
        self.replies_ok = 0
        self.first_response = ResponseHistogram()
        self.response = ResponseHistogram()
        self.unanswered = 0
        self.apology_missing = 0
        self.rules: Counter[str] = Counter()
        self.worst = WorstConversations(worst)

    def add(self, verdict: ConversationVerdict, agent: str | None) -> None:
        figures = verdict.figures
        mine = [(reply, inspection) for reply, inspection in zip(figures.replies, verdict.inspections)
                if agent is None or figures.agent_of(reply) == agent]
        self.conversations += 1
        if mine:
            self.with_replies += 1
            self.conversations_ok += all(inspection.ok for _, inspection in mine)
        self.replies += len(mine)
        for reply, inspection in mine:
            self.replies_ok += inspection.ok
            self.rules.update(inspection.rules)
            if reply.response_seconds is not None:
                self.response.add(reply.response_seconds)
        if figures.first_response_seconds is not None and agent in (None, figures.first_responder):
            self.first_response.add(figures.first_response_seconds)
        if figures.unanswered and agent in (None, figures.unanswered_agent):
            self.unanswered += figures.unanswered
        if verdict.apology_missing and agent in (None, verdict.apology_agent):
            self.apology_missing += 1
        if not verdict.spotless:
            self.worst.offer(verdict)

    def figures(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "conversations_ok": self.conversations_ok,
            "conversation_pass_rate": _rate(self.conversations_ok, self.with_replies),
            "replies": self.replies,
            "replies_ok": self.replies_ok,
            "reply_pass_rate": _rate(self.replies_ok, self.replies),
            "first_response_s": self.first_response.figures(),
            "response_s": self.response.figures(),
            "unanswered": self.unanswered,
            "apology_missing": self.apology_missing,
            "rules": {rule: self.rules[rule] for rule in RULES if self.rules[rule]},
            "worst": [verdict.conversation.seq for verdict in self.worst.worst_first()],
        }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


class QcTally:
    """Everything `kefu qc` reports, added up verdict by verdict with memory bounded by the agents' count."""

    def __init__(self, *, worst: int = DEFAULT_WORST, worst_per_agent: int = WORST_PER_AGENT) -> None:
        self.overall = AgentTally(worst)
        self.agents: dict[str, AgentTally] = {}
        self.worst_per_agent = worst_per_agent
        self.messages = 0
        self.buyer_messages = 0
        self.unattended = 0  # conversations no agent answered
        self.cut = 0
        self.bad_lines = 0
        self.skipped: list[BadLine] = []  # the first MAX_REPORTED_BAD_LINES

    @property
    def conversations(self) -> int:
        return self.overall.conversations

    @property
    def replies(self) -> int:
        return self.overall.replies

    def add(self, verdict: ConversationVerdict) -> None:
        figures = verdict.figures
        self.messages += len(figures.messages)
        self.buyer_messages += figures.buyer_messages
        self.unattended += not figures.replies
        self.cut += verdict.conversation.cut
        self.overall.add(verdict, None)
        for agent in verdict.agents:
            tally = self.agents.get(agent)
            if tally is None:
                tally = self.agents[agent] = AgentTally(self.worst_per_agent)
            tally.add(verdict, agent)

    def add_bad_line(self, bad: BadLine) -> None:
        self.bad_lines += 1
        if len(self.skipped) < MAX_REPORTED_BAD_LINES:
            self.skipped.append(bad)

    def worst(self) -> list[ConversationVerdict]:
        """The worst conversations overall and each agent's, once each, worst first."""
        chosen = {verdict.conversation.seq: verdict for verdict in self.overall.worst.worst_first()}
        for tally in self.agents.values():
            for verdict in tally.worst.worst_first():
                chosen.setdefault(verdict.conversation.seq, verdict)
        return sorted(chosen.values(), key=lambda verdict: verdict.badness(), reverse=True)

    def summary(self) -> dict[str, Any]:
        agents = sorted(self.agents.items(), key=lambda item: (-item[1].conversations, item[0]))
        return {
            "conversations": self.conversations,
            "messages": self.messages,
            "buyer_messages": self.buyer_messages,
            "agent_replies": self.replies,
            "unattended": self.unattended,
            "cut": self.cut,
            "bad_lines": self.bad_lines,
            "skipped": [bad.as_dict() for bad in self.skipped],
            "overall": self.overall.figures(),
            "agents": {name: tally.figures() for name, tally in agents},
            "response_distribution": {"labels": list(DISTRIBUTION_LABELS), "edges_s": list(DISTRIBUTION_EDGES),
                                      "counts": self.overall.response.distribution()},
            "worst": [_worst_row(verdict) for verdict in self.overall.worst.worst_first()],
        }


def _worst_row(verdict: ConversationVerdict) -> dict[str, Any]:
    return {"seq": verdict.conversation.seq, "conversation": verdict.conversation.id,
            **({} if verdict.conversation.file is None else {"file": verdict.conversation.file}),
            "line": min((message.line for message in verdict.figures.messages), default=0),
            "agents": list(verdict.agents), "replies": len(verdict.inspections), "failed": verdict.failed,
            "unanswered": verdict.figures.unanswered, "apology_missing": verdict.apology_missing,
            "score": verdict.score, "rules": verdict.rules()}


def inspect_log(events: Iterable[ChatMessage | BadLine], inspector: ConversationInspector, tally: QcTally, *,
                assembler: ConversationAssembler, batch_replies: int = DEFAULT_BATCH,
                on_verdict: Callable[[ConversationVerdict], None] | None = None,
                on_batch: Callable[[], None] | None = None) -> QcTally:
    """Stream a log through: messages into conversations, finished ones judged in batches, verdicts tallied
    in the log's order.

    Holds at most the assembler's open conversations plus the judge's batches in flight; nothing else is kept.
    """
    return inspect_conversations(read_conversations(events, assembler), inspector, tally,
                                 batch_replies=batch_replies, on_verdict=on_verdict, on_batch=on_batch)


def inspect_conversations(items: Iterable[Conversation | BadLine], inspector: ConversationInspector, tally: QcTally,
                          *, batch_replies: int = DEFAULT_BATCH,
                          on_verdict: Callable[[ConversationVerdict], None] | None = None,
                          on_batch: Callable[[], None] | None = None) -> QcTally:
    """Finished conversations (one log's, or several logs' one after another) judged in batches, verdicts
    tallied in the order given; bad lines are counted as they come."""

    def settle(verdicts: list[ConversationVerdict]) -> None:
        for verdict in verdicts:
            tally.add(verdict)
            if on_verdict is not None:
                on_verdict(verdict)
        if on_batch is not None:
            on_batch()

    with InOrder(inspector.judge.in_flight, settle, name="kefu-qc") as batches:
        for batch in conversation_batches(items, batch_replies):
            if isinstance(batch, BadLine):
                tally.add_bad_line(batch)
            else:
                batches.submit(inspector.inspect, batch)
        batches.submit(inspector.inspect, [])  # a last on_batch call, after the last bad lines too
    return tally


def conversation_batches(items: Iterable[Conversation | BadLine],
                         batch_replies: int = DEFAULT_BATCH) -> Iterator[list[Conversation] | BadLine]:
    """Conversations gathered into batches of about `batch_replies` agent replies (or as many
    conversations), bad lines passed on as they come: what one judge call takes."""
    pending: list[Conversation] = []
    waiting = 0
    for item in items:
        if isinstance(item, BadLine):
            yield item
            continue
        pending.append(item)
        waiting += sum(message.role == "agent" for message in item.messages)
        if waiting >= batch_replies or len(pending) >= batch_replies:
            yield pending
            pending, waiting = [], 0
    if pending:
        yield pending


__all__ = [
    "DISTRIBUTION_EDGES", "DISTRIBUTION_LABELS", "AgentTally", "ConversationInspector", "ConversationVerdict",
    "QcTally", "ReplyJudge", "ReplyToJudge", "ResponseHistogram", "RuleJudge", "ServiceJudge",
    "WorstConversations", "clock", "conversation_batches", "inspect_conversations", "inspect_log",
]
