"""kefu: reply suggestions for Chinese online-shop customer service.

The public Python API, for programs that embed kefu instead of calling its HTTP API:

    from app import KefuService, ReplyRequest, Settings
    service = KefuService.load(Settings())
    print(service.reply(ReplyRequest("这件衣服170斤穿什么码", platform="jd")).as_dict())

Names load on first use, so `import app` (and `kefu --help`) stays instant; tests/test_public_api.py
pins the list.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Each public name and the module that defines it.
_EXPORTS: dict[str, str] = {
    "KefuService": "app.service",
    "ServiceInfo": "app.service",
    "Settings": "app.config",
    "ReplyRequest": "app.replies",
    "ReplyResult": "app.replies",
    "SuggestedReply": "app.replies",
    "Turn": "app.replies",
    "InspectionRequest": "app.replies",
    "Review": "app.replies",
    "ScenarioPrediction": "app.models.classifier",
    "Inspection": "app.inspection.results",
    "Finding": "app.inspection.results",
    "KefuError": "app.errors",
    "ConfigError": "app.errors",
    "CorpusError": "app.errors",
    "ModelError": "app.errors",
    "IndexError_": "app.errors",
    "IndexMissingError": "app.errors",
    "IndexStaleError": "app.errors",
    "InputError": "app.errors",
    "OverloadedError": "app.errors",
    "SCENARIOS": "app.vocabulary",
    "PLATFORMS": "app.vocabulary",
}

__all__ = [
    "__version__",
    "KefuService", "ServiceInfo", "Settings",
    "ReplyRequest", "ReplyResult", "SuggestedReply", "Turn", "InspectionRequest", "Review",
    "ScenarioPrediction", "Inspection", "Finding",
    "KefuError", "ConfigError", "CorpusError", "ModelError", "IndexError_", "IndexMissingError",
    "IndexStaleError", "InputError", "OverloadedError",
    "SCENARIOS", "PLATFORMS",
]
assert set(__all__) == {"__version__", *_EXPORTS}

if TYPE_CHECKING:
    from app.config import Settings
    from app.errors import (
        ConfigError,
        CorpusError,
        IndexError_,
        IndexMissingError,
        IndexStaleError,
        InputError,
        KefuError,
        ModelError,
        OverloadedError,
    )
    from app.inspection.results import Finding, Inspection
    from app.models.classifier import ScenarioPrediction
    from app.replies import InspectionRequest, ReplyRequest, ReplyResult, Review, SuggestedReply, Turn
    from app.service import KefuService, ServiceInfo
    from app.vocabulary import PLATFORMS, SCENARIOS


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'app' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
