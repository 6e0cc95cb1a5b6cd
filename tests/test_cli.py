"""The `kefu` command as a user runs it: a real subprocess, real index, stdout/stderr/exit codes."""

import json
import os
import subprocess
import sys
import time

import pytest

from app.replies import ReplyRequest
from tests.conftest import REPO


def run_kefu(*args, settings=None, stdin=None, timeout=300):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if settings is not None:
        env |= {"KEFU_INDEX_DIR": str(settings.index_dir), "KEFU_MODEL_DIR": str(settings.default_model_dir),
                "KEFU_CORPUS_DIR": str(settings.corpus_dir)}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], input=stdin, capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=timeout)


def test_help_is_instant_and_shows_examples():
    started = time.perf_counter()
    result = run_kefu("--help")
    assert result.returncode == 0
    assert "kefu search" in result.stdout
    assert time.perf_counter() - started < 5  # no torch import for --help
    for command in ("build", "search", "reply", "eval", "inspect", "serve"):
        sub = run_kefu(command, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "example: kefu " + command in sub.stdout


def test_usage_error_exits_2():
    assert run_kefu("reply").returncode == 2
    assert run_kefu("frobnicate").returncode == 2


def test_missing_index_exits_1_and_says_how_to_fix(tmp_path):
    from app.config import Settings

    settings = Settings(index_dir=tmp_path / "empty")
    result = run_kefu("search", "包邮吗", settings=settings)
    assert result.returncode == 1
    assert "run `kefu build`" in result.stderr
    assert result.stdout == ""


@pytest.mark.model
def test_search_finds_the_traditional_handbook_in_simplified(real_settings):
    result = run_kefu("search", "直面客户的第一窗口", "--json", settings=real_settings)
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    passages = [r for r in records if r["kind"] == "passage"]
    assert passages[0]["doc"].startswith("004_")
    assert "作为直面客户的" in passages[0]["text"]  # Simplified: 為 -> 为, 戶 -> 户
    assert {"kind", "id", "text", "doc", "score"} <= set(records[0])
    assert {r["kind"] for r in records} == {"passage", "template"}


@pytest.mark.model
def test_stdin_mode_gives_the_same_answers_as_one_by_one(real_settings, real_service):
    messages = ["这件衣服170斤穿什么码", "能便宜点吗", "", "快递到哪了", "收到的杯子碎了"]
    result = run_kefu("reply", "-", "--json", "--platform", "jd", settings=real_settings,
                      stdin="\n".join(messages) + "\n")
    assert result.returncode == 1  # the empty line is an error; the others are answered
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(messages)
    assert lines[2]["error"]["code"] == "invalid_input"
    for message, line in zip(messages, lines):
        if not message:
            continue
        single = real_service.reply(ReplyRequest(message, platform="jd")).as_dict()
        assert line["message"] == message
        assert line["scenario"]["label"] == single["scenario"]["label"]
        assert [r["text"] for r in line["replies"]] == [r["text"] for r in single["replies"]]
        assert {"label", "confidence", "scores", "secondary"} <= set(line["scenario"])
        assert {"text", "template_id", "scenario", "score", "source"} <= set(line["replies"][0])
        assert "needs_human" in line


@pytest.mark.model
def test_inspect_and_eval_honour_the_default_platform(tmp_path, real_settings, monkeypatch):
    """A JD shop (KEFU_DEFAULT_PLATFORM=jd) gets the 亲 rule in `kefu inspect` and in `kefu eval` for
    lines without a platform, as `kefu reply` and /v1/inspect always did."""
    monkeypatch.setenv("KEFU_DEFAULT_PLATFORM", "jd")
    reply = "亲，今天下单明天发货，有问题请随时联系我们，祝您购物愉快。"
    inspected = run_kefu("inspect", "--message", "什么时候发货", "--reply", reply, "--position", "middle", "--json",
                         settings=real_settings)
    assert inspected.returncode == 0, inspected.stderr
    assert "jd_qin" in json.loads(inspected.stdout)["rules"]

    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({"message": "什么时候发货", "reply": reply, "first_turn": False},
                                ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    evaluated = run_kefu("eval", str(cases), "--json", "--out", str(out), settings=real_settings)
    assert evaluated.returncode == 0, evaluated.stderr
    (record,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert record["platform"] == "jd" and "jd_qin" in record["inspection"]["rules"]
    # An explicit platform still wins over the default.
    taobao = run_kefu("inspect", "--message", "什么时候发货", "--reply", reply, "--position", "middle", "--platform",
                      "taobao", "--json", settings=real_settings)
    assert "jd_qin" not in json.loads(taobao.stdout)["rules"]


def test_library_chatter_stays_out_of_stderr(real_settings):
    """jieba announces its dictionary at DEBUG through a handler of its own; the CLI keeps it quiet."""
    result = run_kefu("search", "能便宜点吗", "--json", settings=real_settings)
    assert result.returncode == 0, result.stderr
    assert "prefix dict" not in result.stderr.lower() and "Loading model" not in result.stderr
