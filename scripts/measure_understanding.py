"""Dev chore: how well app/understanding reads stage, mood and product category on a labelled tuning set.

Reads corpus/training/sendable_dev.jsonl (never the held-out corpus/eval/ sets): each line's message,
its history when it has one, and the labels `stage`, `mood`, `category`. Prints accuracy and a
confusion table (rows: label, columns: kefu's reading) for each. Stage accuracy leaves out messages
labelled "unknown"; category accuracy counts only messages whose label is not "general" (kefu's
"no category" counts as a miss there).

Run: .venv/bin/python scripts/measure_understanding.py [--misses] [--json] [--file PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.replies import Turn  # noqa: E402
from app.understanding.message import prepare_message  # noqa: E402
from app.understanding.situation import MessageReader  # noqa: E402
from app.vocabulary import CATEGORIES, MOODS, STAGES  # noqa: E402

DEFAULT_FILE = ROOT / "corpus" / "training" / "sendable_dev.jsonl"
NONE = "none"


@dataclass(frozen=True)
class Dimension:
    name: str
    labels: tuple[str, ...]
    skip: str  # the label not counted


DIMENSIONS = (
    Dimension("stage", STAGES, "unknown"),
    Dimension("mood", MOODS, ""),
    Dimension("category", CATEGORIES, "general"),
)


def measure(path: Path) -> dict[str, object]:
    reader = MessageReader.load(ROOT / "corpus")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    results: dict[str, object] = {"file": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)}
    readings = []
    for row in rows:
        history = tuple(Turn(turn["role"], turn["text"]) for turn in row.get("history", []))
        understood = reader.understand(prepare_message(row["message"]), history)
        readings.append({
            "stage": understood.stage,
            "mood": understood.mood,
            "category": understood.category or NONE,
            "cues": list(understood.situation.cues),
        })
    for dimension in DIMENSIONS:
        pairs = [(row[dimension.name], reading[dimension.name]) for row, reading in zip(rows, readings)
                 if row[dimension.name] != dimension.skip]
        confusion = Counter(pairs)
        misses = [
            {"id": row["id"], "message": row["message"], "history": [t["text"] for t in row.get("history", [])],
             "label": row[dimension.name], "read": reading[dimension.name], "cues": reading["cues"]}
            for row, reading in zip(rows, readings)
            if row[dimension.name] != dimension.skip and row[dimension.name] != reading[dimension.name]
        ]
        figures: dict[str, object] = {
            "n": len(pairs),
            "accuracy": _share(sum(label == read for label, read in pairs), len(pairs)),
            "confusion": {label: {read: count for (lab, read), count in confusion.items() if lab == label}
                          for label in dimension.labels if label != dimension.skip},
            "misses": misses,
        }
        if dimension.name == "category":
            # kefu says "none" rather than guess: how often it names one, and how often rightly.
            named = [(label, read) for label, read in pairs if read != NONE]
            figures["named"] = len(named)
            figures["precision"] = _share(sum(label == read for label, read in named), len(named))
        results[dimension.name] = figures
    return results


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _table(dimension: Dimension, confusion: dict[str, dict[str, int]]) -> str:
    columns = [label for label in dimension.labels if label != dimension.skip or dimension.name == "stage"]
    columns += [NONE] if dimension.name == "category" else []
    width = max(len(label) for label in [*columns, *confusion]) + 1
    lines = ["label \\ read".ljust(width) + "".join(column[:9].rjust(10) for column in columns)]
    for label, row in confusion.items():
        lines.append(label.ljust(width) + "".join(str(row.get(column, 0)).rjust(10) for column in columns))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: .venv/bin/python scripts/measure_understanding.py --misses")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="a labelled JSONL file (default: the tuning set)")
    parser.add_argument("--misses", action="store_true", help="list every message read wrong")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if "eval" in args.file.resolve().parts:
        parser.error("the held-out sets in corpus/eval/ are never used for tuning")
    results = measure(args.file.resolve())
    if args.json:
        if not args.misses:
            for dimension in DIMENSIONS:
                figures = results[dimension.name]
                assert isinstance(figures, dict)
                figures.pop("misses")
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return 0
    print(f"{results['file']}")
    for dimension in DIMENSIONS:
        figures = results[dimension.name]
        assert isinstance(figures, dict)
        skipped = f", '{dimension.skip}' labels left out" if dimension.skip else ""
        print(f"\n{dimension.name}: accuracy {figures['accuracy']:.3f} (n={figures['n']}{skipped})")
        if "precision" in figures:
            print(f"named a category for {figures['named']} of {figures['n']}, right for {figures['precision']:.3f} of those")
        print(_table(dimension, figures["confusion"]))
        if args.misses:
            for miss in figures["misses"]:
                history = f"  [history: {' || '.join(miss['history'])}]" if miss["history"] else ""
                print(f"  {miss['id']} {miss['label']} -> {miss['read']}: {miss['message']}{history}  cues={miss['cues']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
