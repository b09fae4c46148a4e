#!/usr/bin/env node
// Drives the gateway's GraphiQL IDE in Debian's headless Chromium, like a developer would:
// open <base>/graphql, put a token in the Headers pane, run `{ viewer { role } }`, and check
// the answer. Then checks that the page talked to nobody but the gateway and that the token
// never went into a URL (nor into localStorage).
//
//   node ide.mjs <gateway-base-url> <token> <expected-role>
//   e.g. node ide.mjs http://127.0.0.1:8080 "$TOKEN_POLICE" police
//
// Prints one JSON line: {"ok":true,"requests":N,"origins":[...]} and exits 0, or
// {"ok":false,"error":"...",...} and exits 1.
//
// Needs only playwright-core (npm ci here) and /usr/bin/chromium (apt-get install -y chromium);
// it never downloads a browser. Override the browser with CHROMIUM=/path/to/chromium;
// SCREENSHOT=/tmp/ide.png saves a picture of the page once the answer is shown.

import { chromium } from 'playwright-core';
import { existsSync } from 'node:fs';

const [baseArg, token, expectedRole] = process.argv.slice(2);
if (!baseArg || !token || !expectedRole) {
  console.error('usage: node ide.mjs <gateway-base-url e.g. http://127.0.0.1:PORT> <token> <expected-role>');
  process.exit(2);
}
const base = new URL(baseArg);
const origin = base.origin;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT_MS = 30_000;

const requests = []; // { url, method, resourceType, headers }
const pageErrors = [];
const consoleErrors = [];
let browser;

function fail(error, extra = {}) {
  const out = {
    ok: false,
    error: String(error && error.message ? error.message : error).split(token).join('<token>'),
    requests: requests.length,
    urls: requests.map((r) => r.url.split(token).join('<token>')).slice(0, 50),
    pageErrors: pageErrors.slice(0, 10),
    consoleErrors: consoleErrors.slice(0, 10),
    ...extra,
  };
  console.log(JSON.stringify(out));
  return 1;
}

// Editors are Monaco instances; GraphiQL 5 exposes the Monaco API as globalThis.__MONACO.
// Which one is which is told by where its DOM node sits.
const EDITOR_SELECTORS = {
  query: '.graphiql-query-editor',
  headers: 'section.graphiql-editor-tool .graphiql-editor:not(.hidden)',
  response: '.graphiql-response',
};

async function editorValue(page, which) {
  return page.evaluate((sel) => {
    const m = globalThis.__MONACO;
    if (m && m.editor && m.editor.getEditors) {
      for (const ed of m.editor.getEditors()) {
        const node = ed.getContainerDomNode();
        if (node && node.closest(sel)) return ed.getValue();
      }
    }
    // Fallback: the rendered lines (Monaco renders spaces as U+00A0).
    const lines = document.querySelector(`${sel} .view-lines`);
    return lines ? lines.innerText.replace(/\u00a0/g, ' ') : null;
  }, EDITOR_SELECTORS[which]);
}

async function setEditorViaApi(page, which, text) {
  return page.evaluate(
    ([sel, value]) => {
      const m = globalThis.__MONACO;
      for (const ed of (m && m.editor && m.editor.getEditors && m.editor.getEditors()) || []) {
        const node = ed.getContainerDomNode();
        if (node && node.closest(sel)) {
          ed.setValue(value); // fires onDidChangeModelContent, which GraphiQL listens to
          return true;
        }
      }
      return false;
    },
    [EDITOR_SELECTORS[which], text],
  );
}

// Replace an editor's content the way a person would: click into it, select all, type.
// insertText sends the text as one input (as a paste would), so Monaco's bracket and quote
// auto-closing cannot double characters. If the result still differs, set it through
// Monaco's API, so a keyboard quirk cannot make the test flaky.
async function replaceEditorText(page, which, text) {
  const lines = page.locator(`${EDITOR_SELECTORS[which]} .monaco-editor .view-lines`).first();
  await lines.waitFor({ state: 'visible', timeout: TIMEOUT_MS });
  await lines.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
  await page.keyboard.press('Escape'); // close any suggestion widget
  const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
  let value = await editorValue(page, which);
  let how = 'keyboard';
  if (norm(value) !== norm(text)) {
    await setEditorViaApi(page, which, text);
    value = await editorValue(page, which);
    how = 'monaco-api';
  }
  if (norm(value) !== norm(text)) {
    throw new Error(`could not set the ${which} editor: it holds ${JSON.stringify(value)}`);
  }
  return how;
}

async function main() {
  if (!existsSync(executablePath)) {
    return fail(`${executablePath} not found: apt-get install -y chromium (or set CHROMIUM)`);
  }
  // chromium.launch() gives the browser a fresh temporary user-data-dir of its own
  // (Playwright refuses --user-data-dir in args) and deletes it on close.
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const context = await browser.newContext();
  // Every request of the page, its frames and its workers.
  context.on('request', (req) => {
    requests.push({
      url: req.url(),
      method: req.method(),
      resourceType: req.resourceType(),
      headers: req.headers(),
    });
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e.message || e)));
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });

  const ideUrl = new URL('/graphql', base).href;
  const resp = await page.goto(ideUrl, { waitUntil: 'load', timeout: TIMEOUT_MS });
  if (!resp || !resp.ok()) throw new Error(`GET ${ideUrl} answered ${resp ? resp.status() : 'nothing'}`);
  const ctype = resp.headers()['content-type'] || '';
  if (!ctype.includes('text/html')) throw new Error(`GET ${ideUrl} is ${ctype}, not text/html`);

  // GraphiQL rendered: the execute button and a live Monaco query editor.
  await page.locator('.graphiql-execute-button').waitFor({ state: 'visible', timeout: TIMEOUT_MS });
  await page
    .locator(`${EDITOR_SELECTORS.query} .monaco-editor .view-lines`)
    .first()
    .waitFor({ state: 'visible', timeout: TIMEOUT_MS });
  await page.waitForFunction(() => !!globalThis.__MONACO, null, { timeout: TIMEOUT_MS });
  const title = await page.title();

  // Headers tab -> the headers editor; its default text tells where the token goes.
  await page.locator('.graphiql-editor-tools button[data-name="headers"]').click();
  await page
    .locator(`${EDITOR_SELECTORS.headers} .monaco-editor .view-lines`)
    .first()
    .waitFor({ state: 'visible', timeout: TIMEOUT_MS });
  const defaultHeaders = await editorValue(page, 'headers');
  const headersText = `{"Authorization": "Bearer ${token}"}`;
  const input = {};
  input.headers = await replaceEditorText(page, 'headers', headersText);

  // The query.
  input.query = await replaceEditorText(page, 'query', '{ viewer { role } }');

  // Run it.
  const ranAt = requests.length;
  await page.locator('.graphiql-execute-button').click();

  const want = `"role": "${expectedRole}"`;
  const deadline = Date.now() + TIMEOUT_MS;
  let response = '';
  while (Date.now() < deadline) {
    response = (await editorValue(page, 'response')) || '';
    if (response.includes(want)) break;
    await page.waitForTimeout(200);
  }
  if (!response.includes(want)) {
    throw new Error(`response pane never showed ${want}; it shows ${JSON.stringify(response.slice(0, 500))}`);
  }

  // The query really went as a same-origin POST /graphql carrying the typed header.
  const posts = requests
    .slice(ranAt)
    .filter((r) => r.method === 'POST' && new URL(r.url).pathname === '/graphql');
  if (!posts.some((r) => r.headers.authorization === `Bearer ${token}`)) {
    throw new Error('no POST /graphql carried the Authorization header typed in the Headers pane');
  }

  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }));
  await page.waitForTimeout(500); // let late requests (workers, fonts) show up
  await browser.close();
  browser = undefined;

  // Same origin only (data: URLs are inline content, not requests to a host), no token in URLs.
  const origins = [...new Set(requests.map((r) => (r.url.startsWith('data:') ? 'data:' : new URL(r.url).origin)))];
  const foreign = requests.filter((r) => !r.url.startsWith('data:') && new URL(r.url).origin !== origin);
  if (foreign.length) {
    return fail(`requests to another origin than ${origin}`, { foreign: foreign.map((r) => r.url) });
  }
  const variants = [token, encodeURIComponent(token)];
  const leaking = requests.filter((r) => variants.some((t) => r.url.includes(t)));
  if (leaking.length) {
    return fail('the token appears in a request URL', { leaking: leaking.length });
  }
  if (variants.some((t) => stored.includes(t))) {
    return fail("the token was persisted in localStorage", { keys: Object.entries(JSON.parse(stored)).filter(([, v]) => variants.some((t) => v.includes(t))).map(([k, v]) => k + "=" + v.split(token).join("<token>").slice(0, 400)) });
  }
  if (!defaultHeaders || !defaultHeaders.includes('Bearer <paste a token here>')) {
    return fail(`default headers pane text is ${JSON.stringify(defaultHeaders)}`);
  }
  if (!title.includes('GraphiQL')) return fail(`page title is ${JSON.stringify(title)}`);

  console.error(`ide.mjs: editors filled by ${JSON.stringify(input)}`);
  console.log(JSON.stringify({ ok: true, requests: requests.length, origins }));
  return 0;
}

let code;
try {
  code = await main();
} catch (e) {
  code = fail(e);
} finally {
  if (browser) await browser.close().catch(() => {});
}
process.exit(code);
