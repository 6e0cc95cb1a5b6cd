# kefu service image. Mirrors scripts/install.sh step for step (a test keeps the pins in step);
# the model is converted and the index built at image build time, so nothing is fetched at run time.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    KEFU_HOME=/srv/kefu

RUN useradd --create-home --uid 1000 kefu
WORKDIR /srv/kefu
COPY --chown=kefu:kefu pyproject.toml README.md ./
COPY --chown=kefu:kefu app ./app
COPY --chown=kefu:kefu corpus ./corpus
COPY --chown=kefu:kefu scripts ./scripts
COPY --chown=kefu:kefu index/README.md ./index/README.md

USER kefu
# CPU torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
RUN python -m venv .venv \
    && .venv/bin/python -m pip install --upgrade pip \
    && .venv/bin/python -m pip install "torch==2.13.0" \
    && .venv/bin/python -m pip install -e . \
    && .venv/bin/kefu build

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD .venv/bin/python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
CMD [".venv/bin/kefu", "serve", "--host", "0.0.0.0", "--port", "8000"]
