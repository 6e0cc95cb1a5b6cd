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

# Where the buyer's order stands, how the buyer feels, and what kind of product the message is about:
# what app/understanding reads from a message and what a template may be limited to.
Stage = Literal["pre_purchase", "awaiting_dispatch", "in_transit", "delivered", "after_sale", "unknown"]
STAGES: tuple[str, ...] = get_args(Stage)
Mood = Literal["upset", "neutral", "closing"]
MOODS: tuple[str, ...] = get_args(Mood)
Category = Literal["clothing", "shoes", "electronics", "appliance", "cosmetics", "food", "home", "general"]
CATEGORIES: tuple[str, ...] = get_args(Category)
# Where an agent's reply stands in its conversation: a greeting is owed by the first, a closing by the last.
Position = Literal["first", "middle", "last"]
POSITIONS: tuple[str, ...] = get_args(Position)
# What a message can state and a reply can ask for or use.
Fact = Literal["height", "weight", "foot_length", "waist", "size", "order_id", "amount", "date", "colour", "spec",
               "photo", "child", "thanks"]
FACTS: tuple[str, ...] = get_args(Fact)

__all__ = ["CATEGORIES", "FACTS", "MOODS", "POSITIONS", "STAGES", "Category", "Fact", "Mood", "Position", "Stage", "PLATFORMS", "PLATFORM_NAMES_ZH", "SCENARIOS", "SCENARIO_NAMES_ZH", "Platform", "Scenario"]
