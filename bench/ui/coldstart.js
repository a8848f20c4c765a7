#!/usr/bin/env node
// Cold start of the station's first screen on a slow link (bench/run.sh
// serve, via bench/serve-bench.py): Debian's Chromium, headless, driven by
// playwright-core; each run a fresh browser context (empty cache) with the
// cache disabled, throttled by CDP Network.emulateNetworkConditions. Times
// from the start of the navigation to the sign-in screen being usable: the
// password input laid out and painted (password_painted_ms, on the page's
// own clock from the navigation's start), and the same seen from this
// script (wall_ms, from page.goto; then the input is checked visible and
// editable).
//
//   node coldstart.js URL [--runs N] [--kbps 64] [--latency-ms 100]
//                         [--chromium /usr/bin/chromium]
//
// Prints one JSON object: the settings, and per run the times (ms) and the
// requests made before the sign-in screen was usable, with their bytes on
// the wire (CDP encodedDataLength: headers and body as received).
'use strict';
const { chromium } = require('playwright-core');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
}

const url = process.argv[2];
const runs = Number(arg('--runs', '5'));
const kbps = Number(arg('--kbps', '64'));
const latency = Number(arg('--latency-ms', '100'));
const exe = arg('--chromium', '/usr/bin/chromium');
const bytesPerS = kbps * 1000 / 8;

async function once(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  // in the page, on the browser's own clock (0 = the navigation's start):
  // when the password input first has a layout box, and the frame after
  // (when it has been painted)
  await page.addInitScript(() => {
    const check = () => {
      const el = document.querySelector('[data-test=password]');
      if (el && !window.__pwAt && el.offsetParent !== null) {
        window.__pwAt = performance.now();
        requestAnimationFrame(() => requestAnimationFrame(() => { window.__pwPaint = performance.now(); }));
      }
    };
    new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true });
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency, downloadThroughput: bytesPerS, uploadThroughput: bytesPerS,
  });
  const reqs = new Map();
  let t0 = 0;
  cdp.on('Network.requestWillBeSent', e => {
    reqs.set(e.requestId, { url: e.request.url.replace(/^https?:\/\/[^/]+/, ''), method: e.request.method,
      start_ms: Date.now() - t0 });
  });
  cdp.on('Network.responseReceived', e => {
    const r = reqs.get(e.requestId);
    if (r) {
      r.status = e.response.status;
      r.encoding = (e.response.headers['Content-Encoding'] || e.response.headers['content-encoding'] || '');
    }
  });
  cdp.on('Network.loadingFinished', e => {
    const r = reqs.get(e.requestId);
    if (r) { r.bytes = e.encodedDataLength; r.end_ms = Date.now() - t0; }
  });
  t0 = Date.now();
  await page.goto(url, { waitUntil: 'commit', timeout: 120000 });
  // (not locator.waitFor: Playwright polls it at up to 500 ms intervals)
  await page.waitForFunction(() => window.__pwPaint, null, { polling: 'raf', timeout: 120000 });
  const usable = Date.now() - t0;
  const pw = page.locator('[data-test=password]');
  if (!(await pw.isVisible()) || !(await pw.isEditable())) throw new Error('the password input is not usable');
  const before = [...reqs.values()].filter(r => r.start_ms <= usable);
  const inPage = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return { password_in_dom_ms: window.__pwAt, password_painted_ms: window.__pwPaint,
      dom_content_loaded_ms: nav ? nav.domContentLoadedEventEnd : null,
      first_contentful_paint_ms: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null };
  });
  // let what is still in flight finish, for the full picture
  await page.waitForLoadState('networkidle', { timeout: 120000 }).catch(() => {});
  const all = [...reqs.values()];
  await context.close();
  return {
    wall_ms: usable,
    ...inPage,
    requests_before_usable: before,
    bytes_before_usable: before.reduce((s, r) => s + (r.bytes || 0), 0),
    requests_total: all.length,
    bytes_total: all.reduce((s, r) => s + (r.bytes || 0), 0),
  };
}

(async () => {
  if (!url) {
    console.error('usage: node coldstart.js URL [--runs N] [--kbps 64] [--latency-ms 100] [--chromium PATH]');
    process.exit(2);
  }
  const browser = await chromium.launch({ executablePath: exe, headless: true,
    args: ['--no-sandbox', '--disable-gpu'] });
  const out = { url, kbps, bytes_per_s: bytesPerS, latency_ms: latency, chromium: browser.version(), runs: [] };
  try {
    for (let i = 0; i < runs; i++) out.runs.push(await once(browser));
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
})().catch(e => { console.error(e); process.exit(1); });
