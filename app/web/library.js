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

  // --- the shop profile: a form drawn from GET /profile/form, saved whole with If-Match ---------------

  let form = null; // {sections, fields}
  let profileEtag = null;

  function valueAt(object, key) {
    return key.split(".").reduce((found, part) => (found == null ? undefined : found[part]), object);
  }

  function setAt(object, key, value) {
    const parts = key.split(".");
    let node = object;
    for (const part of parts.slice(0, -1)) node = node[part] = node[part] || {};
    node[parts[parts.length - 1]] = value;
  }

  function span(value) {
    if (!Array.isArray(value)) return String(value);
    return value[0] === value[1] ? String(value[0]) : `${value[0]}-${value[1]}`;
  }

  function parseSpan(text) {
    // "3", "2-4", "2~4", "2到4" -> a number or [low, high]; anything else goes as written, so that the
    // server's error names the key.
    const found = text.match(/^\s*(\d+(?:\.\d+)?)\s*(?:[-~～到]\s*(\d+(?:\.\d+)?))?\s*$/);
    if (!found) return text;
    return found[2] === undefined ? Number(found[1]) : [Number(found[1]), Number(found[2])];
  }

  function select(options, value) {
    const box = document.createElement("select");
    for (const [key, text] of [["", "未设置"], ...Object.entries(options)]) {
      const option = new Option(text, key);
      option.selected = key === value;
      box.append(option);
    }
    return box;
  }

  function control(field, value) {
    if (field.kind === "flag") return select(field.choices, value == null ? "" : String(value));
    if (field.kind === "payer") return select(field.choices, value || "");
    if (field.kind === "platforms") {
      const box = document.createElement("span");
      box.className = "choices";
      for (const [key, text] of Object.entries(field.choices)) {
        const label = document.createElement("label");
        const tick = document.createElement("input");
        tick.type = "checkbox";
        tick.value = key;
        tick.checked = Array.isArray(value) && value.includes(key);
        label.append(tick, " " + text);
        box.append(label);
      }
      return box;
    }
    if (field.kind === "chart") {
      const area = document.createElement("textarea");
      area.rows = Math.min(Math.max((value || []).length + 1, 3), 12);
      area.placeholder = "每行一个尺码：尺码 " + field.columns.map((column) => column.label + "范围").join(" ") +
        "，例如 M " + field.columns.map(() => "160-165").join(" ");
      area.value = (value || []).map((row) =>
        [row.size, ...field.columns.map((column) => span(row[column.key]))].join(" ")).join("\n");
      return area;
    }
    const input = document.createElement("input");
    if (field.kind === "number" || field.kind === "whole") input.inputMode = "decimal";
    input.value = value == null ? "" : field.kind === "texts" ? value.join("、")
      : field.kind === "days" ? span(value) : String(value);
    if (field.kind === "texts") input.placeholder = "用顿号或逗号分开";
    if (field.kind === "days") input.placeholder = "天数，或范围如 2-4";
    if (field.kind === "clock") input.placeholder = "如 16:00";
    return input;
  }

  function read(field, box) {
    if (field.kind === "platforms") {
      const ticked = [...box.querySelectorAll("input:checked")].map((tick) => tick.value);
      return ticked.length ? ticked : undefined;
    }
    const text = box.value.trim();
    if (!text) return undefined;
    if (field.kind === "flag") return text === "true";
    if (field.kind === "texts") return text.split(/[,，、;；\n]+/).map((word) => word.trim()).filter(Boolean);
    if (field.kind === "number" || field.kind === "whole") return Number.isFinite(Number(text)) ? Number(text) : text;
    if (field.kind === "days") return parseSpan(text);
    if (field.kind === "chart") {
      return lines(text).map((line) => {
        const [size, ...cells] = line.split(/[\s,，]+/);
        const row = { size };
        field.columns.forEach((column, at) => {
          const cell = parseSpan(cells[at] || "");
          row[column.key] = typeof cell === "number" ? [cell, cell] : cell;
        });
        return row;
      });
    }
    return text;
  }

  function drawProfile(profile) {
    const holder = $("profile-fields");
    const sets = {};
    holder.replaceChildren();
    for (const field of form.fields) {
      if (!sets[field.section]) {
        const set = document.createElement("fieldset");
        const legend = document.createElement("legend");
        legend.textContent = form.sections[field.section] || field.section;
        set.append(legend);
        holder.append(set);
        sets[field.section] = set;
      }
      const label = document.createElement("label");
      const box = control(field, valueAt(profile, field.key));
      box.dataset.key = field.key;
      label.append(field.label + " ", box);
      sets[field.section].append(label);
    }
  }

  async function loadProfile() {
    const base = `/v1/shops/${encodeURIComponent(shop)}/profile`;
    if (!form) {
      const { response, body } = await call(`${base}/form`);
      if (!response.ok) return profileError(problem(body, "读取店铺资料的表单失败"));
      form = body;
    }
    const { response, body } = await call(base);
    if (!response.ok) return profileError(problem(body, "读取店铺资料失败"));
    profileEtag = response.headers.get("ETag");
    const set = form.fields.filter((field) => valueAt(body.profile, field.key) !== undefined).length;
    $("profile-status").textContent = `已填 ${set} / ${form.fields.length} 项，` +
      (body.origin === "built" ? "原始资料" : `第 ${body.version} 版`);
    drawProfile(body.profile);
  }

  function profileError(text, details) {
    const box = $("profile-error");
    box.textContent = text;
    box.hidden = !text;
    for (const marked of document.querySelectorAll("#profile-fields .invalid")) marked.classList.remove("invalid");
    for (const item of details || []) {
      const key = String(item.key || "").replace(/\[\d+\].*$/, ""); // size_charts.clothing[2].size -> the chart
      const box = document.querySelector(`#profile-fields [data-key="${CSS.escape(key)}"]`);
      if (box) {
        box.classList.add("invalid");
        box.title = item.problem || "";
      }
    }
  }

  async function saveProfile(event) {
    event.preventDefault();
    const profile = {};
    for (const field of form.fields) {
      const value = read(field, document.querySelector(`#profile-fields [data-key="${CSS.escape(field.key)}"]`));
      if (value !== undefined) setAt(profile, field.key, value);
    }
    const { response, body } = await call(`/v1/shops/${encodeURIComponent(shop)}/profile`,
      { method: "PUT", body: JSON.stringify(profile), headers: { "If-Match": profileEtag } });
    if (response.status === 412) {
      $("profile-notice").textContent = "";
      profileError("店铺资料刚被别人改过，已载入最新版本；请在此基础上重新修改。");
      return loadProfile();
    }
    if (!response.ok) return profileError(problem(body, "保存失败"), (body.error || {}).details);
    profileError("");
    $("profile-notice").textContent = `店铺资料已保存（第 ${body.version} 版），几秒内生效`;
    await loadProfile();
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
      $("profile-save").disabled = true;
      showError("这个令牌是客服令牌，只能查看话术；修改需要编辑令牌。");
    }
    $("editor").addEventListener("submit", save);
    $("remove").addEventListener("click", remove);
    $("fresh").addEventListener("click", () => { editing = null; fill(null); });
    $("filter").addEventListener("input", render);
    $("profile-form").addEventListener("submit", saveProfile);
    await Promise.all([load(), loadProfile()]);
  }

  start().catch(() => showError("无法连接服务器"));
})();
