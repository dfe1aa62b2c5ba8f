// End-to-end tests of the embed widget in a real headless browser (Debian's Chromium driven by
// playwright-core). They start the real `blaigent` binary (target/debug/blaigent, built by
// cargo) on a free port with a temporary data folder, create an organization with the CLI,
// configure it over the REST API, and serve host pages from OTHER loopback origins: one that
// the organization allows and one it does not. Screenshots go to artifacts/widget/.
//
// Run: scripts/setup-browser.sh && cargo build -p api --bin blaigent &&
//      (cd tests/browser && node --test --test-concurrency=1 widget.test.mjs)

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BINARY = process.env.BLAIGENT_BIN || join(ROOT, "target/debug/blaigent");
const ARTIFACTS = join(ROOT, "artifacts/widget");
const ACCENT = "#0ea5e9";
const ACCENT_RGB = "rgb(14, 165, 233)";
// Payloads that would run script if any text reached the page as HTML.
const KNOWLEDGE_XSS = '<img src=x onerror="window.__xss=\'knowledge\';alert(1)">';
const CUSTOMER_XSS = "<script>window.__xss='customer';alert(2)</script><img src=x onerror=\"window.__xss='img'\">";

let server; // the blaigent process
let dataDir;
let apiBase;
let orgId;
let apiKey;
let hostAllowed; // { server, origin }
let hostRefused;
let browser;
let dialogs = [];
let knowledgeReady = false;

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
    s.on("error", fail);
  });
}

// The server uses the SQLite database of the temporary data folder, whatever the caller's
// environment says. Background intent tuning (minutes of otherwise idle CPU) is not what
// these tests look at, so it is off.
function env() {
  const { BLAIGENT_DATABASE_URL: _ignored, ...rest } = process.env;
  return {
    ...rest,
    BLAIGENT_DATA_DIR: dataDir,
    BLAIGENT_LOG: "warn",
    BLAIGENT_INTENT_TUNING: "off",
  };
}

function cli(args) {
  return execFileSync(BINARY, args, { env: env(), encoding: "utf8", cwd: ROOT });
}

async function api(method, path, body) {
  const res = await fetch(apiBase + path, {
    method,
    headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try {
    data = JSON.parse(text);
  } catch {
    data = text;
  }
  return { status: res.status, data };
}

/** A host page on its own loopback origin, with hostile CSS and the widget snippet. */
function hostPage(port) {
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme shop</title>
<style>
  * { all: unset !important; }
  html { font-size: 40px !important; }
  body { display: block !important; font: 48px/3 Georgia, serif !important; color: #b00 !important; padding: 24px !important; }
  div, button, textarea { font-size: 64px !important; border: 5px dashed lime !important; }
  h1 { display: block !important; font-size: 72px !important; }
  style, script { display: none !important; }
</style></head>
<body><h1>Acme shop</h1><p>Hostile CSS on purpose.</p>
<script src="${apiBase}/static/widget.js" data-org="${orgId}" data-position="bottom-right" defer></script>
</body></html>`;
  const s = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(html);
  });
  return new Promise((ok) => s.listen(port, "127.0.0.1", () => ok({ server: s, origin: `http://127.0.0.1:${port}` })));
}

async function waitForHealth() {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${apiBase}/healthz`);
      if (res.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("the blaigent server did not become healthy within 60 s");
}

before(async () => {
  assert.ok(existsSync(BINARY), `${BINARY} is missing: run cargo build -p api --bin blaigent`);
  assert.ok(existsSync("/usr/bin/chromium"), "/usr/bin/chromium is missing: run scripts/setup-browser.sh");
  mkdirSync(ARTIFACTS, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), "blaigent-widget-"));
  const created = JSON.parse(cli(["org", "create", "--name", "Acme", "--plan", "scale", "--json"]));
  orgId = created.organization_id;
  apiKey = created.api_key;

  const [port, allowedPort, refusedPort] = [await freePort(), await freePort(), await freePort()];
  apiBase = `http://127.0.0.1:${port}`;
  server = spawn(BINARY, ["serve"], {
    env: { ...env(), BLAIGENT_BIND: `127.0.0.1:${port}` },
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit"],
  });
  await waitForHealth();

  hostAllowed = await hostPage(allowedPort);
  hostRefused = await hostPage(refusedPort);

  const patched = await api("PATCH", "/api/v1/dashboard/agent-config", {
    name: "Ava",
    greeting: "Hi, I'm Ava from Acme. How can I help?",
    brand: { accent_color: ACCENT },
    allowed_origins: [hostAllowed.origin],
  });
  assert.equal(patched.status, 200, JSON.stringify(patched.data));

  const doc = await api("POST", "/api/v1/dashboard/knowledge", {
    title: `Returns policy ${KNOWLEDGE_XSS}`,
    text:
      "Returns policy. You can return any item within 30 days of delivery for a full refund. " +
      `Refunds reach your card within 5 business days. Note for testers: ${KNOWLEDGE_XSS} must show as text.\n\n` +
      "Shipping. Standard shipping takes 3 to 5 business days and is free above 50 euros.",
  });
  if (doc.status === 200 || doc.status === 201 || doc.status === 202) {
    const id = doc.data.id || (doc.data.document && doc.data.document.id);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const got = await api("GET", `/api/v1/dashboard/knowledge/${id}`);
      const status = got.data && (got.data.status || (got.data.document && got.data.document.status));
      if (status === "ready" || status === "indexed") {
        knowledgeReady = true;
        break;
      }
      if (status === "failed") break;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  if (!knowledgeReady) console.log(`NOTICE: knowledge upload not available or not indexed (${doc.status}); citation checks skipped`);

  // The agent's first turn loads and warms its models (tens of seconds in a debug build on a
  // busy machine); pay that once here, through the REST chat, so the browser steps measure
  // the widget.
  const started = Date.now();
  const warm = await api("POST", "/api/v1/agents/customer-service/chat", {
    message: "How long does standard shipping take?",
    customer_id: "warmup",
    organization_id: orgId,
  });
  assert.equal(warm.status, 200, JSON.stringify(warm.data));
  console.log(`agent warm-up turn: ${Date.now() - started} ms`);

  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // No --user-data-dir here: playwright-core refuses it in launch() and instead gives
      // every launch a fresh temporary profile of its own (removed on close).
    ],
  });
});

after(async () => {
  if (browser) await browser.close();
  for (const h of [hostAllowed, hostRefused]) if (h) h.server.close();
  if (server) {
    server.kill("SIGTERM");
    await new Promise((r) => server.once("exit", r));
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function newPage(context) {
  const page = await context.newPage();
  page.on("dialog", async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  return page;
}

// Locators pierce the widget's open shadow root.
const W = (page) => ({
  launcher: page.locator("[data-blaigent-widget] .launcher"),
  dialog: page.locator("[data-blaigent-widget] [role=dialog]"),
  log: page.locator("[data-blaigent-widget] [role=log]"),
  input: page.locator("[data-blaigent-widget] textarea"),
  agentMessages: page.locator("[data-blaigent-widget] .msg.agent"),
  customerMessages: page.locator("[data-blaigent-widget] .msg.customer"),
  humanMessages: page.locator("[data-blaigent-widget] .msg.human"),
  error: page.locator("[data-blaigent-widget] [role=alert]"),
});

async function ask(page, text) {
  const w = W(page);
  const before = await w.agentMessages.count();
  await w.input.fill(text);
  await w.input.press("Enter");
  await w.agentMessages.nth(before).waitFor({ timeout: 30_000 });
  // Wait for the progressive reveal to finish (the markdown swap leaves a .md with content).
  await page.waitForFunction(
    (n) => {
      const host = document.querySelector("[data-blaigent-widget]");
      const msgs = host.shadowRoot.querySelectorAll(".msg.agent");
      return msgs.length > n && !host.shadowRoot.querySelector(".send").disabled;
    },
    before,
    { timeout: 30_000 }
  );
  return w.agentMessages.nth(before);
}

const widgetImages = (page) =>
  page.evaluate(() => document.querySelector("[data-blaigent-widget]").shadowRoot.querySelectorAll("img, script, iframe").length);

let context; // desktop context shared by the conversation tests (same localStorage)
let page;

test("the launcher shows the agent name in the accent colour despite hostile page CSS", async () => {
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await newPage(context);
  await page.goto(hostAllowed.origin + "/");
  const w = W(page);
  await w.launcher.waitFor();
  await page.waitForFunction(() => document.querySelector("[data-blaigent-widget]")?.shadowRoot.querySelector(".root")?.dataset.state === "ready");
  assert.equal((await w.launcher.textContent()).trim(), "Ava");
  assert.equal(await w.launcher.getAttribute("aria-label"), "Open chat with Ava");
  const style = await w.launcher.evaluate((el) => {
    const s = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    return { bg: s.backgroundColor, font: s.fontSize, border: s.borderStyle, x: r.right, y: r.bottom, h: r.height };
  });
  assert.equal(style.bg, ACCENT_RGB);
  // The page's `font-size: 64px; border: dashed` did not reach inside the shadow root.
  assert.equal(style.font, "15px");
  assert.equal(style.border, "none");
  assert.equal(style.h, 52);
  // Bottom-right corner, 20 px from the edges.
  assert.equal(Math.round(style.x), 1280 - 20);
  assert.equal(Math.round(style.y), 800 - 20);
  await page.screenshot({ path: join(ARTIFACTS, "desktop-launcher.png") });
});

test("a question gets an answer, with citations when knowledge exists", async () => {
  const w = W(page);
  await w.launcher.click();
  await w.dialog.waitFor();
  assert.equal(await w.dialog.getAttribute("aria-modal"), "true");
  assert.equal(await w.log.getAttribute("aria-live"), "polite");
  // The greeting, then focus in the message box.
  await w.agentMessages.first().waitFor();
  assert.match(await w.agentMessages.first().textContent(), /Hi, I'm Ava from Acme/);
  assert.equal(await page.evaluate(() => document.querySelector("[data-blaigent-widget]").shadowRoot.activeElement?.tagName), "TEXTAREA");

  const chatResponse = page.waitForResponse((r) => r.url().endsWith("/chat"));
  const answer = await ask(page, "How many days do I have to return an item?");
  // The reply came as server-sent events.
  assert.match((await chatResponse).headers()["content-type"], /^text\/event-stream/);
  const text = await answer.textContent();
  assert.ok(text.length > 10, `an answer: ${text}`);
  if (knowledgeReady) {
    assert.match(text, /30 days/, `the answer uses the knowledge: ${text}`);
    const sources = answer.locator(".sources li");
    if ((await sources.count()) > 0) {
      assert.match(await sources.first().textContent(), /Returns policy/);
    } else {
      console.log("NOTICE: the agent answered without citations; citation link check skipped");
    }
  }
  assert.equal(await widgetImages(page), 0);
  await page.screenshot({ path: join(ARTIFACTS, "desktop.png") });
});

test("knowledge and customer payloads render as text and never run", async () => {
  const w = W(page);
  const answer = await ask(page, CUSTOMER_XSS);
  const mine = w.customerMessages.last();
  assert.equal(await mine.textContent(), CUSTOMER_XSS);
  if (knowledgeReady) {
    // The document's title (shown as a citation) and text carry the payload.
    const cited = await ask(page, "What must the note for testers show as?");
    const shown = (await cited.textContent()) + (await page.locator("[data-blaigent-widget] .sources").allTextContents()).join(" ");
    assert.ok(shown.includes("<img src=x onerror="), `the payload is shown as text: ${shown}`);
  }
  assert.ok(await answer.textContent());
  assert.equal(await widgetImages(page), 0, "no img/script element inside the widget");
  assert.equal(await page.evaluate(() => window.__xss), undefined, "no payload ran");
  assert.deepEqual(dialogs, [], "no alert fired");
});

test("a reload keeps the thread", async () => {
  const w = W(page);
  const before = await w.customerMessages.allTextContents();
  assert.ok(before.length >= 2);
  await page.reload();
  await w.launcher.click();
  await page.waitForFunction(
    (n) => document.querySelector("[data-blaigent-widget]").shadowRoot.querySelectorAll(".msg.customer").length >= n,
    before.length,
    { timeout: 15_000 }
  );
  assert.deepEqual(await w.customerMessages.allTextContents(), before);
  // A second tab of the same site shows the same thread.
  const tab = await newPage(context);
  await tab.goto(hostAllowed.origin + "/");
  await W(tab).launcher.click();
  await tab.waitForFunction(
    (n) => document.querySelector("[data-blaigent-widget]")?.shadowRoot.querySelectorAll(".msg.customer").length >= n,
    before.length,
    { timeout: 15_000 }
  );
  await tab.close();
});

test("Escape closes the dialog and focus returns to the launcher", async () => {
  const w = W(page);
  await w.input.focus();
  await page.keyboard.press("Escape");
  await w.dialog.waitFor({ state: "hidden" });
  assert.equal(await w.launcher.getAttribute("aria-expanded"), "false");
  assert.equal(
    await page.evaluate(() => document.querySelector("[data-blaigent-widget]").shadowRoot.activeElement?.className),
    "launcher"
  );
  await page.keyboard.press("Enter");
  await w.dialog.waitFor();
});

test("a human reply after a handoff appears, and resolution asks for a rating", async () => {
  const w = W(page);
  const sessionHandle = await page.waitForFunction((org) => {
    const key = Object.keys(localStorage).find((k) => k.startsWith(`blaigent.v1.${org}.`));
    return (key && JSON.parse(localStorage.getItem(key)).session_id) || null;
  }, orgId, { timeout: 30_000 });
  const session = await sessionHandle.jsonValue();
  assert.match(session, /^conv_/);
  const text = "Hi, this is **Sam** from Acme support. I've taken over your conversation.";
  // A human takes over through the platform API, as the inbox does.
  const handoff = await api("POST", `/api/v1/platform/conversations/${session}/handoff`, { reason: "browser test" });
  assert.ok([200, 409].includes(handoff.status), JSON.stringify(handoff.data));
  const reply = await api("POST", `/api/v1/platform/conversations/${session}/messages`, { text, author: "sam@acme.example" });
  assert.equal(reply.status, 201, JSON.stringify(reply.data));
  await w.humanMessages.first().waitFor({ timeout: 15_000 });
  const shown = await w.humanMessages.first().textContent();
  assert.match(shown, /Support team/);
  assert.match(shown, /Hi, this is Sam from Acme support/);
  assert.equal(await w.humanMessages.first().locator("strong").textContent(), "Sam");
  await page.screenshot({ path: join(ARTIFACTS, "desktop-human-reply.png") });

  // Resolution: the widget asks for a rating and stores it.
  const resolved = await api("POST", `/api/v1/platform/conversations/${session}/resolve`, {});
  assert.equal(resolved.status, 200, JSON.stringify(resolved.data));
  const five = page.locator("[data-blaigent-widget] .csat button", { hasText: "5" });
  await five.waitFor({ timeout: 15_000 });
  const stored = page.waitForResponse((r) => r.url().endsWith("/csat"));
  await five.click();
  const response = await stored;
  assert.equal(response.status(), 200);
  assert.equal((await response.json()).rating, 5);
  await page.locator("[data-blaigent-widget] .csat", { hasText: "Thanks for your feedback!" }).waitFor();
});

test("the widget is full screen on a phone", async () => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const p = await newPage(phone);
  await p.goto(hostAllowed.origin + "/");
  const w = W(p);
  await p.waitForFunction(() => document.querySelector("[data-blaigent-widget]")?.shadowRoot.querySelector(".root")?.dataset.state === "ready");
  await w.launcher.click();
  await w.dialog.waitFor();
  await w.agentMessages.first().waitFor();
  // Measure once the opening animation has finished.
  await w.dialog.evaluate((el) => Promise.all(el.getAnimations().map((a) => a.finished)));
  const box = await w.dialog.boundingBox();
  assert.deepEqual([box.x, box.y, box.width, box.height].map(Math.round), [0, 0, 390, 844]);
  await ask(p, "Do you offer free shipping?");
  await p.screenshot({ path: join(ARTIFACTS, "phone.png") });
  await phone.close();
});

test("a page on an origin that is not allowed gets an error and no chat", async () => {
  const other = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await newPage(other);
  const calls = [];
  p.on("request", (r) => {
    if (r.url().includes("/api/v1/widget/")) calls.push(new URL(r.url()).pathname);
  });
  await p.goto(hostRefused.origin + "/");
  const w = W(p);
  await p.waitForFunction(() => document.querySelector("[data-blaigent-widget]")?.shadowRoot.querySelector(".root")?.dataset.state === "unavailable");
  await w.launcher.click();
  await w.error.waitFor();
  // The refusal carries no CORS headers, so the page cannot even read why: it only learns
  // that the chat is not available.
  assert.match(await w.error.textContent(), /This chat isn't available/);
  assert.equal(await w.input.isVisible(), false);
  assert.ok(calls.every((c) => !c.endsWith("/chat") && !c.endsWith("/sessions")), calls.join(","));
  await p.screenshot({ path: join(ARTIFACTS, "desktop-refused.png") });
  await other.close();
  await context.close();
});
