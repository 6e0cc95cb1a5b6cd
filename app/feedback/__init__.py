"""Feedback: what agents did with each suggestion (copied, sent, edited then sent, ignored), kept in a
database (SQLite by default, PostgreSQL for replicas), and the figures a shop reads from it."""

from app.feedback.events import ACTIONS, FeedbackEvent
from app.feedback.stats import feedback_stats
from app.feedback.store import SCHEMA_VERSION, FeedbackStore

__all__ = ["ACTIONS", "SCHEMA_VERSION", "FeedbackEvent", "FeedbackStore", "feedback_stats"]
