"""The one source of the product's vocabulary: scenarios, platforms and their Chinese names.

Everything else (the YAML schemas, the HTTP schemas, the CLI's choices, the side panel, which asks
GET /v1/vocabulary) takes them from here. Plain Python: the CLI imports it for `--help`.
"""

from __future__ import annotations

from typing import Literal, get_args

Scenario = Literal["size", "price", "logistics", "complaint", "other"]
SCENARIOS: tuple[str, ...] = get_args(Scenario)
# How scenarios are named to agents and team leads.
SCENARIO_NAMES_ZH: dict[str, str] = {
    "size": "尺码",
    "price": "价格",
    "logistics": "物流",
    "complaint": "投诉",
    "other": "其他",
}

Platform = Literal["taobao", "tmall", "jd"]
PLATFORMS: tuple[str, ...] = get_args(Platform)
PLATFORM_NAMES_ZH: dict[str, str] = {"taobao": "淘宝", "tmall": "天猫", "jd": "京东"}

__all__ = ["PLATFORMS", "PLATFORM_NAMES_ZH", "SCENARIOS", "SCENARIO_NAMES_ZH", "Platform", "Scenario"]
