// 私域助手 staff console: the core. Plain JavaScript, no build step, no
// CDN: served by siyu from its own binary. The page holds no data; every
// call goes to the admin API, signed in by the session cookie (staff
// accounts) or the bearer token (kept in sessionStorage, never a URL).
//
// Tabs register themselves with Siyu.tab({...}) from their own files
// (home.js, scripts.js, tabs.js, team.js, …), each loaded after this one
// by index.html. See Siyu.tab below for what a tab gives.
'use strict';

(() => {
  const TOKEN_KEY = 'siyu.admin.token';
  // The account chosen in the top bar, remembered by this browser.
  const ACCOUNT_KEY = 'siyu.admin.account';
  // The console sits at <prefix>/admin/; the API next to it.
  const BASE = location.pathname.replace(/[^/]*$/, '');
  const API = BASE + 'api';
  const $ = (id) => document.getElementById(id);

  const state = {
    caps: null, // GET /capabilities
    auth: null, // {via: 'session'|'token', name, role, csrf}
    overview: null,
    tabs: [], // registered tabs, in nav order
    current: '',
    // accounts: GET /accounts (those this member may see); account: the
    // key chosen in the switcher, '*' for every account.
    accounts: { list: [], brands: [], configured: false },
    account: '*',
  };

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

  // Times are shown in the scripts' time zone (the capabilities say
  // which), whatever zone the browser is in: a campaign starting 00:00
  // +08 starts 00:00 for every member of staff.
  const fmtCache = {};
  function zone() { return (state.caps && state.caps.timezone) || 'Asia/Shanghai'; }
  function parts(d, withTime) {
    const key = zone() + (withTime ? 't' : 'd');
    if (!fmtCache[key]) {
      const opts = { timeZone: zone(), year: 'numeric', month: '2-digit', day: '2-digit', hourCycle: 'h23' };
      if (withTime) Object.assign(opts, { hour: '2-digit', minute: '2-digit' });
      try { fmtCache[key] = new Intl.DateTimeFormat('en-CA', opts); } catch (e) {
        fmtCache[key] = new Intl.DateTimeFormat('en-CA', Object.assign(opts, { timeZone: 'Asia/Shanghai' }));
      }
    }
    const p = {};
    for (const x of fmtCache[key].formatToParts(d)) p[x.type] = x.value;
    return p;
  }
  function fmtTime(s) {
    if (!s) return '—';
    const d = new Date(s);
    if (isNaN(d)) return s;
    const p = parts(d, true);
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
  }
  function fmtDay(s) {
    const d = new Date(s);
    if (isNaN(d)) return s || '—';
    const p = parts(d, false);
    return `${p.year}-${p.month}-${p.day}`;
  }

  // table draws rows; on a phone each row becomes a card whose cells
  // carry their column's name (data-label, shown by the CSS).
  function table(head, rows, numeric, rowAttrs) {
    const num = new Set(numeric || []);
    return el('div', { class: 'table-wrap' }, el('table', { class: 'cards-on-phone' },
      el('thead', {}, el('tr', {}, head.map((h, i) => el('th', { class: num.has(i) ? 'num' : null, text: h })))),
      el('tbody', {}, rows.map((r, ri) => el('tr', rowAttrs ? rowAttrs(ri) : {}, r.map((c, i) => el('td', { class: num.has(i) ? 'num' : null, 'data-label': head[i] || null }, c)))))));
  }
  function empty(text) { return el('p', { class: 'empty', text }); }
  function absent(what) { return el('div', { class: 'absent', 'data-absent': what }, `未启用：${what}模块尚未接入。`); }
  function errorBox(e) {
    return el('div', { class: 'error-box', role: 'alert' },
      el('p', { class: 'error', text: `出错了：${e.message}` }),
      e.details && e.details.length ? el('ul', { class: 'problems' }, e.details.map((d) => el('li', {}, el('b', { text: `${d.file}:${d.line}` }), d.message))) : null);
  }

  let flashTimer = 0;
  // flash says what happened; undo, when given, is offered for a few
  // seconds (reversible actions).
  function flash(text, bad, undo) {
    const f = $('flash');
    $('flash-text').textContent = text;
    f.className = bad ? 'flash bad' : 'flash';
    f.hidden = false;
    const u = $('flash-undo');
    u.hidden = !undo;
    u.onclick = undo ? async () => { u.hidden = true; try { await undo(); } catch (e) { flash(e.message, true); } } : null;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { f.hidden = true; }, undo ? 8000 : 4000);
  }

  // confirmAction asks before a destructive action, in a dialog of the
  // page's own (testable, styled, no browser chrome). Resolves true when
  // staff confirm.
  function confirmAction(text, okLabel, extra) {
    const d = $('confirm');
    $('confirm-text').textContent = text;
    fill($('confirm-extra'), extra || null);
    $('confirm-ok').textContent = okLabel || '确定';
    return new Promise((resolve) => {
      d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
      d.returnValue = '';
      d.showModal();
    });
  }

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status; this.code = code; this.details = details || [];
    }
  }

  // call is every API request: the session's CSRF token or the bearer
  // token, JSON in and out, and the API's one error shape turned into an
  // ApiError. opts.raw sends body as text; opts.headers adds headers.
  async function call(method, path, body, opts) {
    opts = opts || {};
    const headers = Object.assign({}, opts.headers);
    const a = state.auth;
    if (a && a.via === 'token') headers.Authorization = 'Bearer ' + (sessionStorage.getItem(TOKEN_KEY) || '');
    else if (a && a.csrf && method !== 'GET') headers['X-CSRF-Token'] = a.csrf;
    let payload;
    if (body !== undefined) {
      if (opts.raw) { headers['Content-Type'] = 'text/plain; charset=utf-8'; payload = body; }
      else { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
    }
    let resp;
    try {
      resp = await fetch(API + path, { method, headers, body: payload, cache: 'no-store', credentials: 'same-origin' });
    } catch (e) {
      throw new ApiError(0, 'network', '无法连接服务器');
    }
    let data = null;
    if (resp.status !== 204) { try { data = await resp.json(); } catch (e) { /* not JSON */ } }
    if (!resp.ok) {
      const err = (data && data.error) || {};
      if (resp.status === 401 && state.auth && !opts.quiet) signOut('登录已失效，请重新登录。');
      throw new ApiError(resp.status, err.code || 'error', err.message || `HTTP ${resp.status}`, err.details);
    }
    return data;
  }

  // ---------- Chinese labels for every code staff see ----------

  const labels = {
    platform: { wechat: '微信公众号', wecom: '企业微信', douyin: '抖音', staff: '员工通知', union: '跨平台用户', group: '群' },
    category: { fraud: '诈骗', complaint: '投诉升级', abuse: '辱骂威胁', ad_spam: '广告刷屏', poaching: '挖客引流', pii: '个人信息' },
    severity: { high: '高', medium: '中', low: '低' },
    alertStatus: { open: '待处理', acknowledged: '已确认', dismissed: '误报' },
    intent: {
      after_sales: '售后', checkin: '签到', coupon: '领券优惠', greeting: '问候', human_agent: '转人工', order_status: '查订单',
      other: '其他', price: '价格', product_info: '商品咨询', unsubscribe: '退订',
    },
    stage: {
      rule: '关键词规则', intent: '意图规则', fallback: '兜底回复', menu: '菜单', welcome: '欢迎语', faq: '常见问题', handover: '转人工',
      'command:checkin': '签到指令', 'command:coupon': '领券指令', 'command:dnd': '免打扰指令', 'command:nlp': '转人工',
      'handover:held': '人工接待中（机器人暂停）',
    },
    command: { checkin: '签到', coupon: '领券', dnd: '退订/订阅', nlp: '转人工' },
    action: { reply: '回复', news: '图文', welcome: '欢迎语', staff_alert: '通知员工', render: '发送时生成', push: '主动消息', group_notice: '群公告', handover: '转人工' },
    outcome: { sent: '已发送', already_sent: '他人已发', no_code: '无欢迎码', no_text: '无欢迎语', busy_gave_up: '繁忙放弃', failed: '失败', pending: '发送中' },
    outboxStatus: { pending: '待发送', dead: '发送失败', sent: '已发送' },
    hold: {
      opted_out: '已退订', quiet_hours: '免打扰时段', cap_person_day: '超过每人每日上限', cap_person_week: '超过每人每周上限',
      cap_group_minute: '超过群每分钟上限', douyin_proactive_day: '抖音每日主动消息上限', wecom_group_send_month: '企业微信群发每月上限',
    },
    topic: { coupon: '优惠券', checkin_reward: '签到奖励', digest: '签到日报', reminder: '提醒', group_welcome: '入群欢迎', batched: '合并消息' },
    role: { viewer: '只读', operator: '运营', admin: '管理员' },
    source: { reward: '签到奖励', wechat: '公众号消息', wecom: '企业微信消息', douyin: '抖音消息' },
    audit: {
      'script.save': '保存脚本', 'script.reload': '重新加载脚本', 'script.restore': '恢复历史版本', 'outbox.requeue': '重新发送',
      'outbox.requeue_bulk': '批量重新发送', 'risk.ack': '确认处理提醒', 'risk.dismiss': '标记误报', 'risk.reopen': '撤销处理', 'risk.bulk': '批量处理提醒',
      'dnd.set': '修改退订', 'staff.add': '添加员工', 'staff.update': '修改员工', 'staff.remove': '删除员工',
      'session.sign_in': '登录', 'session.sign_out': '退出',
    },
  };
  // label names a code for staff: its Chinese name, the code itself
  // only as a tooltip.
  function label(kind, code) { return (labels[kind] && labels[kind][code]) || code || '—'; }
  function channelName(state_) {
    if (!state_) return '无渠道';
    const ch = state.caps && state.caps.channels;
    return (ch && ch[state_]) || state_;
  }
  // personLabel shows a masked person: the board's tag, the masked id as
  // its tooltip.
  function personLabel(masked, tag) {
    if (!masked) return '—';
    if (masked.startsWith('group:')) return el('span', { title: masked, text: '群 ' + masked.split(':').pop() });
    const [kind] = masked.split(':');
    return el('span', { class: 'person', title: masked, 'data-person': masked }, tag || masked, el('small', { text: ' ' + label('platform', kind) }));
  }

  // ---------- tabs ----------

  // Siyu.tab registers a tab:
  //   id      the hash (#id) and the section's id (tab-<id>); a section
  //           missing from index.html is made in <main>
  //   label   the nav's text
  //   order   its place in the nav (home 0, scripts 10, alerts 20, …;
  //           leave gaps for others)
  //   load    async (section) => …, called each time the tab opens
  //   badge   optional (overview) => number|null, shown on the nav link
  //   visible optional () => bool (hidden when false, e.g. by role)
  //   brandBlind optional true: the tab's data names no brand, so the
  //           server refuses it to staff limited to brands (the tab
  //           shows why, and is not where they land)
  function tab(t) {
    state.tabs.push(t);
    state.tabs.sort((a, b) => (a.order || 0) - (b.order || 0));
    if (state.caps) buildNav();
  }

  function buildNav() {
    const nav = $('nav');
    const shown = state.tabs.filter((t) => !t.visible || t.visible());
    const locked = (t) => t.brandBlind && !allBrands();
    fill(nav, shown.map((t) => el('a', {
      href: '#' + t.id, 'data-tab': t.id, class: locked(t) ? 'locked' : null,
      title: locked(t) ? '这一页的数据不区分品牌，只对可查看全部品牌的员工开放' : null,
    }, t.label, el('span', { class: 'nav-badge', 'data-badge': t.id, hidden: true }))));
    for (const t of shown) {
      if (!$('tab-' + t.id)) $('main').append(el('section', { id: 'tab-' + t.id, class: 'tab', hidden: true }));
    }
    renderBadges();
  }

  function renderBadges() {
    for (const t of state.tabs) {
      const b = document.querySelector(`[data-badge="${t.id}"]`);
      if (!b) continue;
      const n = t.badge && state.overview ? t.badge(state.overview) : null;
      b.hidden = !n;
      b.textContent = n ? (n > 99 ? '99+' : String(n)) : '';
    }
  }

  // refreshBadges reads the home page's figures for the nav's badges.
  async function refreshBadges() {
    if (!feature('overview') && !state.caps) return;
    // The home page's figures name no brand: not for staff limited to
    // brands (the server refuses them).
    if (!allBrands()) { state.overview = null; renderBadges(); return null; }
    try { state.overview = await call('GET', '/overview', undefined, { quiet: true }); } catch (e) { state.overview = null; }
    renderBadges();
    return state.overview;
  }

  function has(module) { return !!(state.caps && state.caps.capabilities && state.caps.capabilities[module]); }
  function feature(name) { return !!(state.caps && state.caps.features && state.caps.features[name]); }
  const roleRank = { viewer: 1, operator: 2, admin: 3 };
  function can(role) { return !!state.auth && (roleRank[state.auth.role] || 0) >= roleRank[role]; }
  // myBrands are the brands the member is limited to; none: every brand.
  function myBrands() { return (state.auth && state.auth.brands) || []; }
  function allBrands() { return myBrands().length === 0; }

  // ---------- accounts: the switcher in the top bar ----------

  // account is the account chosen in the switcher, null for every
  // account.
  function account() { return state.accounts.list.find((a) => a.key === state.account) || null; }
  function accountLabel(a) {
    if (!a) return allBrands() ? '全部账号' : `全部账号（${myBrands().join('、')}）`;
    return `${a.default ? '默认账号' : a.name}（${label('platform', a.platform)}）`;
  }
  // scriptBrand is the brand whose folder holds a script
  // (brands/<brand>/…), '' for the scripts every account shares.
  function scriptBrand(file) {
    const m = /^brands\/([^/]+)\//.exec(file || '');
    return m ? m[1] : '';
  }

  async function loadAccounts() {
    try {
      const r = await call('GET', '/accounts');
      state.accounts = { list: r.accounts || [], brands: r.brands || [], configured: !!r.configured };
    } catch (e) {
      state.accounts = { list: [], brands: [], configured: false };
    }
    const sel = $('account-switch');
    const groups = new Map();
    for (const a of state.accounts.list) {
      const g = a.default ? '' : a.brand;
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(a);
    }
    fill(sel, el('option', { value: '*', text: accountLabel(null) }),
      [...groups].map(([brand, list]) => el('optgroup', { label: brand ? `品牌：${brand}` : '默认账号（环境变量配置）', 'data-brand': brand },
        list.map((a) => el('option', { value: a.key, text: accountLabel(a) })))));
    const saved = localStorage.getItem(ACCOUNT_KEY) || '*';
    state.account = state.accounts.list.some((a) => a.key === saved) ? saved : '*';
    sel.value = state.account;
    $('account-switch-wrap').hidden = !state.accounts.list.length;
  }
  // chooseAccount switches every page to an account ('*': every one).
  function chooseAccount(key) {
    state.account = state.accounts.list.some((a) => a.key === key) ? key : '*';
    localStorage.setItem(ACCOUNT_KEY, state.account);
    $('account-switch').value = state.account;
    route();
  }
  $('account-switch').addEventListener('change', (ev) => chooseAccount(ev.target.value));

  function route() {
    if (!state.caps) return;
    let id = location.hash.slice(1);
    const shown = state.tabs.filter((t) => !t.visible || t.visible());
    let t = shown.find((x) => x.id === id);
    if (!t) {
      // Staff limited to brands land on the first page they may read.
      t = shown.find((x) => allBrands() || !x.brandBlind) || shown[0];
      id = t.id;
    }
    state.current = id;
    for (const a of document.querySelectorAll('#nav a')) {
      a.classList.toggle('active', a.dataset.tab === id);
      if (a.dataset.tab === id) a.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    }
    for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== 'tab-' + id;
    document.body.dataset.tab = id;
    document.body.dataset.readonly = can('operator') ? '' : 'yes';
    $('flash').hidden = true; // a message about the last tab does not belong to this one
    const section = $('tab-' + id);
    refused(section, null);
    t.load(section).catch((e) => (e.status === 403 ? refused(section, e) : flash(`加载失败：${e.message}`, true)));
    refreshBadges();
  }

  // refused shows, in place of a tab's content, why the server refused
  // it (a page whose data names no brand, to staff limited to brands);
  // null takes the notice away.
  function refused(section, e) {
    section.classList.toggle('refused', !!e);
    const old = section.querySelector(':scope > .refusal');
    if (old) old.remove();
    if (e) section.prepend(el('div', { class: 'card refusal', role: 'alert' }, el('h2', { text: '无权查看' }), el('p', { text: e.message })));
  }
  window.addEventListener('hashchange', route);

  // ---------- sign in ----------

  async function enter() {
    state.caps = await call('GET', '/capabilities');
    $('login').hidden = true;
    $('app').hidden = false;
    const brands = allBrands() ? '' : ` · ${myBrands().join('、')}`;
    $('whoami').textContent = state.auth.via === 'token' ? '管理令牌' : `${state.auth.name}（${label('role', state.auth.role)}${brands}）`;
    await loadAccounts();
    buildNav();
    route();
  }

  async function signInStaff(name, password) {
    const r = await call('POST', '/session', { name, password });
    state.auth = { via: 'session', name: r.name, role: r.role, brands: r.brands || [], csrf: r.csrf };
    await enter();
  }

  async function signInToken(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    state.auth = { via: 'token', name: '管理令牌', role: 'admin' };
    try {
      await enter();
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      state.auth = null;
      throw e;
    }
  }

  async function signOut(message) {
    const a = state.auth;
    state.auth = null;
    state.caps = null;
    sessionStorage.removeItem(TOKEN_KEY);
    if (a && a.via === 'session' && !message) {
      try { await fetch(API + '/session', { method: 'DELETE', headers: { 'X-CSRF-Token': a.csrf }, credentials: 'same-origin' }); } catch (e) { /* gone anyway */ }
    }
    $('app').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('staff-password').value = '';
    $('token').value = '';
  }

  $('staff-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const name = $('staff-name').value.trim();
    const password = $('staff-password').value;
    if (!name || !password) return;
    $('staff-submit').disabled = true;
    $('login-error').textContent = '';
    try {
      await signInStaff(name, password);
    } catch (e) {
      state.auth = null;
      $('login-error').textContent = e.status === 401 ? '账号或密码不正确。' : e.status === 429 ? e.message : `无法登录：${e.message}`;
    } finally {
      $('staff-submit').disabled = false;
    }
  });
  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = $('token').value.trim();
    if (!token) return;
    $('login-submit').disabled = true;
    $('login-error').textContent = '';
    try {
      await signInToken(token);
    } catch (e) {
      $('login-error').textContent = e.status === 401 ? '令牌不正确。' : e.status === 429 ? e.message : `无法登录：${e.message}`;
    } finally {
      $('login-submit').disabled = false;
    }
  });
  $('login-mode').addEventListener('click', () => {
    const toToken = $('login-form').hidden;
    $('login-form').hidden = !toToken;
    $('staff-form').hidden = toToken;
    $('login-mode').textContent = toToken ? '改用员工账号登录' : '改用管理令牌登录';
    $('login-error').textContent = '';
    (toToken ? $('token') : $('staff-name')).focus();
  });
  $('logout').addEventListener('click', () => signOut(''));

  // start: a token in this tab, else a session cookie, else sign in.
  async function start() {
    if (sessionStorage.getItem(TOKEN_KEY)) {
      try { await signInToken(sessionStorage.getItem(TOKEN_KEY)); return; } catch (e) { /* ask again */ }
    }
    try {
      const who = await fetch(API + '/session', { credentials: 'same-origin', cache: 'no-store' });
      if (who.ok) {
        const r = await who.json();
        state.auth = { via: 'session', name: r.name, role: r.role, brands: r.brands || [], csrf: r.csrf };
        await enter();
        return;
      }
    } catch (e) { /* not signed in */ }
    await signOut('');
    $('staff-name').focus();
  }

  window.Siyu = {
    tab, call, el, svg, fill, $, flash, confirmAction, fmtTime, fmtDay, table, empty, absent, errorBox,
    label, labels, channelName, personLabel, has, feature, can, refreshBadges, ApiError,
    allBrands, myBrands, account, accountLabel, chooseAccount, scriptBrand,
    get accounts() { return state.accounts; },
    get caps() { return state.caps; },
    get auth() { return state.auth; },
    get overview() { return state.overview; },
  };
  // Every tab's file has registered once the page is parsed (defer keeps
  // their order); then start.
  document.addEventListener('DOMContentLoaded', () => { start(); });
})();
