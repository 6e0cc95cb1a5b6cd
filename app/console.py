"""What kefu's own entry points (the `kefu` command and the server) set up before any work: quiet libraries.

Library code changes no process-wide state; the entry points own the process, so they decide here
that jieba's dictionary chatter and the weight-loading bars stay out of stderr and the server's log,
that nothing looks for a model hub unless the user asked for one (HF_HUB_OFFLINE=0), and that BLAS
runs in the calling thread.
"""

from __future__ import annotations

import logging
import os


def _warnings_and_worse(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def quiet_libraries() -> None:
    # jieba logs "Building prefix dict..." at DEBUG through its own stderr handler, and sets its
    # logger's level to DEBUG when imported, so a level set here first would be undone: a filter
    # on the logger stays.
    jieba_log = logging.getLogger("jieba")
    if _warnings_and_worse not in jieba_log.filters:
        jieba_log.addFilter(_warnings_and_worse)
    # One BLAS thread per calling thread, read when numpy first loads OpenBLAS. The server's
    # parallelism is its concurrent requests; OpenBLAS's own pool made their small matrix products
    # (the classifier's message x training-set similarities) queue for it: 28 requests/s under 50
    # clients with it, 107 without it (docs/measurements.md). Set before anything imports numpy.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Read by huggingface_hub (and transformers through it) when they are first imported.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


__all__ = ["quiet_libraries"]
