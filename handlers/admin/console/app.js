// 私域助手 staff console. Plain JavaScript, no build step, no CDN: served by
// siyu from its own binary. The page holds no data; every call carries the
// token the person signed in with, kept in sessionStorage (never a URL).
'use strict';

(() => {
  const TOKEN_KEY = 'siyu.admin.token';
  // The console sits at <prefix>/admin/; the API next to it.
  const BASE = location.pathname.replace(/[^/]*$/, '');
  const API = BASE + 'api';
  const $ = (id) => document.getElementById(id);

  const state = { caps: null, files: [], file: '', original: '', editable: false, validateTimer: 0, validateSeq: 0, valid: true };

  // ---------- small helpers ----------

  // el builds DOM nodes; text always goes in as text, never as HTML, so
  // nothing a customer typed can run in staff's browser.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  const svgNS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') node.textContent = v; else node.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c) node.append(c);
    return node;
  }
  function fill(container, ...nodes) { container.replaceChildren(...nodes.flat().filter(Boolean)); }
  function fmtTime(s) {
    if (!s) return '—';
    const d = new Date(s);
    if (isNaN(d)) return s;
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
  }
  function table(head, rows, numeric) {
    const num = new Set(numeric || []);
    return el('div', { class: 'table-wrap' }, el('table', {},
      el('thead', {}, el('tr', {}, head.map((h, i) => el('th', { class: num.has(i) ? 'num' : null, text: h })))),
      el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c, i) => el('td', { class: num.has(i) ? 'num' : null }, c)))))));
  }
  function empty(text) { return el('p', { class: 'empty', text }); }
  function absent(what) { return el('div', { class: 'absent', 'data-absent': what }, `未启用：${what}模块尚未接入。`); }
  function errorBox(e) { return el('p', { class: 'error', role: 'alert', text: `出错了：${e.message}` }); }

  let flashTimer = 0;
  function flash(text, bad) {
    const f = $('flash');
    f.textContent = text;
    f.className = bad ? 'flash bad' : 'flash';
    f.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { f.hidden = true; }, 4000);
  }

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status; this.code = code; this.details = details || [];
    }
  }

  // call is every API request: the bearer token, JSON in and out, and
  // the API's one error shape turned into an ApiError.
  async function call(method, path, body, raw) {
    const headers = { Authorization: 'Bearer ' + (sessionStorage.getItem(TOKEN_KEY) || '') };
    let payload;
    if (body !== undefined) {
      if (raw) { headers['Content-Type'] = 'text/plain; charset=utf-8'; payload = body; }
      else { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
    }
    let resp;
    try {
      resp = await fetch(API + path, { method, headers, body: payload, cache: 'no-store', credentials: 'omit' });
    } catch (e) {
      throw new ApiError(0, 'network', '无法连接服务器');
    }
    let data = null;
    try { data = await resp.json(); } catch (e) { /* not JSON */ }
    if (!resp.ok) {
      const err = (data && data.error) || {};
      if (resp.status === 401 && path !== '/capabilities') signOut('登录已失效，请重新输入令牌。');
      throw new ApiError(resp.status, err.code || 'error', err.message || `HTTP ${resp.status}`, err.details);
    }
    return data;
  }

  // ---------- sign in ----------

  async function signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    try {
      state.caps = await call('GET', '/capabilities');
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      throw e;
    }
    $('login').hidden = true;
    $('app').hidden = false;
    route();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.caps = null;
    $('app').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('token').value = '';
    $('token').focus();
  }

  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = $('token').value.trim();
    if (!token) return;
    $('login-submit').disabled = true;
    $('login-error').textContent = '';
    try {
      await signIn(token);
    } catch (e) {
      $('login-error').textContent = e.status === 401 ? '令牌不正确。' : `无法登录：${e.message}`;
    } finally {
      $('login-submit').disabled = false;
    }
  });
  $('logout').addEventListener('click', () => signOut(''));

  // ---------- tabs ----------

  const loaders = {
    scripts: loadScripts,
    alerts: loadAlerts,
    campaigns: loadCampaigns,
    boards: loadBoards,
    contacts: loadContacts,
    outbox: loadOutbox,
    dnd: loadHeld,
  };
  function has(module) { return !!(state.caps && state.caps.capabilities && state.caps.capabilities[module]); }
  function feature(name) { return !!(state.caps && state.caps.features && state.caps.features[name]); }

  function route() {
    if (!state.caps) return;
    let tab = location.hash.slice(1);
    if (!loaders[tab]) tab = 'scripts';
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.tab === tab);
    for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== 'tab-' + tab;
    document.body.dataset.tab = tab;
    $('flash').hidden = true; // a message about the last tab does not belong to this one
    loaders[tab]().catch((e) => flash(`加载失败：${e.message}`, true));
  }
  window.addEventListener('hashchange', route);

  // ---------- scripts: editor with live validation ----------

  async function loadScripts() {
    const data = await call('GET', '/scripts');
    state.files = data.files.map((f) => f.name);
    state.editable = data.editable;
    const ro = $('script-readonly');
    ro.hidden = data.editable;
    ro.textContent = '当前使用的是内置示例脚本（未设置 SIYU_SCRIPTS 目录），可以编辑和校验，但不能在线保存。';
    const sel = $('script-file');
    const names = state.files.slice();
    if (state.file && !names.includes(state.file)) names.push(state.file); // a new file not saved yet
    fill(sel, names.map((n) => el('option', { value: n, text: state.files.includes(n) ? n : n + '（新）' })));
    // Switching tabs keeps the draft: the file is opened only the first time.
    if (!state.file && state.files.length) await openFile(state.files[0]);
    sel.value = state.file;
    $('dryrun-submit').disabled = !feature('dry_run');
    if (!feature('dry_run')) fill($('dryrun-result'), absent('试运行'));
  }

  async function openFile(name) {
    const data = await call('GET', '/scripts/' + encodeURI(name));
    state.file = name;
    state.original = data.text;
    state.sha = data.sha256;
    $('script-text').value = data.text;
    renderGutter([]);
    setStatus('ok', '已加载，校验通过的版本正在生效。');
    fill($('script-errors'));
    state.valid = true;
    updateSave();
  }

  function updateSave() {
    const dirty = $('script-text').value !== state.original;
    $('script-save').disabled = !state.editable || !state.valid || !dirty;
  }

  function setStatus(kind, text) {
    const s = $('script-status');
    s.className = 'status ' + kind;
    s.dataset.state = kind;
    s.textContent = text;
  }

  function renderGutter(badLines) {
    const bad = new Set(badLines);
    const n = $('script-text').value.split('\n').length;
    const lines = [];
    for (let i = 1; i <= n; i++) lines.push(bad.has(i) ? el('span', { class: 'bad', text: String(i) }) : String(i), '\n');
    fill($('script-gutter'), lines);
    $('script-gutter').scrollTop = $('script-text').scrollTop;
  }

  function showProblems(problems) {
    const mine = problems.filter((p) => p.file === state.file);
    renderGutter(mine.map((p) => p.line));
    fill($('script-errors'), problems.map((p) => el('li', {
      'data-line': p.line, 'data-file': p.file,
      onclick: () => { if (p.file === state.file) goToLine(p.line); },
    }, el('b', { text: `${p.file}:${p.line}` }), p.message)));
  }

  function goToLine(line) {
    const ta = $('script-text');
    const lines = ta.value.split('\n');
    let start = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
    const end = start + (lines[line - 1] || '').length;
    ta.focus();
    ta.setSelectionRange(start, end);
    const lh = parseFloat(getComputedStyle(ta).lineHeight) || 19;
    ta.scrollTop = Math.max(0, (line - 3) * lh);
  }

  // validate sends the draft 400 ms after the last keystroke; an older
  // answer arriving late is ignored.
  function scheduleValidate() {
    clearTimeout(state.validateTimer);
    state.valid = false;
    updateSave();
    setStatus('busy', '正在校验…');
    state.validateTimer = setTimeout(validateNow, 400);
  }

  async function validateNow() {
    const seq = ++state.validateSeq;
    const text = $('script-text').value;
    try {
      const res = await call('POST', '/scripts/validate', { files: { [state.file]: text } });
      if (seq !== state.validateSeq) return;
      state.valid = res.ok;
      if (res.ok) {
        setStatus('ok', text === state.original ? '校验通过。' : '校验通过，可以保存。');
        renderGutter([]);
        fill($('script-errors'));
      } else {
        setStatus('bad', `有 ${res.errors.length} 处错误，修正后才能保存。`);
        showProblems(res.errors);
      }
    } catch (e) {
      if (seq !== state.validateSeq) return;
      state.valid = false;
      setStatus('bad', `无法校验：${e.message}`);
    }
    updateSave();
  }

  $('script-text').addEventListener('input', () => { renderGutter([]); scheduleValidate(); });
  $('script-text').addEventListener('scroll', () => { $('script-gutter').scrollTop = $('script-text').scrollTop; });
  // Ctrl+S / ⌘S saves a valid draft instead of saving the page.
  document.addEventListener('keydown', (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === 's' && document.body.dataset.tab === 'scripts') {
      ev.preventDefault();
      if (!$('script-save').disabled) $('script-save').click();
    }
  });
  // Leaving with an unsaved draft asks first.
  window.addEventListener('beforeunload', (ev) => {
    if (state.caps && $('script-text').value !== state.original) ev.preventDefault();
  });
  $('script-text').addEventListener('keydown', (ev) => {
    // Tab indents with two spaces: YAML forbids tab characters.
    if (ev.key === 'Tab' && !ev.shiftKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      document.execCommand('insertText', false, '  ');
    }
  });
  $('script-file').addEventListener('change', async (ev) => {
    const name = ev.target.value;
    if ($('script-text').value !== state.original && !confirm('当前文件有未保存的修改，确定要切换吗？')) {
      ev.target.value = state.file;
      return;
    }
    try { await openFile(name); } catch (e) { flash(e.message, true); }
  });
  $('script-new').addEventListener('click', () => {
    let name = prompt('新文件名（以 .yaml 结尾）', 'new-rules.yaml');
    if (!name) return;
    name = name.trim();
    if (!/\.ya?ml$/.test(name)) name += '.yaml';
    state.file = name;
    state.original = '';
    state.sha = '';
    const sel = $('script-file');
    if (!state.files.includes(name)) sel.append(el('option', { value: name, text: name + '（新）' }));
    sel.value = name;
    $('script-text').value = 'rules:\n  - name: new-rule\n    match:\n      contains: ["关键词"]\n    reply: "回复内容"\n';
    renderGutter([]);
    scheduleValidate();
    $('script-text').focus();
  });
  $('script-save').addEventListener('click', async () => {
    const text = $('script-text').value;
    $('script-save').disabled = true;
    setStatus('busy', '正在保存…');
    try {
      const res = await fetchSave(text);
      state.original = text;
      state.sha = res.sha256;
      setStatus('ok', `已保存并生效（版本 ${res.version}）。` + (res.previous ? `上一版保存在 ${res.previous}。` : ''));
      flash(`已保存 ${res.name}`);
      await loadScripts();
    } catch (e) {
      setStatus('bad', `未保存：${e.message}`);
      if (e.details && e.details.length) showProblems(e.details);
    }
    updateSave();
  });
  function fetchSave(text) {
    return callWithHeaders('PUT', '/scripts/' + encodeURI(state.file), text, state.sha ? { 'If-Match': '"' + state.sha + '"' } : {});
  }
  async function callWithHeaders(method, path, text, extra) {
    const headers = Object.assign({ Authorization: 'Bearer ' + (sessionStorage.getItem(TOKEN_KEY) || ''), 'Content-Type': 'text/plain; charset=utf-8' }, extra);
    const resp = await fetch(API + path, { method, headers, body: text, cache: 'no-store', credentials: 'omit' });
    let data = null;
    try { data = await resp.json(); } catch (e) { /* not JSON */ }
    if (!resp.ok) {
      const err = (data && data.error) || {};
      if (resp.status === 401) signOut('登录已失效，请重新输入令牌。');
      throw new ApiError(resp.status, err.code, err.message || `HTTP ${resp.status}`, err.details);
    }
    return data;
  }

  // ---------- scripts: dry-run ----------

  const stageNames = {
    rule: '关键词规则', intent: '意图规则', fallback: '兜底回复', menu: '菜单', welcome: '欢迎语', faq: '常见问题',
    'command:checkin': '签到指令', 'command:coupon': '领券指令', 'command:dnd': '免打扰指令',
    handover: '转人工', 'handover:held': '人工接待中（机器人暂停）',
  };
  const actionNames = { reply: '回复', news: '图文', welcome: '欢迎语', staff_alert: '通知员工', render: '发送时生成', push: '主动消息', handover: '转人工' };

  $('dryrun-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = $('dryrun-text').value.trim();
    if (!text) return;
    const out = $('dryrun-result');
    $('dryrun-submit').disabled = true;
    try {
      const r = await call('POST', '/dry-run', { text, platform: $('dryrun-platform').value, group: $('dryrun-group').checked });
      const stage = r.stage ? (stageNames[r.stage] || r.stage) : '不回答';
      const conf = r.confidence ? el('span', {}, r.confidence.toFixed(2), meter(r.confidence)) : '—';
      fill(out,
        el('dl', { class: 'kv', id: 'dryrun-answer', 'data-stage': r.stage || '', 'data-rule': r.rule || '' },
          el('dt', { text: '回答环节' }), el('dd', { id: 'dryrun-stage', text: stage }),
          el('dt', { text: '规则' }), el('dd', { id: 'dryrun-rule', text: r.rule || '—' }),
          el('dt', { text: '意图' }), el('dd', { id: 'dryrun-intent', text: r.intent || '—' }),
          el('dt', { text: '置信度' }), el('dd', {}, conf),
          r.risks && r.risks.length ? [el('dt', { text: '风险' }), el('dd', { text: r.risks.join('、') })] : null),
        el('h3', { text: '将会发送' }),
        r.actions.length ? el('ul', { class: 'bubbles', id: 'dryrun-actions' }, r.actions.map((a) => bubble(a, false))) : empty('不发送任何消息（群聊中没有匹配时不兜底）。'),
        el('h3', { text: '免打扰会拦下' }),
        r.held_back.length ? el('ul', { class: 'bubbles', id: 'dryrun-held' }, r.held_back.map((a) => bubble(a, true)))
          : empty(feature('dnd_explanation') ? '无。' : '无（免打扰模块未启用）。'));
    } catch (e) {
      fill(out, errorBox(e));
    } finally {
      $('dryrun-submit').disabled = !feature('dry_run');
    }
  });
  function meter(v) {
    const bar = el('span');
    bar.style.width = Math.round(Math.max(0, Math.min(1, v)) * 100) + '%';
    return el('span', { class: 'meter' }, bar);
  }
  // Do-not-disturb's reasons (bot/dnd), in staff's words.
  const holdReasons = {
    opted_out: '已退订', quiet_hours: '免打扰时段', cap_person_day: '超过每人每日上限', cap_person_week: '超过每人每周上限',
    cap_group_minute: '超过群每分钟上限', douyin_proactive_day: '抖音每日主动消息上限', wecom_group_send_month: '企业微信群发每月上限',
  };
  function reasonText(r) { return holdReasons[r] || r || '免打扰'; }
  function bubble(a, held) {
    const kind = (actionNames[a.type] || a.type) + (a.proactive ? ' · 主动' : '') + (a.topic ? ` · ${a.topic}` : '') + (a.group ? ' · 群内' : '');
    const why = held ? ` · ${reasonText(a.reason)}` + (a.until ? ` · 暂缓到 ${fmtTime(a.until)}` : ' · 不再发送') : '';
    return el('li', { class: held ? 'bubble held' : 'bubble' }, el('small', { text: kind + why }), a.text || JSON.stringify(a.detail));
  }

  // ---------- alerts ----------

  const statusNames = { open: '待处理', acknowledged: '已确认', dismissed: '误报' };
  const severityNames = { high: '高', medium: '中', low: '低' };
  const categoryNames = { fraud: '诈骗', complaint: '投诉升级', abuse: '辱骂威胁', ad_spam: '广告刷屏', poaching: '挖客引流', pii: '个人信息' };
  const platformNames = { wechat: '微信公众号', wecom: '企业微信', douyin: '抖音' };
  async function loadAlerts() {
    const body = $('alerts-body');
    if (!has('risk')) { fill(body, absent('风险识别')); return; }
    const q = new URLSearchParams({ status: $('alerts-status').value, limit: '100' });
    const cat = $('alerts-category').value;
    if (cat) q.set('category', cat);
    const data = await call('GET', '/risk/events?' + q);
    const events = data.events || [];
    if (!events.length) { fill(body, empty('没有需要处理的提醒。')); return; }
    fill(body, el('ul', { class: 'alerts' }, events.map((e) => el('li', { class: 'alert', 'data-id': e.id, 'data-status': e.status },
      el('header', {},
        el('span', { class: 'badge ' + (e.severity || ''), text: '风险' + (severityNames[e.severity] || e.severity || '—') }),
        el('b', { text: categoryNames[e.category] ? `${categoryNames[e.category]}（${e.category}）` : e.category }),
        el('span', { class: 'badge', text: statusNames[e.status] || e.status }),
        e.count > 1 ? el('span', { class: 'badge', text: `×${e.count}` }) : null),
      e.text_masked ? el('div', { class: 'evidence', text: e.text_masked }) : null,
      e.evidence ? el('div', { class: 'meta', text: '依据：' + (Array.isArray(e.evidence) ? e.evidence.join('、') : e.evidence) }) : null,
      el('div', { class: 'meta', text: `${platformNames[e.platform] || e.platform || ''} · 会话 ${e.conversation || '—'} · 发送者 ${e.sender || '—'} · ${fmtTime(e.created_at)}` }),
      e.status === 'open' ? el('div', { class: 'actions' },
        el('button', { type: 'button', class: 'danger ghost', 'data-act': 'dismiss', onclick: () => decide(e.id, 'dismiss') }, '标记误报'),
        el('button', { type: 'button', class: 'primary', 'data-act': 'ack', onclick: () => decide(e.id, 'ack') }, '确认处理')) : null))));
  }
  async function decide(id, act) {
    try {
      await call('POST', `/risk/events/${encodeURIComponent(id)}/${act}`);
      flash(act === 'ack' ? '已确认处理。' : '已标记为误报。');
      await loadAlerts();
    } catch (e) { flash(e.message, true); }
  }
  for (const id of ['alerts-status', 'alerts-category']) $(id).addEventListener('change', () => loadAlerts().catch((e) => flash(e.message, true)));
  $('alerts-refresh').addEventListener('click', () => loadAlerts().catch((e) => flash(e.message, true)));

  // ---------- campaigns ----------

  async function loadCampaigns() {
    const body = $('campaigns-body');
    if (!has('coupon')) { fill(body, absent('优惠券')); $('claims-card').hidden = true; return; }
    const data = await call('GET', '/coupon/campaigns');
    const campaigns = data.campaigns || [];
    if (!campaigns.length) { fill(body, empty('还没有活动。')); return; }
    fill(body, el('div', { class: 'campaigns' }, campaigns.map((c) => {
      const stock = c.stock || 0;
      const used = stock ? Math.min(1, (c.issued || 0) / stock) : 0;
      const bar = el('span');
      bar.style.width = Math.round(used * 100) + '%';
      const left = stock ? (c.remaining / stock) : 0;
      const channels = Object.entries(c.per_channel || {});
      return el('div', { class: 'campaign', 'data-id': c.id },
        el('b', { text: c.name || c.id }),
        el('div', { class: 'meta hint', text: `${fmtTime(c.start)} 至 ${fmtTime(c.end)}` }),
        el('div', { class: 'stock' + (c.remaining <= 0 ? ' out' : left < 0.1 ? ' low' : ''), role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': stock, 'aria-valuenow': c.issued || 0 }, bar),
        el('div', {}, `已发 ${c.issued || 0} / 库存 ${stock}，剩余 ${c.remaining ?? stock - (c.issued || 0)}`),
        channels.length ? el('div', { class: 'chips' }, channels.map(([k, v]) => el('span', { class: 'badge', text: `${k}：${v}` }))) : null,
        el('div', {}, el('button', { type: 'button', class: 'ghost', onclick: () => loadClaims(c) }, '领取记录')));
    })));
  }
  async function loadClaims(c) {
    $('claims-card').hidden = false;
    $('claims-title').textContent = `领取记录 · ${c.name || c.id}`;
    try {
      const data = await call('GET', `/coupon/campaigns/${encodeURIComponent(c.id)}/claims?limit=100`);
      const claims = data.claims || [];
      fill($('claims-body'), claims.length
        ? table(['用户', '券码', '渠道', '来源', '时间'], claims.map((x) => [x.person, x.code, x.channel || '—', x.trigger || '—', fmtTime(x.created_at)]))
        : empty('还没有人领取。'));
    } catch (e) { fill($('claims-body'), errorBox(e)); }
  }
  $('campaigns-refresh').addEventListener('click', () => loadCampaigns().catch((e) => flash(e.message, true)));

  // ---------- check-in boards ----------

  async function loadBoards() {
    const body = $('boards-body');
    if (!has('checkin')) { fill(body, absent('签到')); fill($('history-body')); return; }
    const sel = $('boards-scope');
    if (!sel.options.length) {
      const s = await call('GET', '/checkin/scopes');
      fill(sel, (s.scopes || []).map((x) => el('option', { value: x.scope, text: `${x.scope}（今日 ${x.checkins_today}）` })));
    }
    if (!sel.options.length) { fill(body, empty('还没有人签到。')); return; }
    const q = new URLSearchParams({ scope: sel.value, period: $('boards-period').value });
    const b = await call('GET', '/checkin/boards?' + q);
    const rows = (list, streak) => (list || []).map((r) => [String(r.rank), r.name || r.person, String(streak ? r.streak : r.points), String(streak ? r.points : r.streak)]);
    fill(body, el('div', { class: 'boards' },
      el('div', {}, el('h3', { text: '积分榜' }), b.by_points && b.by_points.length ? table(['名次', '用户', '积分', '连续天数'], rows(b.by_points, false), [0, 2, 3]) : empty('暂无签到。')),
      el('div', {}, el('h3', { text: '连续签到榜' }), b.by_streak && b.by_streak.length ? table(['名次', '用户', '连续天数', '积分'], rows(b.by_streak, true), [0, 2, 3]) : empty('暂无签到。'))));
  }
  $('boards-scope').addEventListener('change', () => loadBoards().catch((e) => flash(e.message, true)));
  $('boards-period').addEventListener('change', () => loadBoards().catch((e) => flash(e.message, true)));
  $('history-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!has('checkin')) return;
    const person = $('history-person').value.trim();
    if (!person) return;
    try {
      const h = await call('GET', '/checkin/history?' + new URLSearchParams({ person, scope: $('boards-scope').value || '' }));
      fill($('history-body'), el('p', { text: `累计 ${h.total} 分，当前连续 ${h.streak} 天` }),
        (h.days || []).length ? table(['日期', '积分', '连续天数'], h.days.map((d) => [d.day, String(d.points), String(d.streak)]), [1, 2]) : empty('没有签到记录。'));
    } catch (e) { fill($('history-body'), errorBox(e)); }
  });

  // ---------- contacts per channel: an SVG chart drawn here ----------

  const palette = ['#0f7b6c', '#d9822b', '#3b6fd1', '#c2417a', '#7a5cc8', '#5a8f29', '#b0453a', '#2c8fa8'];
  const outcomeNames = { sent: '已发送', already_sent: '他人已发', no_code: '无欢迎码', no_text: '无欢迎语', busy_gave_up: '繁忙放弃', failed: '失败', pending: '发送中' };

  async function loadContacts() {
    const body = $('contacts-body');
    if (!feature('contacts')) { fill(body, absent('企业微信渠道')); return; }
    const q = new URLSearchParams({ days: $('contacts-days').value, tz_offset: String(-new Date().getTimezoneOffset()) });
    const data = await call('GET', '/contacts?' + q);
    const shown = data.channels.filter((c) => c.total > 0).slice(0, palette.length);
    fill(body,
      shown.length ? chart(data.days, shown) : empty('这段时间没有新增客户。'),
      shown.length ? el('ul', { class: 'legend' }, shown.map((c, i) => { const sw = el('i'); sw.style.background = palette[i]; return el('li', {}, sw, c.name || c.state); })) : null,
      table(['渠道', '渠道标识', '新增', '欢迎语结果'], data.channels.map((c) => [
        c.name || '—', c.state || '—', String(c.total),
        el('span', { class: 'chips' }, Object.entries(c.outcomes).map(([k, v]) => el('span', { class: 'badge' + (k === 'sent' ? ' good' : k === 'failed' ? ' high' : ''), text: `${outcomeNames[k] || k} ${v}` }))),
      ]), [2]));
  }
  // chart draws one line per channel. The drawing is as wide as its box
  // (not scaled), so its labels stay legible on a phone and a laptop.
  function chart(days, channels) {
    const W = Math.max(300, $('contacts-body').clientWidth || 720), H = W < 500 ? 200 : 260, L = 32, R = 12, T = 10, B = 26;
    const max = Math.max(1, ...channels.flatMap((c) => c.per_day));
    const top = max <= 4 ? max : Math.ceil(max / 4) * 4;
    const x = (i) => L + (days.length === 1 ? (W - L - R) / 2 : i * (W - L - R) / (days.length - 1));
    const y = (v) => T + (H - T - B) * (1 - v / top);
    const g = svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': '各渠道每日新增客户折线图', id: 'contacts-chart' });
    const ticks = Math.min(4, top);
    for (let k = 0; k <= ticks; k++) {
      const v = Math.round(top * k / ticks);
      g.append(svg('line', { class: k ? 'grid' : 'axis', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
        svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', text: String(v) }));
    }
    // About one date label per 70 px; the last day is always labelled,
    // so a regular label too close to it is left out.
    const every = Math.max(1, Math.ceil(days.length / Math.max(2, Math.floor((W - L - R) / 70))));
    const last = days.length - 1;
    days.forEach((d, i) => {
      if (i !== last && (i % every || last - i < every * 0.7)) return;
      const anchor = days.length > 1 && i === 0 ? 'start' : i === last && days.length > 1 ? 'end' : 'middle';
      g.append(svg('text', { x: x(i), y: H - 8, 'text-anchor': anchor, text: d.slice(5) }));
    });
    channels.forEach((c, ci) => {
      const pts = c.per_day.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      g.append(svg('polyline', { points: pts, stroke: palette[ci], 'data-channel': c.state }));
      c.per_day.forEach((v, i) => {
        if (!v) return;
        g.append(svg('circle', { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 3, fill: palette[ci] },
          svg('title', { text: `${c.name || c.state} ${days[i]}：${v}` })));
      });
    });
    return g;
  }
  $('contacts-days').addEventListener('change', () => loadContacts().catch((e) => flash(e.message, true)));

  // ---------- outbox ----------

  async function loadOutbox() {
    const status = $('outbox-status').value;
    const data = await call('GET', '/outbox?' + new URLSearchParams({ status, limit: '100' }));
    const counts = data.counts || {};
    fill($('outbox-body'),
      el('div', { class: 'chips' }, ['pending', 'dead', 'sent'].map((k) => el('span', { class: 'badge', text: `${{ pending: '待发送', dead: '发送失败', sent: '已发送' }[k]} ${counts[k] || 0}` }))),
      data.items.length ? table(['编号', '平台', '尝试', '下次', '错误', '创建', ''], data.items.map((it) => [
        String(it.id), platformNames[it.platform] || it.platform, String(it.attempts), fmtTime(it.next_at), it.last_error || '—', fmtTime(it.created_at),
        it.status === 'dead' ? el('button', { type: 'button', class: 'ghost', onclick: () => requeue(it.id) }, '重新发送') : '',
      ]), [0, 2]) : empty('没有消息。'));
  }
  async function requeue(id) {
    try { await call('POST', `/outbox/${id}/requeue`); flash(`消息 ${id} 已重新排队。`); await loadOutbox(); } catch (e) { flash(e.message, true); }
  }
  $('outbox-status').addEventListener('change', () => loadOutbox().catch((e) => flash(e.message, true)));
  $('outbox-refresh').addEventListener('click', () => loadOutbox().catch((e) => flash(e.message, true)));
  $('scripts-reload').addEventListener('click', async () => {
    try { const r = await call('POST', '/scripts/reload'); flash(`脚本已重新加载（版本 ${r.version}）。`); } catch (e) {
      flash(e.message + (e.details.length ? '：' + e.details.map((d) => `${d.file}:${d.line} ${d.message}`).join('；') : ''), true);
    }
  });

  // ---------- do-not-disturb ----------

  async function loadHeld() {
    const body = $('dnd-held-body');
    if (!has('dnd')) { fill(body, absent('免打扰')); fill($('dnd-person-body')); return; }
    const data = await call('GET', '/dnd/held?limit=100');
    const held = data.held || [];
    fill(body, held.length ? table(['用户', '类型', '原因', '暂缓到', '时间'], held.map((h) => [h.person, h.topic, reasonText(h.reason), fmtTime(h.until), fmtTime(h.created_at)])) : empty('没有被暂缓的消息。'));
  }
  $('dnd-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!has('dnd')) return;
    const person = $('dnd-person').value.trim();
    if (!person) return;
    const show = async () => {
      const p = await call('GET', '/dnd/persons/' + encodeURIComponent(person));
      fill($('dnd-person-body'), el('div', { class: 'row' },
        el('span', { text: p.opted_out ? `已退订（${fmtTime(p.since)} 起）` : '接收主动消息' }),
        el('button', { type: 'button', class: 'ghost', onclick: async () => {
          try { await call('PUT', '/dnd/persons/' + encodeURIComponent(person), { opted_out: !p.opted_out }); await show(); } catch (e) { flash(e.message, true); }
        } }, p.opted_out ? '恢复接收' : '设为退订')));
    };
    try { await show(); } catch (e) { fill($('dnd-person-body'), errorBox(e)); }
  });

  // ---------- modules in files of their own ----------

  // A console module kept in its own file (ui/inbox.js) adds its tab
  // through this, with the helpers it shares.
  window.siyuConsole = {
    call, el, fill, empty, absent, errorBox, flash, fmtTime, has, platformNames,
    addTab(name, loader) {
      loaders[name] = loader;
      if (state.caps && location.hash.slice(1) === name) route();
    },
  };

  // ---------- start ----------

  if (sessionStorage.getItem(TOKEN_KEY)) {
    signIn(sessionStorage.getItem(TOKEN_KEY)).catch(() => signOut('请重新输入令牌。'));
  } else {
    signOut('');
  }
})();
