"""What an inspection finds: findings (rule, severity, detail, span) and the verdict with its score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

RuleName = Literal[
    "rude", "jd_qin", "placeholder", "too_short", "no_apology", "absolute", "ad_law", "relevance",
    "shouting", "polite", "greeting", "closing",
]
RULES: tuple[str, ...] = get_args(RuleName)
Severity = Literal["high", "medium", "low"]
SEVERITIES: tuple[str, ...] = get_args(Severity)
# "Fine to send as it is": no finding of these severities. Low findings (no 您/请, a missing greeting or
# closing) are suggestions: they lower the score and show in the panel, the reply may still go.
BLOCKING: frozenset[str] = frozenset({"high", "medium"})


@dataclass(frozen=True)
class Finding:
    rule: RuleName
    severity: Severity
    detail: str
    span: tuple[int, int] | None  # offsets into the reply; None when something is missing
    fix: str = ""  # how to put it right, for the agent (the rule's `fix` in inspection_rules.yaml)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "detail": self.detail,
            "span": list(self.span) if self.span is not None else None,
            "fix": self.fix,
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
