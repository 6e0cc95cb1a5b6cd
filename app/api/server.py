"""serve(): run the API under uvicorn, one process or several workers."""

from __future__ import annotations

import copy

from fastapi import FastAPI

# uvicorn imports the factory by name in each worker process; it reads KEFU_* from the environment.
FACTORY = "app.api.server:app_from_environment"


def app_from_environment() -> FastAPI:
    """The app with Settings from KEFU_* environment variables (uvicorn calls this with factory=True)."""
    from app.api import create_app
    from app.console import quiet_libraries

    quiet_libraries()
    return create_app()


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1, access_log: bool = False) -> None:
    """Serve until interrupted. Each worker loads its own copy of the model and index (≈ 0.5 GB).

    uvicorn picks httptools and uvloop (dependencies of kefu) over its pure-Python parser and loop.
    """
    import uvicorn

    if workers < 1:
        raise ValueError(f"workers must be 1 or more, got {workers}")
    # Workers > 1 need an import string, not an app object; one code path for both keeps them alike.
    uvicorn.run(FACTORY, factory=True, host=host, port=port, workers=workers, log_config=log_config(),
                access_log=access_log)


def log_config() -> dict:
    """uvicorn's logging plus our `app` loggers, so load progress and tracebacks reach the same stream."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["app"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config["loggers"]["jieba"] = {"level": "WARNING"}
    return config
