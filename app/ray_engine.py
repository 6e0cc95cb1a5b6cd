"""Batch work on a Ray cluster: `kefu eval --engine ray` and `kefu qc --engine ray`.

Ray Data reads the shards, one read task per file, with the same readers as the local engine, so a
bad line keeps its file and true line number. An actor pool does the model work, each actor loading
the index and the encoder once. Results come back to this process in the shards' order and are added
up by the local engine's own code (`evaluation.runner.summarize`, `inspection.qc.QcTally`), so both
engines give the same figures on the same input; only the timings differ.

On a cluster (`--ray-address`), every node needs kefu installed and the index and corpus at the same
paths as here: the index is a read-only artifact, copied to each node or mounted read-only. The
shards must be readable by the workers at the paths given (shared storage). Ray is an optional
dependency (`pip install 'kefu[ray]'`); nothing else in kefu imports it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import InputError

if TYPE_CHECKING:
    from app.config import Settings
    from app.inspection.conversations import LogReading
    from app.inspection.qc import ConversationVerdict, QcTally

# An actor takes a whole CPU; reading a shard is light (decoding and JSON), so read tasks ask for
# none and cannot starve behind the actors (with both holding whole CPUs on a 2-CPU node, the reads
# waited for a CPU the actors never gave back).
ACTOR_CPUS = 1.0
READ_CPUS = 0.0
EVAL_BATCH = 64  # cases per actor call, as the local engine's batches
QC_CHUNK_REPLIES = 64  # agent replies per chunk of conversations sent to an actor


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: start a local Ray in this process
    workers: int | None = None  # actors in the pool; None: one per CPU of the cluster
    cpus: int | None = None  # CPUs of the local Ray (ignored with an address); None: all of this machine's


@contextmanager
def ray_session(options: RayOptions, settings: Settings) -> Iterator[int]:
    """Ray started (or joined) with `settings` in every worker's environment (actors build their
    Settings from it), yielding the pool's size; shut down on leaving."""
    from app.config import settings_environment

    try:
        import ray
    except ImportError as exc:
        raise InputError("--engine ray needs Ray: pip install 'kefu[ray]' (or: pip install 'ray[data]')") from exc
    if options.workers is not None and options.workers < 1:
        raise InputError(f"--workers must be at least 1, not {options.workers}")
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False,
                              "runtime_env": {"env_vars": settings_environment(settings)}}
    if options.address:
        kwargs["address"] = options.address
    else:
        kwargs["num_cpus"] = options.cpus or os.cpu_count() or 1
    ray.init(**kwargs)
    try:
        from ray.data import DataContext

        for name in ("ray", "ray.data"):  # Ray's own INFO and WARNING lines would bury kefu's report
            logging.getLogger(name).setLevel(logging.ERROR)

        context = DataContext.get_current()
        context.execution_options.preserve_order = True  # results in the shards' order, as read
        context.enable_progress_bars = False
        cpus = int(ray.cluster_resources().get("CPU", 1))
        yield options.workers or max(1, cpus)
    finally:
        ray.shutdown()


# -- kefu eval ---------------------------------------------------------------------------------------


class _CaseReader:
    """A shard's path -> one row per case or skipped line, in the file's order."""

    def __init__(self, default_platform: str, named: bool) -> None:
        self.default_platform = default_platform
        self.named = named

    def __call__(self, row: dict[str, Any]) -> Iterator[dict[str, Any]]:
        from app.evaluation.cases import EvalCase, Skipped, read_case_file

        parsed = read_case_file(Path(row["path"]), default_platform=self.default_platform, named=self.named)
        items: list[EvalCase | Skipped] = sorted([*parsed.cases, *parsed.skipped], key=lambda item: item.line)
        for order, item in enumerate(items):
            yield {"shard": row["shard"], "order": order, "item": item}


class _CaseReviewer:
    """An actor: the service loaded once; each call reviews a batch of cases as the local engine does."""

    def __init__(self) -> None:
        from app.config import Settings
        from app.service import KefuService

        self.service = KefuService.load(Settings())

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from app.evaluation.cases import EvalCase
        from app.evaluation.runner import record_for, reply_request

        items = list(batch["item"])
        cases = [item for item in items if isinstance(item, EvalCase)]
        started = time.perf_counter()
        reviewed = self.service.review_many([reply_request(case) for case in cases], [case.reply for case in cases],
                                            [case.position for case in cases]) if cases else []
        each = (time.perf_counter() - started) * 1000 / max(len(cases), 1)
        results = iter(reviewed)
        # As JSON text: Ray would turn dicts into Arrow structs, giving every record every other's keys.
        records, skipped = [], []
        for item in items:
            if isinstance(item, EvalCase):
                review = next(results)
                records.append(json.dumps(record_for(item, review.result, review.inspection), ensure_ascii=False))
                skipped.append("")
            else:
                records.append("")
                skipped.append(json.dumps(item.as_dict(), ensure_ascii=False))
        return {"shard": batch["shard"], "order": batch["order"], "record": records, "skipped": skipped,
                "ms": [each] * len(items)}


def evaluate_on_ray(settings: Settings, paths: Sequence[Path], options: RayOptions, *,
                    progress: Callable[[int], None] = lambda done: None) -> tuple[dict, list[dict]]:
    """`kefu eval` over the shards on Ray: (summary, one record per evaluated case), as `runner.evaluate`."""
    from app.evaluation.cases import Skipped
    from app.evaluation.runner import summarize

    with ray_session(options, settings) as workers:
        import ray

        shards = ray.data.from_items([{"shard": i, "path": str(path.resolve())} for i, path in enumerate(paths)],
                                     override_num_blocks=len(paths))
        rows = shards.flat_map(_CaseReader(settings.default_platform, len(paths) > 1), num_cpus=READ_CPUS) \
            .map_batches(_CaseReviewer, batch_size=EVAL_BATCH, batch_format="numpy",
                         compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=ACTOR_CPUS)
        records: list[dict] = []
        skipped: list[Skipped] = []
        latencies: list[float] = []
        for row in rows.iter_rows():
            if row["skipped"]:
                skipped.append(Skipped(**json.loads(row["skipped"])))
            else:
                records.append(json.loads(row["record"]))
                latencies.append(float(row["ms"]))
                progress(len(records))
    summary = summarize(len(records) + len(skipped), skipped, records, latencies)
    summary["stopped"] = None
    summary["not_evaluated"] = 0
    summary["engine"] = {"name": "ray", "workers": workers, "shards": len(paths)}
    return summary, records


# -- kefu qc -----------------------------------------------------------------------------------------


class _ConversationReader:
    """A shard's path -> its bad lines and its finished conversations in judge-sized batches, in the log's
    order, then one row with how many lines it read."""

    def __init__(self, reading: LogReading, named: bool) -> None:
        self.reading = reading
        self.named = named

    def __call__(self, row: dict[str, Any]) -> Iterator[dict[str, Any]]:
        from app.inspection.conversations import BadLine, LogFile
        from app.inspection.qc import conversation_batches

        path = Path(row["path"])
        with open(path, "rb") as stream:
            log = LogFile(stream, path.name, self.reading, named=self.named)
            order = 0
            for order, batch in enumerate(conversation_batches(log)):
                kind = "bad" if isinstance(batch, BadLine) else "conversations"
                yield {"shard": row["shard"], "order": order, "kind": kind, "payload": batch}
            yield {"shard": row["shard"], "order": order + 1, "kind": "end",
                   "payload": {"lines": log.reader.lines_read, "format": log.format}}


class _ConversationJudge:
    """An actor: the judge loaded once (the full service, or the rules alone with --fast). The run's
    choices are class attributes of a subclass (`_judge_class`), so that Ray ships them with the class
    instead of as constructor arguments in the object store."""

    fast = False
    platform = "taobao"

    def __init__(self) -> None:
        from app.config import Settings
        from app.inspection.qc import ConversationInspector, RuleJudge, ServiceJudge

        settings, fast, platform = Settings(), self.fast, self.platform
        if fast:
            from app.inspection import ReplyInspector

            judge: RuleJudge | ServiceJudge = RuleJudge(ReplyInspector.load(settings.corpus_dir))
        else:
            from app.service import KefuService

            judge = ServiceJudge(KefuService.load(settings))
        self.inspector = ConversationInspector(judge, platform=platform)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        if row["kind"] == "conversations":
            row = {**row, "kind": "verdicts", "payload": self.inspector.inspect(list(row["payload"]))}
        return row


@dataclass
class QcShards:
    """What the shards told besides their verdicts: lines read and each one's format."""

    lines: int = 0
    formats: list[str] = field(default_factory=list)
    workers: int = 0


def inspect_on_ray(settings: Settings, paths: Sequence[Path], reading: LogReading, options: RayOptions,
                   tally: QcTally, *, fast: bool, platform: str,
                   on_verdict: Callable[[ConversationVerdict], None] = lambda verdict: None,
                   on_batch: Callable[[], None] = lambda: None) -> QcShards:
    """`kefu qc` over the shards on Ray, tallied here in the shards' order as the local engine does.

    Each shard numbers its conversations from 1; here they go on from the earlier shards' count (all of
    which are tallied before a later shard's first verdict arrives), as one local run over the files does.
    """
    shards = QcShards()
    with ray_session(options, settings) as workers:
        import ray

        shards.workers = workers
        files = ray.data.from_items([{"shard": i, "path": str(path.resolve())} for i, path in enumerate(paths)],
                                    override_num_blocks=len(paths))
        judge: Any = type("ConversationJudge", (_ConversationJudge,), {"fast": fast, "platform": platform})
        rows = files.flat_map(_ConversationReader(reading, len(paths) > 1), num_cpus=READ_CPUS) \
            .map(judge, compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=ACTOR_CPUS)
        shard, offset = -1, 0
        for row in rows.iter_rows():
            if row["shard"] != shard:
                shard, offset = row["shard"], tally.conversations
            if row["kind"] == "bad":
                tally.add_bad_line(row["payload"])
            elif row["kind"] == "end":
                shards.lines += row["payload"]["lines"]
                shards.formats.append(row["payload"]["format"])
            else:
                for verdict in row["payload"]:
                    verdict = replace(verdict, conversation=replace(verdict.conversation,
                                                                    seq=verdict.conversation.seq + offset))
                    tally.add(verdict)
                    on_verdict(verdict)
            on_batch()
    return shards


__all__ = ["QcShards", "RayOptions", "evaluate_on_ray", "inspect_on_ray", "ray_session"]
