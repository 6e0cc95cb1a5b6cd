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

  function headers(extra) {
    const found = { Accept: "application/json", ...(extra || {}) };
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

  async function errorText(response, fallback) {
    try {
      return fallback + "：" + (await response.json()).error.message;
    } catch (err) {
      return fallback + "（" + response.status + "）";
    }
  }

  function button(text, testid, onClick) {
    const found = document.createElement("button");
    found.type = "button";
    found.textContent = text;
    found.dataset.testid = testid;
    found.addEventListener("click", onClick);
    return found;
  }

  // One learnt question: add it to its template's examples, or never propose it again.
  async function decide(proposal, action, row) {
    for (const control of row.querySelectorAll("button")) control.disabled = true;
    const response = await fetch("/v1/feedback/learnt", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ action, template_id: proposal.template_id, messages: [proposal.message] }),
    }).catch(() => null);
    if (!response || !response.ok) {
      $("learnt-status").textContent = response ? await errorText(response, "操作失败") : "连接不上服务器。";
      for (const control of row.querySelectorAll("button")) control.disabled = false;
      return;
    }
    row.remove();
    $("learnt-status").textContent = action === "accept"
      ? `已把“${proposal.message}”加入 ${proposal.template_id} 的问法，几秒内生效。`
      : `已忽略“${proposal.message}”。`;
  }

  function showLearnt(proposals) {
    const body = document.querySelector('[data-testid="learnt"] tbody');
    body.replaceChildren(...proposals.map((proposal) => {
      const tr = document.createElement("tr");
      tr.dataset.testid = "learnt-row";
      const actions = document.createElement("td");
      actions.append(button("加入问法", "learnt-accept", () => decide(proposal, "accept", tr)),
                     button("忽略", "learnt-dismiss", () => decide(proposal, "dismiss", tr)));
      tr.append(cell(proposal.message), cell(proposal.template_id), cell(String(proposal.uses)),
                cell(String(proposal.corrections)), actions);
      return tr;
    }));
    $("learnt-status").textContent = proposals.length ? "" : "暂无新的问法。";
    document.querySelector('[data-testid="learnt"]').dataset.loaded = "true";
  }

  async function loadLearnt() {
    const response = await fetch("/v1/feedback/learnt", { headers: headers() }).catch(() => null);
    if (!response) return;
    if (!response.ok) {
      $("learnt-status").textContent = await errorText(response, "读取学到的问法失败");
      return;
    }
    showLearnt((await response.json()).proposals);
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
      await loadLearnt();
    } catch (err) {
      $("stats-error").textContent = "连接不上服务器，请检查网络或确认服务正在运行。";
      $("stats-error").hidden = false;
    }
  }

  load();
})();
