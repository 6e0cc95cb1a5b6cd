// The template editor: the token's shop's library (GET /v1/shops/{shop}/templates), changed with If-Match so
// that two editors never overwrite each other unseen; a saved change is live within seconds.
(() => {
  "use strict";

  const TOKEN_KEY = "kefuToken"; // the side panel's saved token
  const $ = (id) => document.getElementById(id);
  let shop = null;
  let templates = [];
  let editing = null; // {id, etag, template} of the template in the form, or null for a new one

  function token() {
    try {
      return (window.localStorage.getItem(TOKEN_KEY) || "").trim();
    } catch (err) {
      return "";
    }
  }

  function headers(extra) {
    const found = { Accept: "application/json", "Content-Type": "application/json", ...(extra || {}) };
    if (token()) found.Authorization = "Bearer " + token();
    return found;
  }

  function showError(text) {
    const box = $("library-error");
    box.textContent = text;
    box.hidden = !text;
  }

  function status(text) {
    $("library-status").textContent = text;
  }

  function notice(text) {
    $("library-notice").textContent = text; // what the editor's last action did; stays until the next one
  }

  async function call(path, options) {
    const response = await fetch(path, { ...(options || {}), headers: headers((options || {}).headers) });
    const body = response.status === 204 ? {} : await response.json().catch(() => ({}));
    return { response, body };
  }

  function problem(body, fallback) {
    return (body && body.error && body.error.message) || fallback;
  }

  function lines(text) {
    return text.split("\n").map((line) => line.trim()).filter(Boolean);
  }

  function fill(template) {
    $("field-id").value = template ? template.id : "";
    $("field-id").readOnly = Boolean(template);
    $("field-scenario").value = template ? template.scenario : "other";
    $("field-topic").value = template ? template.topic : "";
    $("field-reply").value = template ? template.reply : "";
    $("field-examples").value = template ? (template.examples || []).join("\n") : "";
    $("editor-title").textContent = template ? "编辑话术 " + template.id : "新建话术";
    $("remove").hidden = !template;
  }

  async function open(id) {
    const { response, body } = await call(`/v1/shops/${encodeURIComponent(shop)}/templates/${encodeURIComponent(id)}`);
    if (!response.ok) return showError(problem(body, "读取话术失败"));
    showError("");
    editing = { id, etag: response.headers.get("ETag"), template: body.template };
    fill(body.template);
  }

  function render() {
    const wanted = $("filter").value.trim();
    const rows = templates.filter((item) => !wanted || item.template.id.includes(wanted) ||
      item.template.reply.includes(wanted));
    const tbody = document.querySelector('[data-testid="templates"] tbody');
    tbody.replaceChildren(...rows.slice(0, 300).map((item) => {
      const tr = document.createElement("tr");
      const idCell = document.createElement("td");
      const link = document.createElement("button");
      link.type = "button";
      link.className = "link";
      link.textContent = item.template.id;
      link.addEventListener("click", () => open(item.template.id));
      idCell.append(link);
      const reply = document.createElement("td");
      reply.textContent = item.template.reply;
      const version = document.createElement("td");
      version.textContent = item.origin === "built" ? "原始" : "v" + item.version;
      tr.append(idCell, reply, version);
      return tr;
    }));
  }

  async function load() {
    const { response, body } = await call(`/v1/shops/${encodeURIComponent(shop)}/templates`);
    if (!response.ok) return showError(problem(body, "读取话术库失败"));
    templates = body.templates;
    const live = body.served_revision >= body.revision;
    status(`店铺 ${shop}：共 ${templates.length} 条话术，` + (live ? "所有修改都已生效" : "最近的修改正在生效……"));
    render();
    if (!live) window.setTimeout(load, 1000);
  }

  async function save(event) {
    event.preventDefault();
    const base = editing ? editing.template : { platforms: ["taobao", "tmall", "jd"], source: "team" };
    const template = {
      ...base,
      id: $("field-id").value.trim(),
      scenario: $("field-scenario").value,
      topic: $("field-topic").value.trim(),
      reply: $("field-reply").value.trim(),
      examples: lines($("field-examples").value),
    };
    const path = `/v1/shops/${encodeURIComponent(shop)}/templates`;
    const { response, body } = editing
      ? await call(`${path}/${encodeURIComponent(editing.id)}`,
        { method: "PUT", body: JSON.stringify(template), headers: { "If-Match": editing.etag } })
      : await call(path, { method: "POST", body: JSON.stringify(template) });
    if (response.status === 412) {
      notice("");
      showError("这条话术刚被别人改过，已载入最新版本；请在此基础上重新修改。");
      await open(editing.id);
      return;
    }
    if (!response.ok) return showError(problem(body, "保存失败"));
    showError("");
    editing = { id: body.template.id, etag: response.headers.get("ETag"), template: body.template };
    fill(body.template);
    notice(`已保存 ${body.template.id}（第 ${body.version} 版），几秒内生效`);
    window.setTimeout(load, 500);
  }

  async function remove() {
    if (!editing) return;
    const { response, body } = await call(
      `/v1/shops/${encodeURIComponent(shop)}/templates/${encodeURIComponent(editing.id)}`,
      { method: "DELETE", headers: { "If-Match": editing.etag } });
    if (response.status === 412) {
      showError("这条话术刚被别人改过，已载入最新版本；确认后再删除。");
      await open(editing.id);
      return;
    }
    if (!response.ok) return showError(problem(body, "删除失败"));
    showError("");
    notice(`已删除 ${editing.id}，几秒内生效`);
    editing = null;
    fill(null);
    window.setTimeout(load, 500);
  }

  async function start() {
    const { response, body } = await call("/v1/me");
    if (!response.ok) {
      status("");
      return showError(problem(body, "无法识别身份：请先在回复助手里填写令牌"));
    }
    shop = body.shop;
    if (body.role !== "editor") {
      $("save").disabled = true;
      $("remove").disabled = true;
      showError("这个令牌是客服令牌，只能查看话术；修改需要编辑令牌。");
    }
    $("editor").addEventListener("submit", save);
    $("remove").addEventListener("click", remove);
    $("fresh").addEventListener("click", () => { editing = null; fill(null); });
    $("filter").addEventListener("input", render);
    await load();
  }

  start().catch(() => showError("无法连接服务器"));
})();
