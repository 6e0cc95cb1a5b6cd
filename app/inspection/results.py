"""What an inspection finds: findings (rule, severity, detail, span) and the verdict with its score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

RuleName = Literal[
    "rude", "jd_qin", "placeholder", "too_short", "no_apology", "absolute", "relevance",
    "shouting", "polite", "greeting", "closing",
]
RULES: tuple[str, ...] = get_args(RuleName)
Severity = Literal["high", "medium", "low"]
SEVERITIES: tuple[str, ...] = get_args(Severity)


@dataclass(frozen=True)
class Finding:
    rule: RuleName
    severity: Severity
    detail: str
    span: tuple[int, int] | None  # offsets into the reply; None when something is missing

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "detail": self.detail,
            "span": list(self.span) if self.span is not None else None,
        }


@dataclass(frozen=True)
class Inspection:
    ok: bool
    score: int
    findings: tuple[Finding, ...]

    @property
    def rules(self) -> tuple[str, ...]:
        """The rules broken, once each, most severe first."""
        return tuple(dict.fromkeys(finding.rule for finding in self.findings))

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "score": self.score,
            "rules": list(self.rules),
            "findings": [finding.as_dict() for finding in self.findings],
        }
