/* Tamaq Ledger pages: fetch the JSON API with the pasted token and fill the page in.
   Every figure shown is a field of an API answer, formatted, never recomputed. */
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "tamaq.token";
const ROWS_MAX = 2000;          // a table shows at most this many rows
const CHART_SCHOOLS_MAX = 200;  // bars in the region chart
const body = document.body;
const PREFIX = body.dataset.prefix;
const T = JSON.parse(document.getElementById("labels").textContent);
const NAV = {
  admin: ["region", "school", "auditor", "parent"], auditor: ["auditor", "region", "school"],
  region: ["region"], accountant: ["school"], "school-admin": ["school"], parent: ["parent"],
};
const HOME = { admin: "school", auditor: "auditor", region: "region", accountant: "school",
  "school-admin": "school", parent: "parent" };

/* ---------------------------------------------------------------- formatting */

/** 1401075 -> "1 401 075 ₸" (thin spaces between thousands, no-break space before ₸). */
function kzt(amount) {
  const digits = String(Math.abs(amount)).replace(/\B(?=(\d{3})+(?!\d))/g, "\u2009");
  return (amount < 0 ? "\u2212" : "") + digits + "\u00a0₸";
}
function pct(value) { return value.toFixed(1).replace(".", ",") + "\u00a0%"; }
function label(prefix, value) { return T[prefix + value] || value; }
/** "2025-10-06T04:00:00+00:00" -> "2025-10-06 09:00" in Asia/Almaty (UTC+5, no DST). */
function localTime(instant) {
  const ms = Date.parse(instant);
  if (Number.isNaN(ms)) return instant;
  return new Date(ms + 5 * 3600 * 1000).toISOString().slice(0, 16).replace("T", " ");
}
function localNowInput() { return new Date(Date.now() + 5 * 3600 * 1000).toISOString().slice(0, 16); }
/** A datetime-local value read as Asia/Almaty time, as RFC 3339. */
function almatyInstant(value) { return (value.length === 16 ? value + ":00" : value) + "+05:00"; }
function newId(prefix) { return prefix + "-" + crypto.randomUUID().slice(0, 18); }

/* ---------------------------------------------------------------- DOM helpers */

const $ = (sel, root = document) => root.querySelector(sel);
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? ""));
  return node;
}
function money(amount, tag = "td") { return el(tag, { class: "num money", "data-kzt": amount }, kzt(amount)); }
function num(value) { return el("td", { class: "num", "data-value": value }, value); }
function fillRows(table, rows, render) {
  const tbody = $("tbody", table);
  tbody.replaceChildren();
  for (const row of rows.slice(0, ROWS_MAX)) tbody.append(render(row));
  if (rows.length === 0) {
    const cols = $("thead tr", table)?.children.length || 1;
    tbody.append(el("tr", { class: "empty" }, el("td", { colspan: cols }, T.none)));
  }
}
function setMoney(root, data) {
  for (const node of root.querySelectorAll("[data-field]")) {
    const key = node.dataset.field;
    if (!(key in data)) continue;
    const value = data[key];
    if (key.endsWith("_kzt")) { node.textContent = kzt(value); node.dataset.kzt = value; }
    else if (key === "saving_percent") { node.textContent = pct(value); node.dataset.value = value; }
    else { node.textContent = value ?? "—"; node.dataset.value = value ?? ""; }
  }
}
function say(id, text, kind = "ok") {
  const node = document.getElementById(id);
  if (!node) return;
  node.hidden = !text;
  node.textContent = text || "";
  node.className = "status " + kind;
}

/* ---------------------------------------------------------------- the API */

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}
function token() { return sessionStorage.getItem(TOKEN_KEY); }
async function call(method, path, data) {
  const headers = { Authorization: "Bearer " + token(), Accept: "application/json" };
  const init = { method, headers };
  if (data !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(data); }
  const response = await fetch(path, init);
  if (response.status === 401) { signOut(T.not_signed_in); throw new ApiError(401, T.not_signed_in); }
  if (!response.ok) {
    let detail = response.statusText;
    try { const p = await response.json(); detail = p.detail || p.title || detail; } catch (e) { /* not JSON */ }
    throw new ApiError(response.status, `${response.status}: ${detail}`);
  }
  return response;
}
async function getJson(path) { return (await call("GET", path)).json(); }
/** Run a section's loader; show its error in the section instead of failing the page. */
async function section(statusId, loader) {
  say(statusId, T.loading, "info");
  try { await loader(); say(statusId, ""); }
  catch (error) {
    if (error.status === 404 && statusId === "filings-status") say(statusId, T.not_available, "info");
    else say(statusId, `${T.error}: ${error.message}`, "error");
  }
}
async function download(url, statusId) {
  say(statusId, T.loading, "info");
  try {
    const response = await call("GET", url);
    const blob = await response.blob();
    const cd = response.headers.get("Content-Disposition") || "";
    const star = /filename\*=UTF-8''([^;]+)/i.exec(cd);
    const plain = /filename="?([^";]+)"?/i.exec(cd);
    const name = star ? decodeURIComponent(star[1]) : plain ? plain[1] : url.split("/").pop();
    const link = el("a", { href: URL.createObjectURL(blob), download: name });
    document.body.append(link);
    link.click();
    link.remove();
    say(statusId, `${T.downloaded}: ${name}`);
  } catch (error) {
    say(statusId, error.status === 404 ? `${T.not_available} (${error.message})` : `${T.error}: ${error.message}`,
      error.status === 404 ? "info" : "error");
  }
}

/* ---------------------------------------------------------------- session */

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (body.dataset.page !== "sign-in") {
    const note = message ? "&note=1" : "";
    location.href = `${PREFIX}?lang=${body.dataset.lang}${note}`;
  }
}
async function whoami() { return getJson(`${PREFIX}/whoami`); }
function showNav(me) {
  const allowed = NAV[me.role] || [];
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.hidden = !allowed.includes(a.dataset.nav);
    if (a.dataset.nav === body.dataset.page) a.classList.add("current");
  }
  $("#nav").hidden = false;
  $("#sign-out").hidden = false;
  const scope = me.school_id || me.region_id || (me.children[0] || {}).child_id || "";
  $("#who").textContent = `${T.signed_in_as}: ${me.role}${scope ? " · " + scope : ""}`;
}
/** The id a page is about: from the URL, else from the token (then fixed), else typed in. */
function scopeId(name, fromToken) {
  const input = $("#scope-id");
  const fromUrl = body.dataset["q" + name[0].toUpperCase() + name.slice(1)];
  const value = fromUrl || fromToken || "";
  if (input) { input.value = value; if (fromToken) input.readOnly = true; }
  return value;
}
function month() { return body.dataset.month; }

/* ---------------------------------------------------------------- sign-in page */

function initSignIn() {
  const form = $("#sign-in-form");
  if (new URLSearchParams(location.search).get("note")) say("sign-in-error", T.not_signed_in, "error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = form.token.value.trim();
    sessionStorage.setItem(TOKEN_KEY, value);
    try {
      const response = await fetch(`${PREFIX}/whoami`, { headers: { Authorization: "Bearer " + value } });
      if (!response.ok) {
        const problem = await response.json().catch(() => ({}));
        throw new Error(problem.detail || response.statusText);
      }
      const me = await response.json();
      location.href = `${PREFIX}/${HOME[me.role] || "school"}?lang=${body.dataset.lang}&month=${month()}`;
    } catch (error) {
      sessionStorage.removeItem(TOKEN_KEY);
      say("sign-in-error", `${T.error}: ${error.message}`, "error");
    }
  });
}

/* ---------------------------------------------------------------- region page */

function drawChart(schools) {
  const shown = schools.slice(0, CHART_SCHOOLS_MAX);
  const W = 1000, LEFT = 200, BAR = 11, ROW = 34, TOP = 8;
  const max = Math.max(1, ...shown.map((s) => Math.max(s.planned_kzt, s.actual_kzt)));
  const H = TOP + ROW * Math.max(1, shown.length) + 4;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const make = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  };
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", T.chart);
  shown.forEach((s, i) => {
    const y = TOP + i * ROW;
    const width = (v) => Math.max(0, ((W - LEFT - 90) * v) / max);
    const g = make("g", { class: "bar", "data-school": s.school_id });
    g.append(make("text", { x: LEFT - 8, y: y + BAR + 4, "text-anchor": "end", class: "name" }, s.name));
    g.append(make("rect", { x: LEFT, y, width: width(s.planned_kzt), height: BAR, class: "planned",
      "data-kzt": s.planned_kzt }));
    g.append(make("rect", { x: LEFT, y: y + BAR + 2, width: width(s.actual_kzt), height: BAR, class: "actual",
      "data-kzt": s.actual_kzt }));
    g.append(make("text", { x: LEFT + width(s.planned_kzt) + 6, y: y + BAR - 1, class: "value" }, kzt(s.planned_kzt)));
    g.append(make("text", { x: LEFT + width(s.actual_kzt) + 6, y: y + 2 * BAR + 1, class: "value" },
      `${kzt(s.actual_kzt)} (−${pct(s.saving_percent)})`));
    g.append(make("title", {}, `${s.name}: ${T.saving} ${kzt(s.saving_kzt)}`));
    svg.append(g);
  });
  $("#chart").replaceChildren(svg);
}

async function loadRegionSavings(region) {
  const data = await getJson(`${API}/regions/${encodeURIComponent(region)}/savings?month=${month()}`);
  setMoney($("#savings-totals"), data);
  $("#savings-meta").textContent = `${data.month} · ${T.position} ${data.position}`;
  fillRows($("#savings-table"), data.schools, (s) => el("tr", { "data-school": s.school_id },
    el("td", {}, s.name), el("td", {}, s.district), num(s.school_days), money(s.planned_kzt),
    money(s.actual_kzt), money(s.saving_kzt), el("td", { class: "num", "data-value": s.saving_percent }, pct(s.saving_percent))));
  const foot = el("tr", { class: "total" }, el("th", { colspan: 3 }, T.total), money(data.planned_kzt),
    money(data.actual_kzt), money(data.saving_kzt), el("td", { class: "num" }, pct(data.saving_percent)));
  $("#savings-table tbody").append(foot);
  drawChart(data.schools);
}

async function loadFilings(region) {
  const data = await getJson(`${API}/regions/${encodeURIComponent(region)}/filings?month=${month()}`);
  $("#filings-due").textContent = `${T.due}: ${data.due}`;
  fillRows($("#filings-table"), data.schools, (s) => el("tr", { "data-school": s.school_id, class: s.late ? "late" : "" },
    el("td", {}, s.name),
    el("td", {}, ...s.filed.map((f) => el("span", { class: "chip" + (f.late ? " late" : ""), title: f.sha256 },
      `${label("export_", f.kind)} · ${localTime(f.filed_at)}`))),
    el("td", {}, ...s.missing.map((k) => el("span", { class: "chip missing", "data-kind": k }, label("export_", k)))),
    el("td", {}, el("span", { class: "badge " + (s.late ? "bad" : "good") }, s.late ? T.late : T.on_time))));
}

async function initRegion(me) {
  const region = scopeId("region", me.region_id);
  if (!region) return;
  for (const button of document.querySelectorAll("#region-exports .download")) {
    button.addEventListener("click", () => download(`${API}/regions/${encodeURIComponent(region)}/exports/`
      + `${button.dataset.export}?month=${month()}&lang=${body.dataset.lang}&format=${button.dataset.format}`,
      "region-exports-status"));
  }
  await Promise.all([section("savings-status", () => loadRegionSavings(region)),
    section("filings-status", () => loadFilings(region))]);
}

/* ---------------------------------------------------------------- school page */

function renderStatement(data) {
  const state = $("#statement-state");
  state.textContent = data.closed ? T.status_closed : T.status_open;
  state.className = "badge " + (data.closed ? "good" : "info");
  state.dataset.closed = data.closed;
  fillRows($("#statement-lines"), data.lines, (l) => el("tr", {}, el("td", {}, l.day), el("td", {}, label("band_", l.band)),
    el("td", {}, label("source_", l.funding_source)), num(l.meals), money(l.rate_kzt), money(l.amount_kzt)));
  fillRows($("#statement-adjustments"), data.adjustments, (a) => el("tr", {}, el("td", {}, a.day),
    el("td", {}, label("band_", a.band)), el("td", {}, a.description), money(a.amount_kzt)));
  fillRows($("#statement-allowances"), data.allowances, (a) => el("tr", {}, el("td", {}, a.child_id),
    el("td", {}, label("band_", a.band)), num(a.days), money(a.amount_kzt)));
  setMoney($("#statement-totals"), data);
  $("#statement-flags").replaceChildren(...data.flags.map((f) => el("span", { class: "chip late" }, f)));
  $("#statement-meta").textContent = `${T.position} ${data.position}` + (data.chain_head ? ` · ${T.chain_head} ${data.chain_head.slice(0, 16)}…` : "");
  const form = $("#payment-form");
  if (!form.amount_kzt.value && data.outstanding_kzt > 0) form.amount_kzt.value = data.outstanding_kzt;
  $("#close-form button").disabled = data.closed;
}

async function loadStatement(school) {
  renderStatement(await getJson(`${API}/schools/${encodeURIComponent(school)}/tenant-statement?month=${month()}`));
}

async function loadRegister(school) {
  const data = await getJson(`${API}/schools/${encodeURIComponent(school)}/savings?month=${month()}`);
  $("#register-meta").textContent = `${T.school_days}: ${data.school_days}`;
  fillRows($("#register-table"), data.bands, (b) => el("tr", { "data-band": b.band }, el("td", {}, label("band_", b.band)),
    el("td", {}, label("source_", b.funding_source)), num(b.list_child_days), money(b.planned_kzt), num(b.funded_meals),
    money(b.funded_kzt), num(b.home_schooled_days), money(b.actual_kzt), money(b.saving_kzt)));
  $("#register-table tfoot").replaceChildren(el("tr", { class: "total" }, el("th", { colspan: 3 }, T.total),
    money(data.planned_kzt), el("td"), el("td"), el("td"), money(data.actual_kzt), money(data.saving_kzt)));
}

async function loadAnomalies(school) {
  const rows = await getJson(`${API}/schools/${encodeURIComponent(school)}/anomalies?month=${month()}`);
  $("#anomalies-count").textContent = rows.length;
  $("#anomalies-count").dataset.value = rows.length;
  fillRows($("#anomalies-table"), rows, (a) => el("tr", {}, el("td", {}, a.kind), el("td", {}, a.day),
    el("td", {}, a.subject), el("td", {}, a.detail)));
}

function wireSchoolForms(school) {
  const base = `${API}/schools/${encodeURIComponent(school)}`;
  $("#close-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    say("close-status", T.loading, "info");
    try {
      renderStatement(await (await call("POST", `${base}/months/${month()}/close`)).json());
      say("close-status", `${T.saved}: ${T.status_closed}`);
    } catch (error) { say("close-status", `${T.error}: ${error.message}`, "error"); }
  });
  const pay = $("#payment-form");
  pay.payment_id.value = newId("tp");
  pay.paid_at.value = localNowInput();
  pay.addEventListener("submit", async (event) => {
    event.preventDefault();
    say("payment-status", T.loading, "info");
    try {
      const response = await call("POST", `${base}/tenant-payments`, { payment_id: pay.payment_id.value,
        month: month(), amount_kzt: Number.parseInt(pay.amount_kzt.value, 10), paid_at: almatyInstant(pay.paid_at.value) });
      say("payment-status", response.status === 201 ? T.saved : T.already_saved);
      pay.payment_id.value = newId("tp");
      pay.amount_kzt.value = "";
      await loadStatement(school);
    } catch (error) { say("payment-status", `${T.error}: ${error.message}`, "error"); }
  });
  for (const button of document.querySelectorAll("#exports .download")) {
    button.addEventListener("click", () => download(`${base}/exports/${button.dataset.export}?month=${month()}`
      + `&lang=${body.dataset.lang}&format=${button.dataset.format}`, "exports-status"));
  }
}

async function initSchool(me) {
  const school = scopeId("school", me.school_id);
  if (!school) return;
  wireSchoolForms(school);
  await Promise.all([section("statement-status", () => loadStatement(school)),
    section("register-status", () => loadRegister(school)),
    section("anomalies-status", () => loadAnomalies(school))]);
}

/* ---------------------------------------------------------------- auditor page */

async function verifyChain() {
  const data = await getJson(`${API}/audit/verify`);
  const badge = $("#chain-badge");
  badge.textContent = data.ok ? T.chain_ok : T.chain_broken;
  badge.className = "badge " + (data.ok ? "good" : "bad");
  badge.dataset.ok = data.ok;
  setMoney($("#chain"), data.result);
  $("#chain-summary").textContent = data.summary;
}

function renderReplay(data, scope) {
  setMoney($("#replay-result"), data);
  const table = $("#replay-table");
  if (scope === "region") {
    $("thead", table).replaceChildren(el("tr", {}, el("th", {}, T.school), el("th", { class: "num" }, T.planned),
      el("th", { class: "num" }, T.actual), el("th", { class: "num" }, T.saving)));
    fillRows(table, data.schools, (s) => el("tr", {}, el("td", {}, s.name), money(s.planned_kzt), money(s.actual_kzt), money(s.saving_kzt)));
  } else {
    $("thead", table).replaceChildren(el("tr", {}, el("th", {}, T.band), el("th", { class: "num" }, T.funded_meals),
      el("th", { class: "num" }, T.planned), el("th", { class: "num" }, T.actual), el("th", { class: "num" }, T.saving)));
    fillRows(table, data.bands, (b) => el("tr", {}, el("td", {}, label("band_", b.band)), num(b.funded_meals),
      money(b.planned_kzt), money(b.actual_kzt), money(b.saving_kzt)));
  }
  $("#replay-meta").textContent = `${T.as_of}: ${data.as_of} · ${T.position} ${data.position}`
    + (data.chain_head ? ` · ${T.chain_head} ${data.chain_head}` : "");
  $("#replay-result").hidden = false;
}

async function initAuditor(me) {
  const form = $("#replay-form");
  if (me.region_id) { form.ident.value = me.region_id; }
  form.as_of.value = localNowInput();
  $("#verify").addEventListener("click", () => section("chain-status", verifyChain));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const scope = form.scope.value;
    const path = `${API}/${scope === "region" ? "regions" : "schools"}/${encodeURIComponent(form.ident.value)}/savings`
      + `?month=${form.month.value}&as_of=${encodeURIComponent(almatyInstant(form.as_of.value))}`;
    section("replay-status", async () => renderReplay(await getJson(path), scope));
  });
  await section("chain-status", verifyChain);
}

/* ---------------------------------------------------------------- parent page */

async function loadChild(child) {
  const base = `${API}/children/${encodeURIComponent(child)}`;
  await Promise.all([
    section("balance-status", async () => {
      const data = await getJson(`${base}/balance`);
      setMoney($("#balance"), data);
      fillRows($("#movements-table"), data.movements.slice().reverse(), (m) => el("tr", {}, el("td", {}, localTime(m.at)),
        el("td", {}, label("move_", m.kind)), money(m.amount_kzt)));
    }),
    section("meals-status", async () => {
      const rows = await getJson(`${base}/meals?month=${month()}`);
      $("#meals-count").textContent = rows.length;
      $("#meals-count").dataset.value = rows.length;
      fillRows($("#meals-table"), rows, (m) => el("tr", { class: m.voided ? "voided" : "", "data-event": m.event_id },
        el("td", {}, m.day), el("td", {}, localTime(m.at).slice(11)),
        el("td", {}, m.items.map((i) => i.name || i.item_id).join(", ")), el("td", {}, label("funding_", m.funding)),
        money(m.funded_kzt), money(m.paid_kzt),
        el("td", {}, [...m.flags, ...(m.voided ? [T.voided] : []), ...(m.offline ? [T.offline] : [])].join(", "))));
    }),
    section("passes-status", async () => {
      const rows = await getJson(`${base}/passes?month=${month()}`);
      $("#passes-count").textContent = rows.length;
      $("#passes-count").dataset.value = rows.length;
      fillRows($("#passes-table"), rows, (p) => el("tr", {}, el("td", {}, p.day), el("td", {}, localTime(p.at).slice(11)),
        el("td", {}, label("dir_", p.direction)), el("td", {}, label("method_", p.method))));
    }),
  ]);
}

function wireParentForms(me, child) {
  const allergens = $("#allergens-form");
  allergens.set_by.value = `parent ${me.token_id}`;
  allergens.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = [...allergens.querySelectorAll("input[name=allergen]:checked")].map((i) => i.value);
    const other = allergens.other.value.split(",").map((s) => s.trim()).filter(Boolean);
    say("allergens-status", T.loading, "info");
    try {
      await call("PUT", `${API}/children/${encodeURIComponent(child)}/allergen-restrictions`,
        { allergens: [...new Set([...chosen, ...other])], set_by: allergens.set_by.value });
      say("allergens-status", T.saved);
    } catch (error) { say("allergens-status", `${T.error}: ${error.message}`, "error"); }
  });
  const rating = $("#rating-form");
  rating.date.value = localNowInput().slice(0, 10);
  rating.addEventListener("submit", async (event) => {
    event.preventDefault();
    const school = (me.children.find((c) => c.child_id === child) || {}).school_id;
    const payload = { rating_id: newId("rt"), child_id: child, date: rating.date.value,
      score: Number.parseInt(new FormData(rating).get("score"), 10) };
    if (rating.comment.value.trim()) payload.comment = rating.comment.value.trim();
    say("rating-status", T.loading, "info");
    try {
      await call("POST", `${API}/schools/${encodeURIComponent(school)}/ratings`, payload);
      say("rating-status", T.saved);
      rating.comment.value = "";
    } catch (error) { say("rating-status", `${T.error}: ${error.message}`, "error"); }
  });
}

async function initParent(me) {
  const select = $("#child-select");
  const ids = me.children.map((c) => c.child_id);
  if (me.role === "admin" && select.dataset.selected) ids.push(select.dataset.selected);
  for (const id of ids) select.append(el("option", { value: id }, id));
  const child = ids.includes(select.dataset.selected) ? select.dataset.selected : ids[0];
  if (!child) return;
  select.value = child;
  wireParentForms(me, child);
  await loadChild(child);
}

/* ---------------------------------------------------------------- start */

const PAGES = { region: initRegion, school: initSchool, auditor: initAuditor, parent: initParent };

async function start() {
  const page = body.dataset.page;
  $("#sign-out").addEventListener("click", () => signOut());
  if (page === "sign-in") { initSignIn(); return; }
  if (!token()) { signOut(T.not_signed_in); return; }
  let me;
  try { me = await whoami(); } catch (error) { return; }
  showNav(me);
  if (!(NAV[me.role] || []).includes(page)) {
    $("main").prepend(el("p", { class: "status error" }, T.wrong_role));
  }
  try { await PAGES[page](me); } finally { body.dataset.ready = "1"; }  // tests wait for this
}

start();
