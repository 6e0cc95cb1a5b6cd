// The stats page: what agents did with kefu's suggestions (GET /v1/feedback/stats), in tables.
(() => {
  "use strict";

  const TOKEN_KEY = "kefuToken"; // the side panel's saved token
  const $ = (id) => document.getElementById(id);
  const scenarioNames = {};

  function token() {
    try {
      return window.localStorage.getItem(TOKEN_KEY) || "";
    } catch (err) {
      return "";
    }
  }

  function headers() {
    const found = { Accept: "application/json" };
    if (token().trim()) found.Authorization = "Bearer " + token().trim();
    return found;
  }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function percent(value) {
    return typeof value === "number" ? Math.round(value * 100) + "%" : "—";
  }

  function fillTable(testid, rows) {
    const body = document.querySelector(`[data-testid="${testid}"] tbody`);
    body.replaceChildren(...rows.map((cells) => {
      const tr = document.createElement("tr");
      tr.append(...cells.map(cell));
      return tr;
    }));
  }

  function fillList(testid, items) {
    const list = document.querySelector(`[data-testid="${testid}"]`);
    list.replaceChildren(...items.map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }));
    if (!items.length) {
      const li = document.createElement("li");
      li.textContent = "暂无";
      list.append(li);
    }
  }

  function show(stats) {
    $("stats-summary").textContent = stats.events
      ? `共 ${stats.events} 次记录，涉及 ${stats.suggestions} 次回复建议，其中 ${stats.suggestions_used} 次有建议被采用；` +
        `采纳率 ${percent(stats.overall.acceptance)}（原样发送 ${percent(stats.overall.as_is_rate)}）`
      : "还没有记录：客服在回复助手里复制或改写建议后，这里会显示统计。";
    fillTable("by-scenario", Object.entries(stats.by_scenario).map(([name, row]) =>
      [scenarioNames[name] || name, String(row.events), percent(row.acceptance), percent(row.as_is_rate),
       String(row.edited)]));
    fillTable("by-template", Object.entries(stats.by_template).map(([name, row]) =>
      [name, String(row.events), percent(row.acceptance), percent(row.as_is_rate)]));
    fillList("edits", stats.edits.map((row) =>
      `${row.template_id}：改写 ${row.edited} 次，例如“${row.sent[0].text}”`));
    fillList("gaps", stats.gaps.map((row) => `${row.times} 次：${row.message}`));
  }

  async function load() {
    try {
      const vocabulary = await fetch("/v1/vocabulary", { headers: headers() });
      if (vocabulary.ok) {
        for (const scenario of (await vocabulary.json()).scenarios) scenarioNames[scenario.id] = scenario.zh;
      }
      const response = await fetch("/v1/feedback/stats", { headers: headers() });
      if (!response.ok) {
        let message = "读取统计失败（" + response.status + "）";
        try {
          message += "：" + (await response.json()).error.message;
        } catch (err) {
          // not the error envelope: the status says enough
        }
        $("stats-error").textContent = message;
        $("stats-error").hidden = false;
        $("stats-summary").textContent = "";
        return;
      }
      show(await response.json());
    } catch (err) {
      $("stats-error").textContent = "连接不上服务器，请检查网络或确认服务正在运行。";
      $("stats-error").hidden = false;
    }
  }

  load();
})();
