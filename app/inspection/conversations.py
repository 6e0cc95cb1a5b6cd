"""Chat logs read as a stream (JSONL, CSV, 千牛/咚咚 text exports), whole conversations, and their figures.

Nothing here judges a reply (that is qc.py); this module says who wrote what and when, which agent
reply answers which buyer messages, where each reply stands, and how long buyers waited.

Reading. Files are read as bytes, one line at a time, split on b"\\n" only: U+2028, U+0085 or a lone
\\r inside a message stays in its text and every line number is the file's own (what `sed -n Np`
shows). A line that cannot be used becomes a BadLine with its number and the reason; reading goes on.

Conversations. A conversation is the messages of one id (JSONL, CSV) or between two "----会话: id----"
lines of a text export; an export without such lines starts a new conversation when another buyer
speaks. In every format a silence of more than `gap` (default 30 minutes) ends a conversation: a
later message under the same id begins a new one. That rule is what lets a log of any size stream
through: a conversation quiet for longer than the gap, while the log has moved on, is finished and
leaves memory. Two bounds hold memory whatever the log: at most `max_open` conversations are open at
once (the one quiet longest is closed first) and at most `max_messages` are kept per conversation; a
conversation closed by a bound is marked `cut`, its figures may be partial.

Figures. Messages are put in time order (stable: equal times keep the log's order). A buyer run is a
maximal stretch of consecutive buyer messages; the first agent message after it answers it, and the
wait is from the run's first message to that reply. Further agent messages before the buyer speaks
again answer the same run. The first response is the wait of the first buyer run; messages of a
final run that no agent message follows are unanswered. The first agent message owes a greeting
(position "first"); the agent's last message owes a closing (position "last") when the conversation
ends with it; a conversation's only agent message owes both.
"""

from __future__ import annotations

import csv
import json
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import BinaryIO, Literal, get_args

from app.errors import InputError
from app.vocabulary import Position

Role = Literal["buyer", "agent"]
LogFormat = Literal["jsonl", "csv", "text"]
LOG_FORMATS: tuple[str, ...] = get_args(LogFormat)
FIELDS = ("conversation", "time", "role", "agent", "text")

# Column and key names a log may use for each field, compared after strip() and lower().
FIELD_ALIASES: Mapping[str, tuple[str, ...]] = {
    "conversation": ("conversation", "conversation_id", "session", "session_id", "chat_id",
                     "会话", "会话id", "会话编号", "会话号"),
    "time": ("time", "timestamp", "sent_at", "时间", "发送时间", "消息时间"),
    "role": ("role", "sender_role", "角色", "发送方", "身份"),
    "agent": ("agent", "agent_id", "agent_name", "客服", "客服id", "客服昵称", "客服账号", "接待客服"),
    "text": ("text", "message", "content", "内容", "消息", "消息内容", "文本"),
}
ROLE_ALIASES: Mapping[str, Role] = {
    **{name: "buyer" for name in ("buyer", "customer", "user", "买家", "顾客", "客户")},
    **{name: "agent" for name in ("agent", "seller", "staff", "客服", "卖家", "商家")},
}
_FIELD_BY_ALIAS: dict[str, str] = {alias: name for name, aliases in FIELD_ALIASES.items() for alias in aliases}

MAX_TEXT_CHARS = 20_000  # a longer message is a file pasted by mistake, not a chat message
MAX_ID_CHARS = 200
DEFAULT_GAP_MINUTES = 30.0
DEFAULT_MAX_OPEN = 5_000
DEFAULT_MAX_MESSAGES = 1_000

# 千牛 writes a sub-account as "店铺名:小美"; buyers' nicknames cannot hold a colon.
AGENT_MARKS = (":", "：")
# Text exports: "昵称 2026-11-30 10:01:02" (also "昵称 (2026-11-30 10:01:02):") opens a message, and
# "----会话: <id>----" a conversation.
_TEXT_HEADER = re.compile(
    r"^(?P<nick>\S(?:.*?[^:：\s])?)\s*[(（]?(?P<time>\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?[ T]\d{1,2}:\d{1,2}(?::\d{1,2})?)"
    r"[)）]?[:：]?\s*$")
_TEXT_SEPARATOR = re.compile(r"^\s*[-=]{2,}\s*会话\s*(?:id|ID)?\s*[:：]\s*(?P<id>.*?)\s*[-=]{2,}\s*$")
_LOOSE_TIME = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?$")


@dataclass(frozen=True, slots=True)
class ChatMessage:
    conversation: str
    role: Role
    text: str
    time: datetime | None = None  # as written: naive (the log's clock) or with its offset
    agent: str | None = None  # the agent's id or nickname, on agent messages
    line: int = 0  # where the message starts in the log, 1-based; 0 when it came from no file


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    reason: str
    file: str | None = None  # the shard it is in, when a run reads several files

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {"line": self.line, "reason": self.reason}
        if self.file is not None:
            found["file"] = self.file
        return found


@dataclass(frozen=True)
class Conversation:
    id: str
    seq: int  # 1-based, in the order conversations began in the log: ids can repeat, seq never does
    messages: tuple[ChatMessage, ...]
    cut: bool = False  # closed early by max_open or max_messages: its figures may be partial
    file: str | None = None  # the shard it is in, when a run reads several files


# -- reading -------------------------------------------------------------------------------------


def detect_format(name: str, head: bytes) -> LogFormat:
    """The log's format from its name (.jsonl/.ndjson/.json, .csv, .txt/.log), else from its first line."""
    lowered = name.lower()
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".txt", ".log")):
        return "text"
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0].decode("utf-8", errors="replace")
    if first.startswith("{"):
        return "jsonl"
    cells = {cell.strip().strip('"').lower() for cell in first.split(",")}
    return "csv" if len(cells & set(_FIELD_BY_ALIAS)) >= 3 else "text"


class ChatLogReader:
    """One chat log as a stream of ChatMessage and BadLine, in the log's order; counts what it has read.

    agents: nicknames that are agents in a text export (besides nicknames with a colon).
    """

    def __init__(self, stream: BinaryIO, log_format: str, *, agents: Iterable[str] = (), encoding: str = "utf-8",
                 gap_minutes: float = DEFAULT_GAP_MINUTES) -> None:
        if log_format not in LOG_FORMATS:
            raise InputError(f"unknown log format {log_format!r}; valid formats: {', '.join(LOG_FORMATS)}")
        try:
            "测试".encode(encoding)
        except LookupError:
            raise InputError(f"unknown encoding {encoding!r}; try utf-8, gb18030 or gbk") from None
        self.stream = stream
        self.format = log_format
        self.agents = frozenset(name.strip() for name in agents if name.strip())
        self.encoding = encoding
        self.gap_seconds = gap_minutes * 60
        self.bytes_read = 0
        self.lines_read = 0

    def __iter__(self) -> Iterator[ChatMessage | BadLine]:
        if self.format == "jsonl":
            return self._jsonl()
        if self.format == "csv":
            return self._csv()
        return self._text()

    def _lines(self) -> Iterator[bytes]:
        for raw in self.stream:
            self.bytes_read += len(raw)
            self.lines_read += 1
            if self.lines_read == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            yield raw

    def _decode(self, raw: bytes) -> str:
        return raw.decode(self.encoding).rstrip("\r\n")

    def _jsonl(self) -> Iterator[ChatMessage | BadLine]:
        utf8 = self.encoding.lower().replace("_", "-") in ("utf-8", "utf8")
        for number, raw in enumerate(self._lines(), start=1):
            if raw.isspace() or not raw:
                continue
            try:
                # json.loads reads UTF-8 bytes itself; other encodings are decoded first.
                record = json.loads(raw if utf8 else raw.decode(self.encoding))
            except UnicodeDecodeError as exc:
                yield BadLine(number, f"not valid {self.encoding} (byte {exc.start + 1}); is the file GBK? "
                                      "try --encoding gb18030")
                continue
            except (json.JSONDecodeError, RecursionError, ValueError) as exc:
                why = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else "unusable"
                yield BadLine(number, f"not valid JSON: {why}")
                continue
            if not isinstance(record, dict):
                yield BadLine(number, "a line must be one JSON object")
                continue
            yield _from_record(record, number)

    def _csv(self) -> Iterator[ChatMessage | BadLine]:
        undecodable: set[int] = set()

        def text_lines() -> Iterator[str]:
            for number, raw in enumerate(self._lines(), start=1):
                try:
                    yield raw.decode(self.encoding)
                except UnicodeDecodeError:
                    undecodable.add(number)
                    yield raw.decode(self.encoding, errors="replace")

        reader = csv.reader(text_lines())
        columns: dict[int, str] | None = None
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                undecodable.clear()
                yield BadLine(start, f"not valid CSV: {exc}")
                continue
            # The set holds this row's lines at most: cleared at every row, it never grows with the log.
            broken = bool(undecodable)
            undecodable.clear()
            if not any(cell.strip() for cell in row):
                continue
            if columns is None:
                columns = _csv_columns(row, start)
                continue
            if broken:
                yield BadLine(start, f"not valid {self.encoding}; is the file GBK? try --encoding gb18030")
                continue
            record = {name: row[index] for index, name in columns.items() if index < len(row) and row[index] != ""}
            yield _from_record(record, start, aliased=False)

    def _text(self) -> Iterator[ChatMessage | BadLine]:
        export = _TextExport(self.agents, self.gap_seconds)
        for number, raw in enumerate(self._lines(), start=1):
            try:
                line = self._decode(raw)
            except UnicodeDecodeError as exc:
                yield BadLine(number, f"not valid {self.encoding} (byte {exc.start + 1}); is the file GBK? "
                                      "try --encoding gb18030")
                continue
            yield from export.feed(line, number)
        yield from export.flush()


def _csv_columns(header: list[str], line: int) -> dict[int, str]:
    columns: dict[int, str] = {}
    for index, cell in enumerate(header):
        name = _FIELD_BY_ALIAS.get(cell.strip().lstrip("\ufeff").lower())
        if name is not None and name not in columns.values():
            columns[index] = name
    missing = [name for name in FIELDS if name != "agent" and name not in columns.values()]
    if missing:
        wanted = "; ".join(f"{name}: {' / '.join(FIELD_ALIASES[name])}" for name in missing)
        raise InputError(f"the CSV header (line {line}) lacks the column(s) {', '.join(missing)} ({wanted}); "
                         f"it has {', '.join(cell.strip() for cell in header)}")
    return columns


def _from_record(record: Mapping[str, object], line: int, *, aliased: bool = True) -> ChatMessage | BadLine:
    """A JSONL object or CSV row (field -> value) as a message, or the reason it is not one."""
    if aliased:
        fields: dict[str, object] = {}
        for key, value in record.items():
            name = _FIELD_BY_ALIAS.get(key) or _FIELD_BY_ALIAS.get(key.strip().lower())
            if name is not None and name not in fields:
                fields[name] = value
    else:
        fields = dict(record)
    try:
        return message_from_fields(fields, line)
    except ValueError as exc:
        return BadLine(line, str(exc))


def message_from_fields(fields: Mapping[str, object], line: int = 0, *, require_time: bool = True,
                        default_agent: str | None = None) -> ChatMessage:
    """A message from its fields (conversation, time, role, agent, text); ValueError says what is wrong."""
    conversation = fields.get("conversation")
    if isinstance(conversation, bool) or not isinstance(conversation, (str, int)) or not str(conversation).strip():
        raise ValueError("missing, empty or unusable conversation id (conversation / 会话ID)")
    conversation = str(conversation).strip()
    if len(conversation) > MAX_ID_CHARS:
        raise ValueError(f"the conversation id is {len(conversation)} characters; at most {MAX_ID_CHARS}")
    role_value = fields.get("role")
    role = ROLE_ALIASES.get(role_value.strip().lower()) if isinstance(role_value, str) else None
    if role is None:
        raise ValueError(f"unknown role {role_value!r}; valid roles: buyer (买家), agent (客服)")
    text = fields.get("text")
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str) or not text.strip():
        raise ValueError("missing or empty text (text / 内容)")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"the text is {len(text):,} characters; at most {MAX_TEXT_CHARS:,}")
    raw_time = fields.get("time")
    time = None
    if raw_time is not None and raw_time != "":
        time = parse_time(raw_time)
    elif require_time:
        raise ValueError("missing time (time / 时间)")
    agent = None
    if role == "agent":
        value = fields.get("agent")
        agent = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
        agent = agent or (default_agent or "")
        if not agent:
            raise ValueError("an agent message needs the agent's id (agent / 客服)")
        if len(agent) > MAX_ID_CHARS:
            raise ValueError(f"the agent id is {len(agent)} characters; at most {MAX_ID_CHARS}")
    return ChatMessage(conversation, role, text.strip(), time, agent, line)


def parse_time(value: object) -> datetime:
    """ISO 8601 ("2026-11-30 10:01:02", with T or an offset), "2026/11/30 10:01", "2026年11月30日 10:01:02",
    or seconds (milliseconds above 10^11) since 1970 UTC as a number or digits."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
        if text.isascii() and text.isdigit() and len(text) <= 20:
            return _epoch(int(text), value)
        match = _LOOSE_TIME.match(text)
        if match:
            try:
                year, month, day, hour, minute, second = (int(part) for part in match.groups(default="0"))
                return datetime(year, month, day, hour, minute, second)
            except ValueError:
                pass
        raise ValueError(f"unreadable time {value!r}; write it like 2026-11-30 10:01:02")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _epoch(value, value)
    raise ValueError(f"unreadable time {value!r}; write it like 2026-11-30 10:01:02")


def _epoch(seconds: float, shown: object) -> datetime:
    try:
        if seconds > 1e11:
            seconds = seconds / 1000
        return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"unreadable time {shown!r}; write it like 2026-11-30 10:01:02") from None


def seconds_between(earlier: datetime, later: datetime) -> float:
    """later - earlier in seconds; a time without an offset counts as UTC beside one with an offset."""
    if (earlier.tzinfo is None) != (later.tzinfo is None):
        earlier, later = _aware(earlier), _aware(later)
    return (later - earlier).total_seconds()


def _aware(time: datetime) -> datetime:
    return time if time.tzinfo is not None else time.replace(tzinfo=UTC)


class _TextExport:
    """The state of a 千牛/咚咚 text export being read: the message being gathered, the conversation."""

    def __init__(self, agents: frozenset[str], gap_seconds: float) -> None:
        self.agents = agents
        self.gap_seconds = gap_seconds
        self.conversation: str | None = None
        self.from_separator = False
        self.buyer: str | None = None
        self.last: datetime | None = None
        self.header: tuple[int, str, datetime] | None = None  # line, nickname, time
        self.lines: list[str] = []
        self.dropping = False  # after a header with an unreadable time, until the next header

    def feed(self, line: str, number: int) -> Iterator[ChatMessage | BadLine]:
        separator = _TEXT_SEPARATOR.match(line)
        if separator:
            yield from self.flush()
            name = separator.group("id").strip()[:MAX_ID_CHARS]
            self.conversation, self.from_separator = name or f"L{number}", True
            self.buyer, self.last, self.dropping = None, None, False
            return
        header = _TEXT_HEADER.match(line)
        if header:
            yield from self.flush()
            try:
                time = parse_time(header.group("time"))
            except ValueError as exc:
                self.dropping = True
                yield BadLine(number, str(exc))
                return
            self.dropping = False
            self.header = (number, header.group("nick").strip(), time)
            return
        if self.header is not None:
            self.lines.append(line)
        elif line.strip() and not self.dropping:
            yield BadLine(number, "text before any '昵称 2026-11-30 10:01:02' line: whose message is it?")

    def flush(self) -> Iterator[ChatMessage | BadLine]:
        if self.header is None:
            return
        number, nick, time = self.header
        text = "\n".join(self.lines).strip()
        self.header, self.lines = None, []
        if not text:
            yield BadLine(number, "a message with no text")
            return
        if len(text) > MAX_TEXT_CHARS:
            yield BadLine(number, f"the text is {len(text):,} characters; at most {MAX_TEXT_CHARS:,}")
            return
        agent = nick in self.agents or any(mark in nick for mark in AGENT_MARKS)
        if not self.from_separator or self.conversation is None:
            # Without "----会话----" lines: another buyer, or a long silence, is another conversation.
            quiet = self.last is not None and seconds_between(self.last, time) > self.gap_seconds
            other_buyer = not agent and self.buyer is not None and nick != self.buyer
            if self.conversation is None or quiet or other_buyer:
                self.conversation, self.buyer = f"L{number}", None
        if not agent:
            self.buyer = self.buyer or nick
        self.last = time
        yield ChatMessage(self.conversation, "agent" if agent else "buyer", text, time, nick if agent else None,
                          number)


# -- conversations ---------------------------------------------------------------------------------


@dataclass
class _Open:
    seq: int
    messages: list[ChatMessage] = field(default_factory=list)
    last: datetime | None = None


class ConversationAssembler:
    """Messages in log order -> finished conversations, with at most `max_open` held at once."""

    def __init__(self, *, gap_minutes: float = DEFAULT_GAP_MINUTES, max_open: int = DEFAULT_MAX_OPEN,
                 max_messages: int = DEFAULT_MAX_MESSAGES, first_seq: int = 0) -> None:
        if gap_minutes <= 0 or max_open < 1 or max_messages < 1:
            raise InputError("the gap must be above 0 minutes, max_open and max_messages at least 1")
        self.gap_seconds = gap_minutes * 60
        self.max_open = max_open
        self.max_messages = max_messages
        self._open: OrderedDict[str, _Open] = OrderedDict()  # least recently active first
        self._seq = first_seq  # the seq before the first conversation's: runs over several files go on counting
        self.peak_open = 0
        self.cut = 0  # conversations closed early by a bound

    def __len__(self) -> int:
        return len(self._open)

    @property
    def last_seq(self) -> int:
        """The seq of the last conversation begun (first_seq before any)."""
        return self._seq

    def add(self, message: ChatMessage) -> list[Conversation]:
        """Take one message; return the conversations it shows are finished."""
        closed: list[Conversation] = []
        now = message.time
        if now is not None:
            while self._open:
                key, oldest = next(iter(self._open.items()))
                if oldest.last is None or seconds_between(oldest.last, now) <= self.gap_seconds:
                    break
                closed.append(self._close(key, cut=False))
        key = message.conversation
        current = self._open.get(key)
        if current is not None and now is not None and current.last is not None \
                and seconds_between(current.last, now) > self.gap_seconds:
            closed.append(self._close(key, cut=False))
            current = None
        if current is None:
            if len(self._open) >= self.max_open:
                closed.append(self._close(next(iter(self._open)), cut=True))
            self._seq += 1
            current = self._open[key] = _Open(self._seq)
        else:
            self._open.move_to_end(key)
        current.messages.append(message)
        if now is not None and (current.last is None or seconds_between(current.last, now) > 0):
            current.last = now
        self.peak_open = max(self.peak_open, len(self._open))
        if len(current.messages) >= self.max_messages:
            closed.append(self._close(key, cut=True))
        return closed

    def finish(self) -> list[Conversation]:
        """The conversations still open at the end of the log."""
        return [self._close(key, cut=False) for key in list(self._open)]

    def _close(self, key: str, *, cut: bool) -> Conversation:
        gathered = self._open.pop(key)
        self.cut += cut
        return Conversation(key, gathered.seq, tuple(gathered.messages), cut)


def read_conversations(events: Iterable[ChatMessage | BadLine], assembler: ConversationAssembler, *,
                       file: str | None = None) -> Iterator[Conversation | BadLine]:
    """A log's messages -> its finished conversations, bad lines passed on, in the log's order; `file`
    tags both with the shard's name."""
    for event in events:
        if isinstance(event, BadLine):
            yield event if file is None else replace(event, file=file)
            continue
        for conversation in assembler.add(event):
            yield conversation if file is None else replace(conversation, file=file)
    for conversation in assembler.finish():
        yield conversation if file is None else replace(conversation, file=file)


@dataclass(frozen=True)
class LogReading:
    """How a run reads its chat logs, the same for every file (shard) of it."""

    log_format: LogFormat | None = None  # None: each file's from its name and first line
    agents: tuple[str, ...] = ()  # nicknames that are agents in a text export
    encoding: str = "utf-8"
    gap_minutes: float = DEFAULT_GAP_MINUTES
    max_open: int = DEFAULT_MAX_OPEN


class LogFile:
    """One chat log (a file, a shard of a bigger run, or stdin) read into finished conversations and bad
    lines; `named` tags them with the file's name, `first_seq` continues the numbering of earlier shards."""

    def __init__(self, stream: BinaryIO, name: str, reading: LogReading, *, named: bool = False,
                 first_seq: int = 0) -> None:
        self.name = name
        self.format: LogFormat = reading.log_format or detect_format(name, _peek(stream))
        self.reader = ChatLogReader(stream, self.format, agents=reading.agents, encoding=reading.encoding,
                                    gap_minutes=reading.gap_minutes)
        self.assembler = ConversationAssembler(gap_minutes=reading.gap_minutes, max_open=reading.max_open,
                                               first_seq=first_seq)
        self.named = named

    def __iter__(self) -> Iterator[Conversation | BadLine]:
        return read_conversations(self.reader, self.assembler, file=self.name if self.named else None)


def _peek(stream: BinaryIO) -> bytes:
    peek = getattr(stream, "peek", None)
    return peek(4096)[:4096] if peek is not None else b""


# -- figures ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentReply:
    index: int  # into ConversationFigures.messages
    message: str  # the buyer run it answers, its messages joined by newlines; "" when no buyer spoke yet
    run: int | None  # which buyer run (0-based) it answers
    position: Position
    owes_closing_too: bool  # the conversation's only agent message: first and last at once
    response_seconds: float | None  # on the first reply to a buyer run, when both have times


@dataclass(frozen=True)
class ConversationFigures:
    messages: tuple[ChatMessage, ...]  # in time order
    replies: tuple[AgentReply, ...]
    buyer_messages: int
    buyer_runs: int
    first_response_seconds: float | None
    first_responder: str | None  # the agent who answered the first buyer run
    unanswered: int  # buyer messages of a final run no agent message follows
    unanswered_agent: str | None  # who left them: the agent who spoke last, None when no agent spoke

    @property
    def response_seconds(self) -> tuple[float, ...]:
        return tuple(reply.response_seconds for reply in self.replies if reply.response_seconds is not None)

    @property
    def average_response_seconds(self) -> float | None:
        waits = self.response_seconds
        return sum(waits) / len(waits) if waits else None

    def agent_of(self, reply: AgentReply) -> str:
        return self.messages[reply.index].agent or ""


def measure_conversation(conversation: Conversation) -> ConversationFigures:
    """Which reply answers which buyer run, where each stands, and the waits (see the module docstring)."""
    messages = conversation.messages
    if all(message.time is not None for message in messages):
        messages = tuple(sorted(messages, key=lambda message: _order_key(message.time)))
    agent_at = [i for i, message in enumerate(messages) if message.role == "agent"]
    last_index = len(messages) - 1
    replies: list[AgentReply] = []
    run: list[ChatMessage] = []
    run_number = -1
    answering: tuple[str, int | None] = ("", None)  # the run text the next agent messages answer
    first_response: float | None = None
    first_responder: str | None = None
    last_agent: str | None = None
    for index, message in enumerate(messages):
        if message.role == "buyer":
            if not run:
                run_number += 1
            run.append(message)
            continue
        wait = None
        if run:
            answering = ("\n".join(item.text for item in run), run_number)
            if run[0].time is not None and message.time is not None:
                wait = max(0.0, seconds_between(run[0].time, message.time))
            if run_number == 0:
                first_response, first_responder = wait, message.agent
            run = []
        first = index == agent_at[0]
        last = index == last_index
        position: Position = "first" if first else "last" if last else "middle"
        replies.append(AgentReply(index, answering[0], answering[1], position, first and last, wait))
        last_agent = message.agent
    return ConversationFigures(
        messages=messages,
        replies=tuple(replies),
        buyer_messages=len(messages) - len(agent_at),
        buyer_runs=run_number + 1,
        first_response_seconds=first_response,
        first_responder=first_responder,
        unanswered=len(run),
        unanswered_agent=last_agent if run else None,
    )


def _order_key(time: datetime | None) -> float:
    assert time is not None
    return _aware(time).timestamp()


__all__ = [
    "AGENT_MARKS", "FIELD_ALIASES", "LOG_FORMATS", "ROLE_ALIASES", "AgentReply", "BadLine", "ChatLogReader",
    "ChatMessage", "Conversation", "ConversationAssembler", "ConversationFigures", "LogFile", "LogFormat",
    "LogReading", "Role",
    "detect_format", "measure_conversation", "message_from_fields", "parse_time", "read_conversations",
    "seconds_between",
]
