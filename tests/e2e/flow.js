#!/usr/bin/env node
// End-to-end: the stations' web UI in Debian's headless Chromium, driven by
// playwright-core like a person at the window (clicks and typing only; the
// test reads stores with `daiban app list --json` for assertions and never
// calls the API itself for an action).
//
// Real homes in a temp dir, made with the real `daiban` binary: the county
// 330225 (its home also runs the hall, plain HTTP on loopback), the
// township 330225101 西周镇 and the villages 330225101201 下沈村 and
// 330225101202; one `daiban serve` per home (--sync-every 2). It proves:
//  1. sign-in; a matter found by its pinyin initials; its form with two
//     household-member rows; an ID number with a wrong check digit gets the
//     check-digit error next to that field, and fixing it clears it;
//  2. materials with one 容缺 (promised date), 受理, the receipt number; the
//     receipt printed to PDF holds the receipt number, the applicant, the
//     matter and the deficient material with its date; a 一件事 bundle
//     accepted too, its receipt naming the bundle's matters;
//  3. with the hall stopped: a draft ("草稿已保存") and a second
//     application accepted; the banner says the link is down and the work is
//     saved locally; the village daemon restarted: the draft reopens with
//     its values, the application is in 我的办件; the hall restarted:
//     立即同步 empties the waiting count and the township lists it;
//  4. township returns it with a reason, the village corrects and
//     resubmits, the township passes, the county approves (批准), the
//     village delivers and rates it, the county's 电子监察 counts it;
//  5. screenshots of every screen at 1366x768 (E2E_ARTIFACTS), and no
//     horizontal scrollbar at 1024x768 on the village home and the form;
//  6. the first run in the browser: `daiban serve` on an empty home for
//     330225101203 serves the setup page; a wrong one-time code is refused
//     and makes nothing; with the code from the file beside the home, the
//     hall's address, the token and the county key read aloud, the station
//     joins, shows its key's fingerprint (as `daiban key show` gives it),
//     starts on the same address; its first operator signs in, captures
//     an application, and 立即同步 brings it to the county;
//  7. another county (tests/data/catalog-other, no label says 申请人): a
//     household's house repair typed by keyboard alone, a relevance reveal
//     and two dates in it; the notice before acceptance, the receipt and
//     the notice after it as PDFs name the householder (the second row),
//     say what to bring, and hold no English and no expression.
// Along the way (issue 14): the 身后事 form and a relevance reveal
// (残疾人证申领) typed at full speed with every value in its field; dates
// typed as eight digits and a 容缺 promise past its last day refused as
// typed; a household row deleted and brought back by 撤销; 我的办件's
// 草稿 listing this machine's drafts; status badges on one line at 1024
// wide; a catalogue published while a village form is open: the form says
// 目录已更新 and keeps what was typed, and 受理 refused prints the
// server's one-time notice.
//
// The sample catalogue has no bundle with a repeat, so the homes get the
// sample plus one bundle row, 低保与医保一件事 (MZ-DB-001 + YB-CB-001; the
// catalogue checks clean): step 2c fills that bundle, repeat rows and
// the check-digit error at the field included, and accepts it with one
// 容缺 on one receipt. The township review is proved on 最低生活保障
// (MZ-DB-001, steps 1-2), the bundle of three on 身后事 (YJS-SHS-001).
// docs/screenshots/ holds copies of a few of the screenshots (made by hand
// from a run; the test does not write into the source tree).
//
// The Windows station (issue 17): with E2E_WINDOWS_EXE naming the Windows
// build's daiban.exe, the village part only (setup of 下沈村, steps 1 and
// 2: sign-in, pinyin search, the form with the check-digit error fixed,
// 受理 with 容缺, the receipt as PDF) runs against `daiban.exe serve` under
// Wine, and every CLI call on that home is daiban.exe's too (two programs
// of two systems never share a live SQLite file). tests/windows runs it.
//
// Env: DAIBAN (binary), DAIBAN_TEST_DATA (tests/data), E2E_ARTIFACTS
// (default $MESON_BUILD_ROOT/e2e-artifacts, else /tmp/daiban-e2e-artifacts),
// CHROMIUM (default /usr/bin/chromium), E2E_KEEP=1 keeps the temp homes.
// Exit 0 when every assertion held; 1 with the reason otherwise.
'use strict';
const path = require('path');
const fs = require('fs');
const os = require('os');
const cp = require('child_process');

const T0 = Date.now();
const secs = () => ((Date.now() - T0) / 1000).toFixed(1).padStart(6);
const say = (...a) => console.log(`[${secs()}s]`, ...a);
const step = s => console.log(`\n[${secs()}s] == ${s}`);
function die(msg) {
  console.error(`\ne2e-flow: FAILED: ${msg}`);
  process.exitCode = 1;
}

let chromium;
try {
  ({ chromium } = require(path.join(__dirname, 'node_modules', 'playwright-core')));
} catch (e) {
  console.error('e2e-flow: playwright-core is not installed in tests/e2e/node_modules: run packaging/install-deps.sh');
  process.exit(1);
}

const ROOT = path.resolve(__dirname, '..', '..');
const DAIBAN = path.resolve(process.env.DAIBAN || path.join(ROOT, 'build', 'agent', 'daiban'));
const DATA = path.resolve(process.env.DAIBAN_TEST_DATA || path.join(ROOT, 'tests', 'data'));
const CATALOG = path.join(DATA, 'catalog-sample');
const CHROME = process.env.CHROMIUM || '/usr/bin/chromium';
const ART = path.resolve(process.env.E2E_ARTIFACTS ||
  (process.env.MESON_BUILD_ROOT ? path.join(process.env.MESON_BUILD_ROOT, 'e2e-artifacts') : '/tmp/daiban-e2e-artifacts'));
const TODAY = '2026-11-24';
const PASSWORD = 'daiban123';
const COUNTY = '330225', TOWNSHIP = '330225101', VILLAGE = '330225101201', VILLAGE2 = '330225101202';
const W = 1366, H = 768;
const WIN_EXE = process.env.E2E_WINDOWS_EXE ? path.resolve(process.env.E2E_WINDOWS_EXE) : '';
const VILLAGE_ONLY = !!WIN_EXE;
/* A Linux path as the Windows program sees it (Wine's Z: is /). */
const winPath = p => 'Z:' + p.replace(/\//g, '\\');

for (const [what, p] of [['the daiban binary (DAIBAN)', DAIBAN], ['the sample catalogue', CATALOG], ['Chromium', CHROME]]) {
  if (!fs.existsSync(p)) {
    console.error(`e2e-flow: ${what} is missing: ${p}` + (p === CHROME ? ' (run packaging/install-deps.sh)' : ''));
    process.exit(1);
  }
}

// ---- processes: every daemon in its own process group, always killed --------
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'daiban-e2e-'));
const live = new Map();             // pid -> {name}
function killAll(sig) {
  for (const pid of live.keys()) { try { process.kill(-pid, sig); } catch (e) { /* gone */ } }
}
process.on('exit', () => {
  killAll('SIGKILL');
  if (!process.env.E2E_KEEP) { try { fs.rmSync(TMP, { recursive: true, force: true }); } catch (e) { /* best effort */ } }
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { console.error(`e2e-flow: ${sig}`); process.exit(1); });

function env(home, extra) {
  // the county's time zone, as the browser's: times the server formats
  // (audit log, stations) and those the browser formats agree
  const e = { ...process.env, DAIBAN_HOME: home, DAIBAN_TODAY: TODAY, TZ: 'Asia/Shanghai', LANG: 'C.UTF-8', LC_ALL: '', LC_MESSAGES: '' };
  delete e.DAIBAN_OPERATOR;
  if (WIN_EXE) {
    // Wine reads argv and the environment as UTF-8 by LC_CTYPE's charset
    Object.assign(e, { DAIBAN_HOME: winPath(home), LC_CTYPE: 'C.UTF-8', WINEDEBUG: '-all' });
  }
  return Object.assign(e, extra || {});
}
/* The program and arguments that run daiban ARGS: daiban.exe under Wine
 * (absolute paths as Z:) in the Windows mode. */
function prog(args) {
  if (!WIN_EXE) return [DAIBAN, args];
  return ['wine', [WIN_EXE, ...args.map(a => (a.startsWith('/') ? winPath(a) : a))]];
}
/* Run the CLI on a home; its stdout. */
function cli(home, args, input) {
  const [exe, argv] = prog(args);
  const r = cp.spawnSync(exe, argv, { env: env(home), input: input || '', encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) throw new Error(`daiban ${args.join(' ')} (home ${home}) exited ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout.trim();
}
/* The store's applications as `daiban app list --json` lists them. */
function appList(home) {
  return JSON.parse(cli(home, ['app', 'list', '--json', '--limit', '200'])).applications || [];
}
function appShow(home, id) {
  return JSON.parse(cli(home, ['app', 'show', id, '--json']));
}

/* Start a daemon (daiban ARGS) in its own process group; resolves once its
 * first stdout line names its URL. */
function daemon(name, home, args) {
  const log = path.join(TMP, `${name}.log`);
  const fd = fs.openSync(log, 'a');
  const [exe, argv] = prog(args);
  const p = cp.spawn(exe, argv, { env: env(home), detached: true, stdio: ['ignore', 'pipe', fd] });
  fs.closeSync(fd);
  live.set(p.pid, { name });       // until stop(): its group may outlive it
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 30 s; see ${log}`)), 30000);
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', d => {
      out += d;
      const m = /(https?):\/\/127\.0\.0\.1:(\d+)(\/\S*)?/.exec(out);
      if (m && out.includes('\n')) {
        clearTimeout(timer);
        resolve({ name, home, proc: p, pid: p.pid, port: +m[2], url: m[0], log });
      }
    });
    p.on('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`${name} exited (${code ?? sig}) at start: ${fs.readFileSync(log, 'utf8').slice(-2000)}`)); });
  });
}
/* Stop a daemon with SIGTERM (to the daemon itself, as an operator would),
 * wait for it, then end whatever of its group is left. */
async function stop(d) {
  if (d.proc.exitCode !== null || d.proc.signalCode !== null) return;
  const gone = new Promise(r => d.proc.once('exit', r));
  process.kill(d.pid, 'SIGTERM');
  const t = setTimeout(() => { try { process.kill(-d.pid, 'SIGKILL'); } catch (e) { /* gone */ } }, 10000);
  await gone;
  clearTimeout(t);
  try { process.kill(-d.pid, 'SIGTERM'); } catch (e) { /* none left */ }
  live.delete(d.pid);
}

// ---- small helpers ----------------------------------------------------------
class Failure extends Error {}
function check(cond, msg) { if (!cond) throw new Failure(msg); }
function eq(a, b, what) { check(a === b, `${what}: expected ${JSON.stringify(b)}, got ${JSON.stringify(a)}`); }
const sleep = ms => new Promise(r => setTimeout(r, ms));
/* Poll fn until it returns something truthy (or throw after timeout). */
async function until(what, fn, timeout = 30000, every = 300) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try { const v = await fn(); if (v) return v; } catch (e) { last = e; }
    if (Date.now() > end) throw new Failure(`timed out after ${timeout / 1000} s waiting for ${what}` + (last ? ` (${last.message})` : ''));
    await sleep(every);
  }
}
/* GB 11643: the check character of an 18-digit resident ID number. */
function idCheck(first17) {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const s = [...first17].reduce((a, c, i) => a + (+c) * w[i], 0);
  return '10X98765432'[s % 11];
}
const idNumber = first17 => first17 + idCheck(first17);
const squash = s => s.replace(/\s+/g, '');
const dateCn = ymd => { const [y, m, d] = ymd.split('-').map(Number); return `${y}年${m}月${d}日`; };

const shots = [];
async function shot(page, name, opt = {}) {
  const file = path.join(ART, `${name}.png`);
  await page.screenshot({ path: file, fullPage: !!opt.fullPage });
  shots.push(file);
  say(`   screenshot ${path.relative(process.cwd(), file) || file}`);
}
/* Click into a field and type like a person (clearing what was there). */
async function type(loc, text) {
  await loc.click();
  await loc.press('Control+A');
  await loc.press('Backspace');
  await loc.pressSequentially(String(text));
}
const tid = (page, t) => page.locator(`[data-test="${t}"]`);
async function text(loc) { return ((await loc.textContent()) || '').trim(); }
/* No horizontal scrollbar on this page. */
async function noHScroll(page, what) {
  const [sw, cw] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  check(sw <= cw, `${what}: horizontal scrollbar at ${page.viewportSize().width}px (scrollWidth ${sw} > clientWidth ${cw})`);
  say(`   ${what}: no horizontal scroll at ${page.viewportSize().width}x${page.viewportSize().height} (scrollWidth ${sw} <= ${cw})`);
}

/* A port free on loopback now (the first-run page and the station after it
 * listen on the same one). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = require('net').createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
}

// ---- the UI steps a person takes -------------------------------------------
async function signIn(page, url, who) {
  await page.goto(url);
  const op = tid(page, 'operator');
  await op.waitFor();
  if (await op.evaluate(e => e.tagName === 'SELECT')) await op.selectOption('wxh'); else await type(op, 'wxh');
  await type(tid(page, 'password'), PASSWORD);
  await tid(page, 'signin').click();
  await tid(page, 'banner').waitFor({ state: 'visible' });
  await page.locator('#main h1').first().waitFor();
  say(`   signed in at ${who} as ${await text(tid(page, 'operator-name'))}`);
}
async function nav(page, k) {
  await tid(page, 'nav-' + k).click();
  await page.locator('#main .view h1').first().waitFor();
}
/* 新办件: type the query, pick the matter CODE among the hits. */
async function findMatter(page, query, code) {
  await nav(page, 'new');
  const q = tid(page, 'matter-search');
  await type(q, query);
  const hit = page.locator(`[data-test="matter-results"] button[data-code="${code}"]`);
  await hit.waitFor({ timeout: 5000 }).catch(() => { throw new Failure(`searching "${query}" did not list ${code}`); });
  return hit;
}
/* The form's field at PATH. */
const field = (page, p) => page.locator(`#app-form [data-test="${p}"]`);
/* Keys typed while a Tab waits for the station to say what a change
 * reveals are held and typed when it answers (village.js tabAfterReveal),
 * later than keyboard.type returns: the fields are read after that. */
async function keysTaken(page) {
  await page.locator('#app-form:not([data-keys-held])').waitFor({ timeout: 15000 })
    .catch(() => { throw new Failure('the keys typed during a reveal were still held after 15 s'); });
}
async function fillForm(page, values) {
  for (const [p, v] of Object.entries(values)) {
    const f = field(page, p);
    const tag = await f.evaluate(e => e.tagName + ':' + (e.type || ''));
    if (tag.startsWith('SELECT')) await f.selectOption(v);
    else if (tag === 'INPUT:date') await f.fill(v);
    else await type(f, v);
  }
  await page.keyboard.press('Tab');
}
async function materials(page, states) {
  for (const [code, st] of Object.entries(states)) {
    const [state, promise] = Array.isArray(st) ? st : [st];
    await tid(page, `m-${code}-${state}`).check();
    if (promise) await tid(page, `m-${code}-promise`).fill(promise);
  }
}
/* 受理 on the form; the done page's receipt number and the application id. */
async function accept(page) {
  await tid(page, 'accept').click();
  await page.waitForURL(/#\/done\//, { timeout: 15000 }).catch(async () => {
    throw new Failure('受理 did not reach the result page: ' + squash(await text(tid(page, 'form-problems'))).slice(0, 400));
  });
  const receipt = await until('the receipt number', async () => text(tid(page, 'receipt')), 10000);
  const id = decodeURIComponent(page.url().split('#/done/')[1]);
  return { id, receipt };
}
/* A list (我的办件 or a queue) until row ID matches pred, pressing 查询 between looks. */
async function listUntil(page, id, pred, what, timeout = 40000) {
  return until(what, async () => {
    await tid(page, 'f-apply').click();
    await page.locator('[data-test="app-list"] .loading').waitFor({ state: 'detached', timeout: 5000 }).catch(() => {});
    const row = page.locator(`[data-test="app-row"][data-id="${id}"]`);
    if (!(await row.count())) return null;
    return (await pred(row)) ? row : null;
  }, timeout, 1000);
}
/* The page's status badge of the application section (its page). */
async function statusOf(page) { return text(page.locator('section.app [data-test="status"]').first()); }
/* Print a receipt page to PDF and read it back with pdftotext. */
async function receiptPdf(ctx, base, id, name) {
  return sheetPdf(ctx, `${base}api/apps/${encodeURIComponent(id)}/receipt`, name);
}
/* A printed sheet of the station (receipt, notice) as PDF, and its text. */
async function sheetPdf(ctx, url, name) {
  const p = await ctx.newPage();
  await p.goto(url);
  await p.locator('h1').waitFor();
  await shot(p, name);
  const pdf = path.join(ART, `${name}.pdf`);
  await p.pdf({ path: pdf, format: 'A4' });
  await p.close();
  const r = cp.spawnSync('pdftotext', ['-enc', 'UTF-8', pdf, '-'], { encoding: 'utf8' });
  check(r.status === 0, `pdftotext ${pdf}: ${r.stderr}`);
  say(`   ${path.basename(pdf)}: ${r.stdout.split('\n').filter(Boolean).length} lines of text`);
  return squash(r.stdout);
}

// ---- the test ---------------------------------------------------------------
async function main() {
  fs.mkdirSync(ART, { recursive: true });
  for (const f of fs.readdirSync(ART)) if (/\.(png|pdf)$/.test(f)) fs.rmSync(path.join(ART, f), { force: true });
  if (WIN_EXE) say(`the village station: wine ${WIN_EXE} (the Windows build), the CLI on its home too`);
  say(`daiban ${DAIBAN}\n           catalogue ${CATALOG}\n           homes in ${TMP}\n           artifacts in ${ART}`);

  step('Setup: four homes (county hall, 西周镇, 下沈村, 330225101202), the hall and four stations');
  const homes = { county: path.join(TMP, 'county'), town: path.join(TMP, 'town'), v1: path.join(TMP, 'v1'), v2: path.join(TMP, 'v2') };
  const nodes = { county: [COUNTY, 'county'], town: [TOWNSHIP, 'township'], v1: [VILLAGE, 'village'], v2: [VILLAGE2, 'village'] };
  const names = { county: '赵县审', town: '李镇审', v1: '王小红', v2: '陈村代' };
  // the sample, plus a bundle with a repeat (see the top of this file)
  const TESTCAT = path.join(TMP, 'catalog');
  fs.mkdirSync(TESTCAT);
  for (const f of fs.readdirSync(CATALOG)) fs.copyFileSync(path.join(CATALOG, f), path.join(TESTCAT, f));
  fs.appendFileSync(path.join(TESTCAT, 'bundles.csv'),
    'YJS-DBYB-T01,低保与医保一件事,Minimum allowance with medical insurance,MZ-DB-001;YB-CB-001\n');
  if (VILLAGE_ONLY) for (const k of ['county', 'town', 'v2']) delete homes[k];
  for (const k of Object.keys(homes)) {
    cli(homes[k], ['init', '--node', nodes[k][0], '--role', nodes[k][1], '--catalog', TESTCAT]);
    cli(homes[k], ['operator', 'add', 'wxh', '--name', names[k]]);
    cli(homes[k], ['operator', 'passwd', 'wxh'], PASSWORD + '\n');
  }
  let hall = VILLAGE_ONLY ? null : await daemon('hall', homes.county, ['hall', 'serve', '--listen', '127.0.0.1:0']);
  const hallPort = hall && hall.port;
  if (hall) say(`   hall at ${hall.url}`);
  for (const k of VILLAGE_ONLY ? [] : ['town', 'v1', 'v2']) {
    const token = cli(homes.county, ['hall', 'token', nodes[k][0]]).split('\n').pop().trim();
    cli(homes[k], ['remote', 'set', hall.url, '--token', token]);
  }
  const serve = (k, port) => daemon(`serve-${k}`, homes[k], ['serve', '--listen', `127.0.0.1:${port || 0}`, '--sync-every', '2']);
  const sv = {};
  for (const k of Object.keys(homes)) { sv[k] = await serve(k); say(`   ${k} station at ${sv[k].url}`); }

  const browser = await chromium.launch({
    executablePath: CHROME, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run'],
  });
  const pages = [];
  try {
    const newCtx = async () => {
      const ctx = await browser.newContext({ viewport: { width: W, height: H }, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
      ctx.setDefaultTimeout(15000);
      const page = await ctx.newPage();
      page.on('pageerror', e => say(`   (page error: ${e.message})`));
      page.on('console', m => { if (m.type() === 'error' && process.env.E2E_VERBOSE) say(`   (console: ${m.text()})`); });
      pages.push(page);
      return [ctx, page];
    };
    const [vctx, vp] = await newCtx();

    // ---- 1 ------------------------------------------------------------------
    step('1. Village agent signs in, finds 最低生活保障 by pinyin initials, fills the form with two household rows');
    await vp.goto(sv.v1.url);
    await tid(vp, 'signin').waitFor();
    await shot(vp, '01-signin');
    // the agent's first sign-in by keyboard alone: the password box has
    // the focus, Enter signs in
    await vp.goto(sv.v1.url);
    await tid(vp, 'password').waitFor();
    eq(await vp.evaluate(() => document.activeElement && document.activeElement.dataset.test), 'password',
      'the focus on the sign-in screen');
    await vp.keyboard.type(PASSWORD);
    await vp.keyboard.press('Enter');
    await tid(vp, 'banner').waitFor({ state: 'visible' });
    await vp.locator('#main h1').first().waitFor();
    say(`   signed in at 下沈村 by keyboard alone as ${await text(tid(vp, 'operator-name'))}`);
    eq(await text(tid(vp, 'role')), '村级站点', 'the village banner role');
    await shot(vp, '02-village-home');
    await vp.setViewportSize({ width: 1024, height: 768 });
    await noHScroll(vp, 'village home');
    await shot(vp, '02b-village-home-1024');
    await vp.setViewportSize({ width: W, height: H });

    // the search box's hint gives an example that this catalogue answers
    const hint = await tid(vp, 'matter-search').getAttribute('placeholder');
    const ex = (/如 (\S+)$/.exec(hint) || [])[1];
    check(ex, `the search hint has an example: "${hint}"`);
    await type(tid(vp, 'matter-search'), ex);
    await until(`hits for the hint's example "${ex}"`, async () => (await tid(vp, 'matter-results').locator('button').count()) > 0, 5000);
    say(`   the hint's example "${ex}" finds ${await tid(vp, 'matter-results').locator('button').count()} matter(s)`);
    const dibao = await findMatter(vp, 'zdsh', 'MZ-DB-001');
    const hits = await tid(vp, 'matter-results').locator('button').count();
    say(`   "zdsh" lists ${hits} matter(s), 最低生活保障申请 among them`);
    await shot(vp, '03-matter-search');
    await dibao.click();
    await vp.locator('#app-form[data-matter="MZ-DB-001"]').waitFor();
    const draft1 = decodeURIComponent(vp.url().split('/').pop());
    // Enter goes on to the next field
    await field(vp, 'applicant_name').focus();
    await vp.keyboard.press('Enter');
    eq(await vp.evaluate(() => document.activeElement && document.activeElement.dataset.test), 'id_number',
      'the field Enter moves to from 申请人姓名');

    const applicant = { name: '李建国', id: '330225196507201314' };
    const spouseId = '330225196802111426';
    const wrongId = spouseId.slice(0, 17) + (spouseId[17] === '7' ? '8' : '7');
    check(idNumber(spouseId.slice(0, 17)) === spouseId && wrongId !== spouseId, 'the test\'s ID numbers');
    await fillForm(vp, {
      applicant_name: applicant.name, id_number: applicant.id, phone: '0574-65123456',
      address: '象山县西周镇下沈村5号', household_size: '2',
      'members[0].member_name': applicant.name, 'members[0].member_id': applicant.id,
      'members[0].relation': 'self', 'members[0].monthly_income': '800.50',
    });
    await tid(vp, 'add-row-members').click();
    await field(vp, 'members[1].member_name').waitFor();
    say('   two household rows; the second member\'s ID typed with a wrong check digit');
    await fillForm(vp, {
      'members[1].member_name': '张桂芳', 'members[1].member_id': wrongId,
      'members[1].relation': 'spouse', 'members[1].monthly_income': '0',
      reason: '家庭主要劳动力患病，收入不足以维持基本生活', bank_account: '6217001234567890123',
    });
    const idWrap = vp.locator('#app-form .field[data-path="members[1].member_id"]');
    const idErr = idWrap.locator('.err');
    await idErr.waitFor({ state: 'visible', timeout: 5000 }).catch(() => { throw new Failure('no error shown next to the wrong ID number'); });
    const errText = await text(idErr);
    check(/校验位/.test(errText), `the error next to the ID field should name the check digit; it says "${errText}"`);
    check(await idWrap.evaluate(w => w.classList.contains('bad')), 'the ID field is not marked bad');
    eq(await field(vp, 'members[1].member_id').getAttribute('aria-invalid'), 'true', 'aria-invalid of the wrong ID');
    say(`   next to the field: "${errText}"`);
    await vp.evaluate(() => document.querySelector('.field[data-path="members[1].member_id"]').scrollIntoView({ block: 'center' }));
    await shot(vp, '04-form-id-error');
    await vp.setViewportSize({ width: 1024, height: 768 });
    await noHScroll(vp, 'the form (two rows, an error shown)');
    await shot(vp, '04b-form-1024');
    await vp.setViewportSize({ width: W, height: H });

    // a row deleted by mistake comes back with what was typed
    await tid(vp, 'repeat-members').locator('[data-row="1"] [data-test="del-row"]').click();
    eq(await tid(vp, 'repeat-members').locator('[data-row]').count(), 1, 'rows after 删除');
    await tid(vp, 'undo-row').click();
    eq(await field(vp, 'members[1].member_name').inputValue(), '张桂芳', 'the row back after 撤销');
    say('   删除 a row, then 撤销: it is back with what was typed');
    await fillForm(vp, { 'members[1].member_id': spouseId });
    await idErr.waitFor({ state: 'hidden', timeout: 5000 }).catch(() => { throw new Failure('the check-digit error stayed after the ID was fixed'); });
    check(!(await idWrap.evaluate(w => w.classList.contains('bad'))), 'the fixed ID field is still marked bad');
    say('   fixed: the error is gone');

    // ---- 2 ------------------------------------------------------------------
    step('2. Materials with one 容缺 (promised date), 受理, the receipt printed to PDF');
    const promise = '2026-12-10';
    await materials(vp, { SFZ: 'provided', HKB: 'provided', SRZM: ['deficient', promise], HDSQ: 'provided', YHK: 'provided' });
    eq(await tid(vp, 'm-SRZM-promise').inputValue(), promise, 'the promised date of SRZM');
    // the last day it may come: 30 working days by the county's calendar, not 30 calendar days
    const lastDay = cli(homes.v1, ['catalog', 'due', TESTCAT, TODAY, '30']).split(/\s/)[0];
    eq(await tid(vp, 'm-SRZM-promise').getAttribute('data-max'), lastDay, 'the last day of the 容缺 promise');
    // typed past it: said at once, beside the date
    const dayAfter = cli(homes.v1, ['catalog', 'due', TESTCAT, TODAY, '31']).split(/\s/)[0];
    await type(tid(vp, 'm-SRZM-promise'), dayAfter.replace(/-/g, ''));
    check((await text(tid(vp, 'm-SRZM-promise-err'))).includes(lastDay), `a promise after ${lastDay} is refused as typed`);
    await type(tid(vp, 'm-SRZM-promise'), promise.replace(/-/g, ''));
    check(await tid(vp, 'm-SRZM-promise-err').isHidden(), 'the promise within the limit is accepted');
    eq(await tid(vp, 'm-SRZM-promise').inputValue(), promise, 'the promise typed as eight digits');
    check((await text(vp.locator('#materials'))).includes(`最迟 30 个工作日内补交（${lastDay} 前）`),
      'the materials list names the 容缺 period in working days');
    await until('"草稿已保存"', async () => /草稿已保存/.test(await text(tid(vp, 'draft-state'))), 10000);
    await vp.evaluate(() => document.querySelector('#materials').scrollIntoView({ block: 'start' }));
    await shot(vp, '05-materials');
    const A = await accept(vp);
    check(/^101201-261124-\d{3}$/.test(A.receipt), `receipt number ${A.receipt}`);
    say(`   accepted ${A.id}, receipt ${A.receipt}`);
    const doneWarn = await text(vp.locator('#main .msg.warn'));
    check(doneWarn.includes('家庭成员收入证明') && doneWarn.includes(promise), `the result page reminds of the deficiency: "${doneWarn}"`);
    await shot(vp, '06-accepted-receipt');
    {
      const a = appList(homes.v1).find(x => x.id === A.id);
      check(a, `${A.id} is not in the village's store`);
      eq(a.status, 'accepted', 'status in the store');
      eq(a.receipt, A.receipt, 'receipt in the store');
      const full = appShow(homes.v1, A.id);
      eq((full.data.members || []).length, 2, 'household rows stored');
      eq(full.data.members[1].member_id, spouseId, 'the corrected ID stored');
      const srzm = (full.materials || []).find(m => m.material === 'SRZM');
      check(srzm && srzm.state === 'deficient' && srzm.promise === promise, `SRZM stored as deficient by ${promise}: ${JSON.stringify(srzm)}`);
      eq((full.materials || []).filter(m => m.state === 'deficient').length, 1, 'deficient materials');
    }
    const pdf1 = await receiptPdf(vctx, sv.v1.url, A.id, '07-receipt-dibao');
    for (const want of [A.receipt, applicant.name, '最低生活保障申请', '家庭成员收入证明', `请于${dateCn(promise)}前补交`, '受理回执']) {
      check(pdf1.includes(squash(want)), `the printed receipt lacks "${want}"`);
    }
    say(`   the PDF holds ${A.receipt}, ${applicant.name}, 最低生活保障申请, 家庭成员收入证明 by ${dateCn(promise)}`);
    // Back from the result page: the accepted form's draft is gone, so
    // an empty form under a new draft id (its 受理's request key), never
    // the accepted one's (which would answer with the first application)
    await vp.goBack();
    await vp.locator('#app-form[data-matter="MZ-DB-001"]').waitFor();
    const backDraft = await until('a new draft id after Back', async () => {
      const d = decodeURIComponent(vp.url().split('/').pop());
      return d !== draft1 && /^d[0-9a-z]+$/.test(d) ? d : null;
    }, 5000);
    eq(await field(vp, 'applicant_name').inputValue(), '', 'the form after Back is empty');
    say(`   Back after 受理: an empty form, draft ${backDraft} (was ${draft1})`);

    if (VILLAGE_ONLY) {
      step(`Done (the village part on Windows): ${shots.length} screenshots and a PDF in ${ART}`);
      await stop(sv.v1);
      return;
    }
    step('2b. A 一件事 bundle (身后事) found by "shsyjs": one form, one receipt naming its three matters');
    const bundle = await findMatter(vp, 'shsyjs', 'YJS-SHS-001');
    await bundle.click();
    await vp.locator('#app-form[data-matter="YJS-SHS-001"]').waitFor();
    // keyboard only, at full speed: values and Tabs, two dates typed as
    // eight digits; every value must land in its own field
    const typed = [['deceased_name', '陈阿大'], ['deceased_id', '330225194005050158'], ['date_of_death', '20261110'],
      ['declarant_name', '陈小明'], ['declarant_id', '330225197010010357'], ['declarant_relation', ''],
      ['heir_name', '陈小明'], ['heir_id', '330225197010010357'], ['heir_bank_account', '6228480012345678901'],
      ['cremation_date', '20261112']];
    await field(vp, typed[0][0]).focus();
    let keys = 0;
    for (const [, v] of typed) {
      if (v) await vp.keyboard.type(v);
      await vp.keyboard.press('Tab');
      keys += [...v].length + 1;
    }
    await keysTaken(vp);
    for (const [p, v] of typed) {
      const want = /^\d{8}$/.test(v) ? `${v.slice(0, 4)}-${v.slice(4, 6)}-${v.slice(6)}` : v;
      if (v) eq(await field(vp, p).inputValue(), want, `the value typed for ${p}`);
    }
    say(`   身后事 typed by keyboard alone: ${typed.length} fields, ${keys} keystrokes, each value in its field`);
    await field(vp, 'declarant_relation').selectOption('child');
    await materials(vp, { SWZM: 'provided', HKB: 'provided', SFZ: 'provided', HHZM: 'provided', YHK: 'provided' });
    const B = await accept(vp);
    const bundleMatters = ['死亡人员户口注销', '养老保险待遇停发及丧葬补助金领取', '基本殡葬服务费用减免'];
    const doneList = await text(vp.locator('#main .view ul').first());
    for (const m of bundleMatters) check(doneList.includes(m), `the result page lists ${m}: "${doneList}"`);
    say(`   accepted bundle ${B.id}, receipt ${B.receipt}`);
    const pdf2 = await receiptPdf(vctx, sv.v1.url, B.id, '08-receipt-bundle');
    // the receipt's 申请人 is the declarant (申报人姓名), never the
    // deceased whose name comes first
    const bApplicant = appShow(homes.v1, B.id).applications[0].applicant;
    eq(bApplicant, '陈小明', 'the bundle\'s applicant');
    for (const want of [B.receipt, bApplicant, 'YJS-SHS-001', ...bundleMatters]) check(pdf2.includes(squash(want)), `the bundle's printed receipt lacks "${want}"`);
    say('   its PDF names the three matters');
    const bundleIds = appList(homes.v1).filter(x => x.id !== A.id).map(x => x.id);
    eq(bundleIds.length, 3, 'applications of the bundle in the store');

    step('2b2. A relevance reveal typed through at full speed (残疾人证申领): the revealed fields take the next values');
    await (await findMatter(vp, 'CL-CJZ-001', 'CL-CJZ-001')).click();
    await vp.locator('#app-form[data-matter="CL-CJZ-001"]').waitFor();
    await until('the guardian not asked before the type of disability (the first check)',
      async () => (await field(vp, 'guardian_name').isHidden()) || null, 10000);
    await field(vp, 'applicant_name').focus();
    await vp.keyboard.type('孙小明');
    await vp.keyboard.press('Tab');
    await vp.keyboard.type(applicant.id);
    await vp.keyboard.press('Tab');
    await vp.keyboard.type('13900003333');
    await vp.keyboard.press('Tab');
    // 智力残疾 chosen with the arrow keys: it reveals the guardian's two fields
    const pick = await field(vp, 'disability_type').evaluate(sel => [...sel.options].findIndex(o => o.value === 'intellectual'));
    for (let i = 0; i < pick; i++) await vp.keyboard.press('ArrowDown');
    await vp.keyboard.press('Tab');
    await vp.keyboard.type('孙大明');
    await vp.keyboard.press('Enter');           // Enter moves on too, also while the reveal is awaited
    await vp.keyboard.type('13900004444');
    await keysTaken(vp);
    eq(await field(vp, 'disability_type').inputValue(), 'intellectual', 'the type chosen by keyboard');
    eq(await field(vp, 'guardian_name').inputValue(), '孙大明', 'the value typed after the reveal');
    eq(await field(vp, 'guardian_phone').inputValue(), '13900004444', 'the next value after the reveal');
    say('   typed without pause: the revealed 监护人姓名 and 监护人电话 took the values typed after the choice');

    step('2c. A bundle with a repeat (低保与医保一件事) found by "dbyyb": the check digit at the field in a row, one 容缺, one receipt');
    const dbyb = await findMatter(vp, 'dbyyb', 'YJS-DBYB-T01');
    await dbyb.click();
    await vp.locator('#app-form[data-matter="YJS-DBYB-T01"]').waitFor();
    const c = { name: '周大海', id: idNumber('33022519580303121') }, cs = idNumber('33022519600909122');
    const cWrong = cs.slice(0, 17) + (cs[17] === '5' ? '6' : '5');
    await fillForm(vp, {
      applicant_name: c.name, id_number: c.id, phone: '13805740000', address: '象山县西周镇下沈村9号', household_size: '2',
      'members[0].member_name': c.name, 'members[0].member_id': c.id, 'members[0].relation': 'self',
      'members[0].monthly_income': '600',
    });
    await tid(vp, 'add-row-members').click();
    await field(vp, 'members[1].member_name').waitFor();
    await fillForm(vp, {
      'members[1].member_name': '林秀英', 'members[1].member_id': cWrong, 'members[1].relation': 'spouse',
      'members[1].monthly_income': '0', reason: '夫妻年老多病，无固定收入来源', bank_account: '6217001234567890999',
      hukou_type: 'agri', category: 'general',
    });
    const cErr = vp.locator('#app-form .field[data-path="members[1].member_id"] .err');
    await cErr.waitFor({ state: 'visible', timeout: 5000 }).catch(() => { throw new Failure('the bundle: no error next to the wrong ID number'); });
    check(/校验位/.test(await text(cErr)), `the bundle: the error next to the ID names the check digit: "${await text(cErr)}"`);
    await fillForm(vp, { 'members[1].member_id': cs });
    await cErr.waitFor({ state: 'hidden', timeout: 5000 }).catch(() => { throw new Failure('the bundle: the error stayed after the fix'); });
    await materials(vp, { SFZ: 'provided', HKB: 'provided', SRZM: ['deficient', promise], HDSQ: 'provided', YHK: 'provided' });
    await shot(vp, '08b-bundle-with-repeat');
    const D = await accept(vp);
    say(`   accepted bundle ${D.id}, receipt ${D.receipt}`);
    const dApps = appShow(homes.v1, D.id).applications;
    eq(dApps.length, 2, 'applications of 低保与医保一件事');
    eq(dApps.map(x => x.matter).sort().join(' '), 'MZ-DB-001 YB-CB-001', 'its matters');
    check(dApps.every(x => x.bundle_receipt === D.receipt), `one receipt for the bundle: ${dApps.map(x => x.bundle_receipt)}`);
    const dDibao = dApps.find(x => x.matter === 'MZ-DB-001');
    eq((dDibao.data.members || []).length, 2, 'the bundle\'s household rows stored');
    eq(dDibao.data.members[1].member_id, cs, 'the corrected ID stored in the bundle');
    const dDef = (dDibao.materials || []).filter(m => m.state === 'deficient');
    eq(dDef.map(m => m.material).join(), 'SRZM', 'the bundle\'s one deficiency');
    const pdf3 = await receiptPdf(vctx, sv.v1.url, D.id, '08c-receipt-bundle-repeat');
    for (const want of [D.receipt, c.name, '最低生活保障申请', '城乡居民基本医疗保险参保登记', `请于${dateCn(promise)}前补交`]) {
      check(pdf3.includes(squash(want)), `the bundle-with-repeat receipt lacks "${want}"`);
    }
    say('   one receipt names both matters, the applicant and the promise');

    // ---- 3 ------------------------------------------------------------------
    step('3. The link is cut (hall stopped): a draft and an accepted application, saved locally');
    // everything so far has reached the hall first
    await until('the village\'s events to reach the hall', async () => appList(homes.county).some(x => x.id === A.id) &&
      bundleIds.every(b => appList(homes.county).some(x => x.id === b)), 30000, 500);
    await stop(hall);
    say('   hall stopped');
    const pension = await findMatter(vp, '养老保险参保', 'RS-YL-001');
    await pension.click();
    await vp.locator('#app-form[data-matter="RS-YL-001"]').waitFor();
    const draftId = decodeURIComponent(vp.url().split('/').pop());
    const partial = { applicant_name: '王秀英', id_number: '33022519700315124X', phone: '13857412345' };
    await fillForm(vp, partial);
    await until('"草稿已保存"', async () => /草稿已保存/.test(await text(tid(vp, 'draft-state'))), 10000);
    say(`   draft ${draftId} saved ("${await text(tid(vp, 'draft-state'))}")`);

    const pension2 = await findMatter(vp, '养老保险参保', 'RS-YL-001');
    await pension2.click();
    await vp.locator('#app-form[data-matter="RS-YL-001"]').waitFor();
    const offline = { name: '陈志强', id: idNumber('33022519880715001') };
    await fillForm(vp, {
      applicant_name: offline.name, id_number: offline.id, phone: '13912345678', hukou_type: 'agri',
      address: '象山县西周镇下沈村18号', tier: '300',
    });
    await materials(vp, { SFZ: 'provided', HKB: 'provided' });
    const C = await accept(vp);
    say(`   accepted ${C.id} offline, receipt ${C.receipt}`);
    const down = await until('the banner to say the link is down', async () => {
      const o = tid(vp, 'offline');
      if (!(await o.isVisible())) return null;
      const s = await text(o);
      return s.includes('网络未连接：所有工作已保存在本机，联网后自动上传。') ? s : null;
    }, 40000, 500);
    // the count is read again some 600 ms after the 受理 (app.js api):
    // the banner may have stood since before it
    const waiting0 = await until('the waiting count to include the application accepted offline', async () => {
      const n = +(/待上传 (\d+) 条/.exec(await text(tid(vp, 'waiting'))) || [])[1];
      return n > 0 ? n : null;
    }, 10000, 200);
    say(`   banner: "${down.slice(0, 80)}…", 待上传 ${waiting0} 条`);
    // plain Chinese: the cause (English, the hall's URL) only as the detail on hover
    const why = await text(tid(vp, 'sync-error'));
    check(why && !/[A-Za-z]{3,}|https?:/.test(why), `the banner's reason is plain Chinese: "${why}"`);
    check(/failed|connect/i.test(await tid(vp, 'sync-error').getAttribute('title')), 'the cause as the detail');
    await shot(vp, '09-link-down');

    step('3b. The village daemon restarted (SIGTERM, same port and home)');
    const v1port = sv.v1.port;
    await stop(sv.v1);
    sv.v1 = await serve('v1', v1port);
    eq(sv.v1.port, v1port, 'the village\'s port after restart');
    say(`   village station again at ${sv.v1.url}`);
    await vp.reload();
    await until('the page after the restart', async () => (await tid(vp, 'banner').isVisible()) || (await tid(vp, 'signin').isVisible()), 15000);
    if (await tid(vp, 'signin').isVisible()) { say('   signing in again'); await signIn(vp, sv.v1.url, '下沈村'); } else say('   still signed in (the session survived the restart)');
    await nav(vp, 'new');
    const draftRow = tid(vp, 'drafts').locator(`[data-test="draft"][data-id="${draftId}"]`);
    await draftRow.waitFor().catch(() => { throw new Failure(`the draft ${draftId} is not listed after the restart`); });
    check((await text(draftRow)).includes(partial.applicant_name), 'the draft row names its applicant');
    await tid(vp, 'drafts-link').click();
    await shot(vp, '10-drafts-after-restart');
    await draftRow.locator('[data-test="draft-open"]').click();
    await vp.locator('#app-form[data-matter="RS-YL-001"]').waitFor();
    for (const [k, v] of Object.entries(partial)) eq(await field(vp, k).inputValue(), v, `reopened draft's ${k}`);
    eq(await field(vp, 'address').inputValue(), '', 'reopened draft\'s untyped address');
    say('   the draft reopens with the typed values');
    await nav(vp, 'apps');
    // 我的办件 opens on everything (not 只看待办), and 草稿 lists this machine's drafts
    check(!(await tid(vp, 'f-todo').isChecked()), '我的办件 opens with 只看待办 off');
    await tid(vp, 'f-status').selectOption('draft');
    await until('the station draft under 草稿', async () => (await tid(vp, 'local-drafts').count()) &&
      (await text(tid(vp, 'local-drafts'))).includes(partial.applicant_name), 10000);
    await tid(vp, 'f-status').selectOption('');
    const cRow = await listUntil(vp, C.id, async r => (await text(r)).includes(offline.name), 'the offline application in 我的办件', 10000);
    check((await text(cRow.locator('[data-test="status"]'))) === '已受理', 'its status in 我的办件');
    say(`   ${C.receipt} (${offline.name}) is in 我的办件 as 已受理`);
    await shot(vp, '11-my-applications');
    // at 1024 wide a status badge stays on one line (it wrapped a character a line)
    await vp.setViewportSize({ width: 1024, height: 768 });
    const tall = await vp.locator('#app-list [data-test="status"]').evaluateAll(bs => bs.filter(b =>
      b.getBoundingClientRect().height > 1.8 * parseFloat(getComputedStyle(b).fontSize)).map(b => b.textContent));
    eq(tall.join(' '), '', 'status badges wrapped at 1024 wide');
    await vp.setViewportSize({ width: W, height: H });

    step('3c. The hall restarted (same port and home); 立即同步 sends everything');
    hall = await daemon('hall', homes.county, ['hall', 'serve', '--listen', `127.0.0.1:${hallPort}`]);
    eq(hall.port, hallPort, 'the hall\'s port after restart');
    await until('立即同步 to be enabled', async () => !(await tid(vp, 'sync-now').isDisabled()), 20000);
    await tid(vp, 'sync-now').click();
    say('   clicked 立即同步');
    await until('待上传 0 条 in the banner', async () => (await text(tid(vp, 'waiting'))) === '待上传 0 条' && !(await tid(vp, 'offline').isVisible()), 40000, 500);
    say(`   banner: "${await text(tid(vp, 'waiting'))}", "${await text(tid(vp, 'last-sync'))}", the link-down note gone`);
    check(appList(homes.county).some(x => x.id === C.id), 'the hall\'s store lacks the offline application');

    const [, tp] = await newCtx();
    await signIn(tp, sv.town.url, '西周镇');
    eq(await text(tid(tp, 'role')), '乡镇中心', 'the township banner role');
    await shot(tp, '12-township-home');
    await until('立即同步 at the township', async () => !(await tid(tp, 'sync-now').isDisabled()), 20000);
    await tid(tp, 'sync-now').click();
    await tid(tp, 'f-todo').uncheck();
    await listUntil(tp, C.id, async () => true, 'the offline application at the township', 40000);
    check(appList(homes.town).some(x => x.id === C.id), 'the township\'s store lacks the offline application');
    say(`   the township lists ${C.receipt}`);

    // ---- 4 ------------------------------------------------------------------
    step('4. Township returns it, the village corrects and resubmits, the township passes');
    await tid(tp, 'f-todo').check();
    const aRow = await listUntil(tp, A.id, async r => (await text(r.locator('[data-test="status"]'))) === '已受理', 'the application in the township\'s queue');
    // the to-do queue is exactly what the township holds: A and the
    // 最低生活保障 of 2c's bundle, newest first
    const queued = await tp.locator('[data-test="app-row"]').evaluateAll(rs => rs.map(r => r.dataset.id));
    const held = appList(homes.town).filter(x => x.holder === TOWNSHIP && ['accepted', 'passed'].includes(x.status)).map(x => x.id);
    eq([...queued].sort().join(' '), [...held].sort().join(' '), 'the township\'s to-do queue against its store');
    check(queued.includes(A.id) && queued.includes(dDibao.id), `the queue holds ${A.id} and ${dDibao.id}: ${queued}`);
    await shot(tp, '13-township-queue');
    await aRow.locator('[data-test="open"]').click();
    await tid(tp, 'review').waitFor();
    await shot(tp, '14-township-review');
    const reason = '收入证明需村委会盖章';
    await tp.locator('[data-test="review"] fieldset.reasons input[type=checkbox]').first().waitFor();
    await type(tid(tp, 'return-reason'), reason);
    await tid(tp, 'return').click();
    await until('退回补正 at the township', async () => (await statusOf(tp)) === '退回补正', 10000);
    say(`   returned: "${reason}"`);

    await nav(vp, 'apps');
    const ret = await listUntil(vp, A.id, async r => (await text(r)).includes('退回补正') && (await text(r)).includes(reason),
      'the return with its reason at the village');
    say(`   the village sees it: "${await text(ret.locator('[data-test="reason"]'))}"`);
    await shot(vp, '15-village-returned');
    await ret.locator('[data-test="edit"]').click();
    await vp.locator('#app-form[data-matter="MZ-DB-001"]').waitFor();
    check((await text(vp.locator('#main .msg.warn').first())).includes(reason), 'the correction form shows the reason');
    const newPhone = '13805741234';
    await fillForm(vp, { phone: newPhone });
    await tid(vp, 'resubmit').click();
    await vp.waitForURL(/#\/done\//);
    eq(await text(vp.locator('#main h1')), '已重新提交', 'the resubmitted page');
    {
      const a = appShow(homes.v1, A.id);
      eq(a.status, 'accepted', 'status after resubmission');
      eq(a.data.phone, newPhone, 'the corrected phone');
    }
    say('   corrected (phone) and resubmitted');

    await nav(tp, 'queue');
    // staff's words and names, not jargon and codes
    eq(await text(tid(tp, 'nav-queue')), '待审核', 'the township queue\'s name');
    const again = await listUntil(tp, A.id, async r => (await text(r.locator('[data-test="status"]'))) === '已受理', 'the resubmission at the township');
    const villagesOffered = await tid(tp, 'f-village').locator('option').allTextContents();
    check(villagesOffered.some(x => x.includes('下沈村')) && !villagesOffered.includes(VILLAGE), `the 村 filter names villages: ${villagesOffered.join(' | ')}`);
    await again.locator('[data-test="open"]').click();
    await tid(tp, 'pass').waitFor();
    check((await text(tp.locator('section.app table[data-test="data"]'))).includes(newPhone), 'the township sees the corrected phone');
    await tid(tp, 'pass').click();
    await until('初审通过 at the township', async () => (await statusOf(tp)) === '初审通过', 10000);
    say('   passed (通过)');

    step('4b. The county approves (批准)');
    const [cctx, cpg] = await newCtx();
    await signIn(cpg, sv.county.url, '象山县');
    eq(await text(tid(cpg, 'role')), '县级中心', 'the county banner role');

    const cRowA = await listUntil(cpg, A.id, async r => (await text(r.locator('[data-test="status"]'))) === '初审通过', 'the passed application at the county');
    await shot(cpg, '16-county-decision-queue');
    await cRowA.locator('[data-test="open"]').click();
    await tid(cpg, 'decide').waitFor();
    await shot(cpg, '17-county-decide');
    await cpg.getByRole('button', { name: '批准', exact: true }).click();
    await until('已批准 at the county', async () => (await statusOf(cpg)) === '已批准', 10000);
    eq(appShow(homes.county, A.id).status, 'approved', 'the county store\'s status');
    say('   approved');

    step('4c. The village delivers (送达) and records the rating');
    await nav(vp, 'apps');
    const dRow = await listUntil(vp, A.id, async r => (await r.locator('[data-test="deliver"]').count()) > 0, 'the decision at the village', 60000);
    check((await text(dRow.locator('[data-test="status"]'))) === '已批准', 'the village sees 已批准');
    say('   the village sees 已批准');
    await dRow.locator('[data-test="deliver"]').click();
    await tid(vp, 'rate').waitFor();
    eq(await statusOf(vp), '已送达', 'status after 送达');
    await vp.locator('label[for="rate-5"]').click();
    await type(tid(vp, 'rate-comment'), '不用跑腿，很方便');
    await tid(vp, 'rate-save').click();
    await until('已评价 at the village', async () => (await statusOf(vp)) === '已评价', 10000);
    {
      const a = appShow(homes.v1, A.id);
      eq(a.status, 'rated', 'store status after rating');
      eq(a.rating, 5, 'the rating');
    }
    const rated = await text(vp.locator('section.app dl.facts'));
    check(rated.includes('非常满意 (5/5)') && rated.includes('不用跑腿，很方便'), `the page shows the rating and its comment: "${squash(rated)}"`);
    say('   delivered and rated 5 (非常满意) with a comment');
    await shot(vp, '18-application-page');
    await shot(vp, '18b-application-page-full', { fullPage: true });

    step('4d. The county\'s 电子监察 counts it');
    await until('the rating at the county', async () => appShow(homes.county, A.id).status === 'rated', 40000, 500);
    eq(await text(tid(cpg, 'nav-queue')), '待审批', 'the county queue\'s name');
    await nav(cpg, 'stats');
    await tid(cpg, 'ratings-legend').waitFor();
    check((await text(tid(cpg, 'ratings-legend'))).includes('非常不满意/不满意/基本满意/满意/非常满意'), '评价分布 explained');
    // the county's home is the hall's: no "no sync address" note, no
    // waiting count (the hall publishes the county's events itself)
    check(await cpg.locator('#banner .link').isHidden(), `the county's banner shows the link state: "${await text(cpg.locator('#banner .link'))}"`);
    check(await tid(cpg, 'offline').isHidden(), `the county shows a link note: "${await text(tid(cpg, 'offline'))}"`);
    // what the test did at 下沈村 (西周镇) in 2026: 5 accepted (最低生活保障, the
    // three matters of the bundle, the pension enrolment), 1 done on time and
    // rated 5, 4 open, none overdue
    const rowOf = async name => {
      const rows = cpg.locator('[data-test="stats"] table.stats tbody tr');
      for (let i = 0; i < await rows.count(); i++) {
        const r = rows.nth(i);
        if ((await text(r.locator('th'))).startsWith(name)) return (await r.locator('td').allTextContents()).map(s => s.trim());
      }
      return null;
    };
    const town = await until('西周镇 in the statistics', async () => {
      await tid(cpg, 'st-go').click();
      await cpg.locator('[data-test="stats"] .loading').waitFor({ state: 'detached' }).catch(() => {});
      const r = await rowOf('西周镇');
      return r && r[7] === '0/0/0/0/1' ? r : null;
    }, 20000, 1000);
    eq(JSON.stringify(town), JSON.stringify(['7', '1', '1', '0', '6', '0', '100.0%', '0/0/0/0/1', '100.0%']),
      '西周镇 row (受理, 办结, 按时办结, 超时办结, 在办, 超期, 按时办结率, 评价分布, 满意度)');
    say(`   西周镇: ${town.join(' | ')}`);
    check(await cpg.locator('[data-test="stats"] svg.chart').count() === 2, 'two charts on 电子监察');
    await shot(cpg, '19-supervision', { fullPage: true });
    await tid(cpg, 'st-by').selectOption('matter');
    await tid(cpg, 'st-go').click();
    const byMatter = await until('最低生活保障申请 by matter', async () => rowOf('最低生活保障申请'), 10000);
    // the 最低生活保障 of step 1 (decided, rated) and the one in 2c's bundle (open)
    eq(JSON.stringify(byMatter), JSON.stringify(['2', '1', '1', '0', '1', '0', '100.0%', '0/0/0/0/1', '100.0%']), '最低生活保障申请 row');
    say(`   最低生活保障申请: ${byMatter.join(' | ')}`);
    await shot(cpg, '19b-supervision-by-matter', { fullPage: true });

    // ---- 5: the remaining screens ------------------------------------------
    step('5. The remaining screens');
    await nav(cpg, 'stations');
    const st1 = tid(cpg, 'stations').locator('tr', { hasText: VILLAGE });
    check(!(await text(st1)).includes('从未同步'), '下沈村 on 站点同步 has synced');
    await shot(cpg, '20-stations');
    await nav(cpg, 'catalog');
    const csvs = fs.readdirSync(CATALOG).filter(f => f.endsWith('.csv')).map(f => path.join(CATALOG, f));
    await tid(cpg, 'cat-files').setInputFiles(csvs);
    await until('the catalogue check', async () => (await text(tid(cpg, 'cat-result'))).includes('检查通过，可以发布。'), 20000);
    check(!(await tid(cpg, 'cat-publish').isDisabled()), '发布 enabled after a clean check');
    say(`   目录发布: ${csvs.length} sheets checked: 检查通过`);
    await shot(cpg, '21-catalogue-publish');
    await nav(cpg, 'queue');
    await shot(cpg, '22-county-home');

    step('5b. A catalogue published while a village form is open: the form says 目录已更新 and keeps what was typed');
    await (await findMatter(vp, 'RS-YL-001', 'RS-YL-001')).click();
    await vp.locator('#app-form[data-matter="RS-YL-001"]').waitFor();
    // a name (string-length(.) <= 30) is one line, where Enter adds no newline
    eq(await field(vp, 'applicant_name').evaluate(e => e.tagName), 'INPUT', 'the name field');
    await type(field(vp, 'applicant_name'), '吴美玲');
    await vp.keyboard.press('Tab');
    // the county's next version: RS-YL-001 asks one more thing
    const NEWCAT = path.join(TMP, 'catalog2');
    fs.mkdirSync(NEWCAT);
    for (const f of fs.readdirSync(TESTCAT)) fs.copyFileSync(path.join(TESTCAT, f), path.join(NEWCAT, f));
    fs.appendFileSync(path.join(NEWCAT, 'fields.csv'), 'RS-YL-001,remark_e2e,text,参保说明,Remark,yes,,,,,\n');
    await nav(cpg, 'catalog');
    await tid(cpg, 'cat-files').setInputFiles(fs.readdirSync(NEWCAT).filter(f => f.endsWith('.csv')).map(f => path.join(NEWCAT, f)));
    await until('the new catalogue checked', async () => (await text(tid(cpg, 'cat-result'))).includes('检查通过'), 20000);
    await tid(cpg, 'cat-publish').click();
    await until('the new catalogue published', async () => (await text(tid(cpg, 'cat-result'))).includes('已发布'), 20000);
    // the village's syncs bring it; the open form learns of it at its next check
    await until('目录已更新 on the open form', async () => {
      if ((await text(vp.locator('#main'))).includes('目录已更新')) return true;
      await type(field(vp, 'phone'), '13900001111');
      return null;
    }, 60000, 2000);
    eq(await field(vp, 'applicant_name').inputValue(), '吴美玲', 'what was typed before the publish');
    check(await field(vp, 'remark_e2e').isVisible(), 'the new field is on the form');
    say('   the open form re-rendered on the new version: 目录已更新, 吴美玲 kept, 参保说明 asked');
    await shot(vp, '22b-catalogue-updated');
    // 受理 refused: the villager takes home the server's 一次性告知单, not the screen
    await tid(vp, 'accept').click();
    await tid(vp, 'print-draft-notice').waitFor();
    await tid(vp, 'print-draft-notice').click();
    const sheet = await until('the notice in the print frame', async () => {
      const fr = vp.frame({ url: /\/api\/drafts\/[^/]+\/notice/ });
      const body = fr && await fr.evaluate(() => document.body && document.body.innerText).catch(() => null);
      return body && body.includes('一次性告知单') ? body : null;
    }, 10000);
    for (const want of ['吴美玲', '城乡居民基本养老保险参保登记', '下沈村', '参保说明', '请补齐以下材料', '告知人'])
      check(sheet.includes(want), `the printed notice holds ${want}`);
    check(!sheet.includes('以下问题请一次性告知申请人'), 'the printed notice is not the screen');
    say(`   受理 refused; 打印一次性告知单 printed the server's sheet (${sheet.split('\n').length} lines)`);
    await nav(cpg, 'stations');
    const vcat = tid(cpg, 'stations').locator('tr', { hasText: VILLAGE }).locator('[data-test="station-catalog"]');
    check((await text(vcat)).startsWith('旧版本'), `站点同步: 下沈村's latest application was on the older catalogue: "${await text(vcat)}"`);
    await nav(vp, 'conflicts');
    await vp.locator('#main .msg').first().waitFor();
    await shot(vp, '23-conflicts');
    await nav(cpg, 'conflicts');
    await shot(cpg, '23b-conflicts-county');
    // 本站检查: the village's checks after its syncs, each one drawn
    await nav(vp, 'doctor');
    await until('the station check', async () => (await tid(vp, 'doctor-finding').count()) >= 8, 20000);
    const levels = await tid(vp, 'doctor-finding').evaluateAll(ls => Object.fromEntries(ls.map(l => [l.dataset.check, l.dataset.level])));
    check(levels.store === 'ok' && levels.repository === 'ok' && levels.key === 'ok' && levels.service === 'ok', `本站检查: store, repository, key and service ok: ${JSON.stringify(levels)}`);
    check((await text(tid(vp, 'doctor'))).includes('数据库通过 SQLite 完整性检查'), '本站检查 speaks Chinese');
    say(`   本站检查: ${JSON.stringify(levels)}`);
    await shot(vp, '24-station-check');
    await cctx.close();

    // ---- 6 ------------------------------------------------------------------
    step('6. First run in the browser: a new station (330225101203) from an empty home to a capture and a sync');
    const NEW = '330225101203';
    const newHome = path.join(TMP, 'v3');
    const newToken = cli(homes.county, ['hall', 'token', NEW]).split('\n').pop().trim();
    const countyKey = JSON.parse(cli(homes.county, ['key', 'show', '--json'])).spoken;
    const port3 = await freePort();
    sv.v3 = await daemon('serve-v3', newHome, ['serve', '--listen', `127.0.0.1:${port3}`, '--sync-every', '2']);
    check(!fs.existsSync(path.join(newHome, 'store.db')), 'an empty home before the first run');
    const code = fs.readFileSync(newHome + '.setup-code', 'utf8').trim();
    check(/^\d{8}$/.test(code), `the one-time code beside the home: "${code}"`);
    const [nctx, np] = await newCtx();
    await np.goto(`http://127.0.0.1:${port3}/`);
    await tid(np, 'setup-form').waitFor();
    eq(await np.evaluate(() => document.activeElement && document.activeElement.id), 'code', 'the focus on the setup page');
    await np.keyboard.type('00000000');
    const fillIn = { hall: hall.url, token: newToken, county_key: countyKey, operator: 'wxh', operator_name: '孙新员',
                     password: PASSWORD, password2: PASSWORD };
    for (const [k, v] of Object.entries(fillIn)) await np.locator('#' + k).fill(v);
    await shot(np, '25-first-run');
    await tid(np, 'setup-go').click();
    await until('the wrong code refused', async () => /设置码不正确/.test(await text(tid(np, 'setup-msg'))), 10000);
    check(!fs.existsSync(path.join(newHome, 'store.db')), 'a wrong code made no home');
    say(`   a wrong code: "${await text(tid(np, 'setup-msg'))}"`);
    await sleep(1100);                  // a wrong code costs a second
    await np.locator('#code').fill(code);
    await tid(np, 'setup-go').click();
    await tid(np, 'setup-done').waitFor({ state: 'visible', timeout: 60000 }).catch(async () => {
      throw new Failure('the first run did not finish: ' + await text(tid(np, 'setup-msg')));
    });
    const newKey = JSON.parse(cli(newHome, ['key', 'show', '--json']));
    eq(await text(tid(np, 'done-spoken')), newKey.spoken, 'the key fingerprint read aloud on the page');
    eq(await text(tid(np, 'done-fp')), newKey.fingerprint, 'the key fingerprint on the page');
    check(!fs.existsSync(newHome + '.setup-code'), 'the one-time code is gone once used');
    say(`   set up: ${await text(np.locator('#done-node'))}, key ${newKey.spoken}`);
    await shot(np, '26-first-run-done');
    await tid(np, 'done-go').click();
    await until('the station after the first run', async () => (await tid(np, 'signin').count()) > 0 || null, 15000, 500)
      .catch(async () => { await np.reload(); await tid(np, 'signin').waitFor(); });
    await signIn(np, `http://127.0.0.1:${port3}/`, '新站 330225101203');
    check((await text(tid(np, 'operator-name'))).endsWith('孙新员'), 'the first operator signed in');
    const firstHit = await findMatter(np, 'zdsh', 'MZ-DB-001');
    await firstHit.click();
    await np.locator('#app-form[data-matter="MZ-DB-001"]').waitFor();
    await fillForm(np, {
      applicant_name: '周海平', id_number: applicant.id, phone: '0574-65120000',
      address: '象山县西周镇杰下村1号', household_size: '1',
      'members[0].member_name': '周海平', 'members[0].member_id': applicant.id,
      'members[0].relation': 'self', 'members[0].monthly_income': '600',
      reason: '无固定收入，独居且患慢性病无力劳动', bank_account: '6217001234567890123',
    });
    await materials(np, { SFZ: 'provided', HKB: 'provided', SRZM: 'provided', HDSQ: 'provided', YHK: 'provided' });
    const N = await accept(np);
    say(`   the first capture: ${N.id}, receipt ${N.receipt}`);
    await until('立即同步 on the new station', async () => !(await tid(np, 'sync-now').isDisabled()), 20000);
    await tid(np, 'sync-now').click();
    await until('the first capture at the county', async () => appList(homes.county).some(a => a.id === N.id), 40000, 1000);
    say('   the county holds it: the station\'s key was enrolled on its first push');
    await nctx.close();

    // ---- 7 ------------------------------------------------------------------
    step('7. Another county (青溪县, tests/data/catalog-other): a household\'s house repair by keyboard; both notices and the receipt as PDFs');
    const oHome = path.join(TMP, 'other');
    cli(oHome, ['init', '--node', '330299101201', '--role', 'village', '--catalog', path.join(DATA, 'catalog-other')]);
    cli(oHome, ['operator', 'add', 'wxh', '--name', '周村代']);
    cli(oHome, ['operator', 'passwd', 'wxh'], PASSWORD + '\n');
    const so = await daemon('serve-other', oHome, ['serve', '--listen', '127.0.0.1:0']);
    const [octx, op] = await newCtx();
    await signIn(op, so.url, '上庄村 (青溪县)');
    await (await findMatter(op, 'ZJ-WF-001', 'ZJ-WF-001')).click();
    await op.locator('#app-form[data-matter="ZJ-WF-001"]').waitFor();
    const headId = idNumber('33029919650302131'), wifeId = idNumber('33029919680505142');
    const situation = '1998年建，砖木结构，2026年台风后开裂，墙体多处裂缝';
    // keyboard alone, at full speed: text, Tab, arrows on the selects, Enter on 添加一行
    const arrows = async (p, value) => {
      const n = await field(op, p).evaluate((sel, v) => [...sel.options].findIndex(o => o.value === v), value);
      for (let i = 0; i < n; i++) await op.keyboard.press('ArrowDown');
      return n;
    };
    let okeys = 0;
    const typeTab = async (v, tabs = 1) => {
      await op.keyboard.type(v);
      for (let i = 0; i < tabs; i++) await op.keyboard.press('Tab');
      okeys += [...v].length + tabs;
    };
    await field(op, 'situation').focus();
    await typeTab(situation);
    await typeTab(headId);
    await typeTab('13905741234');
    await typeTab('1998');
    okeys += await arrows('appraised', 'yes');
    await typeTab('');                          // the reveal: 鉴定日期 comes next
    await typeTab('20261015');
    await typeTab('20261220');
    await typeTab('李秀兰');
    await typeTab(wifeId);
    okeys += await arrows('household[0].member_rel', 'spouse');
    await typeTab('');                          // to 添加一行 (the row's 删除 is off: one row is the least)
    await op.keyboard.press('Enter');
    okeys++;
    await field(op, 'household[1].member_name').waitFor();
    await typeTab('张根生');
    await typeTab(headId);
    okeys += await arrows('household[1].member_rel', 'head');
    await typeTab('', 3);                       // past the two 删除 and 添加一行
    await op.keyboard.type('6217001234567890123');
    okeys += 19;
    await keysTaken(op);
    const wantO = { situation, head_id: headId, phone: '13905741234', built_year: '1998', appraised: 'yes',
      appraisal_date: '2026-10-15', start_date: '2026-12-20', 'household[0].member_name': '李秀兰',
      'household[0].member_id': wifeId, 'household[0].member_rel': 'spouse', 'household[1].member_name': '张根生',
      'household[1].member_id': headId, 'household[1].member_rel': 'head', bank: '6217001234567890123' };
    for (const [p, v] of Object.entries(wantO)) eq(await field(op, p).inputValue(), v, `the value typed for ${p}`);
    say(`   a house repair with two household members typed by keyboard alone: ${okeys} keystrokes, each value in its field`);
    // 受理 refused (the photos missing): the notice the villager takes home
    await materials(op, { ID: 'provided', HUKOU: 'provided' });
    await tid(op, 'accept').click();
    await tid(op, 'print-draft-notice').waitFor();
    const draftO = decodeURIComponent(op.url().split('/').pop());
    const forPeople = (txt, what) => {
      for (const never of ['${', 'string-length', 'today()', 'materials.', '_id', '_name'])
        check(!txt.includes(never), `${what} shows "${never}"`);
      const words = txt.replace(/[A-Z]{2,}-[A-Z]{2,}-\d{3}(-\d+)?/g, '').match(/[A-Za-z]{2,}/g);
      check(!words, `${what} has English: ${words}`);
    };
    const pre = await sheetPdf(octx, `${so.url}api/drafts/${encodeURIComponent(draftO)}/notice`, '27-other-notice-before');
    for (const want of ['一次性告知单', '张根生', '农村困难家庭危房改造', '上庄村', '0574-88101201', '房屋现状照片，扫描件2份', '房屋安全鉴定报告'])
      check(pre.includes(want), `the notice before acceptance lacks "${want}"`);
    check(!pre.includes(squash(situation)) && !pre.includes('李秀兰'), 'the notice before acceptance names someone else than the householder');
    forPeople(pre, 'the notice before acceptance');
    const preLines = cp.spawnSync('pdftotext', ['-enc', 'UTF-8', path.join(ART, '27-other-notice-before.pdf'), '-'],
      { encoding: 'utf8' }).stdout.split('\n').filter(l => /^\s*\d+\.\s/.test(l)).map(l => l.replace(/^\s*\d+\.\s*/, ''));
    check(preLines.length >= 2 && new Set(preLines).size === preLines.length, `the notice's items, each once: ${preLines.join(' | ')}`);
    await materials(op, { 'PHOTO-HOUSE': 'provided', JIANDING: ['deficient', '2026-12-10'] });
    const O = await accept(op);
    const oReceipt = await receiptPdf(octx, so.url, O.id, '28-other-receipt');
    for (const want of [O.receipt, '张根生', headId, '周村代', '房屋安全鉴定报告原件1份，请于2026年12月10日前补交'])
      check(oReceipt.includes(want), `the other county's receipt lacks "${want}"`);
    check(!oReceipt.includes('李秀兰') && !oReceipt.includes(squash(situation)), 'the receipt names someone else than the householder');
    check(!oReceipt.includes('wxh'), 'the receipt names the operator by login ID');
    forPeople(oReceipt, 'the receipt');
    const post = await sheetPdf(octx, `${so.url}api/apps/${encodeURIComponent(O.id)}/notice`, '29-other-notice-after');
    check(post.includes('张根生') && !post.includes('李秀兰') && post.includes('房屋安全鉴定报告原件1份，请于2026年12月10日前补交'), 'the notice after acceptance');
    forPeople(post, 'the notice after acceptance');
    say('   the receipt and both notices name 张根生 (the householder, second row), say what to bring, and hold no English');
    await octx.close();
  } catch (e) {
    for (const [i, p] of pages.entries()) {
      try { const f = path.join(ART, `failure-${i}.png`); await p.screenshot({ path: f }); console.error(`e2e-flow: failure screenshot ${f} (${p.url()})`); } catch (e2) { /* closed */ }
    }
    throw e;
  } finally {
    await browser.close().catch(() => {});
  }

  step(`Done: ${shots.length} screenshots and 2 PDFs in ${ART}`);
  for (const k of Object.keys(sv)) await stop(sv[k]);
  await stop(hall);
}

const deadline = setTimeout(() => {
  die('the test took longer than 330 s');
  killAll('SIGKILL');
  process.exit(1);
}, 330000);
main().then(() => {
  clearTimeout(deadline);
  console.log(`\ne2e-flow: PASSED in ${((Date.now() - T0) / 1000).toFixed(1)} s`);
  process.exit(0);
}, e => {
  clearTimeout(deadline);
  die(e instanceof Failure ? e.message : (e && e.stack) || String(e));
  console.error(`e2e-flow: the daemons' logs are in ${TMP} (kept)`);
  process.env.E2E_KEEP = '1';
  killAll('SIGKILL');
  process.exit(1);
});
