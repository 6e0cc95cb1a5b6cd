"""The `kefu` command: build | search (results to stdout, progress to stderr; exit 0 ok, 1 error, 2 usage)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Sequence

from app.errors import KefuError

EXAMPLES = {
    "build": "kefu build",
    "search": 'kefu search "能便宜点吗" --top-k 3 --json',
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.run(args)
    except KefuError as exc:
        print(f"kefu: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kefu: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kefu",
        description="Reply suggestions for Chinese online-shop customer service.",
        epilog="example: kefu build && kefu search \"能便宜点吗\"",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    build = commands.add_parser("build", help="prepare the model and build the index",
                                description="Convert the bundled embedding model if needed and build the "
                                            "hybrid index over the corpus.",
                                epilog=f"example: {EXAMPLES['build']}")
    build.set_defaults(run=_build)

    search = commands.add_parser("search", help="top handbook passages and templates for a query",
                                 epilog=f"example: {EXAMPLES['search']}")
    search.add_argument("query", help="the buyer message or query text")
    search.add_argument("--top-k", type=int, default=5, help="results per kind (1-20, default 5)")
    search.add_argument("--json", action="store_true", help="print one JSON list")
    search.set_defaults(run=_search)
    return parser


def _progress(message: str) -> None:
    print(f"[kefu] {message}", file=sys.stderr, flush=True)


def _settings():
    from app.config import Settings

    return Settings()


def _build(args: argparse.Namespace) -> int:
    from app.indexing import build_index

    started = time.perf_counter()
    report = build_index(_settings(), progress=_progress)
    counts = ", ".join(f"{count} {name}" for name, count in report.counts.items())
    _progress(f"built {report.folder} in {time.perf_counter() - started:.1f}s ({counts})")
    return 0


def _search(args: argparse.Namespace) -> int:
    from app.service import KefuService, check_top_k

    check_top_k(args.top_k)
    service = KefuService.load(_settings(), progress=_progress)
    result = service.search(args.query, args.top_k)
    records = search_records(result)
    if args.json:
        print(json.dumps(records, ensure_ascii=False, indent=2))
        return 0
    print(f"terms: {' '.join(result.query_terms) or '(none)'}")
    for record in records:
        where = record["doc"] + (" > " + " > ".join(record["heading"]) if record.get("heading") else "")
        if record["kind"] == "template":
            where = f"{record['scenario']} / {record['id']} ({record['source']})"
        print(f"\n[{record['kind']}] {record['score']:.4f}  bm25 {record['bm25']:.2f}  dense {record['dense']:.3f}  {where}")
        print(f"  {record['text']}")
    return 0


def search_records(result) -> list[dict]:
    """The JSON form of a search, shared with the API."""
    records = []
    for hit in result.templates:
        t = hit.template
        records.append({
            "kind": "template", "id": t.id, "text": t.reply, "doc": t.source.doc or "team",
            "heading": [t.source.heading] if t.source.heading else [], "scenario": t.scenario,
            "topic": t.topic, "source": t.source.label, "example": hit.example,
            "score": round(hit.score, 6), "bm25": round(hit.bm25, 4), "dense": round(hit.dense, 4),
            "terms": list(hit.terms),
        })
    for hit in result.passages:
        records.append({
            "kind": "passage", "id": hit.id, "text": hit.text, "doc": hit.doc, "heading": list(hit.heading),
            "score": round(hit.score, 6), "bm25": round(hit.bm25, 4), "dense": round(hit.dense, 4),
            "terms": list(hit.terms),
        })
    return records


if __name__ == "__main__":
    sys.exit(main())
