"""YAML as the corpus files use it: safe loading, with libyaml's C parser when PyYAML has it.

The script library alone is ~200 templates; the pure-Python parser took 0.16 s of every start-up for
it, the C one 0.04 s (issue 10: start-up is read, never trained or parsed slowly).
"""

from __future__ import annotations

from typing import Any

import yaml

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """The document in `text`, safe-loaded (plain data only); yaml.YAMLError when it is not YAML."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, C or Python


__all__ = ["parse_yaml"]
