// daiban web UI: the county hall's own screens. 目录发布 (check and
// publish the delegated matter list from its CSV sheets), 电子监察 (the
// period's figures by township, village or matter, with bar charts and a
// CSV export) and 站点同步 (when each station was last heard of).
// Loaded after a county operator signs in.
import { EN, t, pick, h, fill, msg, labelled, api, qs, today, fmtTime } from './app.js';

Object.assign(EN, {
  '选择县里整理好的目录表格（matters.csv、fields.csv 等），先检查，检查无误后再发布。发布后各站点在下次同步时收到新目录。':
    'Choose the catalogue sheets (matters.csv, fields.csv …), check them, then publish. Stations receive the new catalogue at their next sync.',
  '选择目录文件夹': 'Choose the catalogue folder', '或选择 CSV 文件': 'or choose CSV files',
  '已读入 {n} 个文件：': '{n} files read:', '检查': 'Check', '发布': 'Publish', '正在检查…': 'Checking…',
  '检查通过，可以发布。': 'The check passed; you may publish.',
  '未上传的 {n} 张表沿用当前版本：{f}': 'The {n} sheets not uploaded are kept from the current version: {f}', '检查未通过：{e} 个错误，{w} 个警告。': 'The check failed: {e} errors, {w} warnings.',
  '{w} 个警告': '{w} warnings', '已发布，目录版本 {v}。': 'Published: catalogue version {v}.',
  '没有选中 CSV 文件。': 'No CSV file chosen.', '文件 {f} 出现两次，只用了最后一个。': 'File {f} appears twice; the last one is used.',
  '开始日期': 'From', '结束日期': 'To', '统计口径': 'Group by', '按乡镇': 'By township', '按村': 'By village', '按事项': 'By matter',
  '导出 CSV': 'Export CSV', '名称': 'Name', '受理#col': 'Accepted', '办结': 'Done', '按时办结': 'On time',
  '评价分布依次为：非常不满意/不满意/基本满意/满意/非常满意（条数）。':
    'Ratings, in order: very dissatisfied / dissatisfied / fairly satisfied / satisfied / very satisfied (counts).',
  '超时办结': 'Late', '在办': 'Open', '超期': 'Overdue', '按时办结率': 'On-time rate', '评价分布': 'Ratings',
  '满意度': 'Satisfaction', '合计': 'Total', '这段时间没有受理办件。': 'No applications accepted in this period.',
  '按时办结率（%）': 'On-time completion rate (%)', '好差评分布': 'Rating distribution',
  '非常满意': 'Very satisfied', '满意': 'Satisfied', '基本满意': 'Fairly satisfied', '不满意': 'Dissatisfied', '非常不满意': 'Very dissatisfied',
  '评价：非常不满意/不满意/基本满意/满意/非常满意': 'Ratings: very dissatisfied / dissatisfied / fairly / satisfied / very satisfied',
  '最近受理所用目录': 'Catalogue of its latest application', '当前版本': 'current', '旧版本 {v}': 'older ({v})',
  '站点': 'Station', '编码': 'Code', '类型': 'Type', '所属乡镇': 'Township', '最近上传': 'Last change set',
  '未同步天数': 'Days without sync', '从未同步': 'never', '{n} 个站点超过 3 天没有同步。': '{n} stations have not synced for more than 3 days.',
  '所有站点 3 天内都有同步。': 'Every station synced within 3 days.',
  '村级站点': 'Village station', '乡镇中心': 'Township centre', '县级中心': 'County hall',
});

export async function view(box, parts, query) {
  if (parts[0] === 'catalog') return catalog(box);
  if (parts[0] === 'stats') return stats(box, query);
  return stations(box);
}

// ---- 目录发布 ------------------------------------------------------------
function catalog(box) {
  const dir = h('input', { type: 'file', id: 'cat-dir', 'data-test': 'cat-dir', webkitdirectory: true, multiple: true });
  const csv = h('input', { type: 'file', id: 'cat-files', 'data-test': 'cat-files', multiple: true, accept: '.csv,text/csv' });
  const list = h('div', { 'data-test': 'cat-files-read' });
  const out = h('div', { id: 'cat-result', 'data-test': 'cat-result', 'aria-live': 'polite' });
  const check = h('button', { type: 'button', 'data-test': 'cat-check', disabled: true }, t('检查'));
  const pub = h('button', { type: 'button', 'data-test': 'cat-publish', disabled: true }, t('发布'));
  let files = null;
  fill(box, h('h1', {}, t('目录发布')),
    h('p', {}, t('选择县里整理好的目录表格（matters.csv、fields.csv 等），先检查，检查无误后再发布。发布后各站点在下次同步时收到新目录。')),
    labelled(t('选择目录文件夹'), dir), labelled(t('或选择 CSV 文件'), csv), list,
    h('div', { class: 'actions' }, check, pub), out);

  async function read(input) {
    const fs = [...input.files].filter(f => /\.csv$/i.test(f.name));
    pub.disabled = true; fill(out);
    if (!fs.length) { files = null; check.disabled = true; fill(list, msg('warn', t('没有选中 CSV 文件。'))); return; }
    files = {};
    const dup = [];
    for (const f of fs) { if (f.name in files) dup.push(f.name); files[f.name] = await f.text(); }
    fill(list, h('p', {}, t('已读入 {n} 个文件：', { n: Object.keys(files).length }), ' ', Object.keys(files).sort().join('、')),
      dup.map(f => msg('warn', t('文件 {f} 出现两次，只用了最后一个。', { f }))));
    check.disabled = false;
    run();
  }
  function result(r) {
    return [r.ok ? msg('ok', t('检查通过，可以发布。'), r.warnings ? ' ' + t('{w} 个警告', { w: r.warnings }) : '')
      : msg('bad', t('检查未通过：{e} 个错误，{w} 个警告。', { e: r.errors ?? '?', w: r.warnings ?? 0 })),
    (r.kept || []).length ? msg('warn', t('未上传的 {n} 张表沿用当前版本：{f}', { n: r.kept.length, f: r.kept.join('、') })) : '',
    r.output && h('pre', { class: 'output', 'data-test': 'cat-output' }, r.output)];
  }
  async function run() {
    check.disabled = true; pub.disabled = true;
    fill(out, h('p', { class: 'loading' }, t('正在检查…')));
    try {
      const r = await api('/api/catalog/check', { method: 'POST', body: { files } });
      fill(out, result(r));
      pub.disabled = !r.ok;
    } catch (e) { fill(out, msg('bad', errText2(e))); }
    check.disabled = false;
  }
  dir.addEventListener('change', () => read(dir));
  csv.addEventListener('change', () => read(csv));
  check.addEventListener('click', run);
  pub.addEventListener('click', async () => {
    pub.disabled = true;
    try {
      const r = await api('/api/catalog/publish', { method: 'POST', body: { files } });
      fill(out, msg('ok', t('已发布，目录版本 {v}。', { v: r.version || '' })),
        (r.kept || []).length ? msg('warn', t('未上传的 {n} 张表沿用当前版本：{f}', { n: r.kept.length, f: r.kept.join('、') })) : '');
    } catch (e) {
      fill(out, msg('bad', errText2(e)), e.body && e.body.output && h('pre', { class: 'output' }, e.body.output));
    }
  });
}
const errText2 = e => pick(e.body && e.body.message) || String(e.message || e);

// ---- 电子监察 ------------------------------------------------------------
const BY = [['township', '按乡镇'], ['village', '按村'], ['matter', '按事项']];
const LV = ['非常不满意', '不满意', '基本满意', '满意', '非常满意'];
const pct = x => (x == null ? '—' : ((x <= 1 ? x * 100 : x).toFixed(1) + '%'));
const frac = x => (x == null ? null : x <= 1 ? x : x / 100);

async function stats(box, query) {
  const y = today().slice(0, 4);
  const from = h('input', { type: 'date', id: 'st-from', 'data-test': 'st-from', value: query.from || `${y}-01-01` });
  const to = h('input', { type: 'date', id: 'st-to', 'data-test': 'st-to', value: query.to || today() });
  const by = h('select', { id: 'st-by', 'data-test': 'st-by' }, BY.map(([v, zh]) => h('option', { value: v, selected: (query.by || 'township') === v }, t(zh))));
  const form = h('form', { class: 'filters noprint' }, labelled(t('开始日期'), from), labelled(t('结束日期'), to), labelled(t('统计口径'), by),
    h('div', { class: 'actions' }, h('button', { type: 'submit', 'data-test': 'st-go' }, t('查询'))));
  const out = h('div', { id: 'stats', 'data-test': 'stats', 'aria-live': 'polite' });
  fill(box, h('h1', {}, t('电子监察')), form, out);
  async function load() {
    const q = { from: from.value, to: to.value, by: by.value };
    history.replaceState(null, '', '#/stats' + qs(q));
    fill(out, h('p', { class: 'loading' }, t('正在加载…')));
    let r;
    try { r = await api('/api/stats' + qs(q)); } catch (e) { fill(out, msg('bad', errText2(e))); return; }
    const rows = r.rows || [];
    const csvLink = h('a', { class: 'btn sec', href: '/api/stats' + qs({ ...q, format: 'csv' }), download: `stats-${q.by}-${q.from}-${q.to}.csv`, 'data-test': 'st-csv' }, t('导出 CSV'));
    if (!rows.length) { fill(out, msg('info', t('这段时间没有受理办件。')), csvLink); return; }
    const tot = r.total || {};
    const cells = x => [x.accepted, x.done, x.on_time, x.late, x.open].map(v => h('td', { class: 'num' }, v ?? '—'))
      .concat(h('td', { class: 'num' + (x.overdue ? ' hot' : '') }, x.overdue ?? '—'),
        h('td', { class: 'num' + (frac(x.on_time_rate) != null && frac(x.on_time_rate) < 0.9 ? ' warm' : '') }, pct(x.on_time_rate)),
        h('td', { class: 'num nowrap', title: t('评价：非常不满意/不满意/基本满意/满意/非常满意') }, (x.ratings || []).join('/')),
        h('td', { class: 'num' }, pct(x.satisfaction)));
    const ratings = tot.ratings || rows.reduce((a, x) => a.map((v, i) => v + ((x.ratings || [])[i] || 0)), [0, 0, 0, 0, 0]);
    fill(out,
      h('div', { class: 'actions noprint' }, csvLink),
      h('div', { class: 'tablewrap' }, h('table', { class: 'list stats' },
        h('thead', {}, h('tr', {}, [t('名称'), t('受理#col'), t('办结'), t('按时办结'), t('超时办结'), t('在办'), t('超期'), t('按时办结率'), t('评价分布'), t('满意度')]
          .map(x => h('th', { scope: 'col' }, x)))),
        h('tbody', {}, rows.map(x => h('tr', {}, h('th', { scope: 'row' }, x.name || x.key, x.name && x.key !== x.name ? h('span', { class: 'small' }, ' ' + x.key) : ''), cells(x)))),
        r.total && h('tfoot', {}, h('tr', {}, h('th', { scope: 'row' }, t('合计')), cells(tot))))),
      h('p', { class: 'small', 'data-test': 'ratings-legend' }, t('评价分布依次为：非常不满意/不满意/基本满意/满意/非常满意（条数）。')),
      h('div', { class: 'charts' },
        h('figure', {}, h('figcaption', {}, t('按时办结率（%）')),
          bars(rows.map(x => [x.name || x.key, frac(x.on_time_rate)]), 1, v => pct(v), t('按时办结率（%）'))),
        h('figure', {}, h('figcaption', {}, t('好差评分布')),
          bars(LV.map((l, i) => [t(l), ratings[i] || 0]).reverse(), Math.max(1, ...ratings), v => String(v), t('好差评分布')))));
  }
  form.addEventListener('submit', e => { e.preventDefault(); load(); });
  await load();
}

/* A horizontal bar chart as inline SVG: rows [label, value or null]. */
function bars(rows, max, fmt, title) {
  const NS = 'http://www.w3.org/2000/svg', rh = 28, lw = 190, bw = 300, W = lw + bw + 80;
  const s = (tag, a, txt) => { const e = document.createElementNS(NS, tag); for (const k in a) e.setAttribute(k, a[k]); if (txt != null) e.textContent = txt; return e; };
  const svg = s('svg', { viewBox: `0 0 ${W} ${rows.length * rh + 8}`, width: W, role: 'img', 'aria-label': title, class: 'chart' });
  rows.forEach(([l, v], i) => {
    const y = i * rh + 4;
    const lab = String(l);
    svg.append(s('text', { x: lw - 8, y: y + 19, 'text-anchor': 'end' }, lab.length > 11 ? lab.slice(0, 10) + '…' : lab));
    svg.append(s('rect', { x: lw, y: y + 3, width: bw, height: rh - 8, fill: '#e6e9ef' }));
    if (v != null) svg.append(s('rect', { x: lw, y: y + 3, width: Math.max(0, Math.min(1, v / max)) * bw, height: rh - 8,
      fill: max === 1 && v < 0.9 ? '#b35c00' : '#0b4f9c' }));
    svg.append(s('text', { x: lw + bw + 6, y: y + 19 }, v == null ? '—' : fmt(v)));
  });
  return svg;
}

// ---- 站点同步 ------------------------------------------------------------
const ROLE = { village: '村级站点', township: '乡镇中心', county: '县级中心' };
async function stations(box) {
  const r = await api('/api/stations');
  const ss = (r.stations || []).slice().sort((a, b) => (b.last_event_days ?? 1e9) - (a.last_event_days ?? 1e9));
  const stale = s => s.last_event_days == null || s.last_event_days > 3;
  const n = ss.filter(stale).length;
  fill(box, h('h1', {}, t('站点同步')),
    n ? msg('warn', t('{n} 个站点超过 3 天没有同步。', { n })) : msg('ok', t('所有站点 3 天内都有同步。')),
    h('table', { class: 'list', 'data-test': 'stations' },
      h('thead', {}, h('tr', {}, [t('站点'), t('编码'), t('类型'), t('所属乡镇'), t('最近上传'), t('未同步天数'), t('最近受理所用目录')].map(x => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, ss.map(s => h('tr', { class: stale(s) ? 'overdue' : '', 'data-test': 'station' },
        h('td', {}, s.name || ''), h('td', {}, s.node), h('td', {}, t(ROLE[s.role] || s.role || '')), h('td', {}, s.township || ''),
        h('td', {}, s.last_event ? fmtTime(s.last_event) : t('从未同步')),
        h('td', { class: 'num' + (stale(s) ? ' hot' : '') }, s.last_event_days ?? t('从未同步')),
        h('td', { 'data-test': 'station-catalog', class: s.catalog && !s.catalog_current ? 'hot' : '', title: s.catalog || '' },
          !s.catalog ? '—' : s.catalog_current ? t('当前版本') : t('旧版本 {v}', { v: s.catalog.slice(0, 8) })))))));

}
