"""Record feedback events from a JSON Lines file into a shop database, with the times they carry.

    KEFU_FEEDBACK_URL=sqlite:///week.sqlite3 .venv/bin/python scripts/load_feedback.py corpus/training/feedback_week.jsonl

Each line is one event as POST /v1/feedback takes it plus `shop` and `at` (ISO 8601): a shop's history
from another system, or the simulated week in corpus/training (docs/measurements.md, "Learning from
feedback"), which `scripts/replay_feedback.py` then replays. All or nothing: a bad line stops the load
before anything is recorded, naming its line number.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("events", type=Path)
    args = parser.parse_args()

    from app.config import Settings
    from app.feedback import FeedbackStore
    from app.feedback.events import ACTIONS, FeedbackEvent

    fields = set(FeedbackEvent.__dataclass_fields__)
    batch = []
    with args.events.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or record.get("action") not in ACTIONS or not record.get("message"):
                    raise ValueError(f"needs an action ({', '.join(ACTIONS)}) and a message")
                unknown = set(record) - fields
                if unknown:
                    raise ValueError(f"unknown fields {sorted(unknown)}")
                at = datetime.fromisoformat(record["at"]) if record.get("at") else None
                if at is not None and at.tzinfo is None:
                    raise ValueError("at needs a time zone")
                batch.append(FeedbackEvent(**(record | {"at": at})))
            except (ValueError, TypeError) as exc:
                print(f"{args.events}:{number}: {exc}; nothing recorded", file=sys.stderr)
                return 1
    settings = Settings()
    store = FeedbackStore(settings.feedback_database)
    try:
        recorded = store.record(batch)
    finally:
        store.close()
    print(f"{recorded} events recorded in {settings.feedback_database.split('://')[0]} database")
    return 0


if __name__ == "__main__":
    sys.exit(main())
