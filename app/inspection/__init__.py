"""Quality inspection (质检) of agents' replies: rules as data, findings, a verdict and a score."""

from app.inspection.inspector import ReplyInspector
from app.inspection.results import RULES, Finding, Inspection

__all__ = ["RULES", "Finding", "Inspection", "ReplyInspector"]
