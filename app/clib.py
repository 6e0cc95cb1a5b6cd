"""Functions of the C library the process runs on (glibc's mallopt, malloc_trim, Linux's prctl), looked up once
where they are needed; None where the C library has no such function (musl, macOS), so callers skip the call."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any


def c_function(name: str, *, use_errno: bool = False) -> Callable[..., Any] | None:
    """The C library's function `name`, or None where it has none."""
    try:
        function: Callable[..., Any] = getattr(ctypes.CDLL(None, use_errno=use_errno), name)
    except (OSError, AttributeError):
        return None
    return function
