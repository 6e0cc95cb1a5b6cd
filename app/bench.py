"""`kefu bench`: the encoder's own speed, and a real `kefu serve` measured end to end beside it, on this machine.

One run measures, in this order (each phase has the cores to itself apart from its own clients):

    encoder      single-message encode p50/p95, batch-32 throughput (the backend the settings choose)
    eval         what `kefu eval` runs, in-process, timed without loading
    server       `kefu serve` as a subprocess: time to /readyz 200, RSS of its process tree
    reply        one client, sequential requests
    open loop    agents sending at Poisson arrivals (latency counted from the scheduled arrival)
    stress       clients sending back to back

and sets each end-to-end figure beside the encoder's, with the targets of issue 10. Only the
standard library speaks HTTP, so the bench needs nothing the service does not.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from app.clib import c_function
from app.errors import InputError, KefuError

if TYPE_CHECKING:
    from app.config import Settings

Progress = Callable[[str], None]

# One seed: two runs send the same messages at the same moments, so their figures compare.
SEED = 10
# A request slower than this is counted as an error (no answer), not waited for.
REQUEST_TIMEOUT = 60.0
READY_TIMEOUT = 300.0
# uvicorn closes a keep-alive connection idle for 5 s; a client idle longer than this reconnects
# first, so a closed connection is never mistaken for a server error.
REUSE_IDLE_SECONDS = 2.0
# Requests before the timed single-client series, so first-call costs (lazy imports, allocator
# growth) are not counted as latency.
WARM_UP = 3
MB = 1_000_000


@dataclass(frozen=True)
class Target:
    """One of issue 10's targets: `value` against `limit`, at most or at least."""

    key: str
    label: str
    value: float | None
    limit: float
    at_most: bool
    unit: str = "x"

    @property
    def met(self) -> bool:
        if self.value is None:
            return False
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "value": self.value, "unit": self.unit.strip(),
                "target": f"{'<=' if self.at_most else '>='} {self.limit:g}{self.unit}", "met": self.met}


@dataclass(frozen=True)
class BenchOptions:
    host: str = "127.0.0.1"
    requests: int = 100
    load_seconds: float = 30.0
    stress_seconds: float = 60.0
    encoder_messages: int = 200
    encoder_batches: int = 7  # 224 messages: the ~200 once over, in full batches
    batch_size: int = 32
    agents: int = 50
    mean_gap_seconds: float = 5.0
    clients: int = 50
    overload_clients: int = 200  # issue 14: about 4x what the server can answer
    overload_seconds: float = 60.0
    eval_cases: int | None = None  # None: the whole dev set

    @classmethod
    def quick(cls, **overrides: Any) -> BenchOptions:
        """Small numbers for a smoke test: every phase runs, none for long."""
        small = cls(requests=20, load_seconds=4.0, stress_seconds=4.0, encoder_messages=40, encoder_batches=2,
                    eval_cases=64, overload_seconds=4.0)
        return replace(small, **overrides)


@dataclass(frozen=True)
class Latency:
    """Nearest-rank percentiles of one series, in milliseconds (None when the series is empty)."""

    count: int
    p50_ms: float | None
    p95_ms: float | None


def summarize_latencies(seconds: Sequence[float]) -> Latency:
    from app.evaluation.metrics import percentile

    def ms(q: float) -> float | None:
        value = percentile(seconds, q)
        return None if value is None else round(value * 1000, 2)

    return Latency(len(seconds), ms(50), ms(95))


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator to 3 decimals; None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


def poisson_schedule(agents: int, mean_gap: float, duration: float, rng: random.Random) -> list[list[float]]:
    """Each agent's send times in [0, duration): exponential gaps of mean `mean_gap`.

    Together the agents are a Poisson stream of rate agents / mean_gap. The first send is a gap
    after 0 too (the process is memoryless), so agents do not all start at once.
    """
    schedule = []
    for _ in range(agents):
        times, at = [], rng.expovariate(1 / mean_gap)
        while at < duration:
            times.append(at)
            at += rng.expovariate(1 / mean_gap)
        schedule.append(times)
    return schedule


# --- messages ---------------------------------------------------------------------------------

# Endings buyers type anyway. The server caches vectors by text, so every request of a run sends a
# text the server has not seen: past the first pass over the messages, each is sent with one of these.
ENDINGS = ("?", "~", "。", "...", "!", "呢", "呀", "哦", " 谢谢", " 急", "??", "!!")


def load_messages(corpus_dir: Path) -> list[str]:
    """The buyer messages of the dev set and the scenario bank, in one seeded shuffle."""
    messages: list[str] = []
    for name in ("eval/dev.jsonl", "training/scenario_bank.jsonl"):
        path = corpus_dir / name
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise KefuError(f"cannot read {path}: {exc.strerror or exc}") from exc
        for line in lines:
            try:
                message = json.loads(line).get("message") if line.strip() else None
            except (ValueError, AttributeError):
                continue  # `kefu eval` reports bad lines; the bench only needs the good ones
            if isinstance(message, str) and message.strip():
                messages.append(message)
    if not messages:
        raise KefuError(f"no buyer messages in {corpus_dir}/eval/dev.jsonl or training/scenario_bank.jsonl")
    unique = list(dict.fromkeys(messages))
    random.Random(SEED).shuffle(unique)
    return unique


class MessageFeed:
    """Hands out messages to many client threads; no prepared text is handed out twice."""

    def __init__(self, messages: Sequence[str]) -> None:
        from app.understanding.message import prepare_message

        self._prepare = prepare_message
        self._messages = list(messages)
        self._seen: set[str] = set()
        self._variants = self._generate()
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return next(self._variants)

    def _generate(self) -> Iterator[str]:
        for round_ in range(1_000_000):
            ending = "" if round_ == 0 else (ENDINGS[round_ - 1] if round_ <= len(ENDINGS) else f" {round_}")
            for message in self._messages:
                text = message + ending
                try:
                    prepared = self._prepare(text)
                except InputError:  # nothing left once prepared: the server would refuse it
                    continue
                if prepared not in self._seen:
                    self._seen.add(prepared)
                    yield text
        raise KefuError("the bench ran out of distinct messages")


# --- the encoder and eval, in-process ---------------------------------------------------------


def measure_encoder(settings: Settings, messages: Sequence[str], options: BenchOptions,
                    progress: Progress) -> tuple[dict[str, Any], Any]:
    """Encoder figures, and the embedder (eval reuses it rather than loading a second copy)."""
    from app.models.embedding import settings_embedder
    from app.service import MAX_ENCODED_CHARS
    from app.understanding.message import prepare_message

    progress("encoder: loading the embedding model as the service does")
    # The same call as KefuService.load, so the backend the settings choose is the one measured.
    embedder = settings_embedder(settings)
    # As the service encodes a buyer message: prepared, cut to what it encodes, with the query prefix.
    texts = [settings.query_prefix + prepare_message(m)[:MAX_ENCODED_CHARS]
             for m in messages[: options.encoder_messages]]
    for text in texts[:WARM_UP]:
        embedder.encode([text])
    progress(f"encoder: {len(texts)} messages one at a time")
    single = []
    for text in texts:
        started = time.perf_counter()
        embedder.encode([text])
        single.append(time.perf_counter() - started)
    size = options.batch_size
    pool = texts * math.ceil(size * options.encoder_batches / len(texts))
    batches = [pool[i * size : (i + 1) * size] for i in range(options.encoder_batches)]
    progress(f"encoder: {len(batches)} batches of {size}")
    embedder.encode(batches[0])
    spent = 0.0
    for batch in batches:
        started = time.perf_counter()
        embedder.encode(batch)
        spent += time.perf_counter() - started
    figures = {
        "model": embedder.model_id,
        "backend": type(embedder).__name__,
        "single": asdict(summarize_latencies(single)),
        "batch_size": size,
        "batches": len(batches),
        "batch_per_s": round(size * len(batches) / spent, 2),
    }
    return figures, embedder


def measure_eval(settings: Settings, embedder: Any, options: BenchOptions, progress: Progress) -> dict[str, Any]:
    """`kefu eval corpus/eval/dev.jsonl` throughput: the runner the command uses, timed without loading."""
    from app.evaluation.cases import parse_jsonl
    from app.evaluation.runner import evaluate
    from app.service import KefuService

    path = settings.corpus_dir / "eval" / "dev.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()[: options.eval_cases]
    parsed = parse_jsonl(lines, default_platform=settings.default_platform)
    progress("eval: loading the index")
    started = time.perf_counter()
    service = KefuService.load(settings, embedder=embedder)
    loaded = time.perf_counter() - started
    progress(f"eval: {len(parsed.cases)} cases of {path.name}")
    started = time.perf_counter()
    evaluate(service, parsed)
    spent = time.perf_counter() - started
    return {
        "file": str(path),
        "cases": len(parsed.cases),
        "seconds": round(spent, 3),
        "per_s": round(len(parsed.cases) / spent, 2),
        "how": "in-process, the runner of `kefu eval`; model, index and classifier loading excluded",
        "load_seconds_excluded": round(loaded, 2),
    }


# --- the server -------------------------------------------------------------------------------


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def client_host(host: str) -> str:
    """Where a client reaches a server bound to `host` (a wildcard address is reached on loopback)."""
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants now (uvicorn with workers > 1 forks)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone between listing and reading
        # The name in parentheses may hold spaces; the parent pid is the second field after it.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_memory(pid: int, field_name: str = "VmRSS") -> int:
    """Bytes of `field_name` (VmRSS now, VmHWM the peak) summed over the process tree."""
    return tree_status(pid, field_name) * 1024  # /proc says kB and means KiB


def tree_status(pid: int, field_name: str) -> int:
    """A numeric field of /proc/PID/status (VmRSS in kB, Threads) summed over the process tree."""
    total = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith(field_name + ":"):
                total += int(line.split()[1])
    return total


def _prepare_parent_death_signal() -> Callable[[], None] | None:
    """A preexec_fn that has the kernel send the server SIGTERM if the bench dies without cleaning up
    (SIGKILL, a crash). Everything is looked up before the fork; the child only makes one call."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = c_function("prctl", use_errno=True)
    if prctl is None:
        return None
    pr_set_pdeathsig, sigterm = 1, int(signal.SIGTERM)
    return lambda: prctl(pr_set_pdeathsig, sigterm)


class ServerProcess:
    """`kefu serve` in a subprocess of its own session, stopped (with its children) by `stop`."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.url = f"http://{client_host(host)}:{port}"
        if ":" in client_host(host):
            self.url = f"http://[{client_host(host)}]:{port}"
        self._log: IO[bytes] = tempfile.TemporaryFile()
        self._started = 0.0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "app.cli", "serve", "--host", self.host, "--port", str(self.port)]
        self._started = time.perf_counter()
        # The log goes to a file: a pipe nobody reads would fill up and stall the server.
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                                        env=dict(os.environ), start_new_session=True,
                                        preexec_fn=_prepare_parent_death_signal())

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Seconds from process start to the first /readyz 200."""
        assert self.process is not None
        deadline = self._started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise KefuError(f"`kefu serve` exited with {self.process.returncode} before it was ready:\n"
                                f"{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - self._started
            except urllib.error.HTTPError as exc:
                with exc:
                    body = exc.read()
                try:
                    error = json.loads(body or b"{}").get("error", {})
                except ValueError:
                    error = {}
                if error.get("code") != "not_ready":  # loading failed: waiting cannot help
                    raise KefuError(f"the server did not load: {error.get('message', f'HTTP {exc.code}')}") from None
            except OSError:
                pass  # not listening yet
            time.sleep(0.05)
        raise KefuError(f"`kefu serve` was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def memory(self, field_name: str = "VmRSS") -> int:
        return tree_memory(self.pid, field_name)

    def threads(self) -> int:
        return tree_status(self.pid, "Threads")

    def stop(self, grace: float = 15.0) -> bool:
        """Stop the server and its children; True when none is left."""
        if self.process is None:
            return True
        members = process_tree(self.pid) if self.process.poll() is None else []
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.pid, sig)  # its own session: the group holds uvicorn's workers too
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        if self.process.poll() is None:
            self.process.wait(timeout=5)
        left = [pid for pid in members if pid != self.pid and _alive(pid)]
        if left:  # workers that outlived their parent: the group still reaches them
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            time.sleep(0.5)
        self._log.close()
        return not any(_alive(pid) for pid in left)

    def log_tail(self, lines: int = 20) -> str:
        self._log.seek(0)
        text = self._log.read().decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A SIGTERM to the bench stops it like Ctrl+C does, so the server is stopped on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- clients ----------------------------------------------------------------------------------


@dataclass
class Tally:
    """One client's answers: latency of each 200, and the rest counted."""

    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    errors: int = 0  # any answer but 200 and 503, or no answer
    shed: int = 0  # 503: refused by load shedding
    ok_in_window: int = 0  # 200s answered before the stress deadline (what its throughput counts)

    def add(self, other: Tally) -> None:
        self.latencies += other.latencies
        self.sent += other.sent
        self.errors += other.errors
        self.shed += other.shed
        self.ok_in_window += other.ok_in_window


class ReplyClient:
    """POST /v1/reply over one kept-alive connection (reopened after an idle spell)."""

    def __init__(self, host: str, port: int, token: str = "") -> None:
        self._host, self._port = host, port
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._connection: http.client.HTTPConnection | None = None
        self._used = 0.0

    def send(self, message: str) -> int | None:
        """The status of the answer, or None when there was none (timeout, reset). A 503 without a
        Retry-After header is reported as 0: a refusal that does not say when to come back."""
        if self._connection is not None and time.monotonic() - self._used > REUSE_IDLE_SECONDS:
            self.close()
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self._host, self._port, timeout=REQUEST_TIMEOUT)
        body = json.dumps({"message": message}, ensure_ascii=False).encode("utf-8")
        try:
            self._connection.request("POST", "/v1/reply", body=body, headers=self._headers)
            response = self._connection.getresponse()
            response.read()
            status = response.status
            if status == 503 and not response.getheader("Retry-After"):
                status = 0
            if response.will_close:
                self.close()
        except (OSError, http.client.HTTPException):
            self.close()
            return None
        self._used = time.monotonic()
        return status

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _record(tally: Tally, status: int | None, seconds: float) -> None:
    tally.sent += 1
    if status == 200:
        tally.latencies.append(seconds)
    elif status == 503:
        tally.shed += 1
    else:
        tally.errors += 1


def _run_threads(targets: Sequence[Callable[[], None]], stop: threading.Event) -> None:
    threads = [threading.Thread(target=target, daemon=True) for target in targets]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        stop.set()  # on Ctrl+C the clients stop sending; daemon threads never hold the exit


def single_client(server: ServerProcess, feed: MessageFeed, requests: int, token: str) -> Tally:
    client = ReplyClient(client_host(server.host), server.port, token)
    tally = Tally()
    try:
        for _ in range(WARM_UP):
            client.send(feed.next())
        for _ in range(requests):
            message = feed.next()
            started = time.perf_counter()
            status = client.send(message)
            _record(tally, status, time.perf_counter() - started)
    finally:
        client.close()
    return tally


def open_loop(server: ServerProcess, feed: MessageFeed, options: BenchOptions, token: str) -> tuple[Tally, int]:
    """(answers, requests scheduled). Latency runs from the scheduled arrival, so a request an
    agent sends late because its previous one is still waiting counts its wait too."""
    schedule = poisson_schedule(options.agents, options.mean_gap_seconds, options.load_seconds,
                                random.Random(SEED))
    tallies = [Tally() for _ in schedule]
    stop = threading.Event()
    origin = time.perf_counter() + 0.2  # every thread started before the first arrival

    def agent(times: list[float], tally: Tally) -> None:
        client = ReplyClient(client_host(server.host), server.port, token)
        try:
            for at in times:
                due = origin + at
                if stop.wait(max(0.0, due - time.perf_counter())):
                    return
                status = client.send(feed.next())
                _record(tally, status, time.perf_counter() - due)
        finally:
            client.close()

    _run_threads([partial(agent, times, tally) for times, tally in zip(schedule, tallies)], stop)
    total = Tally()
    for tally in tallies:
        total.add(tally)
    return total, sum(len(times) for times in schedule)


def back_to_back(server: ServerProcess, feed: MessageFeed, clients: int, seconds: float, token: str, *,
                 pause_after_refusal: float = 0.0, alongside: Sequence[Callable[[], None]] = ()
                 ) -> tuple[Tally, float]:
    """(answers, seconds from the deadline to the last answer): `clients` sending back to
    back until the deadline, each pausing `pause_after_refusal` after a 503; `alongside` run in threads
    of their own meanwhile (they should end by the deadline). Requests in flight at
    the deadline are waited for and count for latency, not for `ok_in_window`."""
    tallies = [Tally() for _ in range(clients)]
    stop = threading.Event()
    deadline = time.perf_counter() + seconds

    def client_loop(tally: Tally) -> None:
        client = ReplyClient(client_host(server.host), server.port, token)
        try:
            while not stop.is_set() and time.perf_counter() < deadline:
                message = feed.next()
                sent = time.perf_counter()
                status = client.send(message)
                answered = time.perf_counter()
                _record(tally, status, answered - sent)
                tally.ok_in_window += status == 200 and answered <= deadline
                if status == 503 and pause_after_refusal:
                    time.sleep(pause_after_refusal)
        finally:
            client.close()

    _run_threads([*alongside, *(partial(client_loop, tally) for tally in tallies)], stop)
    drain = max(0.0, time.perf_counter() - deadline)
    total = Tally()
    for tally in tallies:
        total.add(tally)
    return total, drain


def stress(server: ServerProcess, feed: MessageFeed, options: BenchOptions, token: str) -> tuple[Tally, float]:
    """(answers, seconds from the deadline to the last answer): the stress clients back to back."""
    return back_to_back(server, feed, options.clients, options.stress_seconds, token)


def overload(server: ServerProcess, feed: MessageFeed, options: BenchOptions, token: str) -> dict[str, Any]:
    """Issue 14's overload: many more clients back to back than the server can answer. Every request
    must get a 200 or a 503 with Retry-After; the server's threads and memory are sampled each second;
    then one client measures how soon a request is answered normally again."""
    threads_before, rss_before = server.threads(), server.memory()
    samples: list[tuple[int, int]] = []
    ends = time.perf_counter() + options.overload_seconds

    def sampler() -> None:
        while time.perf_counter() < ends:
            samples.append((server.threads(), server.memory()))
            time.sleep(1.0)

    # A client that honours the refusal a little, as a proxy would (Retry-After says a whole second).
    total, _ = back_to_back(server, feed, options.overload_clients, options.overload_seconds, token,
                               pause_after_refusal=0.05, alongside=[sampler])
    ended = time.perf_counter()
    client = ReplyClient(client_host(server.host), server.port, token)
    recovered = None
    while time.perf_counter() - ended < 30:
        if client.send(feed.next()) == 200:
            recovered = round(time.perf_counter() - ended, 3)
            break
    client.close()
    return {"clients": options.overload_clients, "seconds": options.overload_seconds, **_answers(total),
            "threads_before": threads_before, "threads_max": max((t for t, _ in samples), default=threads_before),
            "threads_after": server.threads(), "rss_before_mb": round(rss_before / MB, 1),
            "rss_max_mb": round(max((m for _, m in samples), default=rss_before) / MB, 1),
            "rss_after_mb": round(server.memory() / MB, 1), "recovered_s": recovered}


def _answers(tally: Tally) -> dict[str, Any]:
    latency = summarize_latencies(tally.latencies)
    return {"sent": tally.sent, "ok": latency.count, "p50_ms": latency.p50_ms, "p95_ms": latency.p95_ms,
            "errors": tally.errors, "shed": tally.shed}


# --- the run ----------------------------------------------------------------------------------


# The instruction sets int8 matrix products depend on: with VNNI (or AMX) onnxruntime's int8 kernels run
# several times faster than fp32; with AVX2 alone they are no faster (docs/measurements.md, ninth session).
INT8_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """The CPU's model name and which of INT8_FEATURES it has, as Linux reports them (empty elsewhere)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in text.splitlines()[:40] if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = set(fields.get("flags", "").split())
    return {"cpu": fields.get("model name", "unknown"), "cpu_features": [f for f in INT8_FEATURES if f in flags]}


def run_bench(settings: Settings, options: BenchOptions, progress: Progress) -> dict[str, Any]:
    """Every phase in order; the server is stopped however the run ends."""
    messages = load_messages(settings.corpus_dir)
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
                    **cpu_model(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
    }
    encoder, embedder = measure_encoder(settings, messages, options, progress)
    result["encoder"] = encoder
    result["eval"] = measure_eval(settings, embedder, options, progress)
    del embedder

    token = settings.api_token
    feed = MessageFeed(messages)
    server = ServerProcess(options.host, free_port(options.host))
    server_figures: dict[str, Any] = {}
    stopped = False
    with _sigterm_as_interrupt():
        try:
            progress(f"server: starting `kefu serve` on {server.url}")
            server.start()
            server_figures["pid"] = server.pid
            ready = server.wait_ready()
            server_figures["ready_s"] = round(ready, 2)
            server_figures["rss_ready_mb"] = round(server.memory() / MB, 1)
            progress(f"server: ready in {ready:.1f} s")

            progress(f"reply: {options.requests} requests from one client (after {WARM_UP} to warm up)")
            result["reply"] = {"clients": 1, **_answers(single_client(server, feed, options.requests, token))}

            progress(f"open loop: {options.agents} agents, one message every {options.mean_gap_seconds:g} s "
                     f"each on average, for {options.load_seconds:g} s")
            tally, scheduled = open_loop(server, feed, options, token)
            result["open_loop"] = {"agents": options.agents, "mean_gap_s": options.mean_gap_seconds,
                                   "seconds": options.load_seconds, "scheduled": scheduled,
                                   "offered_per_s": round(scheduled / options.load_seconds, 2), **_answers(tally)}

            progress(f"stress: {options.clients} clients back to back for {options.stress_seconds:g} s")
            tally, drain = stress(server, feed, options, token)
            result["stress"] = {"clients": options.clients, "seconds": options.stress_seconds,
                                "throughput_per_s": round(tally.ok_in_window / options.stress_seconds, 2),
                                "drain_s": round(drain, 2), **_answers(tally)}

            server_figures["rss_end_mb"] = round(server.memory() / MB, 1)
            server_figures["rss_peak_mb"] = round(server.memory("VmHWM") / MB, 1)

            progress(f"overload: {options.overload_clients} clients back to back for {options.overload_seconds:g} s")
            result["overload"] = overload(server, feed, options, token)
        finally:
            progress("server: stopping")
            stopped = server.stop()
            if not stopped:
                progress(f"server: a child of process {server_figures.get('pid')} outlived it")
    server_figures["stopped"] = stopped
    result["server"] = server_figures
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["ratios"] = ratios(result)
    result["targets"] = [target.as_dict() for target in targets(result) + overload_targets(result)]
    return result


def ratios(result: dict[str, Any]) -> dict[str, float | None]:
    """Each end-to-end figure over the encoder's own (the figures as reported, so anyone can redo them)."""
    single_p50 = result["encoder"]["single"]["p50_ms"]
    batch = result["encoder"]["batch_per_s"]
    return {
        "reply_p50_over_encoder_p50": ratio(result["reply"]["p50_ms"], single_p50),
        "open_loop_p95_over_encoder_p50": ratio(result["open_loop"]["p95_ms"], single_p50),
        "stress_throughput_over_encoder_batch": ratio(result["stress"]["throughput_per_s"], batch),
        "eval_throughput_over_encoder_batch": ratio(result["eval"]["per_s"], batch),
    }


def targets(result: dict[str, Any]) -> list[Target]:
    """Issue 10's targets, for information: the bench reports them and exits 0 either way."""
    r = result["ratios"]
    p95 = result["stress"]["p95_ms"]
    return [
        Target("reply_p50", "reply p50 / encoder single p50", r["reply_p50_over_encoder_p50"], 1.5, True),
        Target("open_loop_p95", "open-loop p95 / encoder single p50", r["open_loop_p95_over_encoder_p50"], 4, True),
        Target("stress_throughput", "stress throughput / encoder batch-32", r["stress_throughput_over_encoder_batch"],
               0.7, False),
        Target("stress_p95", "stress p95", None if p95 is None else round(p95 / 1000, 3), 1, True, " s"),
        Target("rss", "server RSS (peak)", result["server"]["rss_peak_mb"], 600, True, " MB"),
        Target("ready", "time to ready", result["server"]["ready_s"], 3, True, " s"),
        Target("eval_throughput", "eval throughput / encoder batch-32", r["eval_throughput_over_encoder_batch"],
               0.8, False),
    ]


def overload_targets(result: dict[str, Any]) -> list[Target]:
    """Issue 14's overload targets (the server's own figures, not ratios)."""
    part = result["overload"]
    p95 = part["p95_ms"]
    return [
        Target("overload_errors", "overload: answers neither 200 nor 503+Retry-After", part["errors"], 0, True, ""),
        Target("overload_p95", "overload: p95 of the normal answers", None if p95 is None else round(p95 / 1000, 3),
               1, True, " s"),
        Target("overload_threads", "overload: server threads, most", part["threads_max"],
               part["threads_before"] + 50, True, ""),
        Target("overload_rss", "overload: RSS growth", round(part["rss_max_mb"] - part["rss_before_mb"], 1), 50,
               True, " MB"),
        Target("overload_recovery", "overload: first normal answer after", part["recovered_s"], 1, True, " s"),
    ]


# --- the table --------------------------------------------------------------------------------


def format_table(result: dict[str, Any]) -> str:
    def num(value: float | None, digits: int = 1) -> str:
        return "—" if value is None else f"{value:.{digits}f}"

    def answers(part: dict[str, Any]) -> str:
        return (f"p50 {num(part['p50_ms'])} ms  p95 {num(part['p95_ms'])} ms  "
                f"ok {part['ok']}/{part['sent']}  errors {part['errors']}  shed {part['shed']}")

    machine, encoder, server = result["machine"], result["encoder"], result["server"]
    reply, loop, stressed, evaluated = result["reply"], result["open_loop"], result["stress"], result["eval"]
    single = encoder["single"]
    load = machine["load_average_at_start"][0], machine["load_average_at_end"][0]
    lines = [
        f"kefu bench · {machine['cpus']} CPUs · {machine.get('cpu', 'unknown CPU')} "
        f"({', '.join(machine.get('cpu_features', [])) or 'no AVX2'}) · Python {machine['python']} · "
        f"load average {load[0]:.2f} "
        f"before the run ({load[1]:.2f} after it, the bench's own load included)",
        f"encoder    {encoder['model']} ({encoder['backend']})",
        f"           one at a time, {single['count']} messages: p50 {num(single['p50_ms'], 2)} ms  "
        f"p95 {num(single['p95_ms'], 2)} ms",
        f"           batches of {encoder['batch_size']} ({encoder['batches']} batches): "
        f"{num(encoder['batch_per_s'])} messages/s",
        f"server     ready in {num(server['ready_s'], 2)} s · RSS {num(server['rss_ready_mb'])} MB at ready, "
        f"{num(server['rss_end_mb'])} MB at end, peak {num(server['rss_peak_mb'])} MB",
        f"reply      1 client, {reply['sent']} requests: {answers(reply)}",
        f"open loop  {loop['agents']} agents × 1 message / {loop['mean_gap_s']:g} s (Poisson, "
        f"{loop['offered_per_s']:g}/s offered) for {loop['seconds']:g} s: {answers(loop)}",
        f"stress     {stressed['clients']} clients back to back for {stressed['seconds']:g} s "
        f"(+{stressed['drain_s']:.1f} s for the last answers): {num(stressed['throughput_per_s'])} answers/s  "
        f"{answers(stressed)}",
        f"overload   {result['overload']['clients']} clients back to back for {result['overload']['seconds']:g} s: "
        f"{answers(result['overload'])}; threads {result['overload']['threads_before']} -> at most "
        f"{result['overload']['threads_max']}; RSS {num(result['overload']['rss_before_mb'])} -> at most "
        f"{num(result['overload']['rss_max_mb'])} MB; normal again after {num(result['overload']['recovered_s'], 2)} s",
        f"eval       {evaluated['cases']} cases of {Path(evaluated['file']).name} in {evaluated['seconds']:.2f} s: "
        f"{num(evaluated['per_s'])} messages/s ({evaluated['how']}: {evaluated['load_seconds_excluded']:.1f} s)",
        "",
        f"{'target (issues 10 and 14)':<52}{'measured':>10}  {'target':<10}met",
    ]
    for target in result["targets"]:
        unit = target["unit"] if target["unit"] == "x" else " " + target["unit"]
        value = "—" if target["value"] is None else f"{target['value']:.2f}{unit}"
        lines.append(f"{target['label']:<52}{value:>10}  {target['target']:<10}{'yes' if target['met'] else 'no'}")
    lines.append("")
    lines.append("Latencies are of 200 answers; errors are other answers or none, shed are 503s. Open-loop latency "
                 "runs from each scheduled arrival. The clients run on the same cores as the server.")
    return "\n".join(lines)


__all__ = ["BenchOptions", "MessageFeed", "Target", "format_table", "overload_targets", "poisson_schedule", "ratio",
           "run_bench", "summarize_latencies"]
