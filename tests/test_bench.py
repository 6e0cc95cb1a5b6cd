"""`kefu bench`: its arithmetic exactly, and one quick run against a real server (no timed assertions)."""

import json
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from app.bench import (
    MessageFeed,
    Target,
    cpu_model,
    format_table,
    load_messages,
    overload_targets,
    poisson_schedule,
    process_tree,
    ratio,
    ratios,
    summarize_latencies,
    targets,
    tree_memory,
)
from app.understanding.message import prepare_message
from tests.conftest import CORPUS
from tests.test_cli import run_kefu


def test_percentiles_are_nearest_rank_in_milliseconds():
    seconds = [n / 1000 for n in range(100, 0, -1)]  # 1..100 ms, out of order
    latency = summarize_latencies(seconds)
    assert (latency.count, latency.p50_ms, latency.p95_ms) == (100, 50.0, 95.0)
    assert summarize_latencies([0.0123456]).p95_ms == 12.35
    assert summarize_latencies([0.010, 0.020, 0.030]).p50_ms == 20.0
    empty = summarize_latencies([])
    assert (empty.count, empty.p50_ms, empty.p95_ms) == (0, None, None)


def test_ratio_rounds_and_refuses_what_it_cannot_divide():
    assert ratio(3, 2) == 1.5
    assert ratio(1, 3) == 0.333
    assert ratio(None, 2) is None
    assert ratio(2, None) is None
    assert ratio(2, 0) is None


def test_poisson_schedule_is_seeded_bounded_and_has_exponential_gaps():
    schedule = poisson_schedule(50, 5.0, 2000.0, random.Random(1))
    assert schedule == poisson_schedule(50, 5.0, 2000.0, random.Random(1))
    assert len(schedule) == 50
    gaps = []
    for times in schedule:
        assert times == sorted(times)
        assert all(0 <= t < 2000.0 for t in times)
        gaps += [b - a for a, b in zip(times, times[1:])]
    total = sum(len(times) for times in schedule)
    assert 0.97 * 20_000 < total < 1.03 * 20_000  # 50 agents / 5 s = 10 per second
    mean = statistics.fmean(gaps)
    assert 4.85 < mean < 5.15
    assert 0.95 < statistics.pstdev(gaps) / mean < 1.05  # exponential: standard deviation = mean


def test_poisson_schedule_of_a_short_run_can_leave_an_agent_silent():
    schedule = poisson_schedule(50, 5.0, 1.0, random.Random(3))
    assert any(times == [] for times in schedule)
    assert all(t < 1.0 for times in schedule for t in times)


def test_the_cpu_is_named_with_the_instruction_sets_int8_speed_depends_on(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz\n"
                       "flags\t\t: fpu sse avx2 avx512f avx512bw avx512_vnni\n\nprocessor\t: 1\n", encoding="utf-8")
    assert cpu_model(cpuinfo) == {"cpu": "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
                                  "cpu_features": ["avx2", "avx512f", "avx512_vnni"]}
    assert cpu_model(tmp_path / "absent") == {}
    result = {**SAMPLE, "machine": {**SAMPLE["machine"], "cpu": "AMD EPYC", "cpu_features": ["avx2"]}}
    result["ratios"] = ratios(result)
    result["targets"] = [target.as_dict() for target in targets(result)]
    assert format_table(result).splitlines()[0].startswith("kefu bench · 2 CPUs · AMD EPYC (avx2) · Python 3.11.7")


def test_targets_are_met_at_their_limit_and_never_without_a_value():
    assert Target("a", "a", 1.5, 1.5, at_most=True).met
    assert not Target("a", "a", 1.51, 1.5, at_most=True).met
    assert Target("b", "b", 0.7, 0.7, at_most=False).met
    assert not Target("b", "b", 0.69, 0.7, at_most=False).met
    assert not Target("c", "c", None, 1, at_most=True).met
    assert Target("d", "d", 512.0, 600, True, " MB").as_dict() == {
        "key": "d", "label": "d", "value": 512.0, "unit": "MB", "target": "<= 600 MB", "met": True}


SAMPLE = {
    "machine": {"cpus": 2, "python": "3.11.7", "machine": "x86_64", "load_average_at_start": [0.5, 0.4, 0.3],
                "load_average_at_end": [1.9, 1.0, 0.5]},
    "encoder": {"model": "e5", "backend": "SentenceTransformerEmbedder",
                "single": {"count": 200, "p50_ms": 12.0, "p95_ms": 15.0}, "batch_size": 32, "batches": 7,
                "batch_per_s": 200.0},
    "eval": {"file": "corpus/eval/dev.jsonl", "cases": 250, "seconds": 2.5, "per_s": 100.0,
             "how": "in-process", "load_seconds_excluded": 3.0},
    "server": {"pid": 1, "ready_s": 9.5, "rss_ready_mb": 700.0, "rss_end_mb": 720.0, "rss_peak_mb": 730.0,
               "stopped": True},
    "reply": {"clients": 1, "sent": 100, "ok": 100, "p50_ms": 18.0, "p95_ms": 30.0, "errors": 0, "shed": 0},
    "open_loop": {"agents": 50, "mean_gap_s": 5.0, "seconds": 30.0, "scheduled": 301, "offered_per_s": 10.03,
                  "sent": 301, "ok": 301, "p50_ms": 30.0, "p95_ms": 60.0, "errors": 0, "shed": 0},
    "stress": {"clients": 50, "seconds": 60.0, "throughput_per_s": 150.0, "drain_s": 0.4, "sent": 9000,
               "ok": 0, "p50_ms": None, "p95_ms": None, "errors": 8000, "shed": 1000},
    "overload": {"clients": 200, "seconds": 60.0, "sent": 30000, "ok": 8000, "p50_ms": 300.0, "p95_ms": 900.0,
                 "errors": 2, "shed": 21998, "threads_before": 8, "threads_max": 47, "threads_after": 46,
                 "rss_before_mb": 540.0, "rss_max_mb": 560.0, "rss_after_mb": 555.0, "recovered_s": 0.012},
}


def test_ratios_and_targets_from_the_reported_figures():
    result = dict(SAMPLE)
    result["ratios"] = ratios(result)
    assert result["ratios"] == {
        "reply_p50_over_encoder_p50": 1.5,
        "open_loop_p95_over_encoder_p50": 5.0,
        "stress_throughput_over_encoder_batch": 0.75,
        "eval_throughput_over_encoder_batch": 0.5,
    }
    met = {target.key: (target.value, target.met) for target in targets(result)}
    assert met == {
        "reply_p50": (1.5, True),
        "open_loop_p95": (5.0, False),
        "stress_throughput": (0.75, True),
        "stress_p95": (None, False),  # no 200 answer at all: nothing to meet the target with
        "rss": (730.0, False),
        "ready": (9.5, False),
        "eval_throughput": (0.5, False),
    }
    assert {target.key: (target.value, target.met) for target in overload_targets(result)} == {
        "overload_errors": (2, False),  # two answers were neither a 200 nor a 503 with Retry-After
        "overload_p95": (0.9, True),
        "overload_threads": (47, True),
        "overload_rss": (20.0, True),
        "overload_recovery": (0.012, True),
    }


def test_the_table_shows_every_phase_and_a_dash_for_a_missing_figure():
    result = dict(SAMPLE)
    result["ratios"] = ratios(result)
    result["targets"] = [target.as_dict() for target in targets(result) + overload_targets(result)]
    table = format_table(result)
    for start in ("kefu bench", "encoder", "server", "reply", "open loop", "stress", "overload", "eval",
                  "target (issues 10 and 14)"):
        assert any(line.startswith(start) for line in table.splitlines()), start
    assert "p50 — ms  p95 — ms  ok 0/9000  errors 8000  shed 1000" in table
    assert "reply p50 / encoder single p50" in table and "1.50x" in table
    stress_p95 = next(line for line in table.splitlines() if line.startswith("stress p95"))
    assert stress_p95.split() == ["stress", "p95", "—", "<=", "1", "s", "no"]


def test_messages_come_from_the_dev_set_and_the_bank():
    messages = load_messages(CORPUS)
    assert messages == load_messages(CORPUS)  # seeded
    assert len(messages) == len(set(messages)) > 1000
    dev = [json.loads(line)["message"] for line in (CORPUS / "eval" / "dev.jsonl").read_text("utf-8").splitlines()]
    assert set(dev) <= set(messages)


def test_the_feed_never_hands_out_the_same_prepared_text_twice():
    # "能便宜点吗？" prepares to "能便宜点吗?", which "能便宜点吗" + "?" would repeat.
    feed = MessageFeed(["能便宜点吗", "能便宜点吗？"])
    texts = [feed.next() for _ in range(40)]
    prepared = [prepare_message(text) for text in texts]
    assert len(set(prepared)) == 40
    assert texts[:2] == ["能便宜点吗", "能便宜点吗？"]


def test_the_memory_of_a_process_tree_counts_its_children():
    # The child says when it is up, so its memory has stopped growing before it is read.
    child = subprocess.Popen([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "up\n"
        assert child.pid in process_tree(os.getpid())
        assert tree_memory(os.getpid()) > tree_memory(child.pid) > 0
        assert tree_memory(child.pid, "VmHWM") >= tree_memory(child.pid) > 0
    finally:
        child.kill()
        child.communicate()
    assert child.pid not in process_tree(os.getpid())


def test_help_shows_an_example_and_bad_numbers_are_usage_errors():
    result = run_kefu("bench", "--help")
    assert result.returncode == 0
    assert "example: kefu bench --quick --json" in result.stdout
    for bad in (["--requests", "0"], ["--load-seconds", "-1"], ["--stress-seconds", "soon"]):
        assert run_kefu("bench", *bad).returncode == 2


def _numbers(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield value


@pytest.mark.model
def test_quick_bench_reports_every_figure_and_stops_its_server(real_settings):
    result = run_kefu("bench", "--quick", "--json", settings=real_settings, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "[kefu] server: stopping" in result.stderr
    report = json.loads(result.stdout)  # stdout is the JSON object and nothing else

    assert set(report) == {"machine", "encoder", "eval", "server", "reply", "open_loop", "stress", "overload",
                           "ratios", "targets"}
    encoder, server = report["encoder"], report["server"]
    assert set(encoder) == {"model", "backend", "single", "batch_size", "batches", "batch_per_s"}
    assert set(encoder["single"]) == {"count", "p50_ms", "p95_ms"}
    assert (encoder["single"]["count"], encoder["batch_size"], encoder["batches"]) == (40, 32, 2)
    assert set(server) == {"pid", "ready_s", "rss_ready_mb", "rss_end_mb", "rss_peak_mb", "stopped"}
    assert set(report["eval"]) == {"file", "cases", "seconds", "per_s", "how", "load_seconds_excluded"}
    assert report["eval"]["cases"] == 64
    answers = {"sent", "ok", "p50_ms", "p95_ms", "errors", "shed"}
    assert set(report["reply"]) == answers | {"clients"}
    assert set(report["open_loop"]) == answers | {"agents", "mean_gap_s", "seconds", "scheduled", "offered_per_s"}
    assert set(report["stress"]) == answers | {"clients", "seconds", "throughput_per_s", "drain_s"}
    assert set(report["overload"]) == answers | {"clients", "seconds", "threads_before", "threads_max",
                                                 "threads_after", "rss_before_mb", "rss_max_mb", "rss_after_mb",
                                                 "recovered_s"}
    assert report["overload"]["clients"] == 200 and report["overload"]["errors"] == 0
    assert report["overload"]["recovered_s"] is not None
    assert report["reply"]["sent"] == report["reply"]["ok"] == 20
    assert report["open_loop"]["sent"] == report["open_loop"]["scheduled"]
    for part in ("reply", "open_loop", "stress"):
        assert report[part]["errors"] == 0, part

    numbers = list(_numbers({k: v for k, v in report.items() if k not in ("machine", "targets")}))
    zero_allowed = {"errors", "shed", "drain_s"}
    for name in ("reply", "open_loop", "stress"):
        for key, value in report[name].items():
            if key not in zero_allowed:
                assert value is not None and value > 0, (name, key)
    assert all(number >= 0 for number in numbers)
    assert encoder["single"]["p95_ms"] >= encoder["single"]["p50_ms"] > 0
    assert encoder["batch_per_s"] > 0 and report["eval"]["per_s"] > 0
    assert server["ready_s"] > 0 and server["rss_peak_mb"] >= server["rss_ready_mb"] > 0

    ratios_ = report["ratios"]
    single_p50, batch = encoder["single"]["p50_ms"], encoder["batch_per_s"]
    assert ratios_["reply_p50_over_encoder_p50"] == pytest.approx(report["reply"]["p50_ms"] / single_p50, abs=1e-3)
    assert ratios_["open_loop_p95_over_encoder_p50"] == pytest.approx(report["open_loop"]["p95_ms"] / single_p50,
                                                                      abs=1e-3)
    assert ratios_["stress_throughput_over_encoder_batch"] == pytest.approx(
        report["stress"]["throughput_per_s"] / batch, abs=1e-3)
    assert ratios_["eval_throughput_over_encoder_batch"] == pytest.approx(report["eval"]["per_s"] / batch, abs=1e-3)
    assert [t["key"] for t in report["targets"]] == ["reply_p50", "open_loop_p95", "stress_throughput", "stress_p95",
                                                      "rss", "ready", "eval_throughput", "overload_errors",
                                                      "overload_p95", "overload_threads", "overload_rss",
                                                      "overload_recovery"]
    for target in report["targets"]:
        zero_allowed = target["key"] in ("overload_errors", "overload_rss")
        assert isinstance(target["met"], bool) and (target["value"] >= 0 if zero_allowed else target["value"] > 0)

    assert server["stopped"] is True
    assert not Path(f"/proc/{server['pid']}").exists()
