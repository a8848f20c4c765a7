// daiban web UI: capturing an application at the window (village
// agents; township windows too). Find the matter (搜索事项: name, code,
// pinyin initials), fill its form with the rules checked as the agent
// types (POST /api/validate), tick the materials (已提供 / 缺 / 容缺),
// the draft saved as it goes (PUT /api/drafts), 受理, and print the
// receipt. The same form corrects a returned application (#/edit/ID).
import {
  EN, t, lang, name, label, h, $, $$, fill, msg, enterNext, api, S, errText, get,
  today, hms, fmtTime, printButtons, printDoc, setHash, onLeave, dropCache, dateInput, dateNorm,
} from './app.js';

Object.assign(EN, {
  '搜索事项': 'Find a matter', '事项名称、编码或拼音首字母': 'name, code or pinyin initials',
  '事项名称、编码或拼音首字母，如 {x}': 'name, code or pinyin initials, e.g. {x}',
  '共 {n} 项，请输入更多字缩小范围。': '{n} matters; type more to narrow the list.',
  '没有找到可受理的事项。': 'No matter this station may accept matches.',
  '一件事': 'Bundle', '承诺时限 {n} 个工作日': 'time limit {n} working days',
  '草稿#list': 'Drafts', '草稿 {n} 份': '{n} drafts', '没有草稿。': 'No drafts.', '事项': 'Matter', '申请人': 'Applicant', '保存时间': 'Saved',
  '继续填写': 'Continue', '删除': 'Delete', '删除草稿？': 'Delete this draft?',
  '待办 {n} 件（退回补正、待送达）': '{n} to do (returned, to deliver)', '查看待办': 'Open to-do list',
  '请选择': 'Please choose', '添加一行': 'Add a row', '第 {n} 行': 'Row {n}', '{l}第{n}行 ': '{l} row {n}: ',
  '删除第 {n} 行': 'Delete row {n}',
  '必填': 'required', '申请材料': 'Materials', '已提供': 'Provided', '缺': 'Missing', '容缺': 'Deficient (promised)',
  '承诺补交日期': 'Promised by', '扫描件（可选）': 'Scan (optional)', '{n} 份': '{n} copies', '非必需': 'optional',
  '原件': 'original', '复印件': 'copy', '扫描件': 'scan', '承诺书': 'commitment',
  '容缺受理：最迟 {n} 个工作日内补交（{d} 前）': 'may be accepted without it; due within {n} working days (by {d})',
  '请先填写表单，再核对材料。': 'Fill in the form first, then check the materials.',
  '受理': 'Accept', '正在受理…': 'Accepting…', '草稿已保存 {t}': 'Draft saved {t}', '草稿未保存：{e}': 'Draft not saved: {e}',
  '扫描件在受理后上传，不保存在草稿中。': 'Scans are uploaded on acceptance; drafts do not keep them.',
  '一次性告知：共 {n} 项需要补正': 'One-time notice: {n} things to fix',
  '以下问题请一次性告知申请人：': 'Tell the applicant all of these at once:',
  '本事项包含：{m}。': 'This bundle covers: {m}. ', '一张表单、一张材料清单、一个受理回执。': 'One form, one material list, one receipt.',
  '本站不能受理此事项。': 'This station may not accept this matter.',
  '已受理': 'Accepted', '受理编号': 'Receipt no.', '办结期限': 'Due', '继续办理新件': 'Next application', '查看办件': 'Open the application',
  '容缺材料，请提醒申请人按期补交：': 'Remind the applicant to bring these by the promised dates:',
  '{m}（{d} 前）': '{m} (by {d})', '扫描件上传失败：{m}': 'Scan upload failed: {m}',
  '修改退回的办件': 'Correct a returned application', '退回原因：{r}': 'Reason for return: {r}',
  '保存修改': 'Save changes', '重新提交': 'Resubmit', '已保存。': 'Saved.',
  '此办件当前状态不能修改。': 'This application cannot be edited in its current state.',
  '已重新提交': 'Resubmitted', '告知单未打印：': 'The notice was not printed: ',
  '草稿未能保存，告知单未打印；请稍后再试。': 'The draft could not be saved, so the notice was not printed; try again.',
  '已达最多行数，不能撤销。': 'The most rows allowed are there: it cannot be undone.', '已删除第 {n} 行。': 'Row {n} deleted.', '撤销': 'Undo', '承诺日期应在 {a} 至 {b} 之间': 'The promised date must be from {a} to {b}',
  '承诺日期不能早于 {a}': 'The promised date cannot be before {a}', '目录已更新': 'The catalogue was updated',
  '表单已按新版本目录重新显示，已填写的内容均已保留，请核对新增或变更的项目。':
    'The form is shown again as the new catalogue has it; everything typed was kept. Check new or changed items.',
});

const enc = encodeURIComponent;
const KIND = { original: '原件', copy: '复印件', scan: '扫描件', commitment: '承诺书' };
let lastResult = null;      // the answer of the last 受理, for #/done

/* A draft's id is also its 受理's request key (docs/http-api.md): made
 * here, unique to this form, and never reused once accepted. */
function newDraftId() {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return 'd' + Date.now().toString(36) + Array.from(b, x => x.toString(16).padStart(2, '0')).join('');
}

export async function view(box, parts, query) {
  if (parts[0] === 'done') return done(box, parts[1]);
  if (parts[0] === 'edit') return formView(box, { mode: 'edit', id: parts[1] });
  if (parts[1]) {
    let draft = parts[2];
    if (!draft) {
      draft = newDraftId();
      setHash(`#/new/${enc(parts[1])}/${draft}`);
    }
    return formView(box, { mode: 'new', code: parts[1], draft, fresh: !parts[2] });
  }
  return search(box);
}

// ---- 新办件: find the matter, or reopen a draft -------------------------
async function search(box) {
  const q = h('input', { id: 'matter-search', type: 'search', autocomplete: 'off', 'data-test': 'matter-search',
    placeholder: t('事项名称、编码或拼音首字母'), 'aria-controls': 'matter-results' });
  const res = h('ul', { id: 'matter-results', class: 'matters', 'data-test': 'matter-results' });
  const more = h('p', { class: 'small', 'aria-live': 'polite' });
  const todo = h('div', { 'data-test': 'todo-summary' });
  const drafts = h('div', { id: 'drafts', 'data-test': 'drafts' });
  fill(box, h('h1', {}, t('新办件')), todo,
    h('div', { class: 'field' }, h('label', { for: 'matter-search' }, t('搜索事项')), q), more, res, drafts);
  q.focus();
  const all = ((await get('/api/matters')).matters || []).filter(m => m.accept);
  // the hint's example is one this catalogue answers
  const ex = (all.find(m => m.initials) || {}).initials;
  if (ex) q.placeholder = t('事项名称、编码或拼音首字母，如 {x}', { x: ex.slice(0, 4) });
  const norm = s => String(s || '').toLowerCase().replace(/\s+/g, '');
  function draw() {
    const w = norm(q.value);
    const hits = all.filter(m => !w || [m.code, m.name_zh, m.name_en, m.initials, m.pinyin].some(x => norm(x).includes(w)));
    // with nothing typed, a long list only hides the drafts below it
    const cap = w ? 50 : hits.length > 20 ? 12 : 20;
    fill(res, hits.slice(0, cap).map(m => h('li', {}, h('button', { type: 'button', class: 'matter', 'data-code': m.code, 'data-test': 'matter',
      onclick: () => { location.hash = '#/new/' + enc(m.code); } },
    h('span', { class: 'mname' }, m.kind === 'bundle' && h('span', { class: 'badge' }, t('一件事')), ' ', name(m)),
    h('span', { class: 'small' }, [m.code, m.time_limit != null && t('承诺时限 {n} 个工作日', { n: m.time_limit }), m.department].filter(Boolean).join(' · '))))));
    more.textContent = !hits.length ? t('没有找到可受理的事项。') : hits.length > cap ? t('共 {n} 项，请输入更多字缩小范围。', { n: hits.length }) : '';
  }
  q.addEventListener('input', draw);
  q.addEventListener('keydown', e => {
    if (e.isComposing || e.keyCode === 229) return;
    const first = $('button', res);
    if (e.key === 'Enter' && first) { e.preventDefault(); first.click(); }
    if (e.key === 'ArrowDown' && first) { e.preventDefault(); first.focus(); }
  });
  res.addEventListener('keydown', e => {
    const bs = $$('button', res), i = bs.indexOf(document.activeElement);
    if (e.key === 'ArrowDown' && i < bs.length - 1) { e.preventDefault(); bs[i + 1].focus(); }
    if (e.key === 'ArrowUp') { e.preventDefault(); (i > 0 ? bs[i - 1] : q).focus(); }
  });
  draw();
  const notes = [];
  const note = () => fill(todo, notes.length ? msg('info', notes) : null);
  if (S.session.role === 'village') {
    api('/api/apps?todo=1&limit=1').then(r => {
      const n = r.total ?? (r.applications || []).length;
      if (n) notes.unshift(h('span', {}, t('待办 {n} 件（退回补正、待送达）', { n }), ' ', h('a', { href: '#/apps', 'data-test': 'todo-link' }, t('查看待办')), ' '));
      note();
    }).catch(() => {});
  }
  const nd = await drawDrafts(drafts);
  if (nd) {
    notes.push(h('a', { href: '#', 'data-test': 'drafts-link', onclick: e => { e.preventDefault(); const x = $('h2', drafts); x.tabIndex = -1; x.focus(); } },
      t('草稿 {n} 份', { n: nd })));
    note();
  }
}

async function drawDrafts(box) {
  let ds;
  try { ds = (await api('/api/drafts')).drafts || []; } catch (e) { fill(box, msg('bad', errText(e))); return; }
  if (!ds.length) { fill(box); return 0; }
  fill(box, h('h2', {}, t('草稿#list')), h('table', { class: 'list' },
    h('thead', {}, h('tr', {}, [t('事项'), t('申请人'), t('保存时间'), ''].map(x => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, ds.map(d => h('tr', { 'data-test': 'draft', 'data-id': d.id },
      h('td', {}, d.matter_name || d.matter), h('td', {}, d.applicant || ''), h('td', {}, fmtTime(d.updated, 1)),
      h('td', { class: 'acts' },
        h('a', { class: 'btn', href: `#/new/${enc(d.matter)}/${enc(d.id)}`, 'data-test': 'draft-open' }, t('继续填写')),
        h('button', { type: 'button', class: 'sec', 'data-test': 'draft-delete',
          onclick: async () => {
            if (!confirm(t('删除草稿？'))) return;
            try { await api('/api/drafts/' + enc(d.id), { method: 'DELETE' }); drawDrafts(box); } catch (e) { box.prepend(msg('bad', errText(e))); }
          } }, t('删除'))))))));
  return ds.length;
}

// ---- the form ----------------------------------------------------------
/* The value to store for what the agent typed: integers as JSON numbers,
 * other types as text (money and decimals keep their digits exactly;
 * select_multiple is space-separated values, as docs/catalog.md says). */
function conv(f, v) {
  v = v.trim();
  if (v === '') return undefined;
  if (f.type === 'integer' && /^[+-]?\d+$/.test(v) && Number.isSafeInteger(+v)) return +v;
  if (f.type === 'id_number' || f.type === 'uscc') return v.toUpperCase();
  if (f.type === 'date') return dateNorm(v);
  return v;
}
/* The longest text a field's constraints allow (string-length(.) <= N or
 * < N), Infinity when they set none: a name is a line, a reason a box. */
function maxLength(f) {
  let m = Infinity;
  for (const c of f.constraints || []) {
    for (const x of String(c.expr).matchAll(/string-length\(\.\)\s*(<=|<)\s*(\d+)/g)) m = Math.min(m, +x[2] - (x[1] === '<' ? 1 : 0));
  }
  return m;
}
const idOf = path => 'f-' + path.replace(/[[\].]+/g, '-').replace(/-$/, '');
const pmsg = p => (lang === 'en' ? p.en || p.message_en : p.zh || p.message_zh) || p.en || p.message_en || p.code || '';
/* A problem's message next to its field, without the "label：" prefix. */
function shortMsg(p) {
  const m = pmsg(p), i = m.indexOf(lang === 'en' ? ': ' : '：');
  return i > 0 && i < 60 ? m.slice(i + (lang === 'en' ? 2 : 1)) : m;
}

async function formView(box, o) {
  let app = null, code = o.code;
  if (o.mode === 'edit') {
    app = await api('/api/apps/' + enc(o.id));
    code = app.matter;
  }
  const [form, matters] = await Promise.all([get('/api/forms/' + enc(code)), get('/api/matters').catch(() => ({ matters: [] }))]);
  const meta = (matters.matters || []).find(m => m.code === code);
  const F = {
    data: {}, mats: {}, hidden: new Set(), asked: null, problems: [], touched: new Set(),
    all: false, seq: 0, ver: 0, stale: true, done: false,
  };
  let draft = null;
  if (o.keep) {
    // the same form again after a new catalogue: what was typed stays
    F.data = o.keep.data; F.mats = o.keep.mats;
  } else if (o.mode === 'new') {
    if (!o.fresh) try { draft = await api('/api/drafts/' + enc(o.draft)); } catch (e) { if (e.status !== 404) throw e; }
    if (!o.fresh && !draft) {
      // gone: accepted (Back after 受理) or never saved; a new form
      // must not carry the accepted one's request key
      o.draft = newDraftId();
      setHash(`#/new/${enc(code)}/${o.draft}`);
    }
    if (draft) {
      F.data = draft.data || {};
      for (const m of draft.materials || []) F.mats[m.material] = { state: m.state, promise: m.promise };
    }
  } else {
    F.data = JSON.parse(JSON.stringify(app.data || {}));
    for (const m of app.materials || []) F.mats[m.material] = { state: m.state, promise: m.promise };
  }
  // what the store holds, to send only what changed (kept across a re-render)
  const origMats = o.keep && o.keep.orig ? o.keep.orig : JSON.parse(JSON.stringify(F.mats));
  // errors of fields already filled show at once
  const walk = (obj, pre) => { for (const [k, v] of Object.entries(obj)) {
    if (Array.isArray(v)) v.forEach((r, i) => r && walk(r, `${pre}${k}[${i}].`)); else F.touched.add(pre + k);
  } };
  walk(F.data, '');

  const slots = new Map();          // path -> {wrap, err, ctl}
  const top = h('div', { id: 'form-problems', 'data-test': 'form-problems', 'aria-live': 'polite' });
  const status = h('p', { id: 'draft-state', class: 'small', 'data-test': 'draft-state', 'aria-live': 'polite' });
  const fieldsBox = h('div', { class: 'fields' });
  const matsBox = h('div', { id: 'materials', 'data-test': 'materials' });
  const btns = h('div', { class: 'actions sticky' });
  const formEl = h('form', { id: 'app-form', novalidate: true, 'data-test': 'app-form', 'data-matter': code }, fieldsBox,
    h('h2', {}, t('申请材料')), matsBox, btns);
  const members = form.kind === 'bundle' && form.matters && form.matters.length > 1 &&
    h('p', { class: 'small' }, t('本事项包含：{m}。', { m: form.matters.map(name).join('、') }), ' ', t('一张表单、一张材料清单、一个受理回执。'));
  fill(box,
    h('h1', {}, app && app.status === 'returned' ? t('修改退回的办件') + '：' : '', form.kind === 'bundle' && h('span', { class: 'badge' }, t('一件事')), ' ', name(form)),
    h('p', { class: 'small' }, [form.code, meta && meta.time_limit != null && t('承诺时限 {n} 个工作日', { n: meta.time_limit }),
      meta && meta.department].filter(Boolean).join(' · ')),
    members,
    o.mode === 'new' && meta && !meta.accept && msg('warn', t('本站不能受理此事项。')),
    app && app.reason && msg('warn', t('退回原因：{r}', { r: app.reason })),
    app && app.status !== 'returned' && app.status !== 'draft' && msg('warn', t('此办件当前状态不能修改。')),
    o.keep && msg('warn', h('strong', {}, t('目录已更新')), ' ', t('表单已按新版本目录重新显示，已填写的内容均已保留，请核对新增或变更的项目。')),
    top, formEl);

  // -- fields
  function fieldBlock(f, path, obj, rowLabel) {
    const id = idOf(path), key = f.name;
    const err = h('p', { class: 'err', id: id + '-err', hidden: true });
    const hint = f.hint_zh && h('p', { class: 'hint', id: id + '-hint' }, f.hint_zh);
    const desc = [hint && id + '-hint', id + '-err'].filter(Boolean).join(' ');
    const set = v => {
      if (v === undefined) delete obj[key]; else obj[key] = v;
      changed();
    };
    const star = f.required && h('span', { class: 'req', 'aria-hidden': 'true' }, ' *');
    const sr = rowLabel && h('span', { class: 'sr' }, rowLabel);
    let ctl, wrap;
    const cur = obj[key];
    if (f.type === 'select_multiple') {
      const vals = new Set(String(cur || '').split(/\s+/).filter(Boolean));
      const boxes = (f.choices || []).map((c, i) => h('div', { class: 'check' },
        h('input', { type: 'checkbox', id: `${id}-${i}`, value: c.value, checked: vals.has(c.value), 'aria-describedby': desc }),
        h('label', { for: `${id}-${i}` }, label(c))));
      wrap = h('fieldset', { class: 'field multi', 'data-path': path }, h('legend', {}, sr, label(f), star), hint, boxes, err);
      wrap.addEventListener('change', () => {
        F.touched.add(path);
        set((f.choices || []).filter((c, i) => $(`#${CSS.escape(id)}-${i}`, wrap).checked).map(c => c.value).join(' ') || undefined);
      });
      ctl = $('input', wrap);
    } else {
      const common = { id, name: path, 'data-test': path, 'aria-describedby': desc, 'aria-required': f.required ? 'true' : false };
      const v = cur == null ? '' : String(cur);
      if (f.type === 'select_one') {
        ctl = h('select', common, h('option', { value: '' }, t('请选择')),
          (f.choices || []).map(c => h('option', { value: c.value, selected: c.value === v }, label(c))));
      } else if (f.type === 'text' && (f.constraints || []).some(c => /string-length/.test(c.expr)) && maxLength(f) > 60) {
        ctl = h('textarea', { ...common, rows: 2 });
        ctl.value = v;
      } else {
        const attrs = { ...common, type: 'text', value: v, autocomplete: 'off', spellcheck: 'false' };
        switch (f.type) {
          case 'date': break;
          case 'integer': attrs.inputmode = 'numeric'; attrs.class = 'short'; break;
          case 'decimal': case 'money': attrs.inputmode = 'decimal'; attrs.class = 'short'; break;
          case 'phone': attrs.type = 'tel'; attrs.class = 'mono'; break;
          case 'id_number': case 'uscc': attrs.maxlength = 18; attrs.class = 'mono upper'; break;
          case 'bank_account': attrs.inputmode = 'numeric'; attrs.maxlength = 19; attrs.class = 'mono'; break;
          default: break;
        }
        ctl = f.type === 'date' ? dateInput(attrs) : h('input', attrs);
      }
      let typed = false;
      ctl.addEventListener(ctl.tagName === 'SELECT' ? 'change' : 'input', () => {
        typed = true;
        // a select, or a date complete: checked at once
        if (ctl.tagName === 'SELECT' || (f.type === 'date' && ctl.value.length === 10)) F.touched.add(path);
        set(conv(f, ctl.value));
      });
      // a field passed over without typing does not cry "required" yet
      ctl.addEventListener('blur', () => { if (typed || ctl.value !== '') { F.touched.add(path); checkNow(); } });
      wrap = h('div', { class: 'field', 'data-path': path }, h('label', { for: id }, sr, label(f)), star, hint, ctl, err);
    }
    slots.set(path, { wrap, err, ctl });
    return wrap;
  }

  function repeatBlock(f) {
    if (!Array.isArray(F.data[f.name])) F.data[f.name] = [];
    const rows = F.data[f.name];
    const min = f.min_rows ?? (f.required ? 1 : 0), max = f.max_rows ?? 50;
    while (rows.length < min) rows.push({});
    const err = h('p', { class: 'err', id: idOf(f.name) + '-err', hidden: true });
    const list = h('div', { class: 'rows' });
    const addBtn = h('button', { type: 'button', class: 'sec', 'data-test': 'add-row-' + f.name }, t('添加一行'));
    const undoBox = h('div', { class: 'small', 'data-test': 'undo-' + f.name, 'aria-live': 'polite' });
    const wrap = h('fieldset', { class: 'field repeat', 'data-path': f.name, 'data-test': 'repeat-' + f.name },
      h('legend', {}, label(f), f.required && h('span', { class: 'req', 'aria-hidden': 'true' }, ' *')),
      f.hint_zh && h('p', { class: 'hint' }, f.hint_zh), err, list, undoBox, h('div', { class: 'actions' }, addBtn));
    /* a row deleted by mistake comes back, with what was typed in it */
    function removed(i, gone) {
      const undo = h('button', { type: 'button', class: 'sec small-btn', 'data-test': 'undo-row', onclick: () => {
        if (rows.length >= max) { fill(undoBox, t('已达最多行数，不能撤销。')); return; }
        rows.splice(Math.min(i, rows.length), 0, gone);
        fill(undoBox);
        draw(Math.min(i, rows.length - 1));
        changed();
      } }, t('撤销'));
      fill(undoBox, t('已删除第 {n} 行。', { n: i + 1 }), ' ', undo);
      return undo;
    }
    slots.set(f.name, { wrap, err, ctl: addBtn });
    function draw(focusRow, init) {
      for (const k of [...slots.keys()]) if (k.startsWith(f.name + '[')) slots.delete(k);
      fill(list, rows.map((r, i) => {
        const del = h('button', { type: 'button', class: 'sec small-btn', disabled: rows.length <= min, 'data-test': 'del-row',
          onclick: () => {
            const [gone] = rows.splice(i, 1); draw(); changed();
            removed(i, gone).focus();
          } }, t('删除'), h('span', { class: 'sr' }, ' ' + t('第 {n} 行', { n: i + 1 })));
        return h('fieldset', { class: 'row', 'data-row': i },
          h('legend', {}, t('第 {n} 行', { n: i + 1 })),
          (f.fields || []).map(sf => fieldBlock(sf, `${f.name}[${i}].${sf.name}`, r, t('{l}第{n}行 ', { l: label(f), n: i + 1 }))),
          h('div', { class: 'del' }, del));
      }));
      addBtn.disabled = rows.length >= max;
      if (!init) apply();
      if (focusRow != null) { const x = $(`[data-row="${focusRow}"] input, [data-row="${focusRow}"] select`, list); if (x) x.focus(); }
    }
    addBtn.addEventListener('click', () => { rows.push({}); draw(rows.length - 1); changed(); });
    draw(null, true);
    return wrap;
  }

  for (const f of form.fields || []) fieldsBox.append(f.type === 'begin_repeat' ? repeatBlock(f) : fieldBlock(f, f.name, F.data));

  // -- materials
  const defs = form.materials || [];
  let askedKey = '';
  function askedCodes() {
    if (!F.asked) return defs.filter(m => !m.relevant || !m.relevant.length).map(m => m.code);
    if (F.asked.some(m => 'asked' in m)) return F.asked.filter(m => m.asked).map(m => m.code);
    return F.asked.map(m => m.code);
  }
  function drawMats() {
    const codes = askedCodes(), key = codes.join(' ');
    if (key === askedKey && matsBox.childElementCount) return;
    askedKey = key;
    fill(matsBox, defs.filter(m => codes.includes(m.code)).map(m => {
      const st = F.mats[m.code] || (F.mats[m.code] = {});
      const id = 'm-' + m.code;
      const radio = (v, text) => h('span', { class: 'opt' },
        h('input', { type: 'radio', name: id, id: `${id}-${v}`, value: v, checked: st.state === v, 'data-test': `${id}-${v}` }),
        h('label', { for: `${id}-${v}` }, text));
      const lo = today(), hi = m.deficiency_until || '';
      const promise = dateInput({ id: id + '-promise', 'data-test': id + '-promise', value: st.promise || '', 'data-min': lo,
        'data-max': hi || false, 'aria-describedby': id + '-promise-err' });
      const pErr = h('p', { class: 'err', id: id + '-promise-err', 'data-test': id + '-promise-err', hidden: true });
      const pBox = h('div', { class: 'field promise', hidden: st.state !== 'deficient' },
        h('label', { for: id + '-promise' }, h('span', { class: 'sr' }, name(m) + ' '), t('承诺补交日期')), promise, pErr);
      /* checked as typed: a real day from today to the last one allowed */
      const checkPromise = () => {
        const v = dateNorm(promise.value), bad = v.length === 10 && (v < lo || (hi && v > hi));
        pErr.hidden = !bad;
        pErr.textContent = bad ? (hi ? t('承诺日期应在 {a} 至 {b} 之间', { a: lo, b: hi }) : t('承诺日期不能早于 {a}', { a: lo })) : '';
        if (bad) promise.setAttribute('aria-invalid', 'true'); else promise.removeAttribute('aria-invalid');
      };
      const file = h('input', { type: 'file', id: id + '-scan', 'data-test': id + '-scan', accept: 'image/*,application/pdf' });
      if (st.file) { try { const dt = new DataTransfer(); dt.items.add(st.file); file.files = dt.files; } catch (e) { /* old browser */ } }
      const err = h('p', { class: 'err', id: id + '-err', hidden: true });
      const fs = h('fieldset', { class: 'mat', 'data-code': m.code, 'data-test': 'mat-' + m.code, 'aria-describedby': id + '-err' },
        h('legend', {}, name(m), m.required !== false && h('span', { class: 'req', 'aria-hidden': 'true' }, ' *')),
        h('p', { class: 'small' }, [t(KIND[m.kind] || m.kind || ''), m.copies && t('{n} 份', { n: m.copies }), m.required === false && t('非必需'),
          m.deficiency_ok && t('容缺受理：最迟 {n} 个工作日内补交（{d} 前）', { n: m.deficiency_days ?? '', d: m.deficiency_until || '' })].filter(Boolean).join(' · ')),
        (m.notes_zh || []).length ? h('p', { class: 'hint' }, m.notes_zh.join('；')) : null,
        h('div', { class: 'opts' }, radio('provided', t('已提供')), radio('missing', t('缺')), m.deficiency_ok && radio('deficient', t('容缺'))),
        pBox,
        h('div', { class: 'field scan' }, h('label', { for: id + '-scan' }, h('span', { class: 'sr' }, name(m) + ' '), t('扫描件（可选）')), file),
        err);
      promise.addEventListener('input', () => { st.promise = dateNorm(promise.value) || undefined; checkPromise(); changed(); });
      fs.addEventListener('change', e => {
        if (e.target.type === 'radio') {
          st.state = e.target.value;
          pBox.hidden = st.state !== 'deficient';
          if (st.state === 'deficient' && !promise.value) promise.value = m.deficiency_until || today();
          if (st.state === 'deficient') st.promise = promise.value; else delete st.promise;
        } else if (e.target === promise) st.promise = dateNorm(promise.value) || undefined;
        else if (e.target === file) {
          st.file = file.files[0] || undefined;
          if (st.file && !st.state) { st.state = 'provided'; $(`#${id}-provided`, fs).checked = true; }
        }
        changed();
      });
      slots.set('material:' + m.code, { wrap: fs, err, ctl: $('input', fs) });
      return fs;
    }), o.mode === 'new' && h('p', { class: 'small' }, t('扫描件在受理后上传，不保存在草稿中。')));
  }
  const matsPayload = () => askedCodes().filter(c => F.mats[c] && F.mats[c].state).map(c => {
    const m = F.mats[c];
    return m.state === 'deficient' && m.promise ? { material: c, state: m.state, promise: m.promise } : { material: c, state: m.state };
  });

  // -- problems
  function slotOf(p) {
    if (slots.has(p.path)) return slots.get(p.path);
    const mm = p.material || (/^materials?(?:\[|\.|:)"?([A-Za-z0-9_-]+)/.exec(p.path || '') || [])[1] ||
      (defs.some(d => d.code === p.path) && p.path);
    return mm ? slots.get('material:' + mm) : null;
  }
  function shown(path) {
    if (F.all) return true;
    if (F.touched.has(path)) return true;
    // a repeat's own problems (row count) once one of its rows was touched
    for (const k of F.touched) if (k.startsWith(path + '[')) return true;
    return false;
  }
  function apply() {
    for (const [path, s] of slots) {
      if (!path.startsWith('material:')) s.wrap.hidden = F.hidden.has(path) || F.hidden.has(path.replace(/\[\d+\]/g, ''));
      s.err.hidden = true; s.err.textContent = ''; s.wrap.classList.remove('bad');
      if (s.ctl && s.ctl.removeAttribute) s.ctl.removeAttribute('aria-invalid');
    }
    const loose = [];
    for (const p of F.problems) {
      const s = slotOf(p);
      if (s && !s.wrap.hidden && !(s.wrap.closest('[hidden]'))) {
        if (!shown(p.path) && !p.path.startsWith('material')) continue;
        s.err.hidden = false;
        s.err.append(h('span', {}, (s.err.textContent ? '；' : '') + shortMsg(p)));
        s.wrap.classList.add('bad');
        if (s.ctl && s.ctl.setAttribute) s.ctl.setAttribute('aria-invalid', 'true');
      } else if (!s && (F.all || !p.path)) loose.push(p);
    }
    drawMats();
    if (F.all && F.problems.length) {
      fill(top, msg('bad', h('strong', {}, t('一次性告知：共 {n} 项需要补正', { n: F.problems.length })),
        h('p', {}, t('以下问题请一次性告知申请人：')),
        h('ol', {}, F.problems.map(p => h('li', {}, h('a', { href: '#', onclick: e => { e.preventDefault(); const s = slotOf(p); if (s && s.ctl) s.ctl.focus(); } }, pmsg(p))))),
        h('div', { class: 'actions noprint' },
          h('button', { type: 'button', class: 'sec', 'data-test': 'print-draft-notice', onclick: () => printNotice() }, t('打印一次性告知单')),
          h('button', { type: 'button', class: 'sec', 'data-test': 'print-draft-notice-a5', onclick: () => printNotice(true) }, t('A5纸打印告知单')))));
    } else fill(top, loose.length ? msg('bad', h('ul', {}, loose.map(p => h('li', {}, pmsg(p))))) : null);
  }

  function focusedPath() {
    const a = document.activeElement;
    return a && formEl.contains(a) && a.name ? a.name : null;
  }

  /* The one-time notice the villager takes home, printed by the server
   * from the form as saved (a draft), or from the application edited. */
  async function printNotice(a5) {
    const q = a5 ? '?paper=a5' : '';
    if (o.mode !== 'new') {
      // the stored application's notice: the edits on screen saved first
      try { await store(); } catch (e) { fill(top, msg('bad', t('告知单未打印：'), errText(e))); return; }
      return printDoc(`/api/apps/${enc(o.id)}/notice${q}`);
    }
    dirty = true;
    await saveNow();
    if (dirty) {                     // the save failed: the sheet would not be this form
      fill(top, msg('bad', t('草稿未能保存，告知单未打印；请稍后再试。')));
      return;
    }
    printDoc(`/api/drafts/${enc(o.draft)}/notice${q}`);
  }

  // Messages appearing under a field move what is below it: while a mouse
  // button is down they wait, or the click would land beside its target.
  let pressed = false, pending = false;
  const down = () => { pressed = true; };
  const up = () => { pressed = false; if (pending) { pending = false; setTimeout(apply, 0); } };
  function applySoon() { if (pressed) pending = true; else apply(); }
  document.addEventListener('pointerdown', down, true);
  document.addEventListener('pointerup', up, true);
  onLeave(() => { document.removeEventListener('pointerdown', down, true); document.removeEventListener('pointerup', up, true); });

  // -- live checks and the draft
  let vTimer = 0, sTimer = 0, dirty = false, saving = Promise.resolve();
  async function validate() {
    const my = ++F.seq, ver = F.ver;
    clearTimeout(vTimer);
    let r;
    try { r = await api('/api/validate/' + enc(code), { method: 'POST', body: { data: F.data } }); } catch (e) {
      if (my === F.seq) fill(top, msg('bad', errText(e)));
      return;
    }
    if (my !== F.seq) return;
    if (r.catalog && form.catalog && r.catalog !== form.catalog && !F.done) {
      // a catalogue published while this form was open: show its form,
      // keeping what was typed (saved first, for a draft)
      await saveNow();
      F.done = true;
      dropCache();
      return formView(box, { ...o, fresh: false, keep: { data: F.data, mats: F.mats, orig: origMats, focus: focusedPath() } });
    }
    F.stale = F.ver !== ver;
    F.problems = r.problems || []; F.hidden = new Set(r.hidden || []); F.asked = r.materials || null;
    applySoon();
  }
  /* Show this field's problems now: at once when the last answer is
   * current, else after asking again (not the stale answer). */
  function checkNow() {
    if (F.stale) { clearTimeout(vTimer); validate(); } else applySoon();
  }
  function changed() {
    F.stale = true; F.ver++;
    clearTimeout(vTimer); vTimer = setTimeout(validate, 300);
    if (o.mode === 'new' && !F.done) { dirty = true; clearTimeout(sTimer); sTimer = setTimeout(saveNow, 800); }
  }
  function saveNow(keepalive) {
    clearTimeout(sTimer);
    if (o.mode !== 'new' || !dirty || F.done) return saving;
    dirty = false;
    const body = { matter: code, data: F.data, materials: matsPayload() };
    saving = saving.then(() => api('/api/drafts/' + enc(o.draft), { method: 'PUT', body, keepalive })).then(
      () => { status.className = 'small ok'; status.textContent = t('草稿已保存 {t}', { t: hms() }); },
      e => { dirty = true; status.className = 'small bad'; status.textContent = t('草稿未保存：{e}', { e: errText(e) }); });
    return saving;
  }
  formEl.addEventListener('focusout', () => { if (dirty) saveNow(); });
  const hide = () => saveNow(true);
  window.addEventListener('pagehide', hide);
  onLeave(() => { window.removeEventListener('pagehide', hide); clearTimeout(vTimer); saveNow(); });
  enterNext(formEl, false);
  tabAfterReveal();

  /* Tab typed before the server has said which fields a change reveals
   * would skip them (the agent types on, into the field after): a Tab
   * while the answer is awaited waits for it, and what is typed
   * meanwhile is kept and typed into the field focus lands on. */
  function tabAfterReveal() {
    let waiting = false;
    const queued = [];
    // while waiting, focus rests here: text typed at a select or a
    // button would otherwise raise no event and be lost
    const catcher = h('textarea', { class: 'sr', tabindex: '-1', 'aria-hidden': 'true', 'data-test': 'key-catcher' });
    formEl.append(catcher);
    const focusables = () => [...formEl.querySelectorAll('input, select, textarea, button')]
      .filter(x => !x.disabled && x.type !== 'hidden' && x.tabIndex >= 0 && x.offsetParent !== null && !x.closest('[hidden]'));
    const editable = el => el && (el.tagName === 'TEXTAREA' || (el.tagName === 'INPUT' && !/^(radio|checkbox|file)$/.test(el.type)));
    function next(from) {
      const all = focusables();
      let i = all.indexOf(from) + 1;
      while (from.type === 'radio' && i < all.length && all[i].type === 'radio' && all[i].name === from.name) i++;
      if (all[i]) all[i].focus();
    }
    function prev(from) {
      const all = focusables(), i = all.indexOf(from);
      if (i > 0) all[i - 1].focus();
    }
    /* a key held back while waiting, as it would have acted */
    function replay(q, el) {
      if (q.key === 'Enter' && el && (el.tagName === 'INPUT' || el.tagName === 'SELECT') && el.type !== 'file') {
        next(el);                    // as enterNext moves on
      } else if (q.text != null) {
        if (editable(el)) document.execCommand('insertText', false, q.text);
      } else if (q.key === 'Backspace') {
        if (editable(el)) document.execCommand('delete');
      } else if ((q.key === 'ArrowDown' || q.key === 'ArrowUp') && el.tagName === 'SELECT') {
        const i = Math.max(0, Math.min(el.options.length - 1, el.selectedIndex + (q.key === 'ArrowDown' ? 1 : -1)));
        if (i !== el.selectedIndex) { el.selectedIndex = i; el.dispatchEvent(new Event('change', { bubbles: true })); }
      } else if ((q.key === 'Enter' || q.key === ' ') && el.tagName === 'BUTTON') {
        el.click();
      } else if (q.key.length === 1 && editable(el)) {
        document.execCommand('insertText', false, q.key);
      }
    }
    async function tab(from) {
      waiting = true;
      formEl.setAttribute('data-keys-held', '');     // (what a test waits on)
      catcher.focus();
      // (a few tries, each at most 1.5 s: with the station unreachable or
      // slow, Tab goes on as usual)
      for (let i = 0; i < 3 && F.stale && !F.done; i++) await Promise.race([validate(), new Promise(r => setTimeout(r, 1500))]);
      apply();
      waiting = false;
      next(from);
      while (queued.length && !waiting) {
        const q = queued.shift(), el = document.activeElement;
        if (q.key === 'Tab' && q.shift) prev(el);
        else if (q.key === 'Tab') {
          if (F.stale) return tab(el);
          next(el);
        } else replay(q, el);
      }
      formEl.removeAttribute('data-keys-held');
    }
    formEl.addEventListener('keydown', e => {
      if (waiting) {
        // every key waits with the Tab, in order (a key on a select would
        // choose an option, an arrow in a text field would be lost); an
        // input method's keys are left to it (the first of a pinyin word
        // may land before the wait ends)
        if (/^(Shift|Control|Alt|Meta|CapsLock|Process)$/.test(e.key) || e.keyCode === 229 || e.ctrlKey || e.altKey ||
            e.metaKey || e.isComposing) return;
        e.preventDefault();
        e.stopImmediatePropagation();          // Enter: not enterNext's, on the old list of fields
        queued.push({ key: e.key, shift: e.shiftKey });
        return;
      }
      if (e.key !== 'Tab' || e.shiftKey || e.ctrlKey || e.altKey || e.metaKey || !F.stale || F.done) return;
      e.preventDefault();
      tab(e.target);
    }, true);
    // text that comes without a key (a word committed at once, a paste)
    formEl.addEventListener('beforeinput', e => {
      if (!waiting) return;
      const text = e.inputType === 'insertText' ? e.data
        : e.inputType === 'insertFromPaste' && e.dataTransfer ? e.dataTransfer.getData('text/plain') : null;
      if (text) { e.preventDefault(); queued.push({ text }); }
    }, true);
  }


  /* The data to send: without the fields that relevance hides. */
  function clean() {
    const d = JSON.parse(JSON.stringify(F.data));
    for (const p of F.hidden) {
      const m = /^(\w+)(?:\[(\d+)\]\.(\w+))?$/.exec(p);
      if (!m) continue;
      if (!m[2]) delete d[m[1]]; else if (Array.isArray(d[m[1]]) && d[m[1]][m[2]]) delete d[m[1]][m[2]][m[3]];
    }
    return d;
  }
  async function uploadScans(id) {
    const bad = [];
    for (const c of askedCodes()) {
      const f = F.mats[c] && F.mats[c].file;
      if (!f) continue;
      try { await api(`/api/apps/${enc(id)}/materials/${enc(c)}/scan`, { method: 'PUT', body: f }); } catch (e) { bad.push(`${c}: ${errText(e)}`); }
    }
    return bad;
  }
  function failed(e) {
    if (e.status === 422) {
      if (e.body.catalog && form.catalog && e.body.catalog !== form.catalog) {
        // refused by a catalogue newer than this form: show its form
        F.done = true;
        dropCache();
        return formView(box, { ...o, fresh: false, keep: { data: F.data, mats: F.mats, orig: origMats, focus: focusedPath() } });
      }
      F.all = true; F.problems = e.body.problems || [];
      apply();
      const a = $('a', top);
      top.scrollIntoView({ block: 'start' });
      if (a) a.focus();
    } else { fill(top, msg('bad', errText(e))); top.scrollIntoView({ block: 'start' }); }
  }

  let store = null;                  // edit mode: save the edits (below)
  if (o.mode === 'new') {
    const acc = h('button', { type: 'submit', id: 'accept', 'data-test': 'accept' }, t('受理'));
    fill(btns, acc, status);
    formEl.addEventListener('submit', async e => {
      e.preventDefault();
      if (acc.disabled) return;
      acc.disabled = true; acc.textContent = t('正在受理…');
      clearTimeout(vTimer);
      await saveNow();
      F.done = true;
      try {
        const r = await api('/api/apps', { method: 'POST', body: { matter: code, data: clean(), materials: matsPayload(), draft: o.draft } });
        const scanErrors = await uploadScans(r.id);
        lastResult = { ...r, scanErrors };
        location.hash = '#/done/' + enc(r.id);
      } catch (err) {
        F.done = false; acc.disabled = false; acc.textContent = t('受理');
        failed(err);
      }
    });
  } else {
    const save = h('button', { type: 'button', class: 'sec', 'data-test': 'save-edit' }, t('保存修改'));
    const isDraft = app.status === 'draft';
    const resub = h('button', { type: 'submit', 'data-test': isDraft ? 'accept' : 'resubmit' }, t(isDraft ? '受理' : '重新提交'));
    fill(btns, save, resub, status);
    const p = `/api/apps/${enc(app.id)}/`;
    store = async () => {
      await api(p + 'edit', { method: 'POST', body: { data: clean() } });
      for (const m of matsPayload()) {
        const was = origMats[m.material] || {};
        if (was.state !== m.state || (was.promise || undefined) !== m.promise) {
          await api(p + 'material', { method: 'POST', body: { material: m.material, state: m.state, promise: m.promise } });
          origMats[m.material] = { state: m.state, promise: m.promise };
        }
      }
      const bad = await uploadScans(app.id);
      if (bad.length) throw new Error(t('扫描件上传失败：{m}', { m: bad.join('；') }));
      for (const c of Object.keys(F.mats)) delete F.mats[c].file;
    };
    save.addEventListener('click', async () => {
      save.disabled = true;
      try { await store(); fill(top, msg('ok', t('已保存。'))); } catch (err) { failed(err); }
      save.disabled = false;
    });
    formEl.addEventListener('submit', async e => {
      e.preventDefault();
      resub.disabled = true;
      try {
        await store();
        await api(p + 'submit', { method: 'POST' });
        lastResult = { id: app.id, receipt: app.receipt, resubmitted: !isDraft };
        location.hash = '#/done/' + enc(app.id);
      } catch (err) { resub.disabled = false; failed(err); }
    });
  }
  drawMats();
  apply();
  validate();
  // the field that had focus before a re-render keeps it; else the first
  const again = o.keep && o.keep.focus && formEl.querySelector(`[name="${CSS.escape(o.keep.focus)}"]`);
  const first = again || $('input,select,textarea', fieldsBox);
  if (first) first.focus();
}

// ---- the result: receipt number and printing ---------------------------
async function done(box, id) {
  const r = lastResult && lastResult.id === id ? lastResult : {};
  const a = await api('/api/apps/' + enc(id));
  const apps = a.applications || [a];
  const receipt = a.bundle_receipt || a.receipt || r.receipt;
  const defs = {};
  for (const x of apps) {
    const f = await get('/api/forms/' + enc(x.matter)).catch(() => null);
    for (const m of (f && f.materials) || []) defs[m.code] = m;
  }
  const late = [];
  for (const x of apps) for (const m of x.materials || []) if (m.state === 'deficient') late.push(t('{m}（{d} 前）', { m: defs[m.material] ? name(defs[m.material]) : m.material, d: m.promise || '' }));
  const pb = printButtons(id);
  fill(box,
    h('h1', {}, t(r.resubmitted ? '已重新提交' : '已受理')),
    h('p', { class: 'receipt' }, t('受理编号'), '：', h('strong', { id: 'receipt-no', 'data-test': 'receipt' }, receipt || '')),
    h('ul', {}, apps.map(x => h('li', {}, x.matter_name || x.matter, x.due ? ` · ${t('办结期限')} ${x.due}` : ''))),
    late.length > 0 && msg('warn', t('容缺材料，请提醒申请人按期补交：'), h('ul', {}, [...new Set(late)].map(x => h('li', {}, x)))),
    r.scanErrors && r.scanErrors.length > 0 && msg('bad', t('扫描件上传失败：{m}', { m: r.scanErrors.join('；') })),
    pb,
    h('div', { class: 'actions noprint' },
      h('a', { class: 'btn sec', href: '#/new', 'data-test': 'next-app' }, t('继续办理新件')),
      h('a', { class: 'btn sec', href: '#/app/' + enc(id) }, t('查看办件'))));
  $('button', pb).focus();
}

