"""FeedbackStore: the shop database, feedback events and the library's live edits, in SQLite (the default,
one process) or PostgreSQL (replicas), through SQLAlchemy Core (the edits' queries are app/library/store.py). The schema is versioned: `kefu_schema` holds the version, MIGRATIONS bring an older
database up to SCHEMA_VERSION in one transaction at open, and a database newer than this kefu is
refused rather than written with the wrong columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    case,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from app.errors import FeedbackStoreError
from app.feedback.events import ACCEPTED, FeedbackEvent

metadata = MetaData()
schema = Table("kefu_schema", metadata, Column("version", Integer, nullable=False))
events = Table(
    "feedback_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("shop", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("action", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("template_id", String(200)),
    Column("suggestion_id", String(64)),
    Column("scenario", String(16)),
    Column("rank", Integer),
    Column("score", Float),
    Column("confidence", Float),
    Column("sent_text", Text),
    Column("agent", String(64)),
    Column("platform", String(16)),
    Index("feedback_by_template", "shop", "template_id"),
    Index("feedback_by_time", "shop", "at"),
)


# The library as editors changed it at run time (app/library/): one row per template or profile they
# touched, its current body (None once deleted) and version, and every change kept in the audit log.
library_items = Table(
    "library_items", metadata,
    Column("shop", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),  # "template" or "profile"
    Column("item_id", String(200), primary_key=True),  # the template id; "shop" for the profile
    Column("version", Integer, nullable=False),
    Column("body", Text),  # JSON; None: deleted
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
)
library_audit = Table(
    "library_audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # also the shop library's revision
    Column("shop", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("item_id", String(200), nullable=False),
    Column("action", String(16), nullable=False),  # create, update, delete
    Column("version", Integer, nullable=False),  # the item's version after the change
    Column("before", Text),  # JSON bodies; None where there was or is none
    Column("after", Text),
    Index("library_audit_by_shop", "shop", "id"),
)


# Learnt questions an editor turned down (app/feedback/learning.py): never proposed again.
learnt_dismissed = Table(
    "learnt_dismissed", metadata,
    Column("shop", String(64), primary_key=True),
    Column("template_id", String(200), primary_key=True),
    Column("question", String(400), primary_key=True),  # learning.question_key of the message
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
)


def _create_v1(connection: Connection) -> None:
    events.create(connection)


def _create_v2(connection: Connection) -> None:
    library_items.create(connection)
    library_audit.create(connection)


def _create_v3(connection: Connection) -> None:
    learnt_dismissed.create(connection)


# version -> the step that brings version - 1 to it. Append; never edit a released step.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _create_v1, 2: _create_v2, 3: _create_v3}
SCHEMA_VERSION = max(MIGRATIONS)


class FeedbackStore:
    """Open (and migrate) the database at `url`: sqlite:///path/feedback.sqlite3 or
    postgresql+psycopg://user:password@host/db."""

    def __init__(self, url: str) -> None:
        try:
            self.engine: Engine = create_engine(url, future=True, pool_pre_ping=True)
        except (ArgumentError, ImportError, ValueError) as exc:
            raise FeedbackStoreError(f"cannot use the feedback database URL {_safe(url)}: {exc}") from exc
        if self.engine.dialect.name == "sqlite":
            database = self.engine.url.database
            if database and database != ":memory:":
                try:
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise FeedbackStoreError(f"cannot open the feedback database {_safe(url)}: "
                                             f"{exc.strerror or exc}") from exc

            @event.listens_for(self.engine, "connect")
            def _wait_for_writers(connection: Any, record: Any) -> None:
                # Several threads (and processes) write: wait for a lock rather than fail at once.
                connection.execute("PRAGMA busy_timeout = 5000")

        try:
            self.version = self._migrate()
        except OperationalError as exc:
            self.engine.dispose()
            raise FeedbackStoreError(f"cannot open the feedback database {_safe(url)}: {exc.orig}") from exc
        except BaseException:
            self.engine.dispose()  # no connection left open behind a refusal
            raise

    def _migrate(self) -> int:
        with self.engine.begin() as connection:
            if not inspect(connection).has_table(schema.name):
                schema.create(connection)
                connection.execute(insert(schema).values(version=0))
            version = connection.execute(select(schema.c.version)).scalar_one()
            if version > SCHEMA_VERSION:
                raise FeedbackStoreError(f"the feedback database has schema version {version}, newer than this "
                                         f"kefu's {SCHEMA_VERSION}: upgrade kefu")
            for step in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[step](connection)
                connection.execute(schema.update().values(version=step))
            return SCHEMA_VERSION

    def record(self, batch: Sequence[FeedbackEvent]) -> int:
        """Store the events in one transaction (all or none); returns how many."""
        if not batch:
            return 0
        now = datetime.now(UTC)
        rows = [{"shop": item.shop, "at": item.at or now, "action": item.action, "message": item.message,
                 "template_id": item.template_id, "suggestion_id": item.suggestion_id, "scenario": item.scenario,
                 "rank": item.rank, "score": item.score, "confidence": item.confidence,
                 "sent_text": item.sent_text, "agent": item.agent, "platform": item.platform} for item in batch]
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(events), rows)
        except SQLAlchemyError as exc:
            raise FeedbackStoreError(f"cannot record feedback: {exc.__class__.__name__}") from exc
        return len(rows)

    def read(self, shop: str, *, since: datetime | None = None, until: datetime | None = None,
             accepted_only: bool = False) -> Iterator[FeedbackEvent]:
        """The shop's events in the order recorded (optionally within [since, until), optionally only those where
        the agent used the suggestion)."""
        query = select(events).where(events.c.shop == shop).order_by(events.c.id)
        if accepted_only:
            query = query.where(events.c.action.in_(ACCEPTED))
        if since is not None:
            query = query.where(events.c.at >= since)
        if until is not None:
            query = query.where(events.c.at < until)
        with self.engine.connect() as connection:
            for row in connection.execute(query).mappings():
                at = row["at"]
                yield FeedbackEvent(
                    shop=row["shop"], action=row["action"], message=row["message"], template_id=row["template_id"],
                    suggestion_id=row["suggestion_id"], scenario=row["scenario"], rank=row["rank"],
                    score=row["score"], confidence=row["confidence"], sent_text=row["sent_text"], agent=row["agent"],
                    platform=row["platform"], at=at if at is None or at.tzinfo else at.replace(tzinfo=UTC))

    def acceptance(self, shop: str) -> dict[str, tuple[int, int]]:
        """(shown, accepted) per template of the shop, counted by the database."""
        used = func.sum(case((events.c.action.in_(ACCEPTED), 1), else_=0))
        query = (select(events.c.template_id, func.count(), used).where(events.c.shop == shop)
                 .where(events.c.template_id.is_not(None)).group_by(events.c.template_id))
        with self.engine.connect() as connection:
            return {row[0]: (int(row[1]), int(row[2] or 0)) for row in connection.execute(query)}

    def dismiss(self, shop: str, pairs: Sequence[tuple[str, str]], actor: str) -> int:
        """Record (template id, question key) pairs as turned down; a pair dismissed before stays as it was."""
        now = datetime.now(UTC)
        try:
            with self.engine.begin() as connection:
                have = self._dismissed(connection, shop)
                rows = [{"shop": shop, "template_id": template_id, "question": question, "at": now, "actor": actor}
                        for template_id, question in dict.fromkeys(pairs) if (template_id, question) not in have]
                if rows:
                    connection.execute(insert(learnt_dismissed), rows)
        except SQLAlchemyError as exc:
            raise FeedbackStoreError(f"cannot record the dismissal: {exc.__class__.__name__}") from exc
        return len(rows)

    def dismissed(self, shop: str) -> set[tuple[str, str]]:
        """The (template id, question key) pairs an editor of the shop turned down."""
        with self.engine.connect() as connection:
            return self._dismissed(connection, shop)

    @staticmethod
    def _dismissed(connection: Connection, shop: str) -> set[tuple[str, str]]:
        query = select(learnt_dismissed.c.template_id, learnt_dismissed.c.question).where(learnt_dismissed.c.shop == shop)
        return {(row[0], row[1]) for row in connection.execute(query)}

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


def _safe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(unparsable URL)"


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "FeedbackStore", "events", "learnt_dismissed", "library_audit", "library_items",
           "metadata"]
