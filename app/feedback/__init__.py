"""Feedback: what agents did with each suggestion (copied, sent, edited then sent, ignored), kept in a
database (SQLite by default, PostgreSQL for replicas), the figures a shop reads from it, and the
acceptance prior ranking takes from it. The store (SQLAlchemy) loads only when asked for, so the
core service, which needs only the prior, never imports it."""

from __future__ import annotations

from typing import Any

from app.feedback.events import ACTIONS, FeedbackEvent
from app.feedback.prior import NO_PRIOR, AcceptancePrior
from app.feedback.stats import feedback_stats

__all__ = ["ACTIONS", "NO_PRIOR", "SCHEMA_VERSION", "AcceptancePrior", "FeedbackEvent", "FeedbackStore",
           "feedback_stats"]


def __getattr__(name: str) -> Any:
    if name in ("FeedbackStore", "SCHEMA_VERSION"):
        from app.feedback import store

        return getattr(store, name)
    raise AttributeError(f"module 'app.feedback' has no attribute {name!r}")
