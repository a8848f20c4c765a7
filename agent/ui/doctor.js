// daiban web UI: 本站检查 (GET /api/doctor): the checks of `daiban doctor`
// on this station's home, each with what to do. Loaded when opened.
import { EN, t, pick, h, fill, msg, api } from './app.js';

Object.assign(EN, {
  '本站检查': 'Station check', '重新检查': 'Check again', '正在检查…': 'Checking…',
  '一切正常。': 'All well.', '以下有需要处理的问题。': 'Something below needs a person.',
  '正常': 'ok', '注意': 'Attention', '故障': 'Failed', '处理办法：': 'What to do: ',
});

const LEVELS = { ok: ['正常', 'ok'], warn: ['注意', 'warn'], fail: ['故障', 'bad'] };

export async function view(box) {
  const out = h('div', { 'data-test': 'doctor', 'aria-live': 'polite' });
  const again = h('button', { type: 'button', 'data-test': 'doctor-again' }, t('重新检查'));
  fill(box, h('h1', {}, t('本站检查')), again, out);
  const run = async () => {
    again.disabled = true;
    fill(out, h('p', { class: 'loading' }, t('正在检查…')));
    try {
      const j = await api('/api/doctor');
      fill(out,
        msg(j.needs_person ? 'warn' : 'ok', t(j.needs_person ? '以下有需要处理的问题。' : '一切正常。')),
        h('ul', { class: 'doctor' }, j.findings.map(f => {
          const [label, cls] = LEVELS[f.level] || LEVELS.fail;
          return h('li', { 'data-test': 'doctor-finding', 'data-check': f.check, 'data-level': f.level },
            h('strong', { class: 'tag ' + cls }, t(label)), ' ',
            h('span', { class: 'check' }, pick(f, 'name')), '：', pick(f),
            f.todo_zh ? h('p', { class: 'todo' }, t('处理办法：'), pick(f, 'todo')) : null);
        })));
    } catch (e) {
      fill(out, msg('bad', e.message || String(e)));
    }
    again.disabled = false;
  };
  again.addEventListener('click', run);
  await run();
}
