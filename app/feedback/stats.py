"""What a shop reads from its feedback: acceptance by template and by scenario, the edits agents make
most often, and the gaps: frequent buyer messages for which no suggestion was used."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.feedback.events import FeedbackEvent
from app.text import normalize_text


@dataclass
class _Tally:
    shown: int = 0
    as_is: int = 0  # copied or sent unchanged
    edited: int = 0
    ignored: int = 0

    def add(self, item: FeedbackEvent) -> None:
        self.shown += 1
        if item.action == "edited":
            self.edited += 1
        elif item.accepted:
            self.as_is += 1
        else:
            self.ignored += 1

    def figures(self) -> dict[str, Any]:
        return {"events": self.shown, "as_is": self.as_is, "edited": self.edited, "ignored": self.ignored,
                "acceptance": round((self.as_is + self.edited) / self.shown, 4) if self.shown else None,
                "as_is_rate": round(self.as_is / self.shown, 4) if self.shown else None}


@dataclass
class _Edits:
    count: int = 0
    texts: Counter[str] = field(default_factory=Counter)


def feedback_stats(items: Iterable[FeedbackEvent], *, top: int = 20) -> dict[str, Any]:
    """The figures over the events, in one pass with memory bounded by templates and distinct messages."""
    templates: dict[str, _Tally] = defaultdict(_Tally)
    scenarios: dict[str, _Tally] = defaultdict(_Tally)
    overall = _Tally()
    edits: dict[str, _Edits] = defaultdict(_Edits)
    # A suggestion (one /v1/reply answer) was used when any of its events accepted one reply.
    asked: dict[str, str] = {}
    used: set[str] = set()
    for item in items:
        overall.add(item)
        if item.template_id is not None:
            templates[item.template_id].add(item)
        scenarios[item.scenario or "unknown"].add(item)
        if item.action == "edited" and item.template_id is not None and item.sent_text:
            edits[item.template_id].count += 1
            edits[item.template_id].texts[item.sent_text.strip()] += 1
        key = item.suggestion_id or f"message:{normalize_text(item.message)}"
        asked.setdefault(key, normalize_text(item.message))
        if item.accepted:
            used.add(key)
    gaps = Counter(message for key, message in asked.items() if key not in used)
    ranked = sorted(templates.items(), key=lambda pair: (-pair[1].shown, pair[0]))
    return {
        "events": overall.shown,
        "suggestions": len(asked),
        "suggestions_used": len(used),
        "overall": overall.figures(),
        "by_template": {name: tally.figures() for name, tally in ranked},
        "by_scenario": {name: tally.figures() for name, tally in sorted(scenarios.items())},
        "edits": [{"template_id": name, "edited": found.count,
                   "sent": [{"text": sent, "times": times} for sent, times in found.texts.most_common(3)]}
                  for name, found in sorted(edits.items(), key=lambda pair: -pair[1].count)[:top]],
        "gaps": [{"message": message, "times": times} for message, times in gaps.most_common(top)],
    }


__all__ = ["feedback_stats"]
