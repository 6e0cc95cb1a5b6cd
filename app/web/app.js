// The side panel: send a buyer message to /v1/reply and show the scenario and copyable replies.
// Buyer and reply text are untrusted: they only ever reach the page through textContent or text nodes.
"use strict";

(function () {
  // Scenario and platform names come from the server (GET /v1/vocabulary), never a copy here.
  const scenarioNames = {};
  const TOP_K = 3;
  const TOKEN_KEY = "kefuToken";
  const PLATFORM_KEY = "kefuPlatform";
  // Placeholders the agent fills by hand, e.g. 【商品名】; kept short so a quoted 【…】 heading is not taken for one.
  const SLOT = /【[^【】\n]{1,12}】/g;

  const $ = (id) => document.getElementById(id);
  const form = $("ask");
  const message = $("message");
  const platform = $("platform");
  const firstTurn = $("first-turn");
  const send = $("send");
  const statusLine = $("status");
  const errorBox = $("error");
  const results = $("results");
  const token = $("token");

  let pending = null; // the AbortController of the request in flight
  let shown = null; // the message whose replies are on screen

  function storage(key, value) {
    // localStorage throws in some locked-down browsers; the panel works without it.
    try {
      if (value === undefined) return window.localStorage.getItem(key) || "";
      if (value) window.localStorage.setItem(key, value);
      else window.localStorage.removeItem(key);
    } catch (err) {
      return "";
    }
    return value;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function percent(value) {
    return Math.round(Number(value) * 100) + "%";
  }

  function scenarioName(label) {
    return scenarioNames[label] || String(label);
  }

  // Reply text with each 【…】 slot wrapped in <mark>, built from text nodes only.
  function withSlots(text) {
    const out = document.createDocumentFragment();
    let at = 0;
    for (const match of text.matchAll(SLOT)) {
      if (match.index > at) out.append(document.createTextNode(text.slice(at, match.index)));
      out.append(el("mark", "slot", match[0]));
      at = match.index + match[0].length;
    }
    if (at < text.length) out.append(document.createTextNode(text.slice(at)));
    return out;
  }

  function why(reply) {
    const parts = [];
    const terms = Array.isArray(reply.terms) ? reply.terms.filter(Boolean) : [];
    if (terms.length) parts.push("匹配：" + terms.slice(0, 6).join("、"));
    const source = reply.source || {};
    if (!source.doc || source.doc === "team" || source.label === "team") parts.push("来源：团队话术");
    else if (source.doc === "imported") parts.push("来源：店铺快捷短语" + (source.heading ? "（" + source.heading + "）" : ""));
    else parts.push("来源：" + (source.heading || source.doc));
    const slots = [...new Set((reply.text.match(SLOT) || []).map((slot) => slot.slice(1, -1)))];
    if (slots.length) parts.push("待填：" + slots.join("、"));
    return parts.join(" · ");
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (err) {
        // Denied permission or an unfocused page: fall through to the selection copy.
      }
    }
    const area = el("textarea", "copy-buffer");
    area.value = text;
    area.setAttribute("readonly", "");
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (err) {
      ok = false;
    }
    area.remove();
    return ok;
  }

  // What the agent did with a suggestion goes to /v1/feedback (kefu stats reads it). Fire and forget:
  // a feedback store that is down must never get in the way of copying a reply.
  function recordFeedback(answer, reply, rank, action, sentText) {
    const headers = authHeaders();
    headers["Content-Type"] = "application/json";
    const event = {
      action,
      message: answer.message,
      template_id: reply.template_id || null,
      suggestion_id: answer.suggestion_id || null,
      rank,
    };
    if (reply.scenario) event.scenario = reply.scenario;
    if (typeof reply.score === "number" && Number.isFinite(reply.score)) event.score = reply.score;
    if (typeof reply.confidence === "number") event.confidence = reply.confidence;
    if (answer.platform) event.platform = answer.platform;
    if (sentText) event.sent_text = sentText;
    fetch("/v1/feedback", { method: "POST", headers, body: JSON.stringify({ events: [event] }) })
      .catch(() => {});
  }

  function replyCard(reply, rank, answer) {
    const card = el("li", "card");
    card.dataset.testid = "reply-card";
    card.dataset.templateId = reply.template_id || "";

    const head = el("div", "card-head");
    if (reply.holding) {
      card.classList.add("holding");
      head.append(el("span", "rank", "过渡"));
      head.append(el("span", "tag tag-holding", "先回复买家，核实后再答"));
    } else {
      head.append(el("span", "rank", "#" + rank));
    }
    if (reply.scenario && !reply.holding) {
      head.append(el("span", "tag tag-" + reply.scenario, scenarioName(reply.scenario)));
      if (typeof reply.confidence === "number") {
        const sure = el("span", "confidence", "可直接发送 " + percent(reply.confidence));
        sure.title = "这条建议不经修改即可发送的把握";
        head.append(sure);
      }
    }
    const copy = el("button", "copy", "复制");
    copy.type = "button";
    copy.dataset.testid = "copy";
    copy.setAttribute("aria-label", "复制第 " + rank + " 条回复");
    if (!reply.holding) {
      const edit = el("button", "copy edit", "改写");
      edit.type = "button";
      edit.dataset.testid = "edit";
      edit.setAttribute("aria-label", "在发送前检查里改写第 " + rank + " 条回复");
      edit.addEventListener("click", () => startEditing(answer, reply, rank));
      head.append(edit);
    }
    head.append(copy);

    const body = el("p", "reply-text");
    body.dataset.testid = "reply-text";
    body.append(withSlots(reply.text));

    card.append(head, body, el("p", "why", reply.holding ? "系统没有把握回答这条消息：先发这句，再查手册或订单后人工回复。" : why(reply)));

    let timer = 0;
    copy.addEventListener("click", async () => {
      const ok = await copyText(reply.text);
      // Once per suggestion shown: copying it again is the same use.
      if (ok && !reply.holding && !card.dataset.recorded) {
        card.dataset.recorded = "copied";
        recordFeedback(answer, reply, rank, "copied");
      }
      copy.textContent = ok ? "已复制" : "复制失败";
      copy.classList.toggle("done", ok);
      copy.classList.toggle("failed", !ok);
      if (!ok) showError("复制失败：浏览器不允许写剪贴板，请手动选中回复文字复制。");
      clearTimeout(timer);
      timer = setTimeout(() => {
        copy.textContent = "复制";
        copy.classList.remove("done", "failed");
      }, 1800);
    });
    return card;
  }

  function showResult(data) {
    const scenario = data.scenario || {};
    const badge = $("scenario");
    badge.className = "badge badge-" + (scenario.label || "other");
    badge.textContent = scenarioName(scenario.label) + " " + percent(scenario.confidence || 0);
    badge.title = "场景：" + scenarioName(scenario.label) + "，置信度 " + percent(scenario.confidence || 0);

    const secondary = $("secondary");
    secondary.hidden = !scenario.secondary;
    secondary.textContent = scenario.secondary ? "另含：" + scenarioName(scenario.secondary) : "";

    const human = Boolean(data.needs_human);
    $("needs-human").hidden = !human;
    $("abstention").textContent = data.abstention || "没有能直接发送的话术，请人工回复。";
    results.classList.toggle("human", human);

    // When kefu abstains, the handbook passages closest to the message help the agent answer.
    const support = Array.isArray(data.support) ? data.support : [];
    const supportList = $("support-list");
    supportList.replaceChildren();
    support.forEach((hit) => {
      const item = el("li", "support-item");
      item.append(el("span", "support-heading", (hit.heading || []).join(" › ") || hit.doc), el("p", "", hit.text));
      supportList.append(item);
    });
    $("support").hidden = !(human && support.length);

    $("buyer-text").textContent = data.message;

    const list = $("replies");
    list.replaceChildren();
    const replies = Array.isArray(data.replies) ? data.replies : [];
    replies.slice(0, TOP_K).forEach((reply, i) => list.append(replyCard(reply, i + 1, data)));
    if (!replies.length) list.append(el("li", "empty", "没有找到合适的话术，请人工回复。"));

    results.hidden = false;
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  // Replies for an earlier message must not stay copyable under an error about a new one.
  function fail(text) {
    showError(text);
    results.hidden = true;
    shown = null;
  }

  function clearError() {
    errorBox.textContent = "";
    errorBox.hidden = true;
  }

  async function errorText(response) {
    let detail = "";
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) detail = String(body.error.message);
    } catch (err) {
      // Not our JSON envelope (a proxy's HTML page, say): describe the status instead.
    }
    const lead = {
      401: "需要访问令牌：请在右上角“设置”里填写正确的令牌。",
      403: "没有权限：请检查访问令牌。",
      413: "消息太长了，请删减后再发送。",
      422: "消息无法处理：",
      429: "请求太频繁，请稍后再试。",
      503: "服务还没准备好，请稍后再试。",
    }[response.status] || "服务器出错了（HTTP " + response.status + "）。";
    return detail ? lead + (lead.endsWith("：") ? "" : " ") + detail : lead;
  }

  function authHeaders() {
    const headers = { Accept: "application/json" };
    const bearer = storage(TOKEN_KEY).trim();
    if (bearer) headers.Authorization = "Bearer " + bearer;
    return headers;
  }

  // The platform menu and scenario names, from the server. Asked again when the token changes,
  // since a server with KEFU_API_TOKEN answers /v1 only with it.
  async function loadVocabulary() {
    try {
      const response = await fetch("/v1/vocabulary", { headers: authHeaders() });
      if (!response.ok) return;
      const vocabulary = await response.json();
      for (const scenario of vocabulary.scenarios) scenarioNames[scenario.id] = scenario.zh;
      const chosen = storage(PLATFORM_KEY) || platform.value || vocabulary.default_platform;
      platform.replaceChildren(...vocabulary.platforms.map((item) => {
        const option = el("option", "", item.zh);
        option.value = item.id;
        return option;
      }));
      const known = vocabulary.platforms.some((item) => item.id === chosen);
      platform.value = known ? chosen : vocabulary.default_platform;
    } catch (err) {
      // The panel still answers without it: the server's default platform, scenario ids as names.
    }
  }

  function setLoading(on) {
    send.disabled = on;
    send.textContent = on ? "生成中…" : "生成回复";
    results.setAttribute("aria-busy", on ? "true" : "false");
    statusLine.textContent = on ? "正在分析买家消息…" : "";
  }

  async function ask() {
    if (pending) pending.abort();
    const controller = new AbortController();
    pending = controller;
    clearError();
    setLoading(true);

    const headers = authHeaders();
    headers["Content-Type"] = "application/json";
    const payload = {
      message: message.value,
      top_k: TOP_K,
      first_turn: firstTurn.checked,
    };
    // Until the vocabulary has loaded there is no choice yet: the server's default platform applies.
    if (platform.value) payload.platform = platform.value;

    try {
      const response = await fetch("/v1/reply", {
        method: "POST",
        headers,
        body: JSON.stringify(payload),
        signal: controller.signal,
      });
      const data = response.ok ? await response.json() : null;
      const problem = response.ok ? "" : await errorText(response);
      if (controller !== pending) return; // a newer request replaced this one
      if (problem) fail(problem);
      else {
        shown = payload.message;
        showResult(data);
      }
    } catch (err) {
      if (controller !== pending || (err && err.name === "AbortError")) return;
      fail(err instanceof SyntaxError
        ? "服务器返回了无法识别的内容，请稍后再试。"
        : "连接不上服务器，请检查网络或确认服务正在运行。");
    } finally {
      if (controller === pending) {
        pending = null;
        setLoading(false);
      }
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ask();
  });

  message.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.isComposing) {
      event.preventDefault();
      if (!send.disabled) ask();
    }
  });

  // Switching platform or greeting changes the wording, so refresh replies already on screen.
  function refresh() {
    if (shown !== null && shown === message.value) ask();
  }

  platform.addEventListener("change", () => {
    storage(PLATFORM_KEY, platform.value);
    refresh();
  });
  firstTurn.addEventListener("change", refresh);

  token.value = storage(TOKEN_KEY);
  token.addEventListener("change", () => {
    storage(TOKEN_KEY, token.value.trim());
    loadVocabulary();
  });
  $("token-clear").addEventListener("click", () => {
    token.value = "";
    storage(TOKEN_KEY, "");
  });

  // ---- The live check: the agent's own reply, inspected while it is typed ----
  // Word and pattern rules on every pause in typing (fast: no encoder, a millisecond on the server);
  // the tone and relevance models once typing has stopped for a while.
  const draft = $("draft");
  const position = $("position");
  const FAST_DELAY_MS = 250;
  const FULL_DELAY_MS = 1200;
  const SEVERITY_NAMES = { high: "严重", medium: "需修改", low: "建议" };
  let fastTimer = 0;
  let fullTimer = 0;
  let checking = null;

  function markedDraft(text, findings) {
    // The reply as typed, with every finding's words highlighted (text nodes only: never innerHTML).
    const spans = findings.filter((f) => Array.isArray(f.span)).map((f) => ({ start: f.span[0], end: f.span[1],
      severity: f.severity, rule: f.rule })).sort((a, b) => a.start - b.start);
    const out = document.createDocumentFragment();
    let at = 0;
    for (const span of spans) {
      if (span.start < at) continue; // overlapping findings: the first one is marked
      out.append(document.createTextNode(text.slice(at, span.start)));
      const mark = el("mark", "hit hit-" + span.severity, text.slice(span.start, span.end));
      mark.dataset.rule = span.rule;
      out.append(mark);
      at = span.end;
    }
    out.append(document.createTextNode(text.slice(at)));
    return out;
  }

  function showCheck(text, data, full) {
    const findings = Array.isArray(data.findings) ? data.findings : [];
    const verdict = $("verdict");
    verdict.className = "verdict " + (data.ok ? "verdict-ok" : "verdict-bad");
    verdict.textContent = (data.ok ? "可以发送" : "不宜发送") + " · " + data.score + " 分" + (full ? "" : "（快速检查）");
    const marked = $("draft-marked");
    marked.replaceChildren(markedDraft(text, findings));
    marked.hidden = !findings.some((f) => Array.isArray(f.span));
    const list = $("findings");
    list.replaceChildren();
    for (const finding of findings) {
      const item = el("li", "finding finding-" + finding.severity);
      item.dataset.rule = finding.rule;
      item.append(el("span", "severity", SEVERITY_NAMES[finding.severity] || finding.severity),
        el("span", "detail", finding.detail));
      if (finding.fix) item.append(el("span", "fix", "改法：" + finding.fix));
      list.append(item);
    }
  }

  async function check(full) {
    const text = draft.value;
    if (!text.trim()) {
      $("verdict").textContent = "";
      $("findings").replaceChildren();
      $("draft-marked").hidden = true;
      return;
    }
    if (checking) checking.abort();
    const controller = new AbortController();
    checking = controller;
    const headers = authHeaders();
    headers["Content-Type"] = "application/json";
    const payload = { message: message.value, reply: text, position: position.value, fast: !full };
    if (platform.value) payload.platform = platform.value;
    try {
      const response = await fetch("/v1/inspect", { method: "POST", headers, body: JSON.stringify(payload),
        signal: controller.signal });
      if (controller !== checking) return;
      if (!response.ok) {
        $("verdict").textContent = await errorText(response);
        $("verdict").className = "verdict verdict-bad";
        return;
      }
      const data = await response.json();
      if (controller === checking && draft.value === text) showCheck(text, data, full);
    } catch (err) {
      if (err && err.name === "AbortError") return;
      $("verdict").textContent = "检查失败：连接不上服务器。";
    } finally {
      if (controller === checking) checking = null;
    }
  }

  function scheduleChecks() {
    clearTimeout(fastTimer);
    clearTimeout(fullTimer);
    fastTimer = setTimeout(() => check(false), FAST_DELAY_MS);
    fullTimer = setTimeout(() => check(true), FULL_DELAY_MS);
  }

  // "改写": the suggestion goes into the check box, where the agent edits it (checked as they type);
  // copying it from there records "edited" with what the agent will send, or "copied" if unchanged.
  let editing = null;

  function startEditing(answer, reply, rank) {
    editing = { answer, reply, rank };
    draft.value = reply.text;
    draft.focus();
    scheduleChecks();
  }

  $("copy-draft").addEventListener("click", async () => {
    const text = draft.value;
    const button = $("copy-draft");
    if (!text.trim()) return;
    const ok = await copyText(text);
    button.textContent = ok ? "已复制" : "复制失败";
    if (!ok) showError("复制失败：浏览器不允许写剪贴板，请手动选中回复文字复制。");
    if (ok && editing) {
      const changed = text.trim() !== editing.reply.text.trim();
      recordFeedback(editing.answer, editing.reply, editing.rank, changed ? "edited" : "copied",
                     changed ? text : null);
      editing = null;
    }
    setTimeout(() => { button.textContent = "复制这条回复"; }, 1800);
  });

  draft.addEventListener("input", scheduleChecks);
  position.addEventListener("change", scheduleChecks);
  platform.addEventListener("change", scheduleChecks);

  loadVocabulary();
  message.focus();
})();
