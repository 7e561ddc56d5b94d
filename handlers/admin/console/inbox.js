// 私域助手 staff console: the inbox of conversations handed to a person
// (bot/handover). Its own file; it registers its tab with app.js's
// Siyu.tab and uses the shared helpers. Customers' text goes in as text, never
// as HTML.
'use strict';

(() => {
  const S = window.Siyu;
  if (!S) return;
  const { call, el, fill, empty, absent, errorBox, flash, fmtTime, has, label } = S;
  const platformNames = new Proxy({}, { get: (_, p) => label('platform', p) });
  const NAME_KEY = 'siyu.staff.name';
  const REFRESH_MS = 10000; // a waiting customer shows up within seconds, without hammering the API
  const $ = (id) => document.getElementById(id);

  // The tab's section and the module's stylesheet; Siyu.tab (below) puts
  // it in the nav, first after the home page: it is what needs a person
  // now.
  document.head.append(el('link', { rel: 'stylesheet', href: 'ui/inbox.css' }));
  const section = el('section', { id: 'tab-inbox', class: 'tab', hidden: true },
    el('div', { class: 'card inbox-bar' },
      el('div', { class: 'toolbar' },
        el('h2', { text: '人工会话' }),
        el('span', { id: 'inbox-count', class: 'badge' }),
        el('span', { class: 'grow' }),
        el('label', { class: 'check', for: 'inbox-staff-name' }, '我是'),
        el('input', { id: 'inbox-staff-name', placeholder: '你的名字', maxlength: '64', autocomplete: 'name' }),
        el('button', { type: 'button', id: 'inbox-refresh', class: 'ghost' }, '刷新')),
      el('div', { id: 'inbox-stats', class: 'inbox-stats' })),
    el('div', { id: 'inbox-panes', class: 'inbox-panes' },
      el('div', { class: 'card inbox-list-card' }, el('ul', { id: 'inbox-list', class: 'inbox-list' })),
      el('div', { class: 'card inbox-thread-card', id: 'inbox-thread' }, empty('选择左侧的会话查看消息。'))));
  document.querySelector('main').append(section);

  const state = { open: '', timer: 0, seq: 0 };
  const nameInput = $('inbox-staff-name');
  nameInput.value = localStorage.getItem(NAME_KEY) || '';
  nameInput.addEventListener('change', () => localStorage.setItem(NAME_KEY, nameInput.value.trim()));
  $('inbox-refresh').addEventListener('click', () => load().catch((e) => flash(e.message, true)));

  const reasonNames = { keyword: '关键词', intent: '意图识别', risk: '风险', platform: '平台' };
  const fromNames = { customer: '客户', bot: '机器人', staff: '客服' };

  // since says how long ago in words staff read at a glance.
  function since(seconds) {
    const m = Math.floor(seconds / 60);
    if (m < 1) return '不到 1 分钟';
    if (m < 60) return `${m} 分钟`;
    const h = Math.floor(m / 60);
    if (h < 24) return m % 60 ? `${h} 小时 ${m % 60} 分` : `${h} 小时`;
    const d = Math.floor(h / 24);
    return h % 24 ? `${d} 天 ${h % 24} 小时` : `${d} 天`;
  }
  function secondsUntil(iso, nowMs) { return Math.floor((new Date(iso).getTime() - nowMs) / 1000); }

  // load refreshes the list (and the open conversation), and keeps doing
  // so while the tab is shown.
  async function load() {
    clearTimeout(state.timer);
    if (!has('inbox')) {
      fill($('inbox-list'), absent('人工会话'));
      fill($('inbox-thread'));
      return;
    }
    await Promise.all([loadList(), loadStats(), state.open ? loadThread(state.open, false) : null]);
    state.timer = setTimeout(() => {
      if (document.body.dataset.tab === 'inbox' && !document.hidden) load().catch(() => {});
    }, REFRESH_MS);
  }

  async function loadList() {
    // The account chosen in the top bar, when one is.
    const a = S.account();
    const data = await call('GET', '/inbox/conversations' + (a ? '?' + new URLSearchParams({ account: a.key }) : ''));
    const convs = data.conversations || [];
    const waiting = convs.filter((c) => c.waiting_since).length;
    $('inbox-count').textContent = `${a ? S.accountLabel(a) + '：' : ''}${convs.length} 个会话，${waiting} 个等待回复`;
    if (!convs.length) { fill($('inbox-list'), el('li', { class: 'empty', text: '没有转人工的会话。' })); return; }
    fill($('inbox-list'), convs.map((c) => el('li', {
      class: 'inbox-item' + (c.id === state.open ? ' open' : '') + (c.waiting_since ? ' waiting' : ''),
      'data-id': c.id, tabindex: '0', role: 'button',
      onclick: () => openThread(c.id),
      onkeydown: (ev) => { if (ev.key === 'Enter') openThread(c.id); },
    },
    el('div', { class: 'inbox-item-top' },
      el('span', { class: 'badge', text: platformNames[c.platform] || c.platform }),
      c.account ? el('span', { class: 'badge', 'data-account': c.account, title: c.brand ? `品牌 ${c.brand}` : null, text: c.account }) : null,
      el('b', { text: c.customer }),
      el('span', { class: 'grow' }),
      c.waiting_since
        ? el('span', { class: 'wait' + (c.waiting_seconds >= 600 ? ' long' : ''), 'data-seconds': c.waiting_seconds, text: `等待 ${since(c.waiting_seconds)}` })
        : el('span', { class: 'wait done', text: '已回复' })),
    el('div', { class: 'meta' },
      `${reasonNames[c.reason] || c.reason} · 转人工于 ${fmtTime(c.since)}`,
      c.assignee ? ` · 负责人 ${c.assignee}` : ' · 未分配',
      c.window_open ? '' : ' · 回复窗口已关闭'))));
  }

  async function loadStats() {
    if (!S.allBrands()) {
      // The counts name no brand: the server refuses them to staff
      // limited to brands.
      fill($('inbox-stats'), el('span', { class: 'hint', text: '转人工统计不区分品牌，只对可查看全部品牌的员工显示。' }));
      return;
    }
    const q = new URLSearchParams({ days: '7', tz_offset: String(-new Date().getTimezoneOffset()) });
    const data = await call('GET', '/inbox/stats?' + q);
    const days = data.days || [];
    const today = days[days.length - 1] || { by_reason: {}, total: 0 };
    const week = days.reduce((n, d) => n + d.total, 0);
    const replied = days.reduce((n, d) => n + d.replied, 0);
    const waitSum = days.reduce((n, d) => n + (d.avg_wait_seconds || 0) * d.replied, 0);
    const reasons = Object.entries(today.by_reason || {}).filter(([, n]) => n > 0)
      .map(([r, n]) => el('span', { class: 'badge', text: `${reasonNames[r] || r} ${n}` }));
    fill($('inbox-stats'),
      el('span', { id: 'inbox-today', text: `今日转人工 ${today.total}` }), ...reasons,
      el('span', { class: 'hint', text: `近 7 天 ${week} 次` + (replied ? `，首次回复平均等待 ${since(waitSum / replied)}` : '') }));
  }

  function openThread(id) {
    state.open = id;
    section.classList.add('thread-open');
    for (const li of document.querySelectorAll('#inbox-list .inbox-item')) li.classList.toggle('open', li.dataset.id === id);
    loadThread(id, true).catch((e) => fill($('inbox-thread'), errorBox(e)));
  }

  function closeThread() {
    state.open = '';
    section.classList.remove('thread-open');
    for (const li of document.querySelectorAll('#inbox-list .inbox-item')) li.classList.remove('open');
    fill($('inbox-thread'), empty('选择左侧的会话查看消息。'));
  }

  // loadThread shows a conversation. A refresh (fresh false) keeps the
  // draft and the reply box; only the messages and the notices change.
  async function loadThread(id, fresh) {
    const seq = ++state.seq;
    const data = await call('GET', '/inbox/conversations/' + encodeURIComponent(id));
    if (seq !== state.seq || state.open !== id) return; // another one was opened meanwhile
    const s = data.session;
    const c = data.conversation;
    const messages = el('ol', { id: 'inbox-messages', class: 'inbox-messages' }, (data.messages || []).map((m) => el('li', {
      class: 'msg ' + m.from, 'data-from': m.from,
    }, el('small', { text: `${m.author || fromNames[m.from] || m.from} · ${fmtTime(m.at)}` }), m.text)));
    if (!fresh && $('inbox-messages') && $('inbox-thread').dataset.id === id && data.held) {
      const box = $('inbox-messages');
      const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 8;
      box.replaceWith(messages);
      if (atEnd) messages.scrollTop = messages.scrollHeight;
      fill($('inbox-window'), windowNotice(c));
      return;
    }
    const head = el('div', { class: 'toolbar inbox-thread-head' },
      el('button', { type: 'button', id: 'inbox-back', class: 'ghost', onclick: closeThread }, '← 返回列表'),
      el('b', { text: `${platformNames[s.platform] || s.platform} · ${s.customer}` }),
      el('span', { class: 'badge', text: reasonNames[s.reason] || s.reason }),
      el('span', { class: 'grow' }));
    if (!data.held) {
      const ended = { staff: '客服已结束', platform: '平台已结束', quiet: '长时间无消息，已自动结束' }[s.end_reason] || '已结束';
      fill($('inbox-thread'), head, el('p', { id: 'inbox-ended', class: 'note', text: `${ended}（${fmtTime(s.ended_at)}），机器人已恢复回答。` }), messages);
      $('inbox-thread').dataset.id = id;
      return;
    }
    const text = el('textarea', { id: 'inbox-reply-text', rows: '3', maxlength: '2000', placeholder: '输入回复，Ctrl+Enter 发送' });
    const send = el('button', { type: 'submit', id: 'inbox-reply-send', class: 'primary' }, '发送');
    const form = el('form', { id: 'inbox-reply', class: 'inbox-reply' }, text, el('div', { class: 'row' },
      el('span', { id: 'inbox-window', class: 'window' }, windowNotice(c)), el('span', { class: 'grow' }), send));
    form.addEventListener('submit', (ev) => { ev.preventDefault(); reply(id, text, send); });
    text.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); reply(id, text, send); } });
    send.disabled = !c.window_open;
    text.disabled = !c.window_open;
    const assignee = el('input', { id: 'inbox-assign-name', placeholder: '负责人', maxlength: '64', value: c.assignee || '' });
    const end = el('button', { type: 'button', id: 'inbox-end', class: 'danger ghost' }, '结束会话');
    end.addEventListener('click', () => endThread(id, end));
    const actions = el('div', { class: 'toolbar inbox-actions' },
      el('span', { class: 'meta', text: `转人工于 ${fmtTime(s.started_at)}` + (c.agent ? ` · 平台客服 ${c.agent}` : '') }),
      el('span', { class: 'grow' }),
      assignee,
      el('button', { type: 'button', id: 'inbox-assign', class: 'ghost', onclick: () => assign(id, assignee) }, '分配'),
      end);
    fill($('inbox-thread'), head, actions, messages, form);
    $('inbox-thread').dataset.id = id;
    messages.scrollTop = messages.scrollHeight;
  }

  // windowNotice says how long staff may still reply, or plainly that
  // they may not.
  function windowNotice(c) {
    if (!c) return '';
    if (!c.window_open) {
      return el('span', { class: 'closed', 'data-state': 'closed', text: '回复窗口已关闭：客户最后一条消息已超过平台允许的时间，平台不再接受客服消息，请等客户再次来信。' });
    }
    if (!c.window_ends) return el('span', { 'data-state': 'open', text: '可以回复。' });
    const left = secondsUntil(c.window_ends, Date.now());
    return el('span', { class: left < 3600 ? 'soon' : '', 'data-state': 'open', text: `可以回复，回复窗口还剩 ${since(Math.max(0, left))}。` });
  }

  async function reply(id, text, send) {
    const body = text.value.trim();
    if (!body || send.disabled) return;
    send.disabled = true;
    try {
      await call('POST', `/inbox/conversations/${encodeURIComponent(id)}/reply`, { text: body, staff: nameInput.value.trim() });
      text.value = '';
      flash('已发送。');
      await Promise.all([loadThread(id, false), loadList()]);
    } catch (e) {
      fill($('inbox-window'), el('span', { class: 'closed', id: 'inbox-reply-error', role: 'alert', text: e.message }));
    } finally {
      send.disabled = false;
    }
  }

  async function assign(id, input) {
    try {
      await call('POST', `/inbox/conversations/${encodeURIComponent(id)}/assign`, { staff: input.value.trim() });
      flash(input.value.trim() ? `已分配给 ${input.value.trim()}。` : '已取消分配。');
      await loadList();
    } catch (e) { flash(e.message, true); }
  }

  // endThread asks once more on the button itself (no browser dialog),
  // then ends the hand-over: the bot answers the customer again.
  async function endThread(id, button) {
    if (button.dataset.confirm !== '1') {
      button.dataset.confirm = '1';
      button.textContent = '确认结束？机器人将恢复回答';
      setTimeout(() => { if (button.isConnected) { button.dataset.confirm = ''; button.textContent = '结束会话'; } }, 5000);
      return;
    }
    button.disabled = true;
    try {
      await call('POST', `/inbox/conversations/${encodeURIComponent(id)}/end`);
      flash('会话已结束，机器人已恢复回答。');
      await Promise.all([loadThread(id, true), loadList()]);
    } catch (e) {
      flash(e.message, true);
      button.disabled = false;
    }
  }

  S.tab({ id: 'inbox', label: '人工会话', order: 5, load, visible: () => has('inbox') });
})();
