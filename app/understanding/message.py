"""A buyer message made ready for understanding: normalised, JD's anonymisation placeholders replaced."""

from __future__ import annotations

import re

from app.errors import InputError
from app.text import normalize_text

# JD's anonymisation: "[数字x]", "[金额x]", "[订单x]" … and emoji codes like "#E-s46".
_PLACEHOLDER = re.compile(r"\[(数字|金额|订单|姓名|地址|电话|日期|时间|站点|身份证号|链接|邮箱)x?\]")
_PLACEHOLDER_WORDS = {"数字": "1", "金额": "10元", "订单": "订单", "姓名": "", "地址": "地址", "电话": "电话",
                      "日期": "今天", "时间": "今天", "站点": "站点", "身份证号": "身份证", "链接": "链接", "邮箱": "邮箱"}
_EMOJI_CODE = re.compile(r"#E-[a-z]\d+")


def prepare_message(message: object, *, what: str = "message") -> str:
    """The normalized form of a buyer message, or InputError when nothing is left to work with."""
    if not isinstance(message, str):
        raise InputError(f"the {what} must be text")
    text = normalize_text(message)
    text = _PLACEHOLDER.sub(lambda m: _PLACEHOLDER_WORDS[m.group(1)], text)
    text = _EMOJI_CODE.sub("", text).strip()
    if not text:
        raise InputError(f"the {what} is empty; paste the buyer's message" if what == "message"
                         else f"the {what} is empty")
    return text
