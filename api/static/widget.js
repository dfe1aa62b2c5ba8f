/*! Blaigent embed widget. Hand-written, no build step, no dependencies, loads nothing from
 * anywhere but the Blaigent server it came from.
 *
 *   <script src="https://HOST/static/widget.js" data-org="org_..." data-position="bottom-right"
 *           data-accent="#6366f1" defer></script>
 *
 * Optional: data-customer-id + data-customer-signature (hex HMAC-SHA256 of the id with the
 * organization's widget secret, computed on the site's server) for signed-in customers.
 *
 * Safety rules of this file: message text only ever reaches the page through textContent or
 * createTextNode; the small markdown renderer builds elements one by one and links only
 * http(s) URLs. Everything lives in a shadow root, so the page's CSS cannot reach in and the
 * widget's CSS cannot leak out.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script) {
    var candidates = document.querySelectorAll("script[data-org][src*='/static/widget']");
    script = candidates[candidates.length - 1];
  }
  if (!script) return;
  var ORG = script.getAttribute("data-org") || "";
  if (!/^org_[A-Za-z0-9_-]{1,64}$/.test(ORG)) {
    console.warn("Blaigent widget: data-org is missing or not an organization id");
    return;
  }
  window.__blaigentWidgets = window.__blaigentWidgets || {};
  if (window.__blaigentWidgets[ORG]) return; // loaded twice: keep the first
  window.__blaigentWidgets[ORG] = true;

  var BASE = new URL(script.src, location.href).origin;
  var API = BASE + "/api/v1/widget/" + encodeURIComponent(ORG);
  var LEFT = script.getAttribute("data-position") === "bottom-left";
  var HEX = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;
  var pageAccent = script.getAttribute("data-accent");
  if (pageAccent && !HEX.test(pageAccent)) pageAccent = null;
  var CUSTOMER = script.getAttribute("data-customer-id");
  var SIGNATURE = script.getAttribute("data-customer-signature");
  var STORE_KEY = "blaigent.v1." + ORG + "." + (CUSTOMER ? "c:" + CUSTOMER : "anon");
  var POLL_MS = 4000;
  var reducedMotion = window.matchMedia && matchMedia("(prefers-reduced-motion: reduce)").matches;

  // ---- persistence (localStorage, shared by the site's tabs) ----
  function load() {
    try {
      return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {};
    } catch (e) {
      return {};
    }
  }
  function save(patch) {
    var state = load();
    for (var k in patch) if (Object.prototype.hasOwnProperty.call(patch, k)) state[k] = patch[k];
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(state));
    } catch (e) {
      /* private mode: the thread then lasts for this page only */
    }
    return state;
  }
  var memory = load();

  // ---- DOM helpers: elements and text only ----
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k)) continue;
        if (k === "text") node.textContent = attrs[k];
        else if (k === "class") node.className = attrs[k];
        else node.setAttribute(k, attrs[k]);
      }
    }
    (children || []).forEach(function (c) {
      if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }
  function svg(path) {
    var ns = "http://www.w3.org/2000/svg";
    var s = document.createElementNS(ns, "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("aria-hidden", "true");
    s.setAttribute("focusable", "false");
    var p = document.createElementNS(ns, "path");
    p.setAttribute("d", path);
    s.appendChild(p);
    return s;
  }
  function safeUrl(raw) {
    try {
      var url = new URL(raw);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }
  function link(href, label) {
    var url = safeUrl(href);
    if (!url) return document.createTextNode(label);
    return el("a", { href: url, target: "_blank", rel: "noopener noreferrer nofollow", text: label });
  }

  // ---- the safe markdown renderer: bold, italics, links, lists, paragraphs ----
  var INLINE =
    /\*\*([^*\n]+)\*\*|\*([^*\s][^*\n]*)\*|_([^_\s][^_\n]*)_|\[([^\]\n]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;
  function inline(text, parent, depth) {
    var last = 0;
    var m;
    INLINE.lastIndex = 0;
    var matches = [];
    while ((m = INLINE.exec(text))) matches.push({ m: m, index: m.index, end: INLINE.lastIndex });
    matches.forEach(function (hit) {
      var m = hit.m;
      if (hit.index > last) parent.appendChild(document.createTextNode(text.slice(last, hit.index)));
      if (m[1] !== undefined || m[2] !== undefined || m[3] !== undefined) {
        var node = el(m[1] !== undefined ? "strong" : "em");
        var inner = m[1] !== undefined ? m[1] : m[2] !== undefined ? m[2] : m[3];
        if (depth < 2) inline(inner, node, depth + 1);
        else node.textContent = inner;
        parent.appendChild(node);
      } else if (m[4] !== undefined) {
        parent.appendChild(link(m[5], m[4]));
      } else {
        parent.appendChild(link(m[6], m[6]));
      }
      last = hit.end;
    });
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }
  function markdown(text) {
    var root = el("div", { class: "md" });
    var blocks = String(text).replace(/\r\n?/g, "\n").split(/\n{2,}/);
    blocks.forEach(function (block) {
      var lines = block.split("\n").filter(function (l) {
        return l.trim() !== "";
      });
      if (!lines.length) return;
      var bullet = /^\s*[-*\u2022]\s+/;
      var numbered = /^\s*\d+[.)]\s+/;
      var isList = lines.every(function (l) {
        return bullet.test(l);
      });
      var isOrdered = !isList && lines.every(function (l) {
        return numbered.test(l);
      });
      if (isList || isOrdered) {
        var list = el(isList ? "ul" : "ol");
        lines.forEach(function (l) {
          var item = el("li");
          inline(l.replace(isList ? bullet : numbered, ""), item, 0);
          list.appendChild(item);
        });
        root.appendChild(list);
      } else {
        var p = el("p");
        lines.forEach(function (l, i) {
          if (i) p.appendChild(el("br"));
          inline(l, p, 0);
        });
        root.appendChild(p);
      }
    });
    return root;
  }

  // ---- HTTP ----
  function request(method, path, body, token) {
    var headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = "Bearer " + token;
    return fetch(API + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      mode: "cors",
      credentials: "omit",
      cache: "no-store"
    }).then(
      function (res) {
        return res
          .json()
          .catch(function () {
            return {};
          })
          .then(function (data) {
            return { status: res.status, data: data || {} };
          });
      },
      function () {
        return { status: 0, data: { detail: "network error" } };
      }
    );
  }

  function session(force) {
    memory = load();
    if (!force && memory.token && memory.expires_at > Date.now() + 30000) {
      return Promise.resolve(memory.token);
    }
    var body = CUSTOMER
      ? { customer_id: CUSTOMER, customer_signature: SIGNATURE || "" }
      : memory.visitor_id
        ? { visitor_id: memory.visitor_id }
        : {};
    return request("POST", "/sessions", body).then(function (r) {
      if (r.status !== 200) throw r;
      memory = save({
        token: r.data.token,
        expires_at: r.data.expires_at,
        visitor_id: r.data.visitor_id || memory.visitor_id || null
      });
      return r.data.token;
    });
  }

  // Sends with the session token; a 401 (expired token) gets one fresh token and a retry.
  function authed(method, path, body) {
    return session(false).then(function (token) {
      return request(method, path, body, token).then(function (r) {
        if (r.status !== 401) return r;
        return session(true).then(function (fresh) {
          return request(method, path, body, fresh);
        });
      });
    });
  }

  // ---- UI ----
  var host = el("div", {
    "data-blaigent-widget": ORG,
    style:
      "all: initial !important; position: fixed !important; z-index: 2147483000 !important;" +
      " bottom: 0 !important; " + (LEFT ? "left" : "right") + ": 0 !important;" +
      " width: 0 !important; height: 0 !important; display: block !important;"
  });
  var shadow = host.attachShadow({ mode: "open" });
  var style = el("style", {
    text:
      ":host{all:initial}" +
      "*,*::before,*::after{box-sizing:border-box}" +
      ".root{--accent:#6366f1;--on-accent:#fff;--bg:#fff;--fg:#1f2330;--muted:#5d6472;--bubble:#f1f2f6;--line:#e3e5ea;" +
      "font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;color:var(--fg);" +
      "-webkit-font-smoothing:antialiased;text-align:left;letter-spacing:normal;text-transform:none}" +
      "@media (prefers-color-scheme:dark){.root{--bg:#17191f;--fg:#eceef3;--muted:#a3a9b6;--bubble:#262a33;--line:#333844}}" +
      ".launcher{position:fixed;bottom:20px;" + (LEFT ? "left" : "right") + ":20px;display:flex;align-items:center;gap:8px;" +
      "height:52px;padding:0 20px 0 16px;border:0;border-radius:26px;background:var(--accent);color:var(--on-accent);" +
      "font-weight:600;font-size:15px;line-height:1;font-family:inherit;cursor:pointer;box-shadow:0 6px 24px rgba(0,0,0,.22);transition:transform .15s}" +
      ".launcher:hover{transform:translateY(-2px)}" +
      ".launcher:focus-visible,button:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}" +
      ".launcher:focus-visible{outline-color:var(--fg)}" +
      ".launcher svg,.icon svg{width:22px;height:22px;fill:currentColor}" +
      ".panel{position:fixed;bottom:84px;" + (LEFT ? "left" : "right") + ":20px;width:380px;height:min(600px,calc(100vh - 110px));" +
      "display:flex;flex-direction:column;background:var(--bg);color:var(--fg);border-radius:16px;overflow:hidden;" +
      "box-shadow:0 12px 48px rgba(0,0,0,.28);border:1px solid var(--line);animation:rise .18s ease-out}" +
      ".panel[hidden]{display:none}" +
      "@keyframes rise{from{opacity:0;transform:translateY(12px)}to{opacity:1;transform:none}}" +
      "header{display:flex;align-items:center;gap:10px;padding:14px 14px 14px 16px;background:var(--accent);color:var(--on-accent)}" +
      ".avatar{width:34px;height:34px;border-radius:50%;flex:none;display:grid;place-items:center;font-weight:700;" +
      "background:rgba(255,255,255,.25);overflow:hidden}" +
      ".avatar img{width:100%;height:100%;object-fit:cover}" +
      ".title{flex:1;min-width:0}.title h2{margin:0;font-size:16px;font-weight:700;line-height:1.2}" +
      ".title p{margin:2px 0 0;font-size:12.5px;opacity:.9}" +
      ".icon{border:0;background:transparent;color:inherit;width:36px;height:36px;border-radius:8px;display:grid;place-items:center;cursor:pointer}" +
      ".icon:hover{background:rgba(255,255,255,.18)}" +
      ".log{flex:1;overflow-y:auto;padding:16px;display:flex;flex-direction:column;gap:10px;overscroll-behavior:contain}" +
      ".msg{max-width:85%;padding:9px 13px;border-radius:14px;background:var(--bubble);overflow-wrap:anywhere;white-space:normal}" +
      ".msg.customer{align-self:flex-end;background:var(--accent);color:var(--on-accent);border-bottom-right-radius:4px;white-space:pre-wrap}" +
      ".msg.agent,.msg.human{align-self:flex-start;border-bottom-left-radius:4px}" +
      ".msg.human{border:1px solid var(--accent)}.msg.failed{opacity:.6}" +
      ".who{display:block;font-size:11.5px;font-weight:600;color:var(--muted);margin-bottom:2px}" +
      ".md p{margin:0 0 6px}.md p:last-child{margin:0}.md ul,.md ol{margin:4px 0;padding-left:20px}" +
      ".msg a{color:inherit;text-decoration:underline}" +
      ".sources{margin:6px 0 0;padding:6px 0 0;border-top:1px solid var(--line);font-size:12.5px;list-style:none}" +
      ".sources li{margin:2px 0}" +
      ".csat{align-self:stretch;text-align:center;padding:10px;border:1px solid var(--line);border-radius:12px}" +
      ".csat p{margin:0 0 8px}.csat p:last-child{margin:0}.rates{display:flex;justify-content:center;gap:6px}" +
      ".rate{width:38px;height:38px;border:1px solid var(--line);border-radius:10px;background:var(--bg);color:var(--fg);font:inherit;font-weight:600;cursor:pointer}" +
      ".rate:hover{background:var(--accent);color:var(--on-accent)}" +
      ".notice{align-self:center;font-size:12.5px;color:var(--muted);text-align:center;padding:2px 8px}" +
      ".typing{align-self:flex-start;display:flex;gap:4px;padding:12px 14px;border-radius:14px;background:var(--bubble)}" +
      ".typing[hidden]{display:none}" +
      ".typing span{width:7px;height:7px;border-radius:50%;background:var(--muted);animation:blink 1.2s infinite}" +
      ".typing span:nth-child(2){animation-delay:.2s}.typing span:nth-child(3){animation-delay:.4s}" +
      "@keyframes blink{0%,80%,100%{opacity:.25}40%{opacity:1}}" +
      ".error{margin:0 12px 8px;padding:8px 12px;border-radius:10px;background:#fde8e8;color:#8a1c1c;font-size:13.5px}" +
      ".error[hidden]{display:none}" +
      "form{display:flex;gap:8px;padding:10px 12px 12px;border-top:1px solid var(--line);background:var(--bg)}" +
      "form[hidden]{display:none}" +
      "textarea{flex:1;resize:none;min-height:42px;max-height:120px;padding:10px 12px;border:1px solid var(--line);border-radius:12px;" +
      "font:inherit;color:var(--fg);background:var(--bg)}" +
      ".send{flex:none;width:42px;height:42px;border:0;border-radius:12px;background:var(--accent);color:var(--on-accent);display:grid;place-items:center;cursor:pointer}" +
      ".send svg{width:20px;height:20px;fill:currentColor}.send:disabled{opacity:.5;cursor:default}" +
      ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}" +
      "@media (max-width:480px){.panel{inset:0;width:100%;height:100%;border-radius:0;border:0;bottom:0}" +
      ".launcher{bottom:16px;" + (LEFT ? "left" : "right") + ":16px}}" +
      "@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}"
  });
  var root = el("div", { class: "root" });
  var launcherLabel = el("span", { text: "Chat" });
  var launcher = el(
    "button",
    { type: "button", class: "launcher", "aria-expanded": "false", "aria-controls": "blaigent-panel", "aria-label": "Open chat" },
    [svg("M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"), launcherLabel]
  );
  var avatar = el("div", { class: "avatar", "aria-hidden": "true", text: "?" });
  var titleText = el("h2", { id: "blaigent-title", text: "Chat" });
  var statusText = el("p", { text: "We usually reply in seconds" });
  var closeButton = el("button", { type: "button", class: "icon", "aria-label": "Close chat" }, [
    svg("M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z")
  ]);
  var log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-label": "Conversation" });
  var typing = el("div", { class: "typing", hidden: "", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]);
  log.appendChild(typing);
  var typingSr = el("span", { class: "sr", role: "status", "aria-live": "polite" });
  var errorBox = el("div", { class: "error", role: "alert", hidden: "" });
  var input = el("textarea", { rows: "1", "aria-label": "Your message", placeholder: "Type your message\u2026", maxlength: "4000" });
  var sendButton = el("button", { type: "submit", class: "send", "aria-label": "Send" }, [svg("M3 20.5 21 12 3 3.5v6.6l12 1.9-12 1.9z")]);
  var form = el("form", { novalidate: "" }, [input, sendButton]);
  var panel = el(
    "div",
    { class: "panel", id: "blaigent-panel", role: "dialog", "aria-modal": "true", "aria-labelledby": "blaigent-title", hidden: "" },
    [el("header", null, [avatar, el("div", { class: "title" }, [titleText, statusText]), closeButton]), log, errorBox, form, typingSr]
  );
  root.appendChild(launcher);
  root.appendChild(panel);
  shadow.appendChild(style);
  shadow.appendChild(root);

  function mount() {
    (document.body || document.documentElement).appendChild(host);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  var config = null;
  var configError = null;
  var seen = {};
  var lastAt = 0;
  var sending = false;
  var pollTimer = null;
  var notices = {};

  function setAccent(hex) {
    if (!HEX.test(hex)) return;
    var full = hex.length === 4 ? "#" + hex[1] + hex[1] + hex[2] + hex[2] + hex[3] + hex[3] : hex;
    var rgb = [1, 3, 5].map(function (i) {
      var c = parseInt(full.substr(i, 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    var lum = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
    root.style.setProperty("--accent", full);
    root.style.setProperty("--on-accent", lum > 0.45 ? "#111318" : "#ffffff");
  }
  setAccent(pageAccent || "#6366f1");

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }
  function scroll() {
    log.scrollTop = log.scrollHeight;
  }
  function notice(key, text) {
    if (notices[key]) return;
    notices[key] = true;
    log.insertBefore(el("div", { class: "notice", text: text }), typing);
    scroll();
  }
  function citations(list) {
    var items = (list || [])
      .filter(function (c) {
        return c && c.title;
      })
      .map(function (c) {
        return el("li", null, [c.url && safeUrl(c.url) ? link(c.url, c.title) : document.createTextNode(c.title)]);
      });
    return items.length ? el("ul", { class: "sources", "aria-label": "Sources" }, items) : null;
  }
  function bubble(role, text, cites) {
    var node = el("div", { class: "msg " + role });
    if (role === "customer") {
      node.textContent = text;
    } else {
      node.appendChild(el("span", { class: "who", text: role === "human" ? "Support team" : (config && config.agent_name) || "Assistant" }));
      node.appendChild(markdown(text));
      var sources = citations(cites);
      if (sources) node.appendChild(sources);
    }
    log.insertBefore(node, typing);
    scroll();
    return node;
  }
  // Customer bubbles this tab showed before the server told their ids: the next customer
  // messages a poll returns are these, so they are not shown twice.
  var unclaimed = [];
  function claim(id) {
    seen[id] = true;
    unclaimed.shift();
  }
  function addMessage(m) {
    if (!m || seen[m.id]) return;
    if (m.created_at > lastAt) lastAt = m.created_at;
    if (m.role === "customer" && unclaimed.length) return claim(m.id);
    seen[m.id] = true;
    bubble(m.role, m.text, m.citations);
  }

  // Reveals the reply a few words at a time (the server answers in one piece), then swaps in
  // the rendered markdown.
  function reveal(text, cites, done) {
    var words = String(text).split(/(\s+)/);
    if (reducedMotion || words.length < 6) {
      bubble("agent", text, cites);
      return done();
    }
    var node = el("div", { class: "msg agent" }, [el("span", { class: "who", text: (config && config.agent_name) || "Assistant" })]);
    var body = el("div", { class: "md" }, [el("p")]);
    node.appendChild(body);
    log.insertBefore(node, typing);
    var i = 0;
    (function step() {
      i = Math.min(words.length, i + 4);
      body.firstChild.textContent = words.slice(0, i).join("");
      scroll();
      if (i < words.length) return setTimeout(step, 30);
      node.replaceChild(markdown(text), body);
      var sources = citations(cites);
      if (sources) node.appendChild(sources);
      scroll();
      done();
    })();
  }

  function setTyping(on) {
    typing.hidden = !on;
    typingSr.textContent = on ? ((config && config.agent_name) || "The assistant") + " is typing" : "";
    if (on) scroll();
  }

  function applyStatus(status) {
    if (status === "pending_human" || status === "human") {
      statusText.textContent = "A person from our team will reply here";
      notice("handoff", "You're being connected with a person from our team.");
    } else if (status === "resolved" || status === "closed") {
      notice("resolved", "This conversation was marked as resolved. Write again any time.");
      csatPrompt();
    }
  }

  // After resolution: one 1-5 rating per conversation (remembered, so it is asked once).
  var csatShown = false;
  function csatPrompt() {
    memory = load();
    if (csatShown || !memory.session_id || memory.csat_for === memory.session_id) return;
    csatShown = true;
    var box = el("div", { class: "csat", role: "group", "aria-labelledby": "blaigent-csat" }, [
      el("p", { id: "blaigent-csat", text: "How did we do? (1 = poor, 5 = great)" })
    ]);
    var row = el("div", { class: "rates" });
    [1, 2, 3, 4, 5].forEach(function (n) {
      var b = el("button", { type: "button", class: "rate", "aria-label": "Rate " + n + " out of 5", text: String(n) });
      b.addEventListener("click", function () {
        var conversation = load().session_id;
        authed("POST", "/csat", { session_id: conversation, rating: n }).then(
          function (r) {
            if (r.status !== 200) return failure(r);
            save({ csat_for: conversation });
            box.textContent = "";
            box.appendChild(el("p", { role: "status", text: "Thanks for your feedback!" }));
          },
          failure
        );
      });
      row.appendChild(b);
    });
    box.appendChild(row);
    log.insertBefore(box, typing);
    scroll();
  }

  function refreshThread(full) {
    memory = load();
    if (!memory.session_id) return Promise.resolve();
    var path = "/messages?session_id=" + encodeURIComponent(memory.session_id) + (full ? "" : "&after=" + lastAt);
    return authed("GET", path).then(
      function (r) {
        if (r.status === 404) {
          save({ session_id: null });
          return;
        }
        if (r.status !== 200) return;
        (r.data.messages || []).forEach(addMessage);
        applyStatus(r.data.status);
      },
      function () {}
    );
  }

  function startPolling() {
    stopPolling();
    pollTimer = setInterval(function () {
      if (!sending && !document.hidden) refreshThread(false);
    }, POLL_MS);
  }
  function stopPolling() {
    if (pollTimer) clearInterval(pollTimer);
    pollTimer = null;
  }

  var opened = false;
  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    if (configError) {
      form.hidden = true;
      showError(configError);
      closeButton.focus();
      return;
    }
    input.focus();
    if (!opened) {
      opened = true;
      session(false).then(
        function () {
          showError("");
          return refreshThread(true).then(function () {
            if (!log.querySelector(".msg") && config && config.greeting) bubble("agent", config.greeting);
          });
        },
        function (r) {
          failure(r);
        }
      );
    } else {
      refreshThread(false);
    }
    startPolling();
  }
  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    stopPolling();
    launcher.focus();
  }
  function failure(r) {
    var status = r && r.status;
    if (status === 403) {
      configError = "This chat isn't available on this website.";
      form.hidden = true;
    }
    showError(
      status === 429
        ? "You're sending messages quickly. Please wait a moment and try again."
        : status === 403
          ? configError
          : status === 0
            ? "We can't reach the chat right now. Check your connection and try again."
            : "Something went wrong. Please try again."
    );
  }

  launcher.addEventListener("click", function () {
    if (panel.hidden) open();
    else close();
  });
  closeButton.addEventListener("click", close);
  panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape") {
      e.preventDefault();
      close();
      return;
    }
    if (e.key !== "Tab") return;
    var focusables = Array.prototype.filter.call(panel.querySelectorAll("button, textarea, a[href]"), function (n) {
      return !n.disabled && n.offsetParent !== null;
    });
    if (!focusables.length) return;
    var first = focusables[0];
    var last = focusables[focusables.length - 1];
    var active = shadow.activeElement;
    if (e.shiftKey && active === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && active === last) {
      e.preventDefault();
      first.focus();
    }
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    send();
  });

  // Posts a message asking for server-sent events; `onPiece` gets each sentence or delta as it
  // arrives. Resolves with the `final` event's reply (or the JSON reply of a server that does
  // not stream, or the error).
  function streamChat(body, onPiece) {
    function post(token) {
      return fetch(API + "/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream", Authorization: "Bearer " + token },
        body: JSON.stringify(body),
        mode: "cors",
        credentials: "omit",
        cache: "no-store"
      }).then(
        function (res) {
          var type = res.headers.get("content-type") || "";
          if (!res.ok || type.indexOf("text/event-stream") < 0 || !res.body) {
            return res
              .json()
              .catch(function () {
                return {};
              })
              .then(function (data) {
                return { status: res.status, data: data || {}, streamed: false };
              });
          }
          var reader = res.body.getReader();
          var decoder = new TextDecoder();
          var buffer = "";
          var result = null;
          function handle(block) {
            var event = "message";
            var data = [];
            block.split(/\r?\n/).forEach(function (line) {
              if (line.indexOf("event:") === 0) event = line.slice(6).trim();
              else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
            });
            if (!data.length) return;
            var payload;
            try {
              payload = JSON.parse(data.join("\n"));
            } catch (e) {
              return;
            }
            if (event === "sentence" || event === "delta") onPiece(event, String(payload.text || ""));
            else if (event === "final") result = { status: 200, data: payload, streamed: true };
            else if (event === "error") result = { status: 500, data: payload, streamed: true };
          }
          function pump() {
            return reader.read().then(function (chunk) {
              if (chunk.done) {
                if (buffer.trim()) handle(buffer);
                return result || { status: 0, data: { detail: "the reply ended early" } };
              }
              buffer += decoder.decode(chunk.value, { stream: true });
              var blocks = buffer.split(/\r?\n\r?\n/);
              buffer = blocks.pop();
              blocks.forEach(handle);
              return pump();
            });
          }
          return pump();
        },
        function () {
          return { status: 0, data: { detail: "network error" } };
        }
      );
    }
    return session(false).then(function (token) {
      return post(token).then(function (r) {
        return r.status === 401 ? session(true).then(post) : r;
      });
    });
  }

  function send() {
    var text = input.value.trim();
    if (!text || sending || configError) return;
    sending = true;
    sendButton.disabled = true;
    showError("");
    input.value = "";
    var mine = bubble("customer", text);
    unclaimed.push(mine);
    setTyping(true);
    memory = load();
    var body = { message: text };
    if (memory.session_id) body.session_id = memory.session_id;
    // The reply bubble, created at the first streamed piece.
    var live = null;
    var liveText = "";
    function onPiece(kind, piece) {
      if (!live) {
        setTyping(false);
        live = el("div", { class: "msg agent" }, [
          el("span", { class: "who", text: (config && config.agent_name) || "Assistant" }),
          el("div", { class: "md" }, [el("p")])
        ]);
        log.insertBefore(live, typing);
      }
      liveText += kind === "sentence" && liveText ? " " + piece : piece;
      live.querySelector(".md p").textContent = liveText;
      scroll();
    }
    streamChat(body, onPiece)
      .then(function (r) {
        if (r.status === 404 && body.session_id) {
          // The conversation is gone (or belonged to another identity): start a new one.
          save({ session_id: null });
          delete body.session_id;
          return streamChat(body, onPiece);
        }
        return r;
      })
      .then(
        function (r) {
          setTyping(false);
          if (r.status !== 200) {
            if (live) live.remove();
            unclaimed.splice(unclaimed.indexOf(mine), 1);
            failure(r);
            mine.classList.add("failed");
            input.value = text;
            return finish();
          }
          var reply = r.data;
          save({ session_id: reply.session_id });
          seen[reply.message_id] = true;
          if (reply.customer_message_id) claim(reply.customer_message_id);
          var done = function () {
            if (reply.handoff) applyStatus("pending_human");
            finish();
          };
          if (live) {
            // The final text is authoritative (channel-shaped, what was stored).
            live.replaceChild(markdown(reply.response), live.querySelector(".md"));
            var sources = citations(reply.citations);
            if (sources) live.appendChild(sources);
            scroll();
            done();
          } else if (r.streamed) {
            bubble("agent", reply.response, reply.citations);
            done();
          } else {
            reveal(reply.response, reply.citations, done);
          }
        },
        function (r) {
          setTyping(false);
          failure(r);
          input.value = text;
          finish();
        }
      );
  }
  function finish() {
    sending = false;
    sendButton.disabled = false;
    input.focus();
  }

  // Another tab started or continued the conversation: follow it.
  window.addEventListener("storage", function (e) {
    if (e.key !== STORE_KEY) return;
    var next = load();
    if (next.session_id && next.session_id !== memory.session_id) {
      memory = next;
      if (opened) refreshThread(false);
    } else {
      memory = next;
    }
  });

  request("GET", "/config").then(function (r) {
    if (r.status !== 200) {
      // A refused origin gets no CORS headers, so the page sees it as a network failure
      // (status 0), indistinguishable from the server being unreachable: one message for both.
      configError =
        r.status === 403 || r.status === 404
          ? "This chat isn't available on this website."
          : "This chat isn't available right now.";
      console.warn("Blaigent widget:", r.data && r.data.detail ? r.data.detail : "configuration unavailable");
      root.setAttribute("data-state", "unavailable");
      if (!panel.hidden) open();
      return;
    }
    config = r.data;
    setAccent(pageAccent || config.accent_color);
    launcherLabel.textContent = config.agent_name;
    launcher.setAttribute("aria-label", "Open chat with " + config.agent_name);
    titleText.textContent = config.agent_name;
    avatar.textContent = (config.agent_name || "?").charAt(0).toUpperCase();
    var avatarUrl = config.avatar_url && safeUrl(config.avatar_url);
    if (avatarUrl) {
      avatar.textContent = "";
      avatar.appendChild(el("img", { src: avatarUrl, alt: "" }));
    }
    if (config.language) panel.setAttribute("lang", config.language);
    root.setAttribute("data-state", "ready");
  });
})();
