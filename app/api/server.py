"""serve(): run the API under uvicorn, one process or several workers."""

from __future__ import annotations

import copy
import os
import socket

from fastapi import FastAPI

from app.clib import c_function

# uvicorn imports the factory by name in each worker process; it reads KEFU_* from the environment.
FACTORY = "app.api.server:app_from_environment"


def app_from_environment() -> FastAPI:
    """The app with Settings from KEFU_* environment variables (uvicorn calls this with factory=True)."""
    from app.api import create_app
    from app.console import quiet_libraries

    quiet_libraries()
    return create_app()


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1, access_log: bool = False,
          reuse_port: bool = False) -> None:
    """Serve until interrupted. Each worker loads its own copy of the model and index (≈ 0.5 GB).

    uvicorn picks httptools and uvloop (dependencies of kefu) over its pure-Python parser and loop.
    `reuse_port` binds with SO_REUSEPORT, so that several `kefu serve` processes (replicas, started and
    stopped independently) share one port and the kernel spreads new connections over them.
    """
    import uvicorn

    if workers < 1:
        raise ValueError(f"workers must be 1 or more, got {workers}")
    limit_malloc_arenas()
    where: dict[str, object] = {"host": host, "port": port}
    sock = shared_socket(host, port) if reuse_port else None  # held open while uvicorn serves on its fd
    if sock is not None:
        where = {"fd": sock.fileno()}
    try:
        # Workers > 1 need an import string, not an app object; one code path for both keeps them alike.
        uvicorn.run(FACTORY, factory=True, workers=workers, log_config=log_config(), access_log=access_log,
                    **where)  # type: ignore[arg-type]
    finally:
        if sock is not None:
            sock.close()


# glibc gives each thread that allocates concurrently a heap (arena) of its own, up to 8 per core, and
# memory freed in one arena serves only that arena: under 50-200 clients the server's RSS grew 60-75 MB
# past ready. Two arenas: peak RSS 613 -> 589 MB in `kefu bench` (eleventh session, one run each on a busy
# machine; throughput within its noise).
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


def limit_malloc_arenas() -> None:
    """Cap glibc's malloc arenas for this process (mallopt) and for the worker processes it starts
    (MALLOC_ARENA_MAX, read by glibc at their start). An arena limit the environment already sets wins;
    on a C library other than glibc nothing is done."""
    arenas = os.environ.setdefault("MALLOC_ARENA_MAX", str(MALLOC_ARENAS))
    mallopt = c_function("mallopt")
    if mallopt is not None and arenas.isdigit() and int(arenas) > 0:  # glibc
        mallopt(_M_ARENA_MAX, int(arenas))


def shared_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket bound with SO_REUSEPORT (Linux, BSD): other processes may bind the same port."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("--reuse-port needs SO_REUSEPORT, which this system lacks; put a load balancer in front")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValueError(f"cannot bind {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)  # uvicorn's worker processes take it over
    return sock


def log_config() -> dict:
    """uvicorn's logging plus our `app` loggers, so load progress and tracebacks reach the same stream."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["app"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config["loggers"]["jieba"] = {"level": "WARNING"}
    return config
