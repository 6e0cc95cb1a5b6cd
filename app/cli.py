"""The `kefu` command: build | search (results to stdout, progress to stderr; exit 0 ok, 1 error, 2 usage)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from app.console import quiet_libraries
from app.errors import InputError, KefuError
from app.vocabulary import PLATFORMS, POSITIONS, SCENARIO_NAMES_ZH, SCENARIOS

# Messages read from stdin are answered in batches: one encoder call per batch, bounded memory.
STDIN_BATCH = 64

EXAMPLES = {
    "build": "kefu build",
    "search": 'kefu search "能便宜点吗" --top-k 3 --json',
    "eval": "kefu eval corpus/eval/dev.jsonl --report report.html --out results.jsonl",
    "inspect": 'kefu inspect --message "什么时候发货" --reply "亲，明天发" --platform jd',
    "serve": "kefu serve --host 127.0.0.1 --port 8000 --workers 1",
    "reply": 'kefu reply "这件衣服170斤穿什么码" --platform jd --json   |   kefu reply - --json < messages.txt',
    "bench": "kefu bench --quick --json > bench.json",
    "qc": "kefu qc chats.jsonl --fast --report qc.html --out conversations.jsonl   |   "
          "kefu qc qianniu.txt --agents 小美,小王 --json",
    "import": "kefu import 快捷短语.xlsx --platforms taobao,tmall   |   kefu import phrases.csv --dry-run --json",
    "stats": "kefu stats --since 2026-11-01 --top 10   |   kefu stats --json",
    "token": "kefu token add 小美 --shop shop-a --role agent   |   kefu token list   |   kefu token remove 小美",
}


def main(argv: Sequence[str] | None = None) -> int:
    quiet_libraries()
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
    build.add_argument("--force", action="store_true", help="rebuild even when the index is up to date")
    _shop_argument(build)
    build.set_defaults(run=_build)

    search = commands.add_parser("search", help="top handbook passages and templates for a query",
                                 epilog=f"example: {EXAMPLES['search']}")
    search.add_argument("query", help="the buyer message or query text")
    search.add_argument("--top-k", type=int, default=5, help="results per kind (1-20, default 5)")
    search.add_argument("--json", action="store_true", help="print one JSON list")
    _shop_argument(search)
    search.set_defaults(run=_search)

    reply = commands.add_parser("reply", help="scenario and the best ready-to-send replies for a buyer message",
                                description="Classify a buyer message and suggest replies written by the "
                                            "handbooks' etiquette. With '-' reads one message per line from "
                                            "stdin and loads the model once.",
                                epilog=f"example: {EXAMPLES['reply']}")
    reply.add_argument("message", help="the buyer message, or - to read one message per line from stdin")
    reply.add_argument("--platform", choices=PLATFORMS, default=None, help="taobao, tmall or jd (default KEFU_DEFAULT_PLATFORM)")
    reply.add_argument("--top-k", type=int, default=3, help="replies to suggest (1-20, default 3)")
    turn = reply.add_mutually_exclusive_group()
    turn.add_argument("--first-turn", dest="first_turn", action="store_true", default=None,
                      help="the agent's first turn in the conversation: add a greeting (default)")
    turn.add_argument("--no-first-turn", dest="first_turn", action="store_false",
                      help="the conversation is under way: no greeting")
    reply.add_argument("--slot", action="append", default=[], metavar="NAME=VALUE",
                       help="fill a reply slot, e.g. --slot order_id=1234 (repeatable)")
    reply.add_argument("--json", action="store_true", help="print JSON (one object per line with '-')")
    _shop_argument(reply)
    reply.set_defaults(run=_reply)

    evaluate = commands.add_parser("eval", help="score kefu's suggestions and inspect agents' replies on a case file",
                                   description="Cases are JSON Lines (or CSV with the same columns): message, "
                                               "scenario, also, reply, platform, first_turn, ok, expect, id. Bad lines are "
                                               "reported with their line number and skipped.",
                                   epilog=f"example: {EXAMPLES['eval']}")
    evaluate.add_argument("cases", nargs="+",
                          help="a .jsonl or .csv file of cases; several files (shards), or a folder of them, "
                               "are one run, each case and bad line naming its file")
    evaluate.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    evaluate.add_argument("--out", metavar="FILE", help="write one JSON line per case (for diffing two runs)")
    evaluate.add_argument("--report", metavar="FILE", help="write a self-contained HTML report")
    _engine_arguments(evaluate)
    _shop_argument(evaluate)
    evaluate.set_defaults(run=_eval)

    inspect = commands.add_parser("inspect", help="quality inspection (质检) of one agent reply",
                                  epilog=f"example: {EXAMPLES['inspect']}")
    inspect.add_argument("--message", required=True, help="the buyer's message")
    inspect.add_argument("--reply", required=True, help="the agent's reply")
    inspect.add_argument("--platform", choices=PLATFORMS, default=None,
                         help="taobao, tmall or jd (default KEFU_DEFAULT_PLATFORM)")
    inspect.add_argument("--position", choices=POSITIONS, default="middle",
                         help="where the reply stands: first (owes a greeting), last (owes a closing), "
                              "middle (default: neither)")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    _shop_argument(inspect)
    inspect.set_defaults(run=_inspect)

    qc = commands.add_parser(
        "qc", help="quality inspection (质检) of whole conversations in a chat log, per agent",
        description="Read a chat log (JSON Lines or CSV with the columns conversation, time, role, agent, text, or "
                    "their Chinese names 会话ID, 时间, 角色, 客服, 内容; or a 千牛/咚咚 text export of '昵称 "
                    "2026-11-30 10:01:02' lines, each followed by its message). Each agent reply is inspected "
                    "against the buyer messages it answers, with its place in the conversation; response times, "
                    "unanswered messages and apologies are counted per agent. The log is streamed: memory stays "
                    "flat whatever its size. Bad lines are reported with their line number and skipped; the exit "
                    "code is 1 only when no message could be read.",
        epilog=f"example: {EXAMPLES['qc']}")
    qc.add_argument("chats", nargs="+",
                    help="the chat log (.jsonl, .csv, or a .txt export); several files (shards), or a folder of "
                         "them, are one run (a conversation must sit in one file); - reads stdin (give --format)")
    qc.add_argument("--format", choices=("jsonl", "csv", "text"), default=None,
                    help="the log's format (default: from the file name, else from its first line)")
    qc.add_argument("--agents", action="append", default=[], metavar="NAMES",
                    help="text exports: agents' nicknames, comma-separated (repeatable); nicknames with a colon, "
                         "like 店铺名:小美 (千牛 sub-accounts), are agents anyway")
    qc.add_argument("--platform", choices=PLATFORMS, default=None,
                    help="taobao, tmall or jd (default KEFU_DEFAULT_PLATFORM)")
    qc.add_argument("--fast", action="store_true",
                    help="the word and pattern rules alone: no model loads (thousands of replies a second)")
    qc.add_argument("--gap", type=_positive(float), default=30.0, metavar="MINUTES",
                    help="a silence longer than this ends a conversation (default 30)")
    qc.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    qc.add_argument("--out", metavar="FILE", help="write one JSON line per conversation, turns and findings included")
    qc.add_argument("--report", metavar="FILE", help="write a self-contained HTML report with charts")
    qc.add_argument("--worst", type=_positive(int), default=20, metavar="N",
                    help="how many worst conversations the report shows in full (default 20; 3 more per agent)")
    qc.add_argument("--max-open", type=_positive(int), default=5000, metavar="N",
                    help="conversations held open at once before the quietest is closed (default 5000)")
    qc.add_argument("--encoding", default="utf-8", help="the log's encoding (default utf-8; gb18030 for GBK exports)")
    _engine_arguments(qc)
    _shop_argument(qc)
    qc.set_defaults(run=_qc)

    imports = commands.add_parser(
        "import", help="import the shop's quick phrases (千牛/咚咚 CSV or XLSX exports, or kefu YAML)",
        description="Add a workbench's quick-phrase export to the script library (corpus/quick_phrases.yaml): "
                    "CSV or XLSX with a header row naming the group, shortcut and phrase columns (分组, 快捷编码, "
                    "短语内容 and the like), or a YAML list in corpus/templates.yaml's format. Each phrase's "
                    "scenario comes from its group's words, else from the scenario classifier (when an index is "
                    "built). Bad rows are reported with their line and why and left out; the rest is written "
                    "in one step, so nothing is half-imported. Run `kefu build` afterwards to index them.",
        epilog=f"example: {EXAMPLES['import']}")
    imports.add_argument("file", help="the export (.csv, .txt, .xlsx) or a kefu template YAML (.yaml)")
    imports.add_argument("--format", choices=("csv", "xlsx", "yaml"), default=None,
                         help="the file's format (default: from its name)")
    imports.add_argument("--platforms", default=",".join(PLATFORMS),
                         help="platforms the phrases are for, comma-separated (default all; 千牛 phrases: taobao,tmall)")
    imports.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")
    imports.add_argument("--json", action="store_true", help="print the report as one JSON object")
    _shop_argument(imports)
    imports.set_defaults(run=_import)

    stats = commands.add_parser(
        "stats", help="what agents did with the suggestions: acceptance, edits, gaps in the library",
        description="Read the feedback the panel and the API recorded (KEFU_FEEDBACK_URL; default SQLite in "
                    "index/feedback.sqlite3): acceptance by template and scenario, the templates agents edit "
                    "most with what they sent instead, and the frequent buyer messages for which no suggestion "
                    "was used (the gaps in the library).",
        epilog=f"example: {EXAMPLES['stats']}")
    stats.add_argument("--since", type=_day, default=None, metavar="YYYY-MM-DD", help="from this day (UTC)")
    stats.add_argument("--until", type=_day, default=None, metavar="YYYY-MM-DD", help="before this day (UTC)")
    stats.add_argument("--top", type=_positive(int), default=20, metavar="N", help="rows of edits and gaps (default 20)")
    stats.add_argument("--shop", default=None, help="the shop (default KEFU_SHOP)")
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.set_defaults(run=_stats)

    token = commands.add_parser(
        "token", help="API tokens that belong to a shop and a role (agent or editor)",
        description="Manage the tokens file (KEFU_TOKENS_FILE): each token acts for one shop (its feedback and "
                    "figures) with a role: agent (replies, inspection, feedback) or editor (also the shop's "
                    "figures). The file keeps SHA-256 digests only; `add` prints the token once. A running "
                    "server sees changes at once.",
        epilog=f"example: {EXAMPLES['token']}")
    actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    adding = actions.add_parser("add", help="make a token and print it (once)")
    adding.add_argument("name", help="who holds it (unique): an agent's nickname, a plugin's name")
    adding.add_argument("--shop", required=True, help="the shop it acts for")
    adding.add_argument("--role", choices=("agent", "editor"), default="agent", help="agent (default) or editor")
    actions.add_parser("list", help="the tokens' names, shops and roles (never the tokens)")
    removing = actions.add_parser("remove", help="revoke a token")
    removing.add_argument("name")
    token.set_defaults(run=_token)

    serve = commands.add_parser("serve", help="run the HTTP API and the side panel (uvicorn)",
                                epilog=f"example: {EXAMPLES['serve']}")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes, each loads the model (default 1)")
    serve.add_argument("--reuse-port", action="store_true",
                       help="bind with SO_REUSEPORT: several kefu serve processes (replicas) share the port and "
                            "the kernel spreads connections over them (docs/deployment.md)")
    serve.add_argument("--access-log", action="store_true",
                       help="log a line per request (off by default: a reverse proxy usually keeps that log, "
                            "and writing it costs the server about a tenth of its time per request)")
    serve.set_defaults(run=_serve)

    bench = commands.add_parser("bench", help="measure the encoder, start-up, memory, latency and throughput here",
                                description="Measure on this machine: the encoder alone (one message at a time, "
                                            "batches of 32), `kefu eval` throughput, then a real `kefu serve` "
                                            "(time to ready, RSS, one client, 50 agents at Poisson arrivals, 50 "
                                            "clients back to back), each figure beside the encoder's and issue "
                                            "10's targets. The targets are information: exit 0 unless a phase "
                                            "failed to run.",
                                epilog=f"example: {EXAMPLES['bench']}")
    bench.add_argument("--quick", action="store_true",
                       help="small numbers and a few seconds per phase (a smoke test, under a minute)")
    bench.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    bench.add_argument("--host", default="127.0.0.1", help="address the benched server binds (default 127.0.0.1)")
    bench.add_argument("--requests", type=_positive(int), default=None,
                       help="sequential requests of the one client (default 100, 20 with --quick)")
    bench.add_argument("--load-seconds", type=_positive(float), default=None,
                       help="duration of the open-loop load (default 30, 4 with --quick)")
    bench.add_argument("--stress-seconds", type=_positive(float), default=None,
                       help="duration of the stress (default 60, 4 with --quick)")
    bench.add_argument("--overload-seconds", type=_positive(float), default=None,
                       help="duration of the overload, 200 clients back to back (default 60, 4 with --quick)")
    bench.set_defaults(run=_bench)
    return parser


def _engine_arguments(command: argparse.ArgumentParser) -> None:
    engine = command.add_argument_group("engine", "where the work runs; both engines give the same figures")
    engine.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: this process (default); ray: Ray Data reads the files and an actor pool, "
                             "each actor loading the model once, does the model work (pip install 'kefu[ray]')")
    engine.add_argument("--ray-address", default=None, metavar="ADDRESS",
                        help="a Ray cluster to join (e.g. ray://head:10001 or auto); default: a local Ray started "
                             "for the run. Every node needs kefu, the index and the files at the same paths")
    engine.add_argument("--workers", type=_positive(int), default=None, metavar="N",
                        help="actors in the pool (default: one per CPU of the cluster)")
    engine.add_argument("--cpus", type=_positive(int), default=None, metavar="N",
                        help="CPUs the local Ray may use (default: all of this machine's)")


def _ray_options(args: argparse.Namespace):
    from app.ray_engine import RayOptions

    return RayOptions(address=args.ray_address, workers=args.workers, cpus=args.cpus)


def _shard_paths(values: Sequence[str], suffixes: tuple[str, ...]) -> list:
    """The files a run reads, in the order given: a folder stands for its files with these suffixes,
    sorted by name (shard-00000.jsonl, shard-00001.jsonl, ...)."""
    from pathlib import Path

    paths = []
    for value in values:
        path = Path(value)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(suffixes))
            if not found:
                raise InputError(f"{path} holds no {' or '.join(suffixes)} files")
            paths.extend(found)
        elif path.exists():
            paths.append(path)
        else:
            raise InputError(f"cannot read {path}: no such file or folder")
    return paths


def _day(text: str):
    from datetime import UTC, datetime

    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day like 2026-11-30") from None


def _token(args: argparse.Namespace) -> int:
    from app.tokens import TokenRegistry

    settings = _settings()
    if settings.tokens_file is None:
        raise InputError("set KEFU_TOKENS_FILE to the tokens file (e.g. index/../tokens.yaml, outside the repository)")
    registry = TokenRegistry(settings.tokens_file)
    if args.action == "add":
        made = registry.add(args.name, args.shop, args.role)
        _progress(f"token for {args.name} ({args.role} of {args.shop}); it is shown only now:")
        print(made)
    elif args.action == "remove":
        registry.remove(args.name)
        _progress(f"removed the token of {args.name}")
    else:
        for principal in registry.principals():
            print(f"{principal.name}\t{principal.shop}\t{principal.role}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from app.feedback import FeedbackStore, feedback_stats
    from app.feedback.learning import shop_questions
    from app.library.live import ShopLibrary
    from app.library.store import LibraryStore
    from app.shops import shop_folder

    settings = _settings()
    shop = args.shop or settings.shop
    corpus_dir = settings.corpus_dir if shop == settings.shop else shop_folder(settings, shop)
    store = FeedbackStore(settings.feedback_database)
    try:
        figures = {"shop": shop, **feedback_stats(store.read(shop, since=args.since, until=args.until), top=args.top)}
        # What the stats page offers an editor to accept, from the same events, against the library as edited.
        library = ShopLibrary(corpus_dir, shop, LibraryStore(store)).view()
        figures["learnt"] = [question.as_dict() for question in shop_questions(
            store, shop, library, since=args.since, until=args.until, limit=args.top)]
    finally:
        store.close()
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
        return 0
    overall = figures["overall"]
    if not figures["events"]:
        print("no feedback recorded yet: the side panel records what agents copy; plugins POST /v1/feedback")
        return 0
    print(f"{figures['events']:,} events on {figures['suggestions']:,} answers, "
          f"{figures['suggestions_used']:,} with a suggestion used; acceptance {overall['acceptance']:.1%} "
          f"(as is {overall['as_is_rate']:.1%})")
    print("\nby scenario:")
    for name, row in figures["by_scenario"].items():
        label = SCENARIO_NAMES_ZH.get(name, name)
        print(f"  {_pad(label, 12)}{row['events']:>7,}  accepted {row['acceptance']:.1%}  edited {row['edited']:,}")
    print(f"\nby template (the {args.top} most shown):")
    for name, row in list(figures["by_template"].items())[: args.top]:
        print(f"  {_pad(name, 44)}{row['events']:>7,}  accepted {row['acceptance']:.1%}  as is {row['as_is_rate']:.1%}")
    if figures["edits"]:
        print("\nedited most:")
        for row in figures["edits"]:
            sent = row["sent"][0]
            print(f"  {_pad(row['template_id'], 44)}{row['edited']:>5,}×  e.g. {sent['text'][:40]}")
    if figures["gaps"]:
        print("\ngaps (no suggestion used):")
        for row in figures["gaps"]:
            print(f"  {row['times']:>5,}×  {row['message'][:60]}")
    if figures["learnt"]:
        print("\nlearnt questions (accept them on the panel's stats page or with POST /v1/feedback/learnt):")
        for row in figures["learnt"]:
            print(f"  {_pad(row['template_id'], 44)}{row['uses']:>3}× ({row['corrections']} over kefu's first)  "
                  f"{row['message'][:40]}")
    return 0


def _positive(kind):
    """An argparse type for a number above 0, so a bad value is a usage error (exit 2)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value

    return parse


def _progress(message: str) -> None:
    print(f"[kefu] {message}", file=sys.stderr, flush=True)


def _settings():
    from app.config import Settings

    return Settings()


def _shop_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shop", default=None, metavar="ID",
                        help="a shop of KEFU_SHOPS_DIR (shops/<ID>/) instead of the bundled one (KEFU_SHOP)")


def _service(settings, shop: str | None):
    """The bundled shop's service from its index, or another shop's over it (app/shops.py)."""
    from app.service import KefuService

    base = KefuService.load(settings, progress=_progress)
    if shop in (None, settings.shop):
        return base
    from app.shops import load_shop

    return load_shop(base, settings, shop)


def _build(args: argparse.Namespace) -> int:
    from app.build import build_index

    started = time.perf_counter()
    settings = _settings()
    if args.shop not in (None, settings.shop):
        from app.shops import build_shop

        report = build_shop(settings, args.shop, progress=_progress)
    else:
        report = build_index(settings, force=args.force, progress=_progress)
    if report.up_to_date:
        _progress(f"the index in {report.folder} is up to date (kefu build --force rebuilds it)")
        return 0
    counts = ", ".join(f"{count} {name}" for name, count in report.counts.items())
    _progress(f"built {report.folder} in {time.perf_counter() - started:.1f}s ({counts})")
    return 0


def _search(args: argparse.Namespace) -> int:
    from app.replies import check_top_k

    check_top_k(args.top_k)
    service = _service(_settings(), args.shop)
    result = service.search(args.query, args.top_k)
    records = result.as_records()
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


def _reply(args: argparse.Namespace) -> int:
    from app.replies import ReplyRequest, check_top_k

    check_top_k(args.top_k)
    slots = {}
    for item in args.slot:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InputError(f"--slot takes NAME=VALUE, got {item!r}")
        slots[name.strip()] = value
    settings = _settings()
    platform = args.platform or settings.default_platform

    def request(message: str) -> ReplyRequest:
        return ReplyRequest(message=message, platform=platform, top_k=args.top_k,
                            first_turn=args.first_turn, slots=slots)

    service = _service(settings, args.shop)
    if args.message != "-":
        _print_reply(service.reply(request(args.message)).as_dict(), args.json)
        return 0
    failures = 0
    batch: list[str] = []
    # errors="replace": one undecodable line must not lose the rest of the input.
    stdin = open(sys.stdin.fileno(), encoding="utf-8", errors="replace", closefd=False)
    for line in stdin:
        batch.append(line.rstrip("\r\n"))
        if len(batch) == STDIN_BATCH:
            failures += _reply_batch(service, [request(m) for m in batch], args.json)
            batch = []
    if batch:
        failures += _reply_batch(service, [request(m) for m in batch], args.json)
    return 1 if failures else 0


def _reply_batch(service, requests, as_json: bool) -> int:
    """Answer a batch; a bad line (e.g. empty) gets an error object in its place, the rest go on."""
    from app.understanding.message import prepare_message

    good = []
    outputs: list[dict] = []
    for request in requests:
        try:
            prepare_message(request.message)
            good.append(request)
            outputs.append({})
        except InputError as exc:
            outputs.append({"message": request.message, "error": {"code": exc.code, "message": exc.message}})
    answers = iter(service.reply_many(good)) if good else iter(())
    failures = 0
    for output in outputs:
        if "error" in output:
            failures += 1
            if as_json:
                print(json.dumps(output, ensure_ascii=False), flush=True)
            else:
                print(f"kefu: {output['error']['message']}: {output['message']!r}", file=sys.stderr)
            continue
        _print_reply(next(answers).as_dict(), as_json, one_line=True)
    return failures


def _eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.evaluation.cases import read_case_files
    from app.evaluation.runner import evaluate

    paths = _shard_paths(args.cases, (".jsonl", ".csv"))
    settings = _settings()
    if args.engine == "ray":
        if args.shop not in (None, settings.shop):
            raise InputError("--engine ray evaluates the bundled shop; evaluate another shop with the local engine")
        from app.ray_engine import evaluate_on_ray

        summary, records = evaluate_on_ray(settings, paths, _ray_options(args), progress=_count)
        print(file=sys.stderr)
        for skipped in summary["skipped"]:
            _progress(_skipped_line(skipped))
    else:

        # Read as written: a broken byte skips its own line, U+2028 inside a string splits nothing.
        parsed = read_case_files(paths, default_platform=settings.default_platform)
        for skipped in parsed.skipped:
            _progress(_skipped_line(skipped.as_dict()))
        # With nothing to evaluate there is no reason to load the model.
        service = _service(settings, args.shop) if parsed.cases else None
        summary, records = evaluate(service, parsed, progress=_bar)
        summary["engine"] = {"name": "local", "workers": 1, "shards": len(paths)}
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(_json_line(record))
    if args.report:
        from app.evaluation.report import render_report

        name = paths[0].name if len(paths) == 1 else f"{paths[0].name} 等 {len(paths)} 个文件"
        Path(args.report).write_text(render_report(summary, records, title=f"kefu 评测报告 · {name}"),
                                     encoding="utf-8")
        _progress(f"report written to {args.report}")
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        _print_summary(summary)
    return 0


def _skipped_line(skipped: dict) -> str:
    where = f"{skipped['file']} line {skipped['line']}" if "file" in skipped else f"line {skipped['line']}"
    return f"{where} skipped: {skipped['reason']}"


def _count(done: int) -> None:
    if done % 500 == 0:
        print(f"\r[kefu] {done} cases", end="", file=sys.stderr, flush=True)


def _bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    end = "\n" if done >= total else ""
    print(f"\r[kefu] {'#' * filled}{'.' * (width - filled)} {done}/{total}", end=end, file=sys.stderr, flush=True)


def _print_summary(summary: dict) -> None:
    scenario = summary["scenario"]

    def pct(value):
        return "—" if value is None else f"{value:.1%}"

    print(f"cases {summary['cases']}  evaluated {summary['evaluated']}  skipped {len(summary['skipped'])}")
    if scenario["labelled"]:
        print(f"scenario  labelled {scenario['labelled']}  accuracy {pct(scenario['accuracy'])}  "
              f"strict {pct(scenario['accuracy_strict'])}  macro-F1 {scenario['macro_f1']:.3f}  "
              f"abstained {scenario['abstained']}  ECE {scenario['calibration_error']:.3f}")
        print("\n" + f"{'gold/predicted':<18}" + "".join(f"{label:>11}" for label in SCENARIOS))
        for gold, row in scenario["confusion"].items():
            print(f"{gold:<18}" + "".join(f"{row[label]:>11}" for label in SCENARIOS))
        print(f"\n{'scenario':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
        for label, m in scenario["per_scenario"].items():
            print(f"{label:<12}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>10.3f}{m['support']:>10}")
        print(f"\ntop reply in the gold scenario: {pct(summary['replies']['top1_scenario_match'])}")
    judged = summary["replies"]["judged"]
    if judged:
        print(f"replies judged by a person ({judged['judged']}, {judged['answerable']} answerable): "
              f"top sendable {pct(judged['hit_at_1'])}  one of three {pct(judged['hit_at_3'])}  "
              f"top acceptable {pct(judged['acceptable_at_1'])}  top harmful {pct(judged['harmful_at_1'])}")
        print(f"  answerable only: top sendable {pct(judged['hit_at_1_answerable'])}  one of three "
              f"{pct(judged['hit_at_3_answerable'])}; where kefu answered: top sendable "
              f"{pct(judged['hit_at_1_when_answering'])}")
        print(f"  abstained {judged['abstained']} (should: {judged['should_abstain']})  precision "
              f"{pct(judged['abstention_precision'])}  recall {pct(judged['abstention_recall'])}")
    inspection = summary["inspection"]
    if inspection["inspected"]:
        print(f"inspection  inspected {inspection['inspected']}  pass rate {pct(inspection['pass_rate'])}  "
              f"agreement with humans {pct(inspection['agreement'])} (of {inspection['judged']})")
        if inspection["per_rule"]:
            print(f"\n{'rule':<12}{'human':>8}{'caught':>8}{'false alarms':>14}")
            for rule, m in inspection["per_rule"].items():
                print(f"{rule:<12}{m['expected']:>8}{m['caught']:>8}{m['false_alarms']:>14}")
    print(f"latency per message (batched): p50 {summary['latency_ms']['p50']} ms  p95 {summary['latency_ms']['p95']} ms")


def _inspect(args: argparse.Namespace) -> int:
    from app.replies import InspectionRequest

    settings = _settings()
    service = _service(settings, args.shop)
    item = InspectionRequest(args.message, args.reply, args.platform or settings.default_platform, args.position)
    result = service.inspect_many([item])[0].as_dict()
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    print(f"{'可以发送' if result['ok'] else '不宜发送'}  得分 {result['score']}")
    for finding in result["findings"]:
        print(f"- [{finding['severity']}] {finding['rule']}: {finding['detail']}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.errors import IndexError_
    from app.phrases import import_file
    from app.shops import shop_folder

    settings = _settings()
    platforms = [name.strip() for name in args.platforms.replace("，", ",").split(",") if name.strip()]
    classify = None
    try:

        service = _service(settings, None)  # the classifier is the bundled shop's for every shop
        classify = lambda texts: [p.label for p in service.classify_many(texts)]  # noqa: E731
    except IndexError_ as exc:
        _progress(f"no usable index ({exc.code}): scenarios come from the phrases' groups only")
    corpus_dir = settings.corpus_dir if args.shop in (None, settings.shop) else shop_folder(settings, args.shop)
    report = import_file(corpus_dir, Path(args.file), classify=classify, platforms=platforms,
                         file_format=args.format, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        verb = "would add" if args.dry_run else "added"
        print(f"{report.file}: {verb} {len(report.added)}, updated {len(report.updated)}, "
              f"unchanged {len(report.unchanged)}, rejected {len(report.rejected)}; scenarios from {report.classified_by}")
        for item in report.rejected:
            print(f"  line {item.line}: {item.reason}")
        if report.written:
            build = "kefu build" if corpus_dir == settings.corpus_dir else f"kefu build --shop {args.shop}"
            print(f"written to {corpus_dir / 'quick_phrases.yaml'}; run `{build}` to index them")
    return 0


def _qc(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.inspection.conversations import LogFile, LogReading
    from app.inspection.qc import ConversationInspector, QcTally, RuleJudge, ServiceJudge, inspect_conversations

    settings = _settings()
    platform = args.platform or settings.default_platform
    agents = tuple(name for value in args.agents for name in value.replace("，", ",").split(",") if name.strip())
    reading = LogReading(log_format=args.format, agents=agents, encoding=args.encoding, gap_minutes=args.gap,
                         max_open=args.max_open)
    stdin = args.chats == ["-"]
    if stdin and args.format is None:
        raise InputError("reading stdin needs --format jsonl, csv or text")
    if "-" in args.chats and not stdin:
        raise InputError("- (stdin) cannot be read together with files")
    paths = [] if stdin else _shard_paths(args.chats, (".jsonl", ".ndjson", ".json", ".csv", ".txt", ".log"))
    if stdin and args.engine == "ray":
        raise InputError("--engine ray reads files (shards), not stdin")
    shop = args.shop or settings.shop
    if shop != settings.shop:
        if args.engine == "ray":
            raise InputError("--engine ray inspects with the bundled shop; inspect another shop with the local engine")
        from app.shops import shop_folder

        shop_folder(settings, shop)  # an unknown shop is refused before the log is read
    tally = QcTally(worst=args.worst)
    out = open(args.out, "w", encoding="utf-8") if args.out else None
    progress = _QcProgress(tally, sum(path.stat().st_size for path in paths))
    reported = 0

    def on_verdict(verdict) -> None:
        if out is not None:
            out.write(_json_line(verdict.as_dict()))

    def on_batch() -> None:
        nonlocal reported
        for bad in tally.skipped[reported:]:
            progress.clear()
            _progress(_skipped_line(bad.as_dict()))
        reported = len(tally.skipped)
        progress.show()

    mode = "fast" if args.fast else "full"
    started = time.perf_counter()
    try:
        if args.engine == "ray":
            from app.ray_engine import inspect_on_ray

            shards = inspect_on_ray(settings, paths, reading, _ray_options(args), tally, fast=args.fast,
                                    platform=platform, on_verdict=on_verdict, on_batch=on_batch)
            lines, formats = shards.lines, shards.formats
            engine = {"name": "ray", "workers": shards.workers, "shards": len(paths)}
        else:
            if args.fast:
                from app.inspection import ReplyInspector

                judge: RuleJudge | ServiceJudge = RuleJudge(ReplyInspector.load(settings.corpus_dir))
            else:
                judge = ServiceJudge(_service(settings, shop))
            logs: list[LogFile] = []

            def conversations():
                """Each file after the other, conversations numbered on from the earlier files'."""
                if stdin:
                    logs.append(LogFile(sys.stdin.buffer, "-", reading))
                    progress.reading(logs[-1].reader)
                    yield from logs[-1]
                    return
                for path in paths:
                    try:
                        stream = open(path, "rb")
                    except OSError as exc:
                        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
                    with stream:
                        logs.append(LogFile(stream, path.name, reading, named=len(paths) > 1,
                                            first_seq=logs[-1].assembler.last_seq if logs else 0))
                        progress.reading(logs[-1].reader)
                        yield from logs[-1]
                    progress.read(path.stat().st_size)

            try:
                inspect_conversations(conversations(), ConversationInspector(judge, platform=platform), tally,
                                      on_verdict=on_verdict, on_batch=on_batch)
            finally:
                lines, formats = sum(log.reader.lines_read for log in logs), [log.format for log in logs]
            engine = {"name": "local", "workers": 1, "shards": max(len(paths), 1)}
    finally:
        if out is not None:
            out.close()
    progress.done()
    spent = time.perf_counter() - started
    if tally.bad_lines > reported:
        _progress(f"... {tally.bad_lines - reported} more bad lines (the first {reported} are listed above)")
    if tally.bad_lines:
        _progress(f"{tally.bad_lines} bad line(s) skipped of {lines}")
    source = " ".join(args.chats)
    if tally.messages == 0:
        raise InputError(f"no message could be read from {source} ({lines} lines, {tally.bad_lines} bad)")
    log_format = formats[0] if len(set(formats)) == 1 else "mixed"
    summary = {"source": source, "shop": shop, "format": log_format, "mode": mode, "platform": platform, "engine": engine,
               "lines": lines, "seconds": round(spent, 2),
               "replies_per_s": round(tally.replies / spent, 1) if spent > 0 else None, **tally.summary()}
    if args.report:
        from app.inspection.qc_report import render_qc_report
        from app.vocabulary import PLATFORM_NAMES_ZH

        how = "快速模式：只用词表和规则" if mode == "fast" else "完整模式：规则 + 场景、语气、相关度模型"
        name = "标准输入" if stdin else paths[0].name if len(paths) == 1 else f"{paths[0].name} 等 {len(paths)} 个文件"
        subtitle = f"店铺 {shop} · {name} · {how} · {PLATFORM_NAMES_ZH[platform]} · 读取 {lines} 行"
        Path(args.report).write_text(render_qc_report(summary, [v.as_dict() for v in tally.worst()],
                                                      title="kefu 会话质检报告", subtitle=subtitle), encoding="utf-8")
        _progress(f"report written to {args.report}")
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        _print_qc(summary)
    return 0


def _json_line(record: dict) -> str:
    """One JSON line; line and paragraph separators escaped so that no line splitter breaks a record."""
    text = json.dumps(record, ensure_ascii=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085") + "\n"


class _QcProgress:
    """A progress bar on stderr for `kefu qc`: share of the files read, replies judged, replies a second."""

    def __init__(self, tally, size: int) -> None:
        self.tally, self.size = tally, size
        self.finished = 0  # bytes of the files read to the end
        self.current = None  # the reader of the file being read (local engine)
        self.started = self.shown = time.perf_counter()
        self.drawn = False

    def reading(self, reader) -> None:
        self.current = reader

    def read(self, size: int) -> None:
        self.finished += size
        self.current = None

    def show(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.shown < 0.5:
            return
        self.shown = now
        replies = self.tally.replies
        rate = replies / max(now - self.started, 1e-9)
        read = self.finished + (self.current.bytes_read if self.current is not None else 0)
        if self.size and read:
            width = 30
            filled = min(width, width * read // self.size)
            head = f"{'#' * filled}{'.' * (width - filled)} {min(read / self.size, 1):.0%}"
        else:
            head = f"{read / 1e6:.1f} MB" if read else "Ray"
        print(f"\r[kefu] {head}  {self.tally.conversations:,} conversations  {replies:,} replies  "
              f"{rate:,.0f} replies/s", end="", file=sys.stderr, flush=True)
        self.drawn = True

    def clear(self) -> None:
        if self.drawn:
            print(file=sys.stderr)
            self.drawn = False

    def done(self) -> None:
        self.show(force=True)
        self.clear()


def _pad(text: str, width: int) -> str:
    """Left-aligned in `width` terminal columns, a CJK character taking two."""
    import unicodedata

    used = sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)
    return text + " " * max(1, width - used)


def _print_qc(summary: dict) -> None:
    def pct(value):
        return "—" if value is None else f"{value:.1%}"

    def secs(value):
        return "—" if value is None else f"{value:g}s"

    overall = summary["overall"]
    print(f"{summary['source']} (shop {summary['shop']}, {summary['format']}, {summary['mode']} mode): "
          f"{summary['conversations']} conversations, {summary['agent_replies']} agent replies, {summary['bad_lines']} bad lines, "
          f"{summary['unattended']} unattended, {summary['cut']} cut")
    print(f"replies fine to send {pct(overall['reply_pass_rate'])}  conversations with every reply fine "
          f"{pct(overall['conversation_pass_rate'])}  first response p50 {secs(overall['first_response_s']['p50'])} "
          f"p90 {secs(overall['first_response_s']['p90'])}  average response {secs(overall['response_s']['mean'])}  "
          f"unanswered buyer messages {overall['unanswered']}  missing apologies {overall['apology_missing']}")
    print(f"\n{_pad('agent', 20)}{'conv':>6}{'conv ok':>9}{'replies':>9}{'reply ok':>10}{'first p50':>11}{'first p90':>11}"
          f"{'unanswered':>12}  top rules")
    for name, figures in summary["agents"].items():
        first = figures["first_response_s"]
        rules = ", ".join(f"{rule} {count}" for rule, count in
                          sorted(figures["rules"].items(), key=lambda item: -item[1])[:3])
        print(f"{_pad(name, 20)}{figures['conversations']:>6}{pct(figures['conversation_pass_rate']):>9}"
              f"{figures['replies']:>9}{pct(figures['reply_pass_rate']):>10}{secs(first['p50']):>11}"
              f"{secs(first['p90']):>11}{figures['unanswered']:>12}  {rules}")
    if summary["worst"]:
        print("\nworst conversations:")
        for row in summary["worst"][:10]:
            print(f"  #{row['seq']} {row['conversation']} (line {row['line']}, {', '.join(row['agents']) or 'unattended'}):"
                  f" {row['failed']} of {row['replies']} replies not fine, {row['unanswered']} unanswered, "
                  f"score {row['score']}")


def _serve(args: argparse.Namespace) -> int:
    from app.api.server import serve

    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    _progress(f"serving on http://{args.host}:{args.port}/ (side panel at /, API docs at /docs)")
    try:
        serve(host=args.host, port=args.port, workers=args.workers, access_log=args.access_log,
              reuse_port=args.reuse_port)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    return 0


def _bench(args: argparse.Namespace) -> int:
    from app.bench import BenchOptions, format_table, run_bench

    given = {name: value for name, value in (("requests", args.requests), ("load_seconds", args.load_seconds),
                                             ("stress_seconds", args.stress_seconds),
                                             ("overload_seconds", args.overload_seconds)) if value is not None}
    options = BenchOptions.quick(host=args.host, **given) if args.quick else BenchOptions(host=args.host, **given)
    result = run_bench(_settings(), options, progress=_progress)
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else format_table(result))
    return 0


def _print_reply(result: dict, as_json: bool, one_line: bool = False) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=None if one_line else 2), flush=True)
        return
    scenario = result["scenario"]
    label = SCENARIO_NAMES_ZH[scenario["label"]]
    line = f"场景: {label} ({scenario['label']}) {scenario['confidence']:.0%}"
    if scenario["secondary"]:
        line += f"  次要: {SCENARIO_NAMES_ZH[scenario['secondary']]}"
    if result["needs_human"]:
        line += f"  需要人工处理: {result['abstention']}"
    print(line)
    for number, reply in enumerate(result["replies"], start=1):
        if reply["holding"]:
            print(f"\n过渡回复（核实后再答）:\n   {reply['text']}")
            continue
        print(f"\n{number}. [{reply['template_id']}] 可直接发送 {reply['confidence']:.0%}  来源: {reply['source']['label']}")
        print(f"   {reply['text']}")
    if result["needs_human"]:
        for hit in result["support"]:
            print(f"\n手册参考 ({' > '.join(hit['heading']) or hit['doc']}):\n   {hit['text'][:200]}")
    print()


if __name__ == "__main__":
    sys.exit(main())
