"""Merge a blind judge's verdicts on new or rewritten templates into a judged set of buyer messages.

    .venv/bin/python scripts/merge_verdicts.py SET VERDICTS --judged IDS.json [--write]

SET is a JSON Lines set carrying `sendable`, `acceptable`, `never` per message; VERDICTS has one line
per message (`id` and the three lists) covering only the templates listed under "judge" in IDS.json;
IDS.json also lists the "deleted" template ids. For every message, verdicts on judged or deleted
templates are dropped and the judge's new ones added; every other field and verdict stays as it was.
Prints counts only (so merging a held-out set shows none of its messages); writes with --write.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

VERDICTS = ("sendable", "acceptable", "never")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("set", type=Path)
    parser.add_argument("verdicts", type=Path)
    parser.add_argument("--judged", type=Path, required=True)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    ids = json.loads(args.judged.read_text(encoding="utf-8"))
    judged, deleted = set(ids["judge"]), set(ids["deleted"])
    lines = [json.loads(line) for line in args.set.read_text(encoding="utf-8").splitlines() if line.strip()]
    new = {}
    for number, line in enumerate(args.verdicts.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        record = json.loads(line)
        listed = [i for name in VERDICTS for i in record.get(name, [])]
        unknown = set(listed) - judged
        if unknown or len(listed) != len(set(listed)):
            sys.exit(f"{args.verdicts}:{number}: ids outside the judged list or listed twice: {sorted(unknown)}")
        new[record["id"]] = record
    missing = [line["id"] for line in lines if line["id"] not in new]
    if missing or len(new) != len(lines):
        sys.exit(f"the verdicts cover {len(new)} messages, the set has {len(lines)}; missing {len(missing)}")
    before = sum(bool(line["sendable"]) for line in lines)
    for line in lines:
        for name in VERDICTS:
            kept = [i for i in line[name] if i not in judged and i not in deleted]
            line[name] = kept + [i for i in new[line["id"]].get(name, []) if i not in kept]
    after = sum(bool(line["sendable"]) for line in lines)
    hopeless = sum(not line["sendable"] and not line["acceptable"] for line in lines)
    print(f"{len(lines)} messages: {before} -> {after} with a sendable template; {hopeless} with nothing "
          f"sendable or acceptable")
    if args.write:
        args.set.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
        print(f"wrote {args.set}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
