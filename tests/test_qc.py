"""Quality inspection of whole conversations (kefu qc): readers, figures worked out by hand, bounds, CLI, API.

tests/data/qc_chats.{jsonl,csv,txt} hold the same five conversations in the three forms (JSONL and CSV
interleaved in time order, the text export grouped by conversation):
    c1 小美  buyer 10:00:00, 10:00:10 -> reply 10:00:30 (30 s, first) -> buyer 10:01:00 -> reply 10:01:20 (20 s, last)
    c3 小美/小王  buyer 10:00:05 -> 小美 10:00:50 (45 s, first) -> buyer 10:01:05, 10:01:35 -> 小王 10:02:15 (70 s, last)
    c2 小王  buyer 11:00:00 (破了个洞) -> reply 11:02:00 (120 s, first, rude) -> reply 11:02:30 (middle)
             -> buyer 11:05:00, 11:05:30: two unanswered, no apology ever
    c4 nobody  buyer 13:00:00 (U+2028 and U+0085 inside the text): one unanswered, unattended
    c5 小美  buyer 14:00:00 -> reply 14:00:05 (5 s): the only reply owes a greeting and a closing; it has no closing
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.errors import InputError
from app.inspection import Inspection, ReplyInspector
from app.inspection.conversations import (
    BadLine,
    ChatLogReader,
    ChatMessage,
    Conversation,
    ConversationAssembler,
    detect_format,
    parse_time,
)
from app.inspection.qc import (
    ConversationInspector,
    QcTally,
    ResponseHistogram,
    RuleJudge,
    ServiceJudge,
    WorstConversations,
    inspect_log,
)
from app.inspection.qc_report import render_qc_report
from tests.conftest import CORPUS, REPO
from tests.test_cli import run_kefu

DATA = REPO / "tests" / "data"
FORMS = {"jsonl": DATA / "qc_chats.jsonl", "csv": DATA / "qc_chats.csv", "text": DATA / "qc_chats.txt"}
MEI, WANG = "暖暖旗舰店:小美", "暖暖旗舰店:小王"
C4_TEXT = "在吗\u2028有人吗\u0085在不在"

# Per conversation, worked out by hand from the timestamps above.
EXPECTED = {
    "c1": {"positions": ["first", "last"], "waits": [30.0, 20.0], "first": 30.0, "unanswered": 0, "agents": [MEI]},
    "c3": {"positions": ["first", "last"], "waits": [45.0, 70.0], "first": 45.0, "unanswered": 0,
           "agents": [MEI, WANG]},
    "c2": {"positions": ["first", "middle"], "waits": [120.0, None], "first": 120.0, "unanswered": 2,
           "agents": [WANG]},
    "c4": {"positions": [], "waits": [], "first": None, "unanswered": 1, "agents": []},
    "c5": {"positions": ["first"], "waits": [5.0], "first": 5.0, "unanswered": 0, "agents": [MEI]},
}

# Per agent. 小美: first responses 30, 45, 5 -> nearest rank p50 = 30 (2nd of 3), p90 = 45 (3rd);
# waits 30, 20, 45, 5 -> p50 = 20 (2nd of 4), p90 = 45 (4th), mean 25. 小王: first response 120
# (c2 only; c3's first run was 小美's); waits 120, 70 -> p50 70, p90 120, mean 95; the two messages
# left at the end of c2 and c2's missing apology are his.
AGENTS = {
    MEI: {"conversations": 3, "conversations_ok": 3, "conversation_pass_rate": 1.0, "replies": 4, "replies_ok": 4,
          "reply_pass_rate": 1.0, "first_response_s": {"count": 3, "p50": 30.0, "p90": 45.0, "mean": 26.7},
          "response_s": {"count": 4, "p50": 20.0, "p90": 45.0, "mean": 25.0}, "unanswered": 0,
          "apology_missing": 0, "rules": {"closing": 1}, "worst": [5]},
    WANG: {"conversations": 2, "conversations_ok": 1, "conversation_pass_rate": 0.5, "replies": 3, "replies_ok": 1,
           "reply_pass_rate": 0.3333, "first_response_s": {"count": 1, "p50": 120.0, "p90": 120.0, "mean": 120.0},
           "response_s": {"count": 2, "p50": 70.0, "p90": 120.0, "mean": 95.0}, "unanswered": 2,
           "apology_missing": 1, "rules": {"rude": 1, "no_apology": 2, "polite": 2, "greeting": 1}, "worst": [3]},
}
# Everybody: first responses 30, 45, 120, 5 -> p50 30, p90 120, mean 50; waits 30, 20, 45, 70, 120, 5 ->
# p50 30 (3rd of 6), p90 120 (6th), mean 48.3; 3 of the 4 answered conversations have every reply fine.
OVERALL = {"conversations": 5, "conversations_ok": 3, "conversation_pass_rate": 0.75, "replies": 7, "replies_ok": 5,
           "reply_pass_rate": 0.7143, "first_response_s": {"count": 4, "p50": 30.0, "p90": 120.0, "mean": 50.0},
           "response_s": {"count": 6, "p50": 30.0, "p90": 120.0, "mean": 48.3}, "unanswered": 3,
           "apology_missing": 1, "rules": {"rude": 1, "no_apology": 2, "polite": 2, "greeting": 1, "closing": 1},
           "worst": [3, 4, 5]}


@pytest.fixture(scope="module")
def inspector() -> ReplyInspector:
    return ReplyInspector.load(CORPUS)


def read(data: bytes, log_format: str, **options) -> list[ChatMessage | BadLine]:
    return list(ChatLogReader(io.BytesIO(data), log_format, **options))


def conversations_of(events, **options) -> list[Conversation]:
    assembler = ConversationAssembler(**options)
    found = []
    for event in events:
        if isinstance(event, ChatMessage):
            found += assembler.add(event)
    return sorted(found + assembler.finish(), key=lambda conversation: conversation.seq)


def run_log(path: Path, inspector: ReplyInspector, log_format: str, **options) -> tuple[QcTally, list]:
    verdicts = []
    tally = QcTally()
    with open(path, "rb") as stream:
        inspect_log(ChatLogReader(stream, log_format, **options), ConversationInspector(RuleJudge(inspector)), tally,
                    assembler=ConversationAssembler(), on_verdict=verdicts.append)
    return tally, sorted(verdicts, key=lambda verdict: verdict.conversation.seq)


# ---------------------------------------------------------------------------------------------
# Reading: three forms, one log
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("log_format", list(FORMS))
def test_each_form_reads_the_same_conversations(log_format):
    events = read(FORMS[log_format].read_bytes(), log_format)
    assert [event for event in events if isinstance(event, BadLine)] == []
    found = conversations_of(events)
    assert [conversation.id for conversation in found] == ["c1", "c3", "c2", "c4", "c5"]
    reference = conversations_of(read(FORMS["jsonl"].read_bytes(), "jsonl"))
    for mine, theirs in zip(found, reference):
        assert [(m.role, m.agent, m.text, m.time) for m in mine.messages] == \
               [(m.role, m.agent, m.text, m.time) for m in theirs.messages]
    c1 = found[0].messages
    assert c1[2].text == "您好，欢迎光临暖暖旗舰店！\n170的身高建议您拍L码，穿着刚好。"
    assert c1[2].agent == MEI and c1[0].agent is None and c1[0].time == datetime(2026, 11, 30, 10, 0, 0)


@pytest.mark.parametrize(("log_format", "line"), [("jsonl", 16), ("csv", 18), ("text", 39)])
def test_u2028_and_u0085_stay_inside_a_text_and_lines_keep_their_numbers(log_format, line):
    """str.splitlines would break the text at U+2028 and U+0085 and shift every later line number."""
    data = FORMS[log_format].read_bytes()
    assert "\u2028".encode() in data and "\u0085".encode() in data
    (c4,) = [c for c in conversations_of(read(data, log_format)) if c.id == "c4"]
    assert [(m.text, m.line) for m in c4.messages] == [(C4_TEXT, line)]
    (c5,) = [c for c in conversations_of(read(data, log_format)) if c.id == "c5"]
    assert c5.messages[0].line > line  # the next message is numbered after it, as the file has it
    lines = data.decode("utf-8").split("\n")
    assert "包邮吗" in lines[c5.messages[0].line - 1 + (log_format == "text")]


def test_bad_jsonl_lines_are_reported_with_their_true_numbers():
    good = '{"conversation": "a", "time": "2026-11-30 10:00:00", "role": "buyer", "text": "在吗"}'
    lines = [
        good,                                                                                       # 1
        '{"conversation": "a", "time": "2026-11-30 10:00:01", "role": "buyer", "text": "多少钱',      # 2 broken JSON
        '{"会话ID": "a", "时间": "2026-11-30 10:00:02", "角色": "买家", "内容": "第一行\u2028还是这一行"}',  # 3 fine
        '{"conversation": "a", "time": "2026-11-30 10:00:03", "role": "系统", "text": "已转接"}',       # 4 unknown role
        "   ",                                                                                      # 5 blank: skipped
        '{"conversation": "a", "time": "2026-11-30 10:00:04", "role": "agent", "text": "您好"}',        # 6 no agent
        '{"conversation": "a", "time": "昨天下午", "role": "buyer", "text": "在吗"}',                   # 7 bad time
        "[1, 2]",                                                                                   # 8 not an object
        '{"conversation": "a", "time": "2026-11-30 10:00:05", "role": "buyer", "text": "\xff"}',     # 9 bad UTF-8
        '{"conversation": "a", "time": "2026-11-30 10:00:06", "role": "buyer", "text": "  "}',       # 10 empty text
        '{"conversation": "a", "time": 1796004007, "role": "agent", "agent": 7, "text": "您好，在的"}',  # 11 fine
    ]
    data = "\n".join(lines).encode("utf-8").replace("\xff".encode(), b"\xff") + b"\n"
    events = read(data, "jsonl")
    bad = {event.line: event.reason for event in events if isinstance(event, BadLine)}
    assert sorted(bad) == [2, 4, 6, 7, 8, 9, 10]
    assert "not valid JSON" in bad[2] and "unknown role '系统'" in bad[4] and "agent's id" in bad[6]
    assert "unreadable time '昨天下午'" in bad[7] and "one JSON object" in bad[8] and "utf-8" in bad[9]
    messages = [event for event in events if isinstance(event, ChatMessage)]
    assert [(m.line, m.text) for m in messages] == [(1, "在吗"), (3, "第一行\u2028还是这一行"), (11, "您好，在的")]
    assert messages[2].agent == "7" and messages[2].time == datetime(2026, 11, 30, 2, 0, 7)


def test_csv_rows_keep_the_line_they_start_on_across_quoted_newlines():
    data = ("会话ID,时间,角色,客服,内容\n"
            'a,2026-11-30 10:00:00,买家,,"两行\n的消息"\n'      # lines 2-3
            "a,2026-11-30 10:00:05,卖家,小美,您好\n"            # line 4: 卖家 is an agent
            "a,2026-11-30 10:00:06,路人,,你好\n"                # line 5: unknown role
            "\n"                                                # line 6: blank
            "a,not a time,买家,,在吗\n"                         # line 7
            "a,2026/11/30 10:01,buyer,,好的\n").encode()        # line 8: loose time, English role
    events = read(data, "csv")
    assert [(e.line, type(e).__name__) for e in events] == [
        (2, "ChatMessage"), (4, "ChatMessage"), (5, "BadLine"), (7, "BadLine"), (8, "ChatMessage")]
    assert events[0].text == "两行\n的消息" and events[1].role == "agent" and events[1].agent == "小美"
    assert events[4].time == datetime(2026, 11, 30, 10, 1)


def test_a_csv_without_a_text_column_is_refused_with_the_names_it_accepts():
    with pytest.raises(InputError, match=r"lacks the column\(s\) text.*内容"):
        read("会话ID,时间,角色\na,2026-11-30 10:00:00,买家\n".encode(), "csv")


def test_text_export_bad_lines_agents_and_conversations_without_separators():
    data = "\n".join([
        "这行没有说是谁发的",                 # 1: text before any header
        "tb_lily 2026-11-30 10:00:00",       # 2
        "在吗",                              # 3
        "小美 (2026-11-30 10:00:20):",        # 4: an agent named by --agents, 千牛's bracketed form
        "您好，在的",                         # 5
        "tb_lily 2026-11-30 10:00:40",       # 6: a header with no text
        "tb_lily 2026-11-30 25:00:40",       # 7: no such hour
        "这行属于坏的那一条",                  # 8: dropped with it
        "tb_zhou 2026-11-30 10:01:00",       # 9: another buyer: another conversation
        "发货了吗",                           # 10
        "tb_zhou 2026-11-30 11:30:00",       # 11: 89 minutes later: another conversation
        "到了吗",                             # 12
        "下单时间：2026-11-30 09:00:00",       # 13: text, not a header (the nickname ends with a colon)
    ]).encode()
    events = read(data, "text", agents=["小美"])
    bad = [(e.line, e.reason) for e in events if isinstance(e, BadLine)]
    assert [line for line, _ in bad] == [1, 6, 7]
    assert "no text" in bad[1][1] and "unreadable time" in bad[2][1]
    found = conversations_of(events)
    assert [(c.id, [(m.role, m.agent, m.text) for m in c.messages]) for c in found] == [
        ("L2", [("buyer", None, "在吗"), ("agent", "小美", "您好，在的")]),
        ("L9", [("buyer", None, "发货了吗")]),
        ("L11", [("buyer", None, "到了吗\n下单时间：2026-11-30 09:00:00")]),
    ]


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-30 10:01:02", datetime(2026, 11, 30, 10, 1, 2)),
    ("2026-11-30T10:01:02", datetime(2026, 11, 30, 10, 1, 2)),
    ("2026/11/30 10:01", datetime(2026, 11, 30, 10, 1)),
    ("2026/1/5 9:01:02", datetime(2026, 1, 5, 9, 1, 2)),
    ("2026年11月30日 10:01:02", datetime(2026, 11, 30, 10, 1, 2)),
    ("2026-11-30T10:01:02+08:00", datetime(2026, 11, 30, 10, 1, 2, tzinfo=timezone(timedelta(hours=8)))),
    ("1796004007", datetime(2026, 11, 30, 2, 0, 7)),
    (1796004007000, datetime(2026, 11, 30, 2, 0, 7)),
])
def test_times_in_the_forms_logs_use(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["昨天", "2026-13-01 10:00:00", "", "1e400", "²", "9" * 5000, 10**400, True])
def test_unreadable_times_say_how_to_write_one(text):
    with pytest.raises(ValueError, match="2026-11-30 10:01:02"):
        parse_time(text)


def test_the_format_comes_from_the_name_or_the_first_line():
    assert detect_format("chats.JSONL", b"") == "jsonl"
    assert detect_format("chats.csv", b"") == "csv"
    assert detect_format("export.txt", b"{") == "text"
    assert detect_format("-", b'\xef\xbb\xbf{"conversation": 1}') == "jsonl"
    assert detect_format("dump", "会话ID,时间,角色,客服,内容\n".encode()) == "csv"
    assert detect_format("dump", b"tb_lily 2026-11-30 10:00:00\n") == "text"


# ---------------------------------------------------------------------------------------------
# Figures and verdicts, worked out by hand
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("log_format", list(FORMS))
def test_waits_positions_and_unanswered_are_exactly_right(inspector, log_format):
    _, verdicts = run_log(FORMS[log_format], inspector, log_format)
    for verdict in verdicts:
        expected = EXPECTED[verdict.conversation.id]
        figures = verdict.figures
        assert [reply.position for reply in figures.replies] == expected["positions"], verdict.conversation.id
        assert [reply.response_seconds for reply in figures.replies] == expected["waits"], verdict.conversation.id
        assert figures.first_response_seconds == expected["first"]
        assert figures.unanswered == expected["unanswered"]
        assert list(verdict.agents) == expected["agents"]


def test_each_reply_is_judged_against_the_buyer_run_it_answers(inspector):
    _, verdicts = run_log(FORMS["jsonl"], inspector, "jsonl")
    c1, c3, c2, c4, c5 = verdicts
    assert [reply.message for reply in c1.figures.replies] == ["在吗\n这件外套170穿什么码", "好的 谢谢"]
    assert [reply.message for reply in c3.figures.replies] == ["什么时候发货", "能发顺丰吗\n急用"]
    # The follow-up answers the same complaint: it owes the apology too.
    assert [reply.message for reply in c2.figures.replies] == ["衣服破了个洞，怎么回事"] * 2
    assert [inspection.rules for inspection in c2.inspections] == [
        ("rude", "no_apology", "polite", "greeting"), ("no_apology", "polite")]
    assert (c2.apology_owed, c2.apology_given, c2.apology_agent) == (True, False, WANG)
    assert not c1.apology_owed and not c3.apology_owed
    assert c4.inspections == () and c4.figures.unanswered_agent is None and not c4.ok


def test_greeting_is_owed_by_the_first_reply_and_closing_only_where_the_agent_ends(inspector):
    _, verdicts = run_log(FORMS["jsonl"], inspector, "jsonl")
    c1, c3, c2, _, c5 = verdicts
    assert all(inspection.findings == () for inspection in c1.inspections + c3.inspections)
    # c2 ends with the buyer: nobody owes a closing, however curt the last reply.
    assert "greeting" in c2.inspections[0].rules and "greeting" not in c2.inspections[1].rules
    assert not any("closing" in inspection.rules for inspection in c2.inspections)
    # c5's only reply greets (您好) but sees nobody off: it owes both.
    (only,) = c5.inspections
    assert only.rules == ("closing",) and only.ok and only.score == 95
    assert c5.figures.replies[0].owes_closing_too


@pytest.mark.parametrize("log_format", list(FORMS))
def test_per_agent_figures_are_exactly_right(inspector, log_format):
    tally, _ = run_log(FORMS[log_format], inspector, log_format)
    summary = tally.summary()
    assert summary["agents"] == AGENTS
    assert summary["overall"] == OVERALL
    assert (summary["conversations"], summary["messages"], summary["buyer_messages"], summary["agent_replies"],
            summary["unattended"], summary["cut"], summary["bad_lines"]) == (5, 18, 11, 7, 1, 0, 0)
    assert summary["response_distribution"]["counts"] == [1, 1, 2, 1, 1, 0, 0, 0]  # 5 | 20 | 30 45 | 70 | 120
    assert [row["conversation"] for row in summary["worst"]] == ["c2", "c4", "c5"]
    assert [verdict.conversation.id for verdict in tally.worst()] == ["c2", "c4", "c5"]


def test_the_record_of_a_conversation_carries_its_turns_and_findings(inspector):
    _, verdicts = run_log(FORMS["jsonl"], inspector, "jsonl")
    record = verdicts[2].as_dict()
    assert {key: record[key] for key in ("seq", "conversation", "line", "start", "end", "agents", "messages",
                                         "replies", "replies_ok", "ok", "score", "first_response_s",
                                         "average_response_s", "unanswered", "apology", "rules")} == {
        "seq": 3, "conversation": "c2", "line": 11, "start": "2026-11-30 11:00:00", "end": "2026-11-30 11:05:30",
        "agents": [WANG], "messages": 5, "replies": 2, "replies_ok": 0, "ok": False, "score": 47.5,
        "first_response_s": 120.0, "average_response_s": 120.0, "unanswered": 2,
        "apology": {"owed": True, "given": False}, "rules": {"rude": 1, "no_apology": 2, "polite": 2,
                                                             "greeting": 1}}
    turn = record["turns"][1]
    assert (turn["line"], turn["role"], turn["agent"], turn["position"], turn["response_s"]) == \
           (12, "agent", WANG, "first", 120.0)
    assert turn["inspection"]["score"] == 25 and "position" not in record["turns"][0]
    json.dumps(record, ensure_ascii=False)  # one JSON line of --out


# ---------------------------------------------------------------------------------------------
# Bounded memory, checked by structure
# ---------------------------------------------------------------------------------------------


def _message(conversation: str, minute: float, role: str = "buyer", text: str = "在吗") -> ChatMessage:
    return ChatMessage(conversation, role, text, datetime(2026, 11, 30, 8) + timedelta(minutes=minute),
                       "小美" if role == "agent" else None)


def test_at_most_max_open_conversations_are_held_and_the_quietest_goes_first():
    assembler = ConversationAssembler(max_open=3)
    closed = []
    # Ten conversations talking at once, round robin: three fit, the others push the quietest out.
    for turn in range(4):
        for number in range(10):
            closed += assembler.add(_message(f"c{number}", turn + number / 100))
    assert assembler.peak_open == 3 and len(assembler) == 3
    closed += assembler.finish()
    assert sum(len(conversation.messages) for conversation in closed) == 40
    assert assembler.cut == sum(conversation.cut for conversation in closed) == 37


def test_a_silence_longer_than_the_gap_ends_a_conversation_and_frees_it():
    assembler = ConversationAssembler(gap_minutes=30)
    closed = []
    for number in range(2_000):  # one conversation after another, each 40 minutes after the last
        closed += assembler.add(_message(f"c{number}", number * 40))
        closed += assembler.add(_message(f"c{number}", number * 40 + 1, "agent", "您好"))
        assert len(assembler) == 1
    assert assembler.peak_open == 1 and assembler.cut == 0 and len(closed) == 1_999
    # The same id after a long silence is a new conversation (same id, its own seq).
    again = ConversationAssembler(gap_minutes=30)
    parts = again.add(_message("x", 0)) + again.add(_message("x", 31)) + again.finish()
    assert [(c.id, c.seq, len(c.messages)) for c in parts] == [("x", 1, 1), ("x", 2, 1)]


def test_a_conversation_longer_than_max_messages_is_cut():
    assembler = ConversationAssembler(max_messages=4)
    closed = [c for minute in range(10) for c in assembler.add(_message("long", minute))] + assembler.finish()
    assert [(len(c.messages), c.cut) for c in closed] == [(4, True), (4, True), (2, False)]


def test_only_the_n_worst_conversations_are_kept(inspector):
    conversations = []
    for number in range(200):
        base = datetime(2026, 11, 30, 8) + timedelta(hours=number)
        rude = number % 7 == 0
        conversations.append(Conversation(f"c{number}", number + 1, (
            ChatMessage(f"c{number}", "buyer", "什么时候发货", base),
            ChatMessage(f"c{number}", "agent", "爱买不买" if rude else "您好，今天发货，祝您购物愉快",
                        base + timedelta(seconds=10), f"a{number % 5}"),
        )))
    tally = QcTally(worst=4, worst_per_agent=2)
    for verdict in ConversationInspector(RuleJudge(inspector)).inspect(conversations):
        tally.add(verdict)
    assert len(tally.overall.worst) == 4
    assert all(len(agent.worst) <= 2 for agent in tally.agents.values())
    # The worst are the rude ones, earliest first on a tie.
    assert [v.conversation.seq for v in tally.overall.worst.worst_first()] == [1, 8, 15, 22]
    assert len(tally.worst()) <= 4 + 2 * len(tally.agents)


def test_the_stream_holds_one_batch_at_a_time(inspector):
    class CountingJudge(RuleJudge):
        batches: list[int] = []

        def judge(self, items):
            self.batches.append(len(items))
            return super().judge(items)

    judge = CountingJudge(inspector)
    events = [m for number in range(300) for m in (_message(f"c{number}", number * 31),
                                                   _message(f"c{number}", number * 31 + 1, "agent", "您好"))]
    tally = inspect_log(events, ConversationInspector(judge), QcTally(), assembler=ConversationAssembler(),
                        batch_replies=16)
    assert tally.conversations == 300 and max(judge.batches) == 16 and sum(judge.batches) == 300


def test_percentiles_are_exact_to_the_second_below_five_minutes_and_within_half_a_percent_above():
    histogram = ResponseHistogram()
    for seconds in (5, 20, 30, 45, 70, 120):
        histogram.add(seconds)
    assert (histogram.percentile(0.5), histogram.percentile(0.9), histogram.mean()) == (30.0, 120.0, 48.3)
    for seconds in (301, 1000, 7200, 86_400 * 3):
        one = ResponseHistogram()
        one.add(seconds)
        assert abs(one.percentile(0.5) - seconds) <= seconds * 0.005 + 0.1
    wide = ResponseHistogram()
    for step in range(100_000):
        wide.add(step * 7.3)  # up to 8.4 days
    assert len(wide.buckets) <= 300 + 800 and wide.count == 100_000
    assert ResponseHistogram().percentile(0.5) is None


def test_the_worst_heap_never_grows_past_its_limit(inspector):
    heap = WorstConversations(3)
    verdicts = ConversationInspector(RuleJudge(inspector)).inspect([
        Conversation(f"c{n}", n + 1, (ChatMessage(f"c{n}", "buyer", "在吗", None),) * (n % 4 + 1)) for n in range(50)])
    for verdict in verdicts:
        heap.offer(verdict)
        assert len(heap) <= 3
    assert [v.figures.unanswered for v in heap.worst_first()] == [4, 4, 4]


# ---------------------------------------------------------------------------------------------
# The full service (fake encoder): same figures, models added
# ---------------------------------------------------------------------------------------------


def test_the_full_service_gives_the_same_figures_and_judges_every_reply(fake_service, inspector):
    tally, verdicts = run_log(FORMS["jsonl"], inspector, "jsonl")
    full = QcTally()
    with open(FORMS["jsonl"], "rb") as stream:
        inspect_log(ChatLogReader(stream, "jsonl"), ConversationInspector(ServiceJudge(fake_service)), full,
                    assembler=ConversationAssembler())
    fast_summary, full_summary = tally.summary(), full.summary()
    for key in ("conversations", "messages", "agent_replies", "unattended"):
        assert full_summary[key] == fast_summary[key]
    for name in (MEI, WANG):
        for key in ("conversations", "replies", "first_response_s", "response_s", "unanswered"):
            assert full_summary["agents"][name][key] == fast_summary["agents"][name][key]
    assert "rude" in full_summary["agents"][WANG]["rules"] and "greeting" in full_summary["agents"][WANG]["rules"]


def test_a_reply_with_no_buyer_message_before_it_is_judged_by_the_rules(fake_service):
    start = datetime(2026, 11, 30, 9)
    conversation = Conversation("p", 1, (
        ChatMessage("p", "agent", "您好，新品上架啦", start, "小美"),
        ChatMessage("p", "buyer", "#E-s46", start + timedelta(seconds=20)),
        ChatMessage("p", "agent", "亲，请问有什么可以帮您", start + timedelta(seconds=30), "小美"),
    ))
    (verdict,) = ConversationInspector(ServiceJudge(fake_service)).inspect([conversation])
    assert [reply.message for reply in verdict.figures.replies] == ["", "#E-s46"]
    assert all(isinstance(inspection, Inspection) for inspection in verdict.inspections)
    assert verdict.figures.first_response_seconds == 10.0


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------


def test_kefu_qc_prints_the_summary_writes_records_and_a_self_contained_report(tmp_path):
    out, report = tmp_path / "out.jsonl", tmp_path / "qc.html"
    result = run_kefu("qc", str(FORMS["jsonl"]), "--fast", "--json", "--out", str(out), "--report", str(report))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["agents"] == AGENTS and summary["overall"] == OVERALL
    assert (summary["mode"], summary["format"], summary["lines"], summary["bad_lines"]) == ("fast", "jsonl", 18, 0)
    assert summary["shop"] == os.environ.get("KEFU_SHOP", "default")  # the bundled shop when none is given
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]  # separators escaped
    assert "\\u2028" in out.read_text(encoding="utf-8")
    assert sorted(record["conversation"] for record in records) == ["c1", "c2", "c3", "c4", "c5"]
    page = report.read_text(encoding="utf-8")
    assert page.count("<svg") == 3 and "<script" not in page and "http://" not in page and "https://" not in page
    assert "@import" not in page and "url(" not in page
    for seq in (3, 4, 5):  # each agent's worst conversation is linked and drawn
        assert f'id="c{seq}"' in page
    assert 'href="#c3"' in page and 'href="#c5"' in page
    assert "你自己看清楚再说" in page
    assert "100%" in result.stderr  # the progress bar


def test_kefu_qc_reads_the_text_export_with_named_agents_and_counts_bad_lines(tmp_path):
    log = tmp_path / "qianniu.txt"
    log.write_text("\n".join(["孤零零的一行", "tb_lily 2026-11-30 10:00:00", "在吗", "小美 2026-11-30 10:00:20",
                              "您好，在的，请问有什么可以帮您？", "tb_lily 2026-11-30 10:01:00", "好的谢谢",
                              "小美 2026-11-30 10:01:05", "不客气，祝您购物愉快"]) + "\n", encoding="utf-8")
    result = run_kefu("qc", str(log), "--fast", "--json", "--agents", "小美，小王")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["bad_lines"] == 1 and summary["skipped"][0]["line"] == 1
    assert "line 1 skipped" in result.stderr and "1 bad line(s)" in result.stderr
    assert summary["agents"]["小美"]["response_s"] == {"count": 2, "p50": 5.0, "p90": 20.0, "mean": 12.5}
    text = run_kefu("qc", str(log), "--fast", "--agents", "小美")
    assert text.returncode == 0 and "小美" in text.stdout and "conversations" in text.stdout


def test_kefu_qc_inspects_for_the_shop_it_is_given_and_refuses_an_unknown_one(tmp_path, monkeypatch):
    folder = tmp_path / "shops" / "shop-b"
    folder.mkdir(parents=True)
    (folder / "templates.yaml").write_text("[]\n", encoding="utf-8")
    monkeypatch.setenv("KEFU_SHOPS_DIR", str(tmp_path / "shops"))
    result = run_kefu("qc", str(FORMS["jsonl"]), "--fast", "--json", "--shop", "shop-b")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["shop"] == "shop-b" and summary["agents"] == AGENTS
    unknown = run_kefu("qc", str(FORMS["jsonl"]), "--fast", "--shop", "shop-z")
    assert unknown.returncode != 0 and "no shop 'shop-z'" in unknown.stderr and "shop-b" in unknown.stderr
    assert unknown.stdout == ""
    on_ray = run_kefu("qc", str(FORMS["jsonl"]), "--engine", "ray", "--shop", "shop-b")
    assert on_ray.returncode != 0 and "local engine" in on_ray.stderr


def test_fast_mode_loads_no_model_and_no_service():
    code = ("import sys, app.cli; app.cli.main(['qc', sys.argv[1], '--fast', '--json']); "
            "print(sorted(m for m in ('app.service', 'onnxruntime', 'faiss', 'torch') if m in sys.modules), "
            "file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code, str(FORMS["csv"])], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "[]"
    assert json.loads(result.stdout)["agent_replies"] == 7


def test_kefu_qc_exits_1_only_when_nothing_could_be_read(tmp_path):
    junk = tmp_path / "junk.jsonl"
    junk.write_text("not json\n{}\n", encoding="utf-8")
    result = run_kefu("qc", str(junk), "--fast")
    assert result.returncode == 1 and "no message could be read" in result.stderr and result.stdout == ""
    missing = run_kefu("qc", str(tmp_path / "nope.jsonl"), "--fast")
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    assert run_kefu("qc", str(junk), "--gap", "0").returncode == 2
    helped = run_kefu("qc", "--help")
    assert helped.returncode == 0 and "example: kefu qc" in helped.stdout


# ---------------------------------------------------------------------------------------------
# POST /v1/inspect/conversation
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(fake_index, fake_service):
    from app.api import create_app
    from tests.api import running

    with running(create_app(fake_index, service_factory=lambda settings: fake_service)) as client:
        yield client


def test_the_api_inspects_one_conversation(api):
    from app.api.routes.qc import ConversationQcOut

    turns = [
        {"role": "buyer", "text": "衣服破了个洞，怎么回事", "time": "2026-11-30 11:00:00"},
        {"role": "agent", "text": "你自己看清楚再说", "time": "2026-11-30 11:02:00", "agent": WANG},
        {"role": "buyer", "text": "什么态度", "time": "2026-11-30 11:05:00"},
        {"role": "agent", "text": "非常抱歉给您带来不便，请您拍照发给我，马上为您处理，祝您生活愉快"},
    ]
    response = api.post("/v1/inspect/conversation", json={"conversation": "c9", "turns": turns, "agent": "值班"})
    assert response.status_code == 200, response.text
    body = ConversationQcOut.model_validate(response.json())
    assert (body.conversation, body.agents, body.first_response_s, body.unanswered) == ("c9", [WANG, "值班"], 120.0, 0)
    assert [turn.position for turn in body.turns] == [None, "first", None, "last"]
    assert body.turns[3].response_s is None  # the last turn has no time: no wait measured
    assert "rude" in body.turns[1].inspection.rules and body.apology.owed and body.apology.given


@pytest.mark.parametrize(("payload", "code"), [
    ({"turns": []}, "invalid_input"),
    ({"turns": [{"role": "buyer", "text": "  "}]}, "invalid_input"),
    ({"turns": [{"role": "buyer", "text": "在吗", "time": "昨天"}]}, "invalid_input"),
    ({"turns": [{"role": "客服", "text": "在吗"}]}, "invalid_input"),
    ({"turns": [{"role": "buyer", "text": "好" * 2001}]}, "message_too_long"),
])
def test_the_api_refuses_an_unusable_conversation_in_the_one_error_shape(api, payload, code):
    from tests.api import assert_error

    error = assert_error(api.post("/v1/inspect/conversation", json=payload), 422, code)
    assert error["message"]


def test_the_report_escapes_what_the_log_says(inspector):
    start = datetime(2026, 11, 30, 9)
    conversation = Conversation("<b>x</b>", 1, (ChatMessage("<b>x</b>", "buyer", "<script>alert(1)</script>", start),))
    tally = QcTally()
    (verdict,) = ConversationInspector(RuleJudge(inspector)).inspect([conversation])
    tally.add(verdict)
    page = render_qc_report(tally.summary(), [verdict.as_dict()])
    assert "<script" not in page and "&lt;script&gt;" in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_a_gbk_line_in_a_utf8_csv_is_one_bad_line_and_gbk_reads_with_its_encoding():
    rows = ["会话ID,时间,角色,客服,内容", "a,2026-11-30 10:00:00,买家,,在吗", "a,2026-11-30 10:00:05,客服,小美,您好",
            "a,2026-11-30 10:00:09,买家,,好的"]
    mixed = "\n".join(rows[:2]).encode() + b"\n" + rows[2].encode("gbk") + b"\n" + rows[3].encode() + b"\n"
    assert [(e.line, type(e).__name__) for e in read(mixed, "csv")] == [
        (2, "ChatMessage"), (3, "BadLine"), (4, "ChatMessage")]
    gbk = ("\n".join(rows) + "\n").encode("gbk")
    assert [e.text for e in read(gbk, "csv", encoding="gb18030")] == ["在吗", "您好", "好的"]
