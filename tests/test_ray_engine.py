"""The Ray engine (issue 14): `--engine ray` gives the local engine's figures on the same shards.

A local Ray with 2 CPUs reads the shards (a bad line among them) and runs the real service in an actor
pool; everything but the timings must equal the local engine's, record for record.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.evaluation.cases import read_case_files
from app.evaluation.runner import evaluate
from app.inspection.conversations import LogFile, LogReading
from app.inspection.qc import ConversationInspector, QcTally, ServiceJudge, inspect_conversations
from app.ray_engine import RayOptions, evaluate_on_ray, inspect_on_ray
from tests.conftest import CORPUS
from tests.test_cli import run_kefu

pytestmark = pytest.mark.model
TWO_CPUS = RayOptions(cpus=2)
TIMINGS = ("latency_ms", "engine", "seconds", "replies_per_s")


def untimed(summary: dict) -> dict:
    return {key: value for key, value in summary.items() if key not in TIMINGS}


@pytest.fixture(scope="module")
def case_shards(tmp_path_factory) -> list[Path]:
    """Four shards: inspection cases with a broken line in the middle, scenario-bank messages, and judged
    messages (only these carry verdicts: no record may gain another's keys on its way through Ray)."""
    folder = tmp_path_factory.mktemp("case-shards")
    inspection = (CORPUS / "training" / "inspection_dev.jsonl").read_text(encoding="utf-8").splitlines()
    bank = (CORPUS / "training" / "scenario_bank.jsonl").read_text(encoding="utf-8").splitlines()
    (folder / "a.jsonl").write_text("\n".join(inspection[:60]) + "\n", encoding="utf-8")
    (folder / "b.jsonl").write_text("\n".join([*inspection[60:90], '{"message": "', *inspection[90:120]]) + "\n",
                                    encoding="utf-8")
    (folder / "c.jsonl").write_text("\n".join(bank[:80]) + "\n", encoding="utf-8")
    judged = (CORPUS / "training" / "sendable_dev.jsonl").read_text(encoding="utf-8").splitlines()
    (folder / "d.jsonl").write_text("\n".join([*judged[:40], *bank[80:120]]) + "\n", encoding="utf-8")
    return sorted(folder.iterdir())


def test_eval_on_ray_gives_the_local_figures_record_for_record(real_settings, real_service, case_shards):
    local_summary, local_records = evaluate(real_service, read_case_files(case_shards))
    ray_summary, ray_records = evaluate_on_ray(real_settings, case_shards, TWO_CPUS)

    assert ray_records == json.loads(json.dumps(local_records, ensure_ascii=False))  # as --out writes them
    assert untimed(ray_summary) == untimed(local_summary)
    assert ray_summary["engine"] == {"name": "ray", "workers": 2, "shards": 4}
    assert ray_summary["evaluated"] == 280 and ray_summary["skipped"] == [
        {"line": 31, "reason": ray_summary["skipped"][0]["reason"], "file": "b.jsonl"}]
    assert {record["file"] for record in ray_records} == {"a.jsonl", "b.jsonl", "c.jsonl", "d.jsonl"}
    assert sum("verdicts" in record for record in ray_records) == 40
    assert ray_summary["replies"]["judged"] is not None
    assert ray_summary["inspection"]["agreement"] is not None and ray_summary["scenario"]["accuracy"] > 0.5


@pytest.fixture(scope="module")
def chat_shards(tmp_path_factory) -> list[Path]:
    """A JSONL log with a broken line, a CSV log and a 千牛 text export: one run of three shards."""
    folder = tmp_path_factory.mktemp("chat-shards")
    data = Path(__file__).parent / "data"
    jsonl = (data / "qc_chats.jsonl").read_text(encoding="utf-8").splitlines()
    (folder / "1.jsonl").write_text("\n".join([*jsonl[:5], "{broken", *jsonl[5:]]) + "\n", encoding="utf-8")
    (folder / "2.csv").write_bytes((data / "qc_chats.csv").read_bytes())
    (folder / "3.txt").write_bytes((data / "qc_chats.txt").read_bytes())
    return sorted(folder.iterdir())


def test_qc_on_ray_gives_the_local_figures_verdict_for_verdict(real_settings, real_service, chat_shards):
    local_tally, local_verdicts = QcTally(), []
    logs: list[LogFile] = []

    def conversations():
        for path in chat_shards:
            with open(path, "rb") as stream:
                logs.append(LogFile(stream, path.name, LogReading(), named=True,
                                    first_seq=logs[-1].assembler.last_seq if logs else 0))
                yield from logs[-1]

    inspect_conversations(conversations(), ConversationInspector(ServiceJudge(real_service)), local_tally,
                          on_verdict=local_verdicts.append)
    ray_tally, ray_verdicts = QcTally(), []
    shards = inspect_on_ray(real_settings, chat_shards, LogReading(), TWO_CPUS, ray_tally, fast=False,
                            platform="taobao", on_verdict=ray_verdicts.append)

    assert [v.as_dict() for v in ray_verdicts] == [v.as_dict() for v in local_verdicts]
    assert ray_tally.summary() == local_tally.summary()
    assert shards.lines == sum(log.reader.lines_read for log in logs)
    assert shards.formats == ["jsonl", "csv", "text"]
    seqs = [verdict.conversation.seq for verdict in ray_verdicts]
    assert sorted(seqs) == list(range(1, len(seqs) + 1))  # numbered on across the shards, never twice
    assert ray_tally.skipped[0].file == "1.jsonl" and ray_tally.skipped[0].line == 6


def test_cli_qc_fast_on_ray_prints_the_local_summary(real_settings, chat_shards, tmp_path):
    folder = chat_shards[0].parent
    local = run_kefu("qc", str(folder), "--fast", "--json", "--out", str(tmp_path / "local.jsonl"),
                     settings=real_settings)
    on_ray = run_kefu("qc", str(folder), "--fast", "--json", "--out", str(tmp_path / "ray.jsonl"), "--engine", "ray",
                      "--cpus", "2", settings=real_settings, timeout=300)
    assert local.returncode == 0 and on_ray.returncode == 0, on_ray.stderr[-2000:]
    assert untimed(json.loads(on_ray.stdout)) == untimed(json.loads(local.stdout))
    assert (tmp_path / "ray.jsonl").read_text(encoding="utf-8") == (tmp_path / "local.jsonl").read_text(encoding="utf-8")
    assert "1.jsonl line 6 skipped" in on_ray.stderr
