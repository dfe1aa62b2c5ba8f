// Blaigent dashboard: progressive enhancement for server-rendered pages. Pages work for
// reading without this script; it sends the forms and buttons marked data-api to the JSON API
// with the session cookie and the CSRF token, and refreshes the parts that change.
//
//   <form data-api="PATCH /api/v1/dashboard/agent-config" [data-body="json|multipart|none"]
//         [data-result="#id"] [data-show="secret"] [data-confirm="Sure?"] [data-then="reload|none"]>
//   <button data-api="DELETE /api/v1/..."> works the same for a single action.
//   Field names with dots build nested objects (brand.accent_color); data-type="list" splits
//   on commas and new lines, "lines" on new lines only, "json" parses JSON, "number" a number; checkboxes are booleans;
//   empty fields are left out unless data-keep-empty is set.
"use strict";
(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  function toast(text, bad) {
    const el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;
    el.className = bad ? "show bad" : "show";
    clearTimeout(toast.t);
    toast.t = setTimeout(() => (el.className = ""), 5000);
  }

  function setPath(obj, path, value) {
    const keys = path.split(".");
    let cur = obj;
    for (let i = 0; i < keys.length - 1; i++) {
      cur[keys[i]] = cur[keys[i]] && typeof cur[keys[i]] === "object" ? cur[keys[i]] : {};
      cur = cur[keys[i]];
    }
    cur[keys[keys.length - 1]] = value;
  }

  function formJson(form) {
    const body = {};
    for (const el of form.elements) {
      if (!el.name || el.name === "_csrf" || el.disabled) continue;
      let value;
      if (el.type === "checkbox") value = el.checked;
      else if (el.type === "file") continue;
      else {
        value = el.value;
        if (value === "" && !el.hasAttribute("data-keep-empty")) continue;
        const t = el.dataset.type;
        if (t === "list") value = value.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
        else if (t === "lines") value = value.split("\n").map((s) => s.trim()).filter(Boolean);
        else if (t === "number") value = Number(value);
        else if (t === "json") value = JSON.parse(value);
      }
      setPath(body, el.name, value);
    }
    return body;
  }

  async function call(spec, form) {
    let [method, path] = spec.trim().split(/\s+/, 2);
    // {field} in the path is filled from the form's field of that name (left out of the body).
    const used = new Set();
    path = path.replace(/\{(\w+)\}/g, (_, name) => {
      used.add(name);
      return encodeURIComponent(form?.elements[name]?.value || "");
    });
    const headers = { "X-CSRF-Token": csrf(), Accept: "application/json" };
    let body;
    const mode = (form && form.dataset.body) || (form ? "json" : "none");
    if (mode === "json" && form) {
      headers["Content-Type"] = "application/json";
      const json = formJson(form);
      for (const name of used) delete json[name];
      body = JSON.stringify(json);
    } else if (mode === "multipart" && form) {
      const data = new FormData(form);
      data.delete("_csrf");
      body = data;
    }
    const res = await fetch(path, { method, headers, body, credentials: "same-origin" });
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = text; }
    if (!res.ok) throw new Error((data && data.detail) || `${res.status} ${res.statusText}`);
    return data;
  }

  function pick(data, path) {
    return path.split(".").reduce((v, k) => (v == null ? v : v[k]), data);
  }

  async function run(el, form) {
    if (el.dataset.confirm && !window.confirm(el.dataset.confirm)) return;
    const busy = form ? form.querySelector('[type="submit"]') : el;
    if (busy) busy.disabled = true;
    try {
      const data = await call(el.dataset.api, form);
      const target = el.dataset.result && document.querySelector(el.dataset.result);
      if (target) {
        const shown = el.dataset.show ? pick(data, el.dataset.show) : data;
        target.textContent = typeof shown === "string" ? shown : JSON.stringify(shown, null, 2);
        target.hidden = false;
        target.closest("[hidden]")?.removeAttribute("hidden");
        target.focus?.();
      }
      toast(el.dataset.done || "Saved.");
      if ((el.dataset.then || (target ? "none" : "reload")) === "reload") {
        setTimeout(() => window.location.reload(), 300);
      }
      document.dispatchEvent(new CustomEvent("dashboard:done", { detail: { el, data } }));
    } catch (err) {
      toast(err.message, true);
    } finally {
      if (busy) busy.disabled = false;
    }
  }

  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    if (form.dataset.api) {
      ev.preventDefault();
      run(form, form);
    } else if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      ev.preventDefault();
    }
  });
  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest("button[data-api]");
    if (btn && !btn.form?.dataset.api) {
      ev.preventDefault();
      run(btn, null);
    }
  });

  // Tables filled from the JSON API (pages over other teams' endpoints):
  // <table data-load="/api/v1/..." data-items="actions" data-cols="name,kind:Kind,url">
  function cell(v) {
    if (v == null) return "—";
    if (Array.isArray(v)) return v.map(cell).join(", ");
    if (typeof v === "object") return Object.entries(v).map(([k, x]) => `${k}: ${cell(x)}`).join("\n");
    return String(v);
  }
  async function load(table) {
    const body = table.tBodies[0] || table.createTBody();
    try {
      const res = await fetch(table.dataset.load, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const data = await res.json();
      if (!res.ok) throw new Error(data.detail || res.statusText);
      const items = pick(data, table.dataset.items) || [];
      const cols = table.dataset.cols.split(",").map((c) => c.split(":")[0]);
      body.replaceChildren();
      for (const item of items) {
        const tr = body.insertRow();
        for (const col of cols) {
          const td = tr.insertCell();
          td.textContent = cell(pick(item, col));
          td.style.whiteSpace = "pre-line";
        }
      }
      if (!items.length) body.insertRow().insertCell().textContent = "Nothing yet.";
    } catch (err) {
      body.replaceChildren();
      body.insertRow().insertCell().textContent = `Could not load: ${err.message}`;
    }
  }
  for (const table of document.querySelectorAll("table[data-load]")) {
    const head = table.createTHead().insertRow();
    for (const col of table.dataset.cols.split(",")) {
      const th = document.createElement("th");
      th.textContent = col.split(":")[1] || col.split(":")[0];
      head.appendChild(th);
    }
    load(table);
  }
  document.addEventListener("dashboard:done", () => document.querySelectorAll("table[data-load]").forEach(load));

  // Live regions that refresh themselves: <div data-poll="/dashboard/inbox/feed" data-every="3000">
  for (const el of document.querySelectorAll("[data-poll]")) {
    const every = Number(el.dataset.every || 4000);
    const tick = async () => {
      try {
        const res = await fetch(el.dataset.poll, { credentials: "same-origin", headers: { Accept: "text/html" } });
        if (res.ok) {
          const html = await res.text();
          if (html !== el.dataset.last) {
            const focused = document.activeElement && el.contains(document.activeElement);
            if (!focused) {
              el.innerHTML = html;
              el.dataset.last = html;
            }
          }
        }
      } catch { /* offline for a moment: try again next tick */ }
      setTimeout(tick, every);
    };
    setTimeout(tick, every);
  }

  // The live test chat on the Agent page.
  const chat = document.getElementById("test-chat");
  if (chat) {
    const log = chat.querySelector(".log");
    let session = null;
    chat.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const input = chat.querySelector("[name=message]");
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      const add = (who, t) => {
        const p = document.createElement("p");
        p.className = who;
        p.textContent = t;
        log.appendChild(p);
        log.scrollTop = log.scrollHeight;
      };
      add("customer", text);
      try {
        const body = { message: text, customer_id: "dashboard-test", organization_id: document.body.dataset.org };
        if (session) body.session_id = session;
        const res = await fetch("/api/v1/agents/customer-service/chat", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
          body: JSON.stringify(body),
          credentials: "same-origin",
        });
        const data = await res.json();
        if (!res.ok) throw new Error(data.detail || res.statusText);
        session = data.session_id;
        add("agent", `${data.response}  [${data.intent} · ${Number(data.confidence).toFixed(2)}]`);
      } catch (err) {
        add("error", err.message);
      }
    });
  }
})();
