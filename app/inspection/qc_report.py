"""The self-contained HTML report of `kefu qc`: per-agent charts and table, the worst conversations in full.

One file, no script, no external font or image: the charts are inline SVG, the styles inline CSS.
Every text from the log is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from app.inspection.results import RULES

# How a team lead reads each rule's name.
RULE_NAMES_ZH: dict[str, str] = {
    "rude": "用语不当", "jd_qin": "京东用“亲”", "placeholder": "占位符未填", "too_short": "回复过短",
    "no_apology": "未致歉", "absolute": "绝对化承诺", "ad_law": "广告法用语", "relevance": "答非所问",
    "shouting": "连续标点", "polite": "缺少礼貌用语", "greeting": "缺少欢迎语", "closing": "缺少欢送语",
}
POSITION_NAMES_ZH = {"first": "首条回复", "middle": "", "last": "结束回复"}
MAX_CHART_AGENTS = 30  # the charts show the agents with the most conversations; the table shows all


def render_qc_report(summary: dict[str, Any], worst: Sequence[dict[str, Any]], *, title: str = "kefu 会话质检报告",
                     subtitle: str = "") -> str:
    """The page for a QcTally summary and the worst conversations' records (ConversationVerdict.as_dict)."""
    overall = summary["overall"]
    first, response = overall["first_response_s"], overall["response_s"]
    cards = [
        ("会话", summary["conversations"]), ("客服回复", summary["agent_replies"]),
        ("回复合格率", _pct(overall["reply_pass_rate"])), ("会话全部合格", _pct(overall["conversation_pass_rate"])),
        ("首次响应 p50 / p90", f"{_seconds(first['p50'])} / {_seconds(first['p90'])}"),
        ("平均响应", _seconds(response["mean"])), ("未回复的买家消息", overall["unanswered"]),
        ("无人接待的会话", summary["unattended"]), ("缺少道歉的会话", overall["apology_missing"]),
        ("无法读取的行", summary["bad_lines"]),
    ]
    card_html = "".join(f'<div class="card"><div class="v">{escape(str(value))}</div><div class="k">{escape(key)}</div>'
                        f"</div>" for key, value in cards)
    agents = summary["agents"]
    shown = dict(list(agents.items())[:MAX_CHART_AGENTS])
    more = f"<p class=\"note\">图中只列会话最多的 {MAX_CHART_AGENTS} 位客服，表格列出全部。</p>" if len(agents) > len(shown) else ""
    distribution = summary["response_distribution"]
    skipped = "".join(f"<li>第 {item['line']} 行：{escape(item['reason'])}</li>" for item in summary["skipped"])
    if summary["bad_lines"] > len(summary["skipped"]):
        skipped += f"<li>……共 {summary['bad_lines']} 行</li>"
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_CSS}</style></head><body>
<h1>{escape(title)}</h1>
<p class="note">{escape(subtitle)}</p>
<section class="cards">{card_html}</section>
<h2>各客服合格率</h2>{more}
{pass_rate_svg(shown) if shown else '<p>没有客服回复。</p>'}
<h2>各客服首次响应时间（p50，浅色到 p90）</h2>
{first_response_svg(shown) if shown else '<p>没有客服回复。</p>'}
<h2>响应时间分布（每段买家消息到客服回复）</h2>
{distribution_svg(distribution["labels"], distribution["counts"])}
<h2>各客服</h2>
{_agent_table(agents)}
<h2>问题规则（违反该规则的回复数）</h2>
{_rule_table(overall, agents)}
<h2>最差的会话</h2>
{''.join(_conversation(record) for record in worst) or '<p>没有发现问题。</p>'}
<h2>无法读取的行</h2><ul>{skipped or '<li>无</li>'}</ul>
</body></html>
"""


def pass_rate_svg(agents: dict[str, dict[str, Any]]) -> str:
    """Two bars per agent: replies fine to send and conversations with every reply fine, 0-100 %."""
    left, width, bar, gap = 160, 420, 12, 10
    height = 34 + len(agents) * (2 * bar + gap)
    parts = [_svg_open("各客服合格率", left + width + 70, height),
             _legend([("#2563eb", "回复合格率"), ("#16a34a", "会话全部合格")], left)]
    for i, (name, figures) in enumerate(agents.items()):
        y = 30 + i * (2 * bar + gap)
        parts.append(f'<text x="{left - 8}" y="{y + bar + 4}" text-anchor="end">{escape(_short(name))}</text>')
        for j, (key, colour) in enumerate((("reply_pass_rate", "#2563eb"), ("conversation_pass_rate", "#16a34a"))):
            rate = figures[key]
            length = 0 if rate is None else width * rate
            parts.append(f'<rect x="{left}" y="{y + j * bar}" width="{length:.1f}" height="{bar - 2}" fill="{colour}"/>'
                         f'<text x="{left + length + 4:.1f}" y="{y + j * bar + bar - 3}" class="small">'
                         f"{_pct(rate)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def first_response_svg(agents: dict[str, dict[str, Any]]) -> str:
    """One bar per agent: the first response's p50, continued in a lighter shade to its p90."""
    left, width, bar, gap = 160, 420, 14, 8
    peak = max([figures["first_response_s"]["p90"] or 0 for figures in agents.values()] + [1])
    height = 14 + len(agents) * (bar + gap)
    parts = [_svg_open("各客服首次响应时间", left + width + 110, height)]
    for i, (name, figures) in enumerate(agents.items()):
        y = 8 + i * (bar + gap)
        p50, p90 = figures["first_response_s"]["p50"], figures["first_response_s"]["p90"]
        parts.append(f'<text x="{left - 8}" y="{y + bar - 3}" text-anchor="end">{escape(_short(name))}</text>')
        if p50 is None:
            parts.append(f'<text x="{left}" y="{y + bar - 3}" class="small">无</text>')
            continue
        parts.append(f'<rect x="{left}" y="{y}" width="{width * (p90 or p50) / peak:.1f}" height="{bar}" '
                     f'fill="#fcd34d"/><rect x="{left}" y="{y}" width="{width * p50 / peak:.1f}" height="{bar}" '
                     f'fill="#d97706"/><text x="{left + width * (p90 or p50) / peak + 4:.1f}" y="{y + bar - 3}" '
                     f'class="small">{_seconds(p50)} / {_seconds(p90)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def distribution_svg(labels: Sequence[str], counts: Sequence[int]) -> str:
    """Response times binned (10 s, 30 s, 1 min …) as columns with their counts."""
    column, gap, top, chart = 70, 10, 20, 160
    peak = max([*counts, 1])
    width = len(counts) * (column + gap) + 20
    parts = [_svg_open("响应时间分布", width, top + chart + 40)]
    total = sum(counts) or 1
    for i, (label, count) in enumerate(zip(labels, counts)):
        x = 10 + i * (column + gap)
        height = chart * count / peak
        parts.append(f'<rect x="{x}" y="{top + chart - height:.1f}" width="{column}" height="{height:.1f}" '
                     f'fill="#7c3aed"/><text x="{x + column / 2}" y="{top + chart - height - 4:.1f}" '
                     f'text-anchor="middle" class="small">{count}（{count / total:.0%}）</text>'
                     f'<text x="{x + column / 2}" y="{top + chart + 18}" text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _svg_open(label: str, width: float, height: float) -> str:
    return (f'<svg role="img" aria-label="{escape(label)}" class="chart" '
            f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">')


def _legend(entries: Sequence[tuple[str, str]], left: float) -> str:
    parts = []
    for i, (colour, label) in enumerate(entries):
        x = left + i * 130
        parts.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{x + 18}" y="15" class="small">{escape(label)}</text>')
    return "".join(parts)


def _agent_table(agents: dict[str, dict[str, Any]]) -> str:
    if not agents:
        return "<p>没有客服回复。</p>"
    rows = []
    for name, figures in agents.items():
        first, response = figures["first_response_s"], figures["response_s"]
        top = sorted(figures["rules"].items(), key=lambda item: -item[1])[:3]
        rules = "、".join(f"{escape(RULE_NAMES_ZH.get(rule, rule))} {count}" for rule, count in top) or "—"
        links = " ".join(f'<a href="#c{seq}">#{seq}</a>' for seq in figures["worst"]) or "—"
        rows.append(
            f"<tr><td>{escape(name)}</td><td>{figures['conversations']}</td>"
            f"<td>{_pct(figures['conversation_pass_rate'])}</td><td>{figures['replies']}</td>"
            f"<td>{_pct(figures['reply_pass_rate'])}</td><td>{_seconds(first['p50'])} / {_seconds(first['p90'])}</td>"
            f"<td>{_seconds(response['mean'])}</td><td>{figures['unanswered']}</td>"
            f"<td>{figures['apology_missing']}</td><td>{rules}</td><td>{links}</td></tr>")
    return ("<table><thead><tr><th>客服</th><th>会话</th><th>会话全部合格</th><th>回复</th><th>回复合格率</th>"
            "<th>首次响应 p50 / p90</th><th>平均响应</th><th>未回复</th><th>缺少道歉</th><th>主要问题</th>"
            f"<th>最差会话</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _rule_table(overall: dict[str, Any], agents: dict[str, dict[str, Any]]) -> str:
    broken = [rule for rule in RULES if overall["rules"].get(rule)]
    if not broken:
        return "<p>没有回复违反规则。</p>"
    shown = list(agents.items())[:MAX_CHART_AGENTS]
    head = "".join(f"<th>{escape(_short(name))}</th>" for name, _ in shown)
    rows = "".join(
        f"<tr><td>{escape(RULE_NAMES_ZH.get(rule, rule))} <code>{rule}</code></td><td>{overall['rules'][rule]}</td>"
        + "".join(f"<td>{figures['rules'].get(rule, 0) or ''}</td>" for _, figures in shown) + "</tr>"
        for rule in broken)
    return f"<table><thead><tr><th>规则</th><th>全部</th>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _conversation(record: dict[str, Any]) -> str:
    seq = record["seq"]
    facts = [f"会话 {escape(record['conversation'])}", f"第 {record['line']} 行起",
             f"客服 {escape('、'.join(record['agents']) or '无人接待')}",
             f"{escape(record['start'] or '')} – {escape(record['end'] or '')}",
             f"回复 {record['replies']}（合格 {record['replies_ok']}）",
             f"首次响应 {_seconds(record['first_response_s'])}", f"平均响应 {_seconds(record['average_response_s'])}"]
    if record["unanswered"]:
        facts.append(f'<b class="bad">未回复 {record["unanswered"]} 条</b>')
    if record["apology"]["owed"] and not record["apology"]["given"]:
        facts.append('<b class="bad">买家投诉，整段会话没有道歉</b>')
    if record["cut"]:
        facts.append("会话过长或同时进行的会话过多，已截断")
    rows = []
    for turn in record["turns"]:
        who = escape(turn["agent"] or "客服") if turn["role"] == "agent" else "买家"
        judged = ""
        if "inspection" in turn:
            inspection = turn["inspection"]
            verdict = "可以发送" if inspection["ok"] else "不宜发送"
            position = POSITION_NAMES_ZH.get(turn["position"], "")
            waited = f" · 等待 {_seconds(turn['response_s'])}" if turn["response_s"] is not None else ""
            findings = "".join(
                f'<li class="{escape(finding["severity"])}">{escape(RULE_NAMES_ZH.get(finding["rule"], finding["rule"]))}'
                f"：{escape(finding['detail'])}</li>" for finding in inspection["findings"])
            judged = (f'<span class="{"ok" if inspection["ok"] else "bad"}">{verdict} {inspection["score"]}</span>'
                      f"{(' · ' + position) if position else ''}{waited}<ul>{findings}</ul>")
        rows.append(f'<tr class="{turn["role"]}"><td>{turn["line"]}</td><td>{escape(turn["time"] or "")}</td>'
                    f'<td>{who}</td><td class="text">{escape(turn["text"])}</td><td>{judged}</td></tr>')
    return (f'<section class="conversation" id="c{seq}"><h3>#{seq}</h3><p>{" · ".join(facts)}</p>'
            "<table><thead><tr><th>行</th><th>时间</th><th>谁</th><th>内容</th><th>质检</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></section>")


def _short(name: str, limit: int = 14) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 120:
        return f"{value:g} 秒"
    if value < 7200:
        return f"{value / 60:.1f} 分"
    return f"{value / 3600:.1f} 小时"


_CSS = """
body{font-family:system-ui,"PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",sans-serif;margin:24px;color:#111;max-width:1200px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}h3{font-size:15px;margin:0 0 4px}
.note{color:#555;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;border-radius:8px;padding:10px 14px;min-width:120px}
.card .v{font-size:20px;font-weight:600}.card .k{color:#555;font-size:13px}
table{border-collapse:collapse;width:100%;font-size:14px}td,th{border-bottom:1px solid #eee;padding:6px;text-align:left;vertical-align:top}
svg.chart text{font-size:13px}svg.chart text.small{font-size:11px;fill:#333}code{color:#555}
.conversation{border:1px solid #ddd;border-radius:8px;padding:10px 14px;margin:14px 0}
.conversation tr.agent td{background:#f8fafc}.conversation td.text{white-space:pre-wrap;max-width:480px}
.conversation ul{margin:4px 0 0 16px;padding:0;font-size:13px}
.ok{color:#15803d;font-weight:600}.bad{color:#b91c1c;font-weight:600}
li.high{color:#b91c1c}li.medium{color:#b45309}li.low{color:#555}
"""

__all__ = ["RULE_NAMES_ZH", "distribution_svg", "first_response_svg", "pass_rate_svg", "render_qc_report"]
