"""LibraryStore: a shop's live edits (templates and the shop profile) and their audit log, in the shop
database (the tables and migrations are app/feedback/store.py's).

Every change is one transaction: the item's row moves to its next version only if it still has the
version the editor read (optimistic concurrency: two editors cannot silently overwrite each other),
and the audit log gets who, when, before and after. The audit row's id is the shop library's
revision: a server (or a replica) compares it with the revision it serves to know it is behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.errors import FeedbackStoreError, VersionConflict
from app.feedback.store import FeedbackStore, library_audit, library_items

TEMPLATE = "template"
PROFILE = "profile"
PROFILE_ID = "shop"  # the profile's item id: a shop has one


@dataclass(frozen=True)
class Edit:
    """An item's current state in the database: its version and body (None once deleted)."""

    kind: str
    item_id: str
    version: int
    body: dict[str, Any] | None
    at: datetime
    actor: str


@dataclass(frozen=True)
class Change:
    """One audit-log entry."""

    revision: int
    at: datetime
    actor: str
    kind: str
    item_id: str
    action: str
    version: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "at": self.at.isoformat(timespec="seconds"), "actor": self.actor,
                "kind": self.kind, "id": self.item_id, "action": self.action, "version": self.version,
                "before": self.before, "after": self.after}


class LibraryStore:
    def __init__(self, store: FeedbackStore) -> None:
        self._engine = store.engine

    def edits(self, shop: str) -> tuple[int, list[Edit]]:
        """The shop's revision and every item edited so far, read in one transaction (so they agree)."""
        try:
            with self._engine.connect() as connection:
                revision = self._revision(connection, shop)
                rows = connection.execute(select(library_items).where(library_items.c.shop == shop)
                                          .order_by(library_items.c.at, library_items.c.item_id)).mappings().all()
        except SQLAlchemyError as exc:
            raise FeedbackStoreError(f"cannot read the library's edits: {exc.__class__.__name__}") from exc
        return revision, [_edit(row) for row in rows]

    def revision(self, shop: str) -> int:
        """The id of the shop's last change (0 when none): cheap enough to poll every second or two."""
        try:
            with self._engine.connect() as connection:
                return self._revision(connection, shop)
        except SQLAlchemyError as exc:
            raise FeedbackStoreError(f"cannot read the library's revision: {exc.__class__.__name__}") from exc

    def change(self, shop: str, kind: str, item_id: str, body: dict[str, Any] | None, *, expected: int | None,
               before: dict[str, Any] | None, actor: str, action: str) -> int:
        """Write `body` (None: delete) as the item's next version if its version is still `expected`
        (0 for an item never edited: as the index built it; None for an item that must not exist yet).
        `before` is what the editor replaced (for the audit log). Returns the shop's new revision;
        VersionConflict when someone else changed the item first."""
        now = datetime.now(UTC)
        encoded = None if body is None else json.dumps(body, ensure_ascii=False, sort_keys=True)
        key = and_(library_items.c.shop == shop, library_items.c.kind == kind, library_items.c.item_id == item_id)
        version = (expected or 0) + 1
        try:
            with self._engine.begin() as connection:
                current = connection.execute(select(library_items.c.version).where(key)).scalar_one_or_none()
                if current is None and expected in (None, 0):
                    # First edit of an item: the primary key makes a concurrent first edit fail here.
                    connection.execute(insert(library_items).values(shop=shop, kind=kind, item_id=item_id,
                                                                    version=version, body=encoded, at=now, actor=actor))
                else:
                    found = connection.execute(update(library_items).where(key, library_items.c.version == expected)
                                               .values(version=version, body=encoded, at=now, actor=actor))
                    if found.rowcount != 1:
                        raise VersionConflict(f"{kind} {item_id} has changed since it was read (now version "
                                              f"{current}); read it again and redo the edit", current or 0)
                written = connection.execute(insert(library_audit).values(
                    shop=shop, at=now, actor=actor, kind=kind, item_id=item_id, action=action, version=version,
                    before=None if before is None else json.dumps(before, ensure_ascii=False, sort_keys=True),
                    after=encoded)).inserted_primary_key
                assert written is not None
                revision = written[0]
        except IntegrityError as exc:
            raise VersionConflict(f"{kind} {item_id} was changed by someone else at the same moment; read it again",
                                  version) from exc
        except SQLAlchemyError as exc:
            raise FeedbackStoreError(f"cannot save the change: {exc.__class__.__name__}") from exc
        return int(revision)

    def audit(self, shop: str, *, limit: int = 100, item_id: str | None = None) -> list[Change]:
        """The shop's latest changes, newest first."""
        query = select(library_audit).where(library_audit.c.shop == shop)
        if item_id is not None:
            query = query.where(library_audit.c.item_id == item_id)
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(query.order_by(library_audit.c.id.desc()).limit(limit)).mappings().all()
        except SQLAlchemyError as exc:
            raise FeedbackStoreError(f"cannot read the audit log: {exc.__class__.__name__}") from exc
        return [Change(int(row["id"]), _aware(row["at"]), row["actor"], row["kind"], row["item_id"], row["action"],
                       int(row["version"]), _decoded(row["before"]), _decoded(row["after"])) for row in rows]

    @staticmethod
    def _revision(connection: Connection, shop: str) -> int:
        found = connection.execute(select(func.max(library_audit.c.id)).where(library_audit.c.shop == shop))
        return int(found.scalar_one_or_none() or 0)


def _edit(row: Any) -> Edit:
    return Edit(row["kind"], row["item_id"], int(row["version"]), _decoded(row["body"]), _aware(row["at"]),
                row["actor"])


def _decoded(text: str | None) -> dict[str, Any] | None:
    return None if text is None else json.loads(text)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite gives naive datetimes back


__all__ = ["PROFILE", "PROFILE_ID", "TEMPLATE", "Change", "Edit", "LibraryStore"]
