"""The public Python API: `app.__all__` is pinned, every name resolves, and importing app stays light."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import app

REPO = Path(__file__).resolve().parents[1]

PUBLIC = [
    "__version__",
    "KefuService", "ServiceInfo", "Settings",
    "ReplyRequest", "ReplyResult", "SuggestedReply", "Turn", "InspectionRequest", "Review",
    "ScenarioPrediction", "Inspection", "Finding",
    "KefuError", "ConfigError", "CorpusError", "ModelError", "IndexError_", "IndexMissingError",
    "IndexStaleError", "InputError", "OverloadedError",
    "SCENARIOS", "PLATFORMS",
]


def test_the_public_names_are_pinned():
    assert app.__all__ == PUBLIC


def test_every_public_name_resolves_to_its_defining_module():
    from app.errors import KefuError
    from app.service import KefuService

    for name in PUBLIC:
        assert getattr(app, name) is not None
    assert app.KefuService is KefuService
    assert issubclass(app.InputError, KefuError)


def test_an_unknown_name_is_an_attribute_error():
    try:
        app.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("app.NoSuchThing resolved")


def test_importing_app_and_the_cli_loads_no_heavy_library():
    code = ("import sys, app, app.cli; "
            "print(sorted(m for m in ('numpy', 'pydantic', 'torch', 'fastapi', 'jieba') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.stdout.strip() == "[]", result.stderr


def test_the_cli_sets_up_the_process_before_numpy_loads():
    """OPENBLAS_NUM_THREADS only counts if it is set before numpy first loads OpenBLAS."""
    code = ("import sys, os, app.cli; from app.console import quiet_libraries; quiet_libraries(); "
            "print('numpy' in sys.modules, os.environ['OPENBLAS_NUM_THREADS'])")
    env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_NUM_THREADS"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env)
    assert result.stdout.split() == ["False", "1"], result.stderr
