"""The code's own checks run with the tests: ruff (lint and import order) and mypy (strict on the core).

Both are configured in pyproject.toml; a failure prints what they found.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True, cwd=REPO)


def test_ruff_finds_nothing():
    result = _run("ruff", "check", "app", "tests", "scripts")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing():
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
