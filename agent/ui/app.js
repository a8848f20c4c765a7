// daiban web UI, core: what the first screen needs. Sign-in, the banner
// with the link state, the menu, the hash router, the JSON API helper and
// the small DOM and i18n helpers the role modules (apps.js, village.js,
// county.js, loaded after sign-in) import from here. Plain ES2020, no
// build step, no external loads. The only server it talks to is the JSON
// API of `daiban serve` (docs/http-api.md).

// ---- i18n: Chinese first; English by the Chinese text as key ----------
export const EN = {
  '正在加载…': 'Loading…',
  '登录': 'Sign in', '操作员': 'Operator', '密码': 'Password',
  '请选择': 'Please choose', '未设置密码': 'no password set',
  '请输入操作员编号': 'Enter the operator id',
  '还没有设置密码的操作员：请在本机运行 daiban operator passwd 编号 设置密码。':
    'No operator has a password yet: run daiban operator passwd ID on this computer.',
  '（{n} 秒后可再试）': ' (try again in {n} s)',
  '请选择操作员并输入密码。': 'Choose the operator and enter the password.',
  '登录已过期，请重新登录。': 'The session has ended; please sign in again.',
  '上次同步：{t}': 'Last sync: {t}', '尚未同步': 'Not synced yet',
  '待上传 {n} 条': '{n} waiting to upload', '立即同步': 'Sync now', '警报：': 'Alarm: ',
  '正在同步…': 'Syncing…', '退出': 'Sign out', '操作员：{n}': 'Operator: {n}',
  '网络未连接：所有工作已保存在本机，联网后自动上传。':
    'No network: all work is saved on this computer and will be uploaded when the link is back.',
  '本站未设置同步地址：所有工作已保存在本机。':
    'No sync address is set for this station: all work is saved on this computer.',
  '{n} 秒后自动重试': 'retrying automatically in {n} s',
  '无法连接本机服务，请确认 daiban serve 正在运行。':
    'Cannot reach the station service; check that daiban serve is running.',
  '主菜单': 'Main menu',
  '村级站点': 'Village station', '乡镇中心': 'Township centre', '县级中心': 'County hall',
  '新办件': 'New application', '我的办件': 'My applications', '冲突': 'Conflicts',
  '待审核': 'To review', '待审批': 'To decide', '目录发布': 'Catalogue',
  '电子监察': 'Supervision', '站点同步': 'Stations',
  '草稿': 'Draft', '已受理': 'Accepted', '退回补正': 'Returned for correction',
  '初审通过': 'Passed review', '已批准': 'Approved', '不予批准': 'Rejected',
  '已送达': 'Delivered', '已评价': 'Rated', '已撤回': 'Withdrawn',
  '出错了': 'Something went wrong', '页面不存在': 'No such page',
  '服务器返回 {n}': 'The server answered {n}',
  '打印受理回执': 'Print receipt', 'A5纸打印回执': 'Receipt on A5',
  '年-月-日': 'YYYY-MM-DD', '打印一次性告知单': 'Print one-time notice', 'A5纸打印告知单': 'Notice on A5',
};
const LANG_KEY = 'daiban.lang';
export let lang = localStorage.getItem(LANG_KEY) === 'en' ? 'en' : 'zh';

/* t('待上传 {n} 条', {n: 3}): the text in the current language. */
export function t(zh, vars) {
  // "受理#ev": the same Chinese word in another sense has its own key
  let s = lang === 'en' && EN[zh] !== undefined ? EN[zh] : zh.replace(/#\w+$/, '');
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? vars[k] : m));
  return s;
}
/* A {zh,en} pair from the API (messages, problems, advice) in the current language. */
export function pick(o, base) {
  if (!o) return '';
  if (typeof o === 'string') return o;
  const zh = o[base ? base + '_zh' : 'zh'], en = o[base ? base + '_en' : 'en'];
  return (lang === 'en' ? en || zh : zh || en) || '';
}
export const name = o => pick(o, 'name');
export const label = o => pick(o, 'label');

// ---- DOM ---------------------------------------------------------------
/* h('button', {class: 'sec', onclick: f}, '退出'): an element. Attribute
 * values false/null/undefined are left out; children may be strings,
 * nodes, arrays or nothing. */
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v == null) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'selected') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  add(el, kids);
  return el;
}
function add(el, kids) {
  for (const k of kids) {
    if (k == null || k === false) continue;
    if (Array.isArray(k)) add(el, k);
    else el.append(k instanceof Node ? k : String(k));
  }
}
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
/* Replace el's content. */
export function fill(el, ...kids) { el.textContent = ''; add(el, kids); return el; }
/* A message box: kind 'bad' (error), 'warn', 'ok' or 'info'. */
export function msg(kind, ...kids) {
  return h('div', { class: 'msg ' + kind, role: kind === 'bad' ? 'alert' : 'status' }, ...kids);
}
/* A labelled control: [label, control] with for/id wired. */
export function labelled(text, ctl, extra) {
  return h('div', { class: 'field' }, h('label', { for: ctl.id }, text), ctl, extra);
}

/* Enter moves to the next field of form; on the last field, or when the
 * next is the submit button and submit is true, it submits. Not while an
 * input method composes (pinyin): that Enter belongs to the IME. */
export function enterNext(form, submit) {
  form.addEventListener('keydown', e => {
    if (e.key !== 'Enter' || e.isComposing || e.keyCode === 229 || e.ctrlKey || e.altKey || e.metaKey) return;
    const el = e.target;
    if (!(el.tagName === 'INPUT' || el.tagName === 'SELECT') || el.type === 'file') return;
    e.preventDefault();
    const all = $$('input,select,textarea,button[type=submit]', form)
      .filter(x => !x.disabled && x.type !== 'hidden' && x.type !== 'file' && x.tabIndex >= 0 && x.offsetParent !== null);
    let i = all.indexOf(el) + 1;
    while (el.type === 'radio' && i < all.length && all[i].type === 'radio' && all[i].name === el.name) i++;
    const nx = all[i];
    if (!nx || nx.type === 'submit') {
      if (submit) form.requestSubmit(); else if (nx) nx.focus();
    } else nx.focus();
  });
}

// ---- dates -------------------------------------------------------------
const p2 = n => String(n).padStart(2, '0');
/* "2026-11-24 10:32" from an ISO time; the input itself when unreadable. */
export function fmtTime(iso, secs) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}` +
    (secs ? ':' + p2(d.getSeconds()) : '');
}
export const hms = (d = new Date()) => `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
/* The station's date (GET /api/status today), else this computer's. */
/* A date as typed: YYYYMMDD or YYYY-M-D (any separators) becomes
 * YYYY-MM-DD; anything else is left for the checks to name. */
export function dateNorm(v) {
  v = String(v || '').trim();
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(v) || /^(\d{4})\D+(\d{1,2})\D+(\d{1,2})\D*$/.exec(v);
  return m ? `${m[1]}-${m[2].padStart(2, '0')}-${m[3].padStart(2, '0')}` : v;
}
/* A date field typed as eight digits (年月日): the dashes come by
 * themselves, Tab leaves it like any text field, and the order is the
 * same whatever the browser's locale. (A native date control keeps Tab
 * inside itself, and digits typed after it landed one field off.) */
export function dateInput(attrs) {
  const el = h('input', { ...attrs, type: 'text', inputmode: 'numeric', autocomplete: 'off', spellcheck: 'false',
    maxlength: 10, class: ((attrs.class || '') + ' short mono date').trim(), placeholder: t('年-月-日') });
  el.addEventListener('input', () => {
    const v = el.value, d = v.replace(/^(\d{4})-/, '$1').replace(/^(\d{6})-/, '$1');
    // only while typing at the end, in our own shape (digits, our dashes)
    if (el.selectionStart !== v.length || !/^\d{0,8}$/.test(d)) return;
    const f = d.slice(0, 4) + (d.length > 4 ? '-' + d.slice(4, 6) : '') + (d.length > 6 ? '-' + d.slice(6) : '');
    if (f !== v) el.value = f;
  });
  el.addEventListener('change', () => { const n = dateNorm(el.value); if (n !== el.value) el.value = n; });
  return el;
}
export function today() {
  if (S.status && S.status.today) return S.status.today;
  const d = new Date();
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}`;
}
/* "YYYY-MM-DD" plus n calendar days. */
export function addDays(ymd, n) {
  const [y, m, d] = ymd.split('-').map(Number);
  const x = new Date(Date.UTC(y, m - 1, d + n));
  return `${x.getUTCFullYear()}-${p2(x.getUTCMonth() + 1)}-${p2(x.getUTCDate())}`;
}
/* Days from a to b (b - a). */
export const daysBetween = (a, b) => Math.round((Date.parse(b) - Date.parse(a)) / 864e5);

// ---- the API -----------------------------------------------------------
export const S = { session: null, status: null, statusErr: null, csrf: null };

export class ApiError extends Error {
  constructor(status, body, retry) {
    super((body && body.error) || 'http');
    this.status = status; this.body = body || {}; this.retry = retry;
  }
}
/* The error's message in the current language. */
export function errText(e) {
  if (e instanceof ApiError) {
    const m = pick(e.body.message);
    if (m) return m;
    if (e.status === 0) return t('无法连接本机服务，请确认 daiban serve 正在运行。');
    return t('服务器返回 {n}', { n: e.status });
  }
  return String((e && e.message) || e);
}

/* api('/api/apps', {method: 'POST', body: {...}}): the answer's JSON (or
 * {} when it has none); throws ApiError. A body that is a Blob or File
 * is sent as it is. */
export async function api(path, opt = {}) {
  const method = opt.method || 'GET';
  const o = { method, credentials: 'same-origin', headers: {}, keepalive: !!opt.keepalive };
  if (method !== 'GET' && method !== 'HEAD' && S.csrf) o.headers['X-CSRF-Token'] = S.csrf;
  if (opt.body !== undefined) {
    if (opt.body instanceof Blob) {
      o.body = opt.body;
      o.headers['Content-Type'] = opt.body.type || 'application/octet-stream';
    } else {
      o.body = JSON.stringify(opt.body);
      o.headers['Content-Type'] = 'application/json';
    }
  }
  let r;
  try { r = await fetch(path, o); } catch (err) {
    throw new ApiError(0, { error: 'network' });
  }
  const ct = r.headers.get('Content-Type') || '';
  const j = ct.includes('json') ? await r.json().catch(() => null) : null;
  if (!r.ok) {
    const e = new ApiError(r.status, j, r.headers.get('Retry-After'));
    if (r.status === 401 && S.session && S.session.signed_in &&
        (e.body.error === 'unauthorized' || e.body.error === 'wrong_node')) expired();
    throw e;
  }
  if (method !== 'GET' && !/^\/api\/(session|validate|drafts|sync)/.test(path)) {
    clearTimeout(pokeTimer); pokeTimer = setTimeout(poll, 600);   // "待上传 N 条" changed
  }
  return j || {};
}
let pokeTimer = 0;
const cache = {};
/* GET url once per sign-in (catalogue data: matters, forms, reasons). */
export function get(url) {
  return (cache[url] ??= api(url).catch(e => { delete cache[url]; throw e; }));
}
/* Forget it all: a new catalogue version has come. */
export function dropCache() {
  for (const k of Object.keys(cache)) delete cache[k];
}
/* Query string from an object, leaving out empty values. */
export function qs(o) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== '' && v != null && v !== false) p.set(k, v === true ? 1 : v);
  const s = p.toString();
  return s ? '?' + s : '';
}

// ---- labels shared by the modules -------------------------------------
export const STATUS = {
  draft: '草稿', accepted: '已受理', returned: '退回补正', passed: '初审通过',
  approved: '已批准', rejected: '不予批准', delivered: '已送达', rated: '已评价',
  withdrawn: '已撤回',
};
export const statusText = s => t(STATUS[s] || s);
const ROLE = { village: '村级站点', township: '乡镇中心', county: '县级中心' };

/* Print one of the server's documents (receipt, notice) through a hidden
 * frame, so the page stays where it is. */
export function printDoc(url) {
  let f = $('#printer');
  if (f) f.remove();
  f = h('iframe', { id: 'printer', title: 'print', 'data-test': 'printer', tabindex: '-1', 'aria-hidden': 'true' });
  f.addEventListener('load', () => { try { f.contentWindow.focus(); f.contentWindow.print(); } catch (e) { window.open(url); } });
  f.src = url;
  document.body.append(f);
}
/* The four print buttons of an application (A4 and A5). */
export function printButtons(id) {
  const u = (what, a5) => `/api/apps/${encodeURIComponent(id)}/${what}${a5 ? '?paper=a5' : ''}`;
  return h('div', { class: 'actions noprint', 'data-test': 'print' },
    h('button', { type: 'button', 'data-test': 'print-receipt', onclick: () => printDoc(u('receipt')) }, t('打印受理回执')),
    h('button', { type: 'button', class: 'sec', 'data-test': 'print-receipt-a5', onclick: () => printDoc(u('receipt', 1)) }, t('A5纸打印回执')),
    h('button', { type: 'button', 'data-test': 'print-notice', onclick: () => printDoc(u('notice')) }, t('打印一次性告知单')),
    h('button', { type: 'button', class: 'sec', 'data-test': 'print-notice-a5', onclick: () => printDoc(u('notice', 1)) }, t('A5纸打印告知单')));
}

// ---- sign-in -----------------------------------------------------------
const main = $('#main');
let loginNote = null;       // a message to show on the sign-in screen

function langButton() {
  return h('button', { type: 'button', id: 'lang', class: 'sec', lang: lang === 'zh' ? 'en' : 'zh', 'data-test': 'lang',
    onclick: () => { lang = lang === 'zh' ? 'en' : 'zh'; localStorage.setItem(LANG_KEY, lang); relang(); } },
  lang === 'zh' ? 'English' : '中文');
}
function relang() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  if (S.session && S.session.signed_in) { banner(); showStatus(); nav(); route(); } else signin();
}

async function signin() {
  $('#banner').hidden = $('#nav').hidden = $('#offline').hidden = true;
  const sess = S.session || {};
  document.title = t('登录') + ' · ' + (sess.node_name || 'daiban');
  const box = h('section', { class: 'signin', 'aria-labelledby': 'signin-h' });
  fill(main, box);
  let ops = [];
  let listErr = null;
  try { ops = (await api('/api/operators')).operators || []; } catch (e) { listErr = e; }
  const who = ops.length
    ? h('select', { id: 'operator-id', name: 'operator', autocomplete: 'username', 'data-test': 'operator' },
      h('option', { value: '' }, t('请选择')),
      ops.map(o => h('option', { value: o.id, disabled: !o.has_password },
        `${o.name || o.id} (${o.id})` + (o.has_password ? '' : ' · ' + t('未设置密码')))))
    : h('input', { id: 'operator-id', name: 'operator', autocomplete: 'username', 'data-test': 'operator',
      placeholder: t('请输入操作员编号') });
  if (ops.length === 1 || ops.filter(o => o.has_password).length === 1) who.value = ops.find(o => o.has_password)?.id || '';
  const pw = h('input', { id: 'password', type: 'password', name: 'password', autocomplete: 'current-password', 'data-test': 'password' });
  const note = h('div', { id: 'signin-msg', 'data-test': 'signin-msg', 'aria-live': 'polite' },
    loginNote && msg('warn', loginNote),
    listErr && msg('bad', errText(listErr)),
    ops.length > 0 && !ops.some(o => o.has_password) &&
      msg('warn', t('还没有设置密码的操作员：请在本机运行 daiban operator passwd 编号 设置密码。')));
  loginNote = null;
  const btn = h('button', { type: 'submit', id: 'signin', 'data-test': 'signin' }, t('登录'));
  const form = h('form', { id: 'signin-form', novalidate: true },
    labelled(t('操作员'), who), labelled(t('密码'), pw), note, h('div', { class: 'actions' }, btn));
  enterNext(form, true);
  let wait = 0;
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    if (btn.disabled) return;
    if (!who.value.trim() || !pw.value) { fill(note, msg('bad', t('请选择操作员并输入密码。'))); (who.value ? pw : who).focus(); return; }
    btn.disabled = true;
    try {
      const s = await api('/api/session', { method: 'POST', body: { operator: who.value.trim(), password: pw.value } });
      S.session = s; S.csrf = s.csrf;
      start();
    } catch (e) {
      pw.value = '';
      fill(note, msg('bad', errText(e), e.retry ? t('（{n} 秒后可再试）', { n: e.retry }) : ''));
      if (e.status === 429 && e.retry) {
        wait = +e.retry || 1;
        const tick = () => { if (--wait > 0 && btn.isConnected) setTimeout(tick, 1000); else btn.disabled = false; };
        setTimeout(tick, 1000);
      } else btn.disabled = false;
      pw.focus();
    }
  });
  fill(box, h('div', { class: 'signin-top' }, langButton()),
    h('h1', { id: 'signin-h' }, sess.node_name || 'daiban'),
    h('p', { class: 'sub' }, [ROLE[sess.role] && t(ROLE[sess.role]), sess.node].filter(Boolean).join(' · ')),
    form);
  (who.value ? pw : who).focus();
}

function expired() {
  stopPoll();
  S.session = Object.assign({}, S.session, { signed_in: false });
  S.csrf = null;
  loginNote = t('登录已过期，请重新登录。');
  signin();
}

// ---- banner and link state --------------------------------------------
let pollTimer = null;
function stopPoll() { clearTimeout(pollTimer); pollTimer = null; }
async function poll() {
  stopPoll();
  try { S.status = await api('/api/status'); S.statusErr = null; } catch (e) {
    if (e.status === 401) return;
    S.statusErr = e;
  }
  showStatus();
  if (S.session && S.session.signed_in) pollTimer = setTimeout(poll, S.status && S.status.syncing ? 2000 : 10000);
}

function banner() {
  const s = S.session;
  document.title = s.node_name || 'daiban';
  fill($('#banner'),
    h('div', { class: 'who' },
      h('strong', { id: 'node-name', 'data-test': 'node-name' }, s.node_name || s.node),
      h('span', { id: 'role', 'data-test': 'role' }, t(ROLE[s.role] || s.role)),
      h('span', { id: 'operator', 'data-test': 'operator-name' }, t('操作员：{n}', { n: s.operator_name || s.operator }))),
    h('div', { class: 'link' },
      h('span', { id: 'last-sync', 'data-test': 'last-sync' }),
      h('span', { id: 'waiting', 'data-test': 'waiting' }),
      h('button', { type: 'button', id: 'sync-now', class: 'sec', 'data-test': 'sync-now', onclick: syncNow }, t('立即同步'))),
    h('div', { class: 'tools' }, langButton(),
      h('button', { type: 'button', id: 'signout', class: 'sec', 'data-test': 'signout', onclick: signout }, t('退出'))));
  $('#banner').hidden = false;
}

function showStatus() {
  const st = S.status, off = $('#offline'), ls = $('#last-sync');
  if (!ls) return;
  if (S.statusErr && !st) {
    fill(off, errText(S.statusErr)); off.hidden = false;
    return;
  }
  if (!st) return;
  // the county's home without a remote is the hall's own: its events are
  // published by the hall, so neither "no sync address" nor a waiting
  // count that never goes down applies
  const hall = !st.remote && st.role === 'county';
  ls.parentNode.hidden = hall;
  ls.textContent = st.syncing ? t('正在同步…') : st.last_ok ? t('上次同步：{t}', { t: fmtTime(st.last_ok) }) : t('尚未同步');
  $('#waiting').textContent = t('待上传 {n} 条', { n: st.waiting ?? 0 });
  $('#sync-now').disabled = !!st.syncing || !st.remote;
  const down = S.statusErr || (st.remote && st.last_error && !st.syncing);
  if (down) {
    fill(off, h('strong', {}, t('网络未连接：所有工作已保存在本机，联网后自动上传。')),
      S.statusErr ? ' ' + errText(S.statusErr) : '',
      st.last_error ? h('span', { class: 'why', 'data-test': 'sync-error', title: st.last_error.detail || '' },
        ' ' + pick(st.last_error)) : '',
      st.next_try > 0 ? h('span', { class: 'why' }, ' (' + t('{n} 秒后自动重试', { n: Math.round(st.next_try) }) + ')') : '');
    off.className = 'down';
  } else if (!st.remote && !hall) {
    fill(off, t('本站未设置同步地址：所有工作已保存在本机。'));
    off.className = 'nolink';
  }
  off.hidden = !(down || (!st.remote && !hall));
  // supervision alarms: a station that signed two different histories
  const al = $('#alarms'), list = st.alarms || [];
  if (al) {
    fill(al, ...list.map(a => h('p', { 'data-test': 'alarm' }, h('strong', {}, t('警报：')), pick(a))));
    al.hidden = list.length === 0;
  }
}

async function syncNow() {
  const b = $('#sync-now');
  b.disabled = true;
  try { S.status = await api('/api/sync', { method: 'POST' }); S.statusErr = null; } catch (e) { S.statusErr = e; }
  showStatus();
  stopPoll();
  pollTimer = setTimeout(poll, 1500);
}

async function signout() {
  try { await api('/api/session', { method: 'DELETE' }); } catch (e) { /* signed out either way */ }
  stopPoll();
  leave();
  S.session = Object.assign({}, S.session, { signed_in: false, operator: null, operator_name: null });
  S.csrf = null; S.status = null;
  history.replaceState(null, '', location.pathname);
  signin();
}

// ---- menu and router ---------------------------------------------------
const MENU = {
  village: [['new', '新办件'], ['apps', '我的办件'], ['conflicts', '冲突'], ['doctor', '本站检查']],
  township: [['queue', '待审核'], ['new', '新办件'], ['conflicts', '冲突'], ['doctor', '本站检查']],
  county: [['queue', '待审批'], ['catalog', '目录发布'], ['stats', '电子监察'], ['stations', '站点同步'], ['conflicts', '冲突'], ['doctor', '本站检查']],
};
/* Which module draws which first path segment. */
const OWNER = {
  new: 'village', done: 'village', edit: 'village',
  apps: 'apps', queue: 'apps', app: 'apps', conflicts: 'apps',
  catalog: 'county', stats: 'county', stations: 'county',
  doctor: 'doctor',
};
const mods = {};
const load = m => (mods[m] ??= import(`/ui/${m}.js`));

function nav() {
  const n = $('#nav');
  n.setAttribute('aria-label', t('主菜单'));
  fill(n, h('ul', {}, (MENU[S.session.role] || []).map(([k, zh]) =>
    h('li', {}, h('a', { href: '#/' + k, 'data-nav': k, 'data-test': 'nav-' + k }, t(zh))))));
  n.hidden = false;
  markNav();
}
function markNav() {
  const seg = (location.hash.replace(/^#\/?/, '').split(/[/?]/)[0]) || '';
  const cur = seg === 'app' || seg === 'done' || seg === 'edit' ? (S.session.role === 'village' ? 'apps' : 'queue') : seg;
  for (const a of $$('#nav a')) {
    if (a.dataset.nav === cur) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}
export const home = () => (S.session.role === 'village' ? '#/new' : '#/queue');

/* The current hash as {parts, query}: "#/app/X?y=1" → (["app","X"], {y:"1"}). */
export function here() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [p, q] = raw.split('?');
  return { parts: p.split('/').filter(Boolean).map(decodeURIComponent), query: Object.fromEntries(new URLSearchParams(q || '')) };
}
/* Change the hash without a new history entry nor a redraw. */
export function setHash(h2) { history.replaceState(null, '', h2); markNav(); }

let leaving = [];
/* fn runs when the current view is left (flush a draft, stop a timer). */
export function onLeave(fn) { leaving.push(fn); }
function leave() { const l = leaving; leaving = []; for (const f of l) { try { f(); } catch (e) { console.error(e); } } }

/* Draw the view of the current hash into a fresh box of <main>; a view
 * that finishes after the user moved on draws into a detached box. */
async function route() {
  if (!S.session || !S.session.signed_in) return signin();
  leave();
  const { parts, query } = here();
  if (!parts.length) { location.replace(home()); return; }
  markNav();
  const box = h('div', { class: 'view' });
  fill(main, box);
  fill(box, h('p', { class: 'loading' }, t('正在加载…')));
  const owner = OWNER[parts[0]];
  try {
    if (!owner) throw new Error(t('页面不存在'));
    const m = await load(owner);
    if (!box.isConnected) return;
    box.textContent = '';
    await m.view(box, parts, query);
  } catch (e) {
    if (!box.isConnected) return;
    fill(box, h('h1', {}, t('出错了')), msg('bad', errText(e)));
    console.error(e);
  }
  // focus the view's heading so the keyboard starts in the page, unless
  // the view focused a control itself
  if (box.isConnected && (document.activeElement === document.body || !main.contains(document.activeElement))) {
    const hd = $('h1', box);
    if (hd) { hd.tabIndex = -1; hd.focus({ preventScroll: true }); }
  }
}

/* Draw the current view again (after an action changed it). */
export const redraw = () => route();

function start() {
  for (const k of Object.keys(cache)) delete cache[k];
  banner(); nav();
  S.status = null;
  poll();
  // the role's modules start loading now, before the user clicks
  load('apps'); if (S.session.role !== 'county') load('village'); else load('county');
  route();
}

window.addEventListener('hashchange', route);
(async function boot() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  try {
    S.session = await api('/api/session');
    S.csrf = S.session.csrf || null;
  } catch (e) {
    fill(main, msg('bad', errText(e)));
    return;
  }
  if (S.session.signed_in) start(); else signin();
})();
