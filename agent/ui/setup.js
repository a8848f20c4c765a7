// The first-run page (agent/setup.c): one form, posted as JSON to
// /api/setup; the answer is the station's key fingerprint, or what to fix.
'use strict';
(function () {
  const $ = id => document.getElementById(id);
  const form = $('setup-form'), msg = $('setup-msg'), go = $('setup-go');
  function say(kind, zh, en) {
    msg.textContent = '';
    const d = document.createElement('div');
    d.className = 'msg ' + kind;
    d.setAttribute('role', kind === 'bad' ? 'alert' : 'status');
    d.textContent = zh;
    if (en && en !== zh) {
      const s = document.createElement('div');
      s.className = 'small';
      s.lang = 'en';
      s.textContent = en;
      d.appendChild(s);
    }
    msg.appendChild(d);
  }
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const v = {};
    for (const el of form.elements) if (el.name) v[el.name] = el.value.trim();
    v.password = form.elements.password.value;   // a password keeps its spaces
    const missing = ['code', 'hall', 'token', 'operator', 'operator_name', 'password']
      .filter(k => !v[k]).map(k => form.elements[k]);
    if (missing.length) {
      say('bad', '请填写所有必填项。', 'Fill in every required field.');
      missing[0].focus();
      return;
    }
    if (v.password !== form.elements.password2.value) {
      say('bad', '两次输入的密码不一致。', 'The two passwords differ.');
      form.elements.password2.focus();
      return;
    }
    if (v.password.length < 6) {
      say('bad', '密码至少 6 位。', 'A password has at least 6 characters.');
      form.elements.password.focus();
      return;
    }
    delete v.password2;
    go.disabled = true;
    say('warn', '正在连接县级服务端并取得目录清单，请稍候…', 'Fetching the catalogue from the hall…');
    // the steps run beside the page: say which one runs while we wait
    const steps = { 'init': ['正在加入本县并取得目录清单（1/4）…', 'Joining the county, fetching the catalogue (1/4)…'],
                    'operator add': ['正在登记经办人（2/4）…', 'Registering the operator (2/4)…'],
                    'operator passwd': ['正在设置密码（3/4）…', 'Setting the password (3/4)…'],
                    'key show': ['正在读取本站密钥（4/4）…', "Reading the station's key (4/4)…"] };
    const state = async () => (await fetch('/api/setup', { cache: 'no-store' })).json();
    let waiting = true;
    const poll = (async () => {
      while (waiting) {
        await new Promise((ok) => setTimeout(ok, 1000));
        try {
          const s = await state();
          if (waiting && s.running && steps[s.step]) say('warn', steps[s.step][0], steps[s.step][1]);
        } catch (e) { /* the answer will tell */ }
      }
    })();
    let r, j;
    try {
      r = await fetch('/api/setup', { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                      body: JSON.stringify(v) });
      j = await r.json();
    } catch (e) {
      // the connection went (a long step on a slow link): the steps go
      // on; ask how they ended
      try {
        let s;
        do {
          await new Promise((ok) => setTimeout(ok, 1000));
          s = await state();
        } while (s.running);
        if (!s.last_error) { location.reload(); return; }
        r = { ok: false };
        j = s.last_error;
      } catch (e2) {
        waiting = false;
        go.disabled = false;
        location.reload();   // set up meanwhile: the station answers now
        return;
      }
    }
    waiting = false;
    await poll;
    go.disabled = false;
    if (!r.ok) {
      const m = j && j.message ? j.message : {};
      say('bad', m.zh || '设置失败。', m.en);
      if (j && j.error === 'code') form.elements.code.focus();
      return;
    }
    form.hidden = true;
    $('done-node').textContent = j.node;
    $('done-spoken').textContent = j.spoken;
    $('done-fp').textContent = j.fingerprint;
    $('setup-done').hidden = false;
    $('done-go').focus();
  });
  $('code').focus();
})();
