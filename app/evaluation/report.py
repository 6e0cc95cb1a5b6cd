"""The self-contained HTML report of an evaluation run: headline numbers, confusion matrix, failures."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from app.vocabulary import SCENARIO_NAMES_ZH as NAMES
from app.vocabulary import SCENARIOS

WORST = 25


def render_report(summary: dict, records: Sequence[dict], *, title: str = "kefu 评测报告") -> str:
    scenario = summary["scenario"]
    headline = [
        ("用例", summary["cases"]), ("已评测", summary["evaluated"]), ("跳过", len(summary["skipped"])),
        ("准确率", _pct(scenario["accuracy"])), ("严格准确率", _pct(scenario["accuracy_strict"])),
        ("宏平均 F1", _num(scenario["macro_f1"])), ("转人工", scenario["abstained"]),
        ("首条回复场景一致", _pct(summary["replies"]["top1_scenario_match"])),
        ("质检通过率", _pct(summary["inspection"]["pass_rate"])),
        ("质检与人工一致", _pct(summary["inspection"]["agreement"])),
        ("延迟 p50 / p95 (ms)", f"{_num(summary['latency_ms']['p50'])} / {_num(summary['latency_ms']['p95'])}"),
    ]
    cards = "".join(f'<div class="card"><div class="v">{escape(str(v))}</div><div class="k">{escape(k)}</div></div>'
                    for k, v in headline)
    rows = "".join(
        f"<tr><td>{NAMES[label]} <code>{label}</code></td><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td>"
        f"<td>{m['f1']:.3f}</td><td>{m['support']}</td></tr>"
        for label, m in scenario["per_scenario"].items()
    )
    wrong = sorted((r for r in records if r.get("correct") is False),
                   key=lambda r: -r["prediction"]["confidence"])[:WORST]
    wrong_rows = "".join(
        f"<tr><td>{r['line']}</td><td>{escape(r['message'][:200])}</td><td>{escape(r['gold'])}</td>"
        f"<td>{escape(r['prediction']['label'])}</td><td>{r['prediction']['confidence']:.2f}</td></tr>"
        for r in wrong
    )
    failed = [r for r in records if "inspection" in r and not r["inspection"]["ok"]][:WORST * 2]
    failed_rows = "".join(
        f"<tr><td>{r['line']}</td><td>{escape(r['message'][:120])}</td><td>{escape(r['reply'][:200])}</td>"
        f"<td>{r['inspection']['score']}</td><td>{_findings(r['inspection']['findings'])}</td>"
        f"<td>{'' if r['human_ok'] is None else ('✓' if r['human_ok'] else '✗')}</td></tr>"
        for r in failed
    )
    per_rule = summary["inspection"].get("per_rule") or {}
    rule_rows = "".join(
        f"<tr><td><code>{rule}</code></td><td>{m['expected']}</td><td>{m['caught']}</td><td>{m['false_alarms']}</td></tr>"
        for rule, m in per_rule.items()
    )
    rule_table = (
        "<h2>质检规则与人工标注（expect）</h2><table><thead><tr><th>规则</th><th>人工标出</th><th>kefu 命中</th>"
        f"<th>kefu 误报</th></tr></thead><tbody>{rule_rows}</tbody></table>"
    ) if per_rule else ""
    skipped = "".join(f"<li>第 {s['line']} 行：{escape(s['reason'])}</li>" for s in summary["skipped"][:100])
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_CSS}</style></head><body>
<h1>{escape(title)}</h1>
<section class="cards">{cards}</section>
<h2>混淆矩阵（行：标注，列：预测）</h2>
{confusion_svg(scenario["confusion"])}
<h2>各场景</h2>
<table><thead><tr><th>场景</th><th>精确率</th><th>召回率</th><th>F1</th><th>样本</th></tr></thead><tbody>{rows}</tbody></table>
<h2>最自信的错判（前 {WORST} 条）</h2>
<table><thead><tr><th>行</th><th>买家消息</th><th>标注</th><th>预测</th><th>置信度</th></tr></thead><tbody>{wrong_rows or '<tr><td colspan="5">无</td></tr>'}</tbody></table>
<h2>未通过质检的回复</h2>
<table><thead><tr><th>行</th><th>买家消息</th><th>客服回复</th><th>得分</th><th>问题</th><th>人工</th></tr></thead><tbody>{failed_rows or '<tr><td colspan="6">无</td></tr>'}</tbody></table>
{rule_table}
<h2>跳过的行</h2><ul>{skipped or '<li>无</li>'}</ul>
</body></html>
"""


def confusion_svg(confusion: dict[str, dict[str, int]]) -> str:
    """The confusion matrix as an inline SVG heat map (no script, no external file)."""
    cell, left, top = 64, 96, 40
    size = len(SCENARIOS)
    peak = max([confusion[g][p] for g in SCENARIOS for p in SCENARIOS] + [1])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="混淆矩阵" class="confusion" '
             f'width="{left + cell * size + 8}" height="{top + cell * size + 8}">']
    for j, label in enumerate(SCENARIOS):
        parts.append(f'<text x="{left + j * cell + cell / 2}" y="{top - 12}" text-anchor="middle">{NAMES[label]}</text>')
    for i, gold in enumerate(SCENARIOS):
        y = top + i * cell
        parts.append(f'<text x="{left - 10}" y="{y + cell / 2 + 5}" text-anchor="end">{NAMES[gold]}</text>')
        for j, predicted in enumerate(SCENARIOS):
            count = confusion[gold][predicted]
            strength = count / peak
            colour = f"rgba(37,99,235,{0.08 + 0.85 * strength:.3f})" if i == j else f"rgba(220,38,38,{0.06 + 0.85 * strength:.3f})"
            ink = "#fff" if strength > 0.55 else "#111"
            x = left + j * cell
            parts.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{colour}"/>'
                         f'<text x="{x + cell / 2 - 1}" y="{y + cell / 2 + 5}" text-anchor="middle" fill="{ink}">{count}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _findings(findings: list[dict]) -> str:
    return "<br>".join(f"<b>{escape(f['rule'])}</b> {escape(f['detail'])}" for f in findings)


def _pct(value) -> str:
    return "—" if value is None else f"{value:.1%}"


def _num(value) -> str:
    return "—" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


_CSS = """
body{font-family:system-ui,"PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",sans-serif;margin:24px;color:#111;max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;border-radius:8px;padding:10px 14px;min-width:120px}
.card .v{font-size:20px;font-weight:600}.card .k{color:#555;font-size:13px}
table{border-collapse:collapse;width:100%;font-size:14px}td,th{border-bottom:1px solid #eee;padding:6px;text-align:left;vertical-align:top}
svg.confusion text{font-size:14px}code{color:#555}
"""
