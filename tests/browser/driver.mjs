// A tiny JSON-lines RPC over Playwright (playwright-core, no browser download) driving
// Debian's headless Chromium, for tests/test_browser.py.
//
// Usage: node driver.mjs   (env CHROMIUM=/usr/bin/chromium by default)
// Each stdin line is a command {id, op, page?, ...}; each answer is one stdout line
// {id, ok, result | error}. Closing stdin closes the browser and exits.
//
//   open {page, viewport?, locale?, timezoneId?}  a fresh browser context (own localStorage) + page
//                                     (fr-FR and Europe/Paris unless told: a US browser is en-US, America/New_York)
//   goto {page, url}                  fill {page, selector, value}     press {page, selector, key}
//   drag {page, source, target}      (HTML5 drag and drop)
//   key {page, key}                   a key pressed wherever the focus is (keyboard-only tests)
//   type {page, text}                 text typed wherever the focus is
//   click {page, selector}            clickMany {targets: [{page, selector}]} (concurrently)
//   wait {page, selector, state?}     waitFunction {page, expression (a function's source), arg?}
//   text {page, selector}             count {page, selector}           eval {page, expression, arg?}
//   screenshot {page, path, fullPage?}  log {page} (console errors, page errors, failed requests,
//                                     Content-Security-Policy violations)
//   axe {page, include?, tags?}          axe-core's violations on the page (or under `include`)
//   close {}

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const TIMEOUT = Number(process.env.BROWSER_TIMEOUT_MS || 15000);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage', '--lang=fr-FR',
  ],
  // Playwright gives every launch a fresh temporary user-data-dir, removed on close.
});
// axe-core's source, evaluated through DevTools (the site's CSP forbids inline scripts);
// read on first use, so the other operations work without it.
let axeSource = null;
const AXE = () => {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  return axeSource;
};
const pages = new Map();
const logs = new Map();

function page(name) {
  const p = pages.get(name);
  if (!p) throw new Error(`no page named ${name}`);
  return p;
}

const ops = {
  async open({ page: name, viewport, locale, timezoneId }) {
    const context = await browser.newContext({
      viewport: viewport || { width: 1200, height: 800 }, locale: locale || 'fr-FR', timezoneId: timezoneId || 'Europe/Paris',
    });
    context.setDefaultTimeout(TIMEOUT);
    const log = [];
    // Every Content-Security-Policy violation, on every page the context loads, lands in
    // the log as "csp: <directive> <blocked URI> <source:line>".
    await context.exposeBinding('__reportCspViolation', (_source, v) => log.push(`csp: ${v}`));
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__reportCspViolation(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
      });
    });
    const p = await context.newPage();
    p.on('console', (msg) => { if (msg.type() === 'error') log.push(`console: ${msg.text()}`); });
    p.on('pageerror', (err) => log.push(`pageerror: ${err.message}`));
    p.on('requestfailed', (req) => log.push(`requestfailed: ${req.url()} ${req.failure()?.errorText}`));
    pages.set(name, p);
    logs.set(name, log);
    return true;
  },
  goto: async ({ page: n, url }) => { await page(n).goto(url); return page(n).url(); },
  fill: async ({ page: n, selector, value }) => { await page(n).fill(selector, value); return true; },
  press: async ({ page: n, selector, key }) => { await page(n).press(selector, key); return true; },
  click: async ({ page: n, selector }) => { await page(n).click(selector); return true; },
  key: async ({ page: n, key }) => { await page(n).keyboard.press(key); return true; },
  type: async ({ page: n, text }) => { await page(n).keyboard.type(text); return true; },
  drag: async ({ page: n, source, target }) => { await page(n).dragAndDrop(source, target); return true; },
  clickMany: async ({ targets }) => {
    await Promise.all(targets.map((t) => page(t.page).click(t.selector)));
    return true;
  },
  wait: async ({ page: n, selector, state, timeout }) => {
    await page(n).waitForSelector(selector, { state: state || 'visible', timeout: timeout || TIMEOUT });
    return true;
  },
  waitFunction: async ({ page: n, expression, arg, timeout }) => {
    // expression: the source of a function, called until it returns something truthy.
    // Polled with evaluate (DevTools evaluation): page.waitForFunction evaluates strings
    // with eval inside the page, which the site's CSP (no 'unsafe-eval') refuses.
    const source = `(${expression})(${JSON.stringify(arg ?? null)})`;
    const deadline = Date.now() + (timeout || TIMEOUT);
    for (;;) {
      const value = await page(n).evaluate(source);
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`waitFunction timed out: ${expression}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  },
  text: async ({ page: n, selector }) => page(n).textContent(selector),
  count: async ({ page: n, selector }) => page(n).locator(selector).count(),
  eval: async ({ page: n, expression, arg }) => page(n).evaluate(expression, arg),
  screenshot: async ({ page: n, path, fullPage }) => { await page(n).screenshot({ path, fullPage: Boolean(fullPage) }); return path; },
  log: async ({ page: n }) => logs.get(n) || [],
  axe: async ({ page: n, include, tags }) => {
    const p = page(n);
    if (!(await p.evaluate('typeof window.axe === "object"'))) await p.evaluate(AXE());
    return p.evaluate(async ([root, values]) => {
      // Colours are judged at rest, not halfway through a fade-in.
      for (const animation of document.getAnimations()) animation.finish();
      const result = await window.axe.run(root ? { include: [root] } : document, {
        runOnly: { type: 'tag', values: values || ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
        resultTypes: ['violations'],
      });
      return result.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 5).map((node) => `${node.target.join(' ')} ${node.failureSummary || ''}`.trim()),
      }));
    }, [include || null, tags || null]);
  },
  close: async () => { await shutdown(); return true; },
};

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  try { await browser.close(); } catch { /* already gone */ }
}

function reply(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

reply({ id: 0, ok: true, result: { ready: true, version: browser.version() } });

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let cmd;
  try { cmd = JSON.parse(line); } catch { reply({ id: null, ok: false, error: 'bad JSON' }); continue; }
  const fn = ops[cmd.op];
  if (!fn) { reply({ id: cmd.id, ok: false, error: `unknown op ${cmd.op}` }); continue; }
  try {
    reply({ id: cmd.id, ok: true, result: (await fn(cmd)) ?? null });
  } catch (error) {
    reply({ id: cmd.id, ok: false, error: String(error && error.message ? error.message : error).slice(0, 4000) });
  }
  if (cmd.op === 'close') break;
}
await shutdown();
process.exit(0);
