# kefu service image, in two stages. Mirrors scripts/install.sh (a test keeps the pins in step).
#
# build:   torch (CPU build, asked for explicitly), sentence-transformers and onnx convert the bundled
#          model, export and quantise it to int8 ONNX, and build the index.
# runtime: only what serving imports (onnxruntime, no torch, no sentence-transformers) plus the
#          exported model and the index from the build stage; nothing is fetched at run time.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 HF_HUB_OFFLINE=1
WORKDIR /srv/kefu
COPY pyproject.toml README.md ./
COPY app ./app
COPY corpus ./corpus
COPY index/README.md ./index/README.md
# CPU torch first and pinned, from PyTorch's CPU index: on an ordinary machine with internet,
# "torch==2.13.0" from PyPI is the multi-GB CUDA build. Serving reads the int8 ONNX file, the
# tokenizer and the markers, never the torch weights, so those stay behind in this stage.
RUN python -m venv .venv \
    && .venv/bin/python -m pip install --upgrade pip \
    && .venv/bin/python -m pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" \
    && .venv/bin/python -m pip install -e ".[build]" \
    && .venv/bin/kefu build \
    && rm -f index/models/e5-small/model.safetensors

FROM python:3.11-slim AS runtime
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 HF_HUB_OFFLINE=1
RUN useradd --create-home --uid 1000 kefu
WORKDIR /srv/kefu
COPY --chown=kefu:kefu pyproject.toml README.md ./
COPY --chown=kefu:kefu app ./app
COPY --chown=kefu:kefu corpus ./corpus
COPY --from=build --chown=kefu:kefu /srv/kefu/index ./index
USER kefu
# The package without the build extra: serving imports onnxruntime, never the build tools.
RUN python -m venv .venv \
    && .venv/bin/python -m pip install --upgrade pip \
    && .venv/bin/python -m pip install -e . \
    && .venv/bin/python -c "import sys, app.service, app.api; assert 'torch' not in sys.modules"

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD .venv/bin/python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
CMD [".venv/bin/kefu", "serve", "--host", "0.0.0.0", "--port", "8000"]
