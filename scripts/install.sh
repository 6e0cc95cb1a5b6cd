#!/usr/bin/env bash
# Create .venv and install kefu with pinned dependencies and the build tools (`kefu build` converts,
# exports and quantises the model with torch); --test adds the test tools and Chromium.
# Shared by the README's two commands, .ci/run and (step for step) the Dockerfile.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
TORCH_PIN="torch==2.13.0"   # CPU build; an unpinned torch pulls a multi-GB CUDA build

with_test=0
[ "${1:-}" = "--test" ] && with_test=1

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first and pinned, so sentence-transformers finds it satisfied and pulls nothing bigger.
.venv/bin/python -m pip install --quiet "$TORCH_PIN"
if [ "$with_test" = 1 ]; then
    .venv/bin/python -m pip install --quiet -e ".[build,test]"
    # Browser tests drive Debian's Chromium; never let Playwright download a browser of its own.
    # A CJK font makes the saved screenshots readable (without one Chinese renders as boxes).
    if [ ! -x /usr/bin/chromium ] || [ ! -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
    fi
else
    .venv/bin/python -m pip install --quiet -e ".[build]"
fi
echo "kefu installed in .venv ($(.venv/bin/python -c 'import app; print(app.__version__)'))" >&2
