// daiban web UI: applications, for every role. The lists (我的办件 at a
// village, the township's and county's queues), one application's page
// with what this node may do to it now (deliver, rate, withdraw, review,
// decide), its audit log, and the conflicts. Loaded after sign-in.
import {
  EN, t, pick, name, label, h, $, $$, fill, msg, labelled, api, qs, S, errText, get,
  statusText, STATUS, today, daysBetween, printButtons, setHash, redraw,
} from './app.js';

Object.assign(EN, {
  '只看待办': 'To do only', '状态': 'Status', '全部': 'All', '只看超期': 'Overdue only',
  '村': 'Village', '事项': 'Matter', '近N天到期': 'Due within N days', '搜索（申请人、受理编号）': 'Search (applicant, receipt)',
  '查询': 'Search', '共 {n} 件': '{n} in all', '上一页': 'Previous page', '下一页': 'Next page',
  '受理编号': 'Receipt no.', '申请人': 'Applicant', '受理站点': 'Station', '受理日期': 'Accepted on',
  '办结期限': 'Due', '操作': 'Actions', '已超期': 'Overdue', '{n} 天内到期': 'due in {n} days', '今天到期': 'due today',
  '容缺材料逾期': 'Promised material late', '修改': 'Correct', '送达': 'Deliver', '办理': 'Handle', '查看': 'Open',
  '退回原因：{r}': 'Reason for return: {r}', '没有符合条件的办件。': 'No applications match.',
  '筛选': 'Filter', '办件编号': 'Application id', '承诺时限': 'Time limit', '{n} 个工作日': '{n} working days',
  '当前办理': 'Held by', '初审单位': 'Reviewer', '决定单位': 'Decider', '原因': 'Reason', '评价': 'Rating',
  '本站': 'this station', '申请信息': 'Application data', '申请材料': 'Materials', '办理记录': 'Audit log',
  '已提供': 'Provided', '缺': 'Missing', '容缺': 'Deficient (promised)', '承诺 {d} 前补交': 'promised by {d}',
  '本机保存的草稿（尚未受理）': 'Drafts saved on this computer (not accepted yet)', '显示全部办件': 'Show all applications',
  '没有待办的办件。': 'Nothing waits for you.',
  '逾期未补交': 'late', '查看扫描件': 'View scan', '时间': 'Time', '站点': 'Station', '事件': 'Event', '说明': 'Details',
  '创建': 'Created', '修改数据': 'Data edited', '材料': 'Material', '受理#ev': 'Accepted', '重新提交': 'Resubmit',
  '初审': 'Reviewed', '决定': 'Decided', '撤回': 'Withdraw', '通过': 'Pass', '退回': 'Return',
  '批准': 'Approve', '办件已超期。': 'This application is overdue.', '有容缺材料逾期未补交。': 'A promised material is late.',
  '本机没有受理时的目录版本，部分名称可能无法显示。': 'This computer lacks the catalogue version of this application; some names may be missing.',
  '此办件有冲突，需要人工处理：': 'This application has conflicts to resolve:',
  '满意度评价': 'Satisfaction rating', '非常满意': 'Very satisfied', '满意': 'Satisfied', '基本满意': 'Fairly satisfied',
  '不满意': 'Dissatisfied', '非常不满意': 'Very dissatisfied', '评价意见（可选）': 'Comment (optional)', '保存评价': 'Save rating',
  '请选择评价等级。': 'Choose a rating.', '已保存。': 'Saved.', '撤回原因': 'Reason for withdrawal', '确认撤回': 'Confirm withdrawal',
  '申请人撤回办件': 'The applicant withdraws', '请填写原因。': 'Please give the reason.',
  '常见退回原因': 'Common reasons', '退回原因': 'Reason for return', '初审：通过或退回补正': 'Review: pass or return for correction',
  '决定：批准或不予批准': 'Decision: approve or reject', '决定理由（不予批准时必填）': 'Reason (required to reject)',
  '返回列表': 'Back to the list', '冲突记录': 'Conflicts', '没有冲突。': 'No conflicts.', '处理建议': 'Advice', '类型': 'Type',
  '送达与评价': 'Delivery and rating', '已送达，请请申请人评价。': 'Delivered; now ask the applicant for a rating.',
  '评价等级 {n}': 'level {n}', '一件事': 'Bundle', '办件': 'Application',
});

const enc = encodeURIComponent;
const OPEN = ['accepted', 'returned', 'passed'];
const LEVELS = [[5, '非常满意'], [4, '满意'], [3, '基本满意'], [2, '不满意'], [1, '非常不满意']];
const MAT = { provided: '已提供', missing: '缺', deficient: '容缺' };
const seenVillages = new Set();

export async function view(box, parts, query) {
  if (parts[0] === 'app') return detail(box, parts[1]);
  if (parts[0] === 'conflicts') return conflicts(box);
  return list(box, parts[0], query);
}

/* A badge telling how close the due date is, and the row's class. */
function dueState(a) {
  if (a.overdue) return ['overdue', t('已超期')];
  if (OPEN.includes(a.status) && a.due) {
    const d = daysBetween(today(), a.due);
    if (d >= 0 && d <= 3) return ['soon', d ? t('{n} 天内到期', { n: d }) : t('今天到期')];
  }
  return ['', ''];
}
const badge = (cls, text) => text && h('span', { class: 'badge ' + cls }, text);
const statusBadge = s => h('span', { class: 'badge st-' + s, 'data-test': 'status' }, statusText(s));
// offices by name: the API sends origin_name, holder_name, decider_name
const names = {};
const learn = a => { for (const k of ['origin', 'holder', 'decider']) if (a[k] && a[k + '_name']) names[a[k]] = a[k + '_name']; };
const nodeName = n => (n && n === S.session.node ? `${names[n] || n} (${t('本站')})` : names[n] || n || '—');

// ---- the lists ---------------------------------------------------------
async function list(box, what, query) {
  const role = S.session.role, queue = what === 'queue';
  const title = !queue ? '我的办件' : role === 'county' ? '待审批' : '待审核';
  const f = {
    // the queues open on what waits for this office; 我的办件 on everything
    todo: queue ? (query.todo === '0' ? '' : '1') : (query.todo === '1' ? '1' : ''), status: query.status || '', overdue: query.overdue || '',
    due_within: query.due_within || '', village: query.village || '', matter: query.matter || '', q: query.q || '',
  };
  let cursors = [null], page = 0;
  const ctl = {};
  const mk = (k, el) => (ctl[k] = el);
  const chk = (k, text) => h('div', { class: 'field check' },
    mk(k, h('input', { type: 'checkbox', id: 'f-' + k, 'data-test': 'f-' + k, checked: !!f[k] })),
    h('label', { for: 'f-' + k }, t(text)));
  const statusSel = mk('status', h('select', { id: 'f-status', 'data-test': 'f-status' },
    h('option', { value: '' }, t('全部')),
    Object.keys(STATUS).map(s => h('option', { value: s, selected: f.status === s }, statusText(s)))));
  const fields = [chk('todo', '只看待办'), labelled(t('状态'), statusSel), chk('overdue', '只看超期')];
  if (queue) {
    const vs = mk('village', h('select', { id: 'f-village', 'data-test': 'f-village' }));
    const ms = mk('matter', h('select', { id: 'f-matter', 'data-test': 'f-matter' }, h('option', { value: '' }, t('全部'))));
    fields.push(labelled(t('村'), vs), labelled(t('事项'), ms),
      labelled(t('近N天到期'), mk('due_within', h('input', { id: 'f-due_within', 'data-test': 'f-due_within', type: 'number', min: 0, max: 366, inputmode: 'numeric', value: f.due_within, class: 'short' }))));
    get('/api/matters').then(r => {
      for (const m of r.matters || []) ms.append(h('option', { value: m.code, selected: f.matter === m.code }, `${name(m)} (${m.code})`));
      ms.value = f.matter;
    }).catch(() => {});
  }
  fields.push(labelled(t('搜索（申请人、受理编号）'), mk('q', h('input', { id: 'f-q', 'data-test': 'f-q', type: 'search', value: f.q }))));
  const form = h('form', { class: 'filters noprint', role: 'search', 'aria-label': t('筛选') }, fields,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'sec', 'data-test': 'f-apply' }, t('查询'))));
  const out = h('div', { id: 'app-list', 'data-test': 'app-list', 'aria-live': 'polite' });
  fill(box, h('h1', {}, t(title)), form, out);

  function villages() {
    const vs = ctl.village;
    if (!vs) return;
    if (f.village) seenVillages.add(f.village);
    fill(vs, h('option', { value: '' }, t('全部')),
      [...seenVillages].sort().map(v => h('option', { value: v }, nodeName(v))));
    vs.value = f.village;
  }
  function read() {
    for (const k of Object.keys(ctl)) f[k] = ctl[k].type === 'checkbox' ? (ctl[k].checked ? '1' : '') : ctl[k].value.trim();
    setHash('#/' + what + qs({ ...f, todo: queue ? (f.todo ? '' : '0') : (f.todo ? '1' : '') }));
    cursors = [null]; page = 0;
    load();
  }
  form.addEventListener('submit', e => { e.preventDefault(); read(); });
  form.addEventListener('change', e => { if (e.target.type !== 'search' && e.target.type !== 'number') read(); });

  async function load() {
    fill(out, h('p', { class: 'loading' }, t('正在加载…')));
    let r;
    try { r = await api('/api/apps' + qs({ ...f, limit: 50, after: cursors[page] })); } catch (e) { fill(out, msg('bad', errText(e))); return; }
    const apps = r.applications || [];
    for (const a of apps) { learn(a); if (a.origin && a.origin !== S.session.node) seenVillages.add(a.origin); }
    villages();
    // 草稿: the forms saved on this machine and not yet accepted, too
    let local = null;
    if (!queue && f.status === 'draft') {
      const ds = await api('/api/drafts').then(r => r.drafts || [], () => []);
      local = ds.length ? h('div', { 'data-test': 'local-drafts' }, h('h2', {}, t('本机保存的草稿（尚未受理）')),
        h('ul', {}, ds.map(d => h('li', {}, h('a', { href: `#/new/${encodeURIComponent(d.matter)}/${encodeURIComponent(d.id)}` },
          [d.matter_name || d.matter, d.applicant].filter(Boolean).join(' · ')))))) : null;
    }
    if (!apps.length) {
      const all = f.todo && h('button', { type: 'button', class: 'sec', 'data-test': 'show-all', onclick: () => { ctl.todo.checked = false; read(); } }, t('显示全部办件'));
      fill(out, local || msg('info', t(f.todo ? '没有待办的办件。' : '没有符合条件的办件。'), ' ', all || ''));
      return;
    }
    const rows = apps.map(a => row(a, queue));
    const pager = h('div', { class: 'actions pager' },
      page > 0 && h('button', { type: 'button', class: 'sec', 'data-test': 'prev', onclick: () => { page--; load(); } }, t('上一页')),
      r.next && h('button', { type: 'button', class: 'sec', 'data-test': 'next', onclick: () => { cursors[page + 1] = r.next; page++; load(); } }, t('下一页')));
    fill(out, local, h('p', { 'data-test': 'total' }, t('共 {n} 件', { n: r.total ?? apps.length })),
      h('table', { class: 'list' },
        h('thead', {}, h('tr', {}, [t('受理编号'), t('事项'), t('申请人'), queue && t('受理站点'), t('状态'), t('受理日期'), t('办结期限'), t('操作')]
          .filter(Boolean).map(x => h('th', { scope: 'col' }, x)))),
        h('tbody', {}, rows)), pager);
  }
  villages();
  await load();
}

function row(a, queue) {
  const [cls, due] = dueState(a);
  const mine = a.origin === S.session.node;
  const acts = [];
  if (mine && (a.status === 'returned' || a.status === 'draft')) acts.push(h('a', { class: 'btn', href: '#/edit/' + enc(a.id), 'data-test': 'edit' }, t('修改')));
  if (mine && (a.status === 'approved' || a.status === 'rejected')) {
    const b = h('button', { type: 'button', 'data-test': 'deliver', onclick: async () => {
      b.disabled = true;
      try { await api(`/api/apps/${enc(a.id)}/deliver`, { method: 'POST' }); location.hash = '#/app/' + enc(a.id); } catch (e) {
        b.disabled = false; b.after(msg('bad', errText(e)));
      }
    } }, t('送达'));
    acts.push(b);
  }
  acts.push(h('a', { class: 'btn sec', href: '#/app/' + enc(a.id), 'data-test': 'open' }, t(queue ? '办理' : '查看')));
  return h('tr', { class: cls, 'data-id': a.id, 'data-test': 'app-row' },
    h('td', { class: 'nowrap' }, h('a', { href: '#/app/' + enc(a.id) }, a.receipt || a.id)),
    h('td', {}, a.matter_name || a.matter),
    h('td', {}, a.applicant || ''),
    queue && h('td', { class: 'nowrap' }, names[a.origin] || a.origin || ''),
    h('td', {}, statusBadge(a.status),
      a.status === 'returned' && a.reason && h('div', { class: 'small', 'data-test': 'reason' }, t('退回原因：{r}', { r: a.reason }))),
    h('td', { class: 'nowrap' }, a.accepted_on || ''),
    h('td', {}, h('span', { class: 'nowrap' }, a.due || ''), ' ', badge(cls, due), a.promise_overdue && badge('overdue', t('容缺材料逾期'))),
    h('td', { class: 'acts' }, acts));
}

// ---- one application ---------------------------------------------------
async function detail(box, id) {
  const a = await api('/api/apps/' + enc(id));
  const back = h('p', { class: 'noprint' }, h('a', { href: S.session.role === 'village' ? '#/apps' : '#/queue' }, '← ' + t('返回列表')));
  if (a.applications) {
    // a bundle: one receipt, one section per member application
    const ms = await get('/api/matters').catch(() => ({ matters: [] }));
    const bm = (ms.matters || []).find(m => m.code === a.bundle_code);
    fill(box, back, h('h1', {}, h('span', { class: 'badge' }, t('一件事')), ' ', bm ? name(bm) : a.bundle_code || a.bundle),
      h('dl', { class: 'facts' }, fact('受理编号', a.bundle_receipt, 'receipt'), fact('办件编号', a.bundle)),
      a.bundle_receipt && printButtons(a.bundle));
    for (const x of a.applications) box.append(await section(x, 'h2', false));
  } else {
    fill(box, back, await section(a, 'h1', true));
  }
}
const fact = (k, v, test) => v != null && v !== '' && [h('dt', {}, t(k)), h('dd', test ? { 'data-test': test } : {}, v)];

async function section(a, hx, print) {
  learn(a);
  const form = await get('/api/forms/' + enc(a.matter)).catch(() => null);
  const sec = h('section', { class: 'app', 'data-id': a.id });
  const [cls, due] = dueState(a);
  const notes = h('div', { class: 'notes', 'aria-live': 'polite' });
  const reload = redraw;
  fill(sec,
    h(hx, {}, (form && name(form)) || a.matter_name || a.matter, ' ', statusBadge(a.status)),
    h('dl', { class: 'facts' },
      fact('受理编号', a.receipt, 'receipt'), fact('申请人', a.applicant), fact('办件编号', a.id),
      fact('受理日期', a.accepted_on), a.due && [h('dt', {}, t('办结期限')), h('dd', { 'data-test': 'due' }, a.due, ' ', badge(cls, due))],
      a.time_limit && fact('承诺时限', t('{n} 个工作日', { n: a.time_limit })),
      fact('受理站点', nodeName(a.origin)), fact('当前办理', nodeName(a.holder)),
      fact('初审单位', a.reviewer && nodeName(a.reviewer)), fact('决定单位', a.decider && nodeName(a.decider)),
      fact('原因', a.reason, 'reason'),
      a.rating && fact('评价', `${t(LEVELS.find(l => l[0] === a.rating)?.[1] || '')} (${a.rating}/5)${a.comment ? ' · ' + a.comment : ''}`)),
    a.overdue && msg('bad', t('办件已超期。')),
    a.promise_overdue && msg('bad', t('有容缺材料逾期未补交。')),
    a.catalog_missing && msg('warn', t('本机没有受理时的目录版本，部分名称可能无法显示。')),
    a.conflict_list && a.conflict_list.length > 0 && msg('warn', t('此办件有冲突，需要人工处理：'), conflictTable(a.conflict_list, true)),
    print && a.receipt && printButtons(a.id),
    h('h2', {}, t('申请信息')), dataTable(a.data || {}, form),
    h('h2', {}, t('申请材料')), matTable(a.materials || [], form),
    // what may be done now, under what it is done on (not two screens above it)
    notes, actions(a, notes, reload));
  const log = h('div', { 'data-test': 'log' }, h('p', { class: 'loading' }, t('正在加载…')));
  sec.append(h('h2', {}, t('办理记录')), log);
  api(`/api/apps/${enc(a.id)}/log`).then(r => fill(log, logTable(Array.isArray(r) ? r : r.events || r.log || [], form)))
    .catch(e => fill(log, msg('bad', errText(e))));
  return sec;
}

/* POST path body from button b; the answer goes to notes, then done(). */
async function post(b, notes, path, body, done) {
  b.disabled = true;
  try {
    await api(path, { method: 'POST', body });
    await done();
  } catch (e) {
    b.disabled = false;
    fill(notes, msg('bad', errText(e)));
  }
}

function actions(a, notes, reload) {
  const node = S.session.node, st = a.status, p = `/api/apps/${enc(a.id)}/`;
  const box = h('div', { class: 'panels noprint' });
  const mine = a.origin === node;
  if (mine && st === 'draft') box.append(h('div', { class: 'actions' }, h('a', { class: 'btn', href: '#/edit/' + enc(a.id), 'data-test': 'edit' }, t('修改'))));
  if (mine && st === 'returned') {
    box.append(h('div', { class: 'actions' },
      h('a', { class: 'btn', href: '#/edit/' + enc(a.id), 'data-test': 'edit' }, t('修改')),
      h('button', { type: 'button', class: 'sec', 'data-test': 'resubmit', onclick: e => post(e.currentTarget, notes, p + 'submit', undefined, reload) }, t('重新提交'))));
  }
  if (mine && (st === 'approved' || st === 'rejected')) {
    box.append(h('div', { class: 'actions' }, h('button', { type: 'button', 'data-test': 'deliver',
      onclick: e => post(e.currentTarget, notes, p + 'deliver', undefined, reload) }, t('送达'))));
  }
  if (mine && st === 'delivered') box.append(rateForm(p, notes, reload));
  // review and decision, as docs/lifecycle.md allows them
  const reviews = st === 'accepted' && a.reviewer === node && a.decider !== node;
  const decides = a.decider === node && (st === 'passed' || (st === 'accepted' && (!a.reviewer || a.reviewer === a.decider)));
  if (reviews) box.append(reviewForm(p, notes, reload, true));
  if (decides) box.append(decideForm(p, notes, reload), reviewForm(p, notes, reload, false));
  if (mine && ['draft', 'accepted', 'returned', 'passed'].includes(st)) {
    const r = h('input', { id: 'withdraw-reason', 'data-test': 'withdraw-reason' });
    const f = h('form', { class: 'inline' }, labelled(t('撤回原因'), r),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'danger', 'data-test': 'withdraw' }, t('确认撤回'))));
    f.addEventListener('submit', e => {
      e.preventDefault();
      if (!r.value.trim()) { fill(notes, msg('bad', t('请填写原因。'))); r.focus(); return; }
      post(e.submitter, notes, p + 'withdraw', { reason: r.value.trim() }, reload);
    });
    box.append(h('details', { class: 'withdraw' }, h('summary', {}, t('申请人撤回办件')), f));
  }
  return box;
}

function rateForm(p, notes, reload) {
  const c = h('textarea', { id: 'rate-comment', rows: 2, 'data-test': 'rate-comment' });
  const f = h('form', { class: 'panel', 'data-test': 'rate' },
    h('h2', {}, t('送达与评价')),
    h('fieldset', { class: 'stars' }, h('legend', {}, t('满意度评价')),
      LEVELS.map(([n, zh]) => h('div', { class: 'check' },
        h('input', { type: 'radio', name: 'level', value: n, id: 'rate-' + n, 'data-test': 'rate-' + n }),
        h('span', { class: 'star', 'aria-hidden': 'true' }, '★'.repeat(n) + '☆'.repeat(5 - n)),
        h('label', { for: 'rate-' + n }, t(zh))))),
    labelled(t('评价意见（可选）'), c),
    h('div', { class: 'actions' }, h('button', { type: 'submit', 'data-test': 'rate-save' }, t('保存评价'))));
  f.addEventListener('submit', e => {
    e.preventDefault();
    const lv = $('input[name=level]:checked', f);
    if (!lv) { fill(notes, msg('bad', t('请选择评价等级。'))); $('#rate-5', f).focus(); return; }
    post(e.submitter, notes, p + 'rate', { level: +lv.value, comment: c.value.trim() }, reload);
  });
  return f;
}

function reviewForm(p, notes, reload, withPass) {
  const id = withPass ? 'return-reason' : 'return-reason-d';
  const text = h('textarea', { id, rows: 2, 'data-test': 'return-reason' });
  const common = h('fieldset', { class: 'reasons' }, h('legend', {}, t('常见退回原因')));
  get('/api/reasons').then(r => (r.reasons || []).forEach((x, i) => {
    const cid = `${id}-${i}`;
    common.append(h('div', { class: 'check' }, h('input', { type: 'checkbox', id: cid, value: pick(x) }), h('label', { for: cid }, pick(x))));
  })).catch(() => common.remove());
  const ret = h('button', { type: 'button', class: 'danger', 'data-test': 'return' }, t('退回'));
  ret.addEventListener('click', () => {
    const why = [...$$('input:checked', common).map(x => x.value), text.value.trim()].filter(Boolean).join('；');
    if (!why) { fill(notes, msg('bad', t('请填写原因。'))); text.focus(); return; }
    post(ret, notes, p + 'review', { result: 'return', reason: why }, reload);
  });
  return h('div', { class: 'panel', 'data-test': 'review' },
    h('h2', {}, t(withPass ? '初审：通过或退回补正' : '退回补正')),
    withPass && h('div', { class: 'actions' }, h('button', { type: 'button', 'data-test': 'pass',
      onclick: e => post(e.currentTarget, notes, p + 'review', { result: 'pass' }, reload) }, t('通过'))),
    common, labelled(t('退回原因'), text), h('div', { class: 'actions' }, ret));
}

function decideForm(p, notes, reload) {
  const r = h('textarea', { id: 'decide-reason', rows: 2, 'data-test': 'decide-reason' });
  const go = (b, result) => {
    if (result === 'reject' && !r.value.trim()) { fill(notes, msg('bad', t('请填写原因。'))); r.focus(); return; }
    post(b, notes, p + 'decide', { result, reason: r.value.trim() || undefined }, reload);
  };
  return h('div', { class: 'panel', 'data-test': 'decide' },
    h('h2', {}, t('决定：批准或不予批准')),
    labelled(t('决定理由（不予批准时必填）'), r),
    h('div', { class: 'actions' },
      h('button', { type: 'button', 'data-test': 'approve', onclick: e => go(e.currentTarget, 'approve') }, t('批准')),
      h('button', { type: 'button', class: 'danger', 'data-test': 'reject', onclick: e => go(e.currentTarget, 'reject') }, t('不予批准'))));
}

// ---- data, materials, log ---------------------------------------------
function valueText(f, v) {
  if (v == null || v === '') return '';
  if (!f || !f.choices) return String(v);
  const lab = x => { const c = f.choices.find(c2 => c2.value === x); return c ? label(c) : x; };
  return f.type === 'select_multiple' ? String(v).split(/\s+/).filter(Boolean).map(lab).join('、') : lab(String(v));
}
export function dataTable(data, form) {
  const fields = (form && form.fields) || [];
  const known = new Set(fields.map(f => f.name));
  const keys = [...fields.map(f => f.name).filter(k => k in data), ...Object.keys(data).filter(k => !known.has(k))];
  return h('table', { class: 'kv', 'data-test': 'data' }, h('tbody', {}, keys.map(k => {
    const f = fields.find(x => x.name === k), v = data[k];
    let cell;
    if (Array.isArray(v)) {
      const sub = (f && f.fields) || [];
      const cols = sub.length ? sub.map(x => x.name) : [...new Set(v.flatMap(r => Object.keys(r || {})))];
      cell = h('table', { class: 'list sub' },
        h('thead', {}, h('tr', {}, h('th', {}, '#'), cols.map(c => h('th', { scope: 'col' }, (sub.find(x => x.name === c) && label(sub.find(x => x.name === c))) || c)))),
        h('tbody', {}, v.map((r, i) => h('tr', {}, h('td', {}, i + 1), cols.map(c => h('td', {}, valueText(sub.find(x => x.name === c), (r || {})[c])))))));
    } else cell = valueText(f, v);
    return h('tr', {}, h('th', { scope: 'row' }, f ? label(f) : k), h('td', {}, cell));
  })));
}
export function matTable(mats, form) {
  const defs = (form && form.materials) || [];
  return h('table', { class: 'list', 'data-test': 'materials' }, h('tbody', {}, mats.map(m => {
    const d = defs.find(x => x.code === m.material);
    const scan = m.scan || m.blob;
    return h('tr', { class: m.promise_overdue ? 'overdue' : '' },
      h('th', { scope: 'row' }, d ? name(d) : m.material),
      h('td', {}, t(MAT[m.state] || m.state || ''),
        m.state === 'deficient' && m.promise ? ' · ' + t('承诺 {d} 前补交', { d: m.promise }) : '',
        m.promise_overdue && [' ', badge('overdue', t('逾期未补交'))]),
      h('td', {}, scan && h('a', { href: '/api/scans/' + enc(scan), target: '_blank', rel: 'noopener' }, t('查看扫描件'))));
  })));
}
const EV = {
  'app.created': '创建', 'app.edited': '修改数据', 'app.material': '材料', 'app.submitted': '受理#ev',
  'app.resubmitted': '重新提交', 'app.reviewed': '初审', 'app.decided': '决定', 'app.delivered': '送达',
  'app.rated': '评价', 'app.withdrawn': '撤回',
};
const RES = { pass: '通过', return: '退回', approve: '批准', reject: '不予批准' };
const dayNo = n => (typeof n === 'number' ? new Date(n * 864e5).toISOString().slice(0, 10) : n);
function logTable(evs, form) {
  const defs = (form && form.materials) || [];
  return h('table', { class: 'list' },
    h('thead', {}, h('tr', {}, [t('时间'), t('站点'), t('操作员'), t('事件'), t('说明')].map(x => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, evs.map(ev => {
      let b = ev.body;
      if (typeof b === 'string') { try { b = JSON.parse(b); } catch (e) { b = {}; } }
      b = b || {};
      const d = [];
      if (b.material) { const m = defs.find(x => x.code === b.material); d.push((m ? name(m) : b.material) + ' ' + t(MAT[b.state] || b.state || '')); }
      if (b.receipt) d.push(t('受理编号') + ' ' + b.receipt);
      if (b.due) d.push(t('办结期限') + ' ' + dayNo(b.due));
      if (b.result) d.push(t(RES[b.result] || b.result));
      if (b.level) d.push(t('评价等级 {n}', { n: b.level }));
      if (b.reason) d.push(b.reason);
      if (b.comment) d.push(b.comment);
      return h('tr', {}, h('td', { class: 'nowrap' }, ev.time || ''), h('td', {}, nodeName(ev.node)), h('td', { title: ev.operator || '' }, ev.operator_name || ev.operator || ''),
        h('td', {}, t(EV[ev.type] || ev.type)), h('td', {}, d.join('；')));
    })));
}

// ---- conflicts ---------------------------------------------------------
function conflictTable(cs, inApp) {
  const advice = cs.some(c => pick(c, 'advice'));
  const head = [!inApp && t('办件'), !inApp && t('事项'), !inApp && t('申请人'), t('站点'), t('类型'), t('原因'), advice && t('处理建议')];
  return h('table', { class: 'list', 'data-test': 'conflicts' },
    h('thead', {}, h('tr', {}, head.filter(Boolean).map(x => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, cs.map(c => h('tr', {},
      !inApp && [h('td', { class: 'nowrap' }, c.app ? h('a', { href: '#/app/' + enc(c.app) }, c.app) : ''),
        h('td', {}, c.matter_name || ''), h('td', {}, c.applicant || '')],
      h('td', { class: 'nowrap' }, nodeName(c.node) + (c.seq != null ? ' #' + c.seq : '')),
      h('td', { class: 'nowrap' }, t(EV[c.type] || c.type || '')), h('td', {}, pick(c.reason)),
      advice && h('td', {}, pick(c, 'advice'))))));
}
async function conflicts(box) {
  const r = await api('/api/conflicts');
  const cs = r.conflicts || [];
  fill(box, h('h1', {}, t('冲突记录')), cs.length ? conflictTable(cs) : msg('ok', t('没有冲突。')));
}

