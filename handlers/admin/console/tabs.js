// The operations tabs: 风险提醒 (a queue), 优惠活动, 签到榜, 渠道客户,
// 消息队列 and 免打扰. Destructive actions ask first; reversible ones
// offer 撤销.
'use strict';

(() => {
  const S = window.Siyu;
  const { el, fill, $, call, label } = S;
  const onErr = (e) => S.flash(e.message, true);

  // ---------- alerts: one card per message, sorted by severity then time ----------

  const sevRank = { high: 3, medium: 2, low: 1 };
  const alerts = { groups: [], selected: new Set() };

  function fillCategories() {
    const sel = $('alerts-category');
    if (sel.options.length) return;
    fill(sel, el('option', { value: '', text: '全部类别' }), Object.entries(S.labels.category).map(([k, v]) => el('option', { value: k, text: v })));
  }

  // group puts the events of one message (one per category) on one card:
  // same sender, same masked text, recorded within a few seconds.
  function group(events) {
    const groups = [];
    const byKey = new Map();
    for (const e of events) {
      const t = Math.floor(new Date(e.created_at).getTime() / 5000);
      const key = `${e.platform}|${e.account || ''}|${e.conversation}|${e.sender}|${e.text_masked}|${t}`;
      let g = byKey.get(key);
      if (!g) { g = { key, events: [], severity: e.severity, at: e.created_at, e }; byKey.set(key, g); groups.push(g); }
      g.events.push(e);
      if ((sevRank[e.severity] || 0) > (sevRank[g.severity] || 0)) g.severity = e.severity;
    }
    groups.sort((a, b) => (sevRank[b.severity] || 0) - (sevRank[a.severity] || 0) || new Date(b.at) - new Date(a.at));
    return groups;
  }

  async function loadAlerts() {
    const body = $('alerts-body');
    fillCategories();
    if (!S.has('risk')) { fill(body, S.absent('风险识别')); $('alerts-bulk').hidden = true; return; }
    const choice = $('alerts-status').value;
    // 仅记录 are open events that alert nobody (a category switched off
    // in the scripts, or below its severity): recorded for review, not
    // waiting. A message waits when any of its categories alerts.
    const review = choice === 'review';
    const status = review ? 'open' : choice;
    const q = new URLSearchParams({ status, limit: '500' });
    if ($('alerts-category').value) q.set('category', $('alerts-category').value);
    // The account chosen in the top bar, when one is; staff limited to
    // brands get their brands' events only either way.
    const a = S.account();
    if (a) q.set('account', a.key);
    const data = await call('GET', '/risk/events?' + q);
    alerts.groups = group(data.events || []);
    if (status === 'open') alerts.groups = alerts.groups.filter((g) => g.events.some((e) => e.alerting) !== review);
    alerts.selected.clear();
    const open = status === 'open' && S.can('operator');
    const waiting = status === 'open' && !review;
    $('alerts-bulk').hidden = !open || !alerts.groups.length;
    updateSelected();
    if (!alerts.groups.length) { fill(body, S.empty(waiting ? '没有需要处理的提醒。' : '没有记录。')); return; }
    fill(body, el('ul', { class: 'alerts' }, alerts.groups.map((g) => {
      const e = g.e;
      const ids = g.events.map((x) => x.id);
      return el('li', { class: 'alert sev-' + g.severity, 'data-id': ids[0], 'data-ids': ids.join(','), 'data-status': e.status },
        el('header', {},
          open ? el('input', { type: 'checkbox', class: 'pick', 'aria-label': '选择', onchange: (ev) => { ev.target.checked ? alerts.selected.add(g) : alerts.selected.delete(g); updateSelected(); } }) : null,
          el('span', { class: 'badge ' + g.severity, text: '风险' + label('severity', g.severity) }),
          e.account ? el('span', { class: 'badge', 'data-account': e.account, title: e.brand ? `品牌 ${e.brand}` : null, text: e.account }) : null,
          g.events.map((x) => el('b', { class: 'cat' + (x.alerting ? '' : ' muted'), title: x.alerting ? x.category : `${x.category}：仅记录，脚本中未开启提醒`, text: label('category', x.category) + (x.count > 1 ? ` ×${x.count}` : '') + (x.alerting ? '' : '（仅记录）') })),
          el('span', { class: 'badge', text: label('alertStatus', e.status) })),
        e.text_masked ? el('div', { class: 'evidence', text: e.text_masked }) : null,
        el('div', { class: 'meta', text: '依据：' + g.events.map((x) => x.evidence).filter(Boolean).join('、') }),
        el('div', { class: 'meta' }, `${label('platform', e.platform)} · ${e.conversation ? '群 ' + e.conversation : '单聊'} · `, S.personLabel(e.sender, e.sender_tag), ` · ${S.fmtTime(e.created_at)}`),
        e.status !== 'open' && e.handled_by ? el('div', { class: 'meta handled', text: `${e.handled_by === 'token' ? '管理令牌' : e.handled_by} 于 ${S.fmtTime(e.handled_at)} ${label('alertStatus', e.status)}` }) : null,
        open ? el('div', { class: 'actions' },
          el('button', { type: 'button', class: 'danger ghost', 'data-act': 'dismiss', onclick: () => decide([g], 'dismiss') }, '标记误报'),
          el('button', { type: 'button', class: 'primary', 'data-act': 'ack', onclick: () => decide([g], 'ack') }, '确认处理')) : null);
    })));
  }
  function updateSelected() {
    $('alerts-selected').textContent = alerts.selected.size ? `已选 ${alerts.selected.size} 条` : '';
    $('alerts-bulk-ack').disabled = $('alerts-bulk-dismiss').disabled = !alerts.selected.size;
    $('alerts-all').checked = alerts.selected.size > 0 && alerts.selected.size === alerts.groups.length;
  }
  $('alerts-all').addEventListener('change', (ev) => {
    for (const [i, box] of document.querySelectorAll('#alerts-body .pick').entries()) {
      box.checked = ev.target.checked;
      if (ev.target.checked) alerts.selected.add(alerts.groups[i]); else alerts.selected.delete(alerts.groups[i]);
    }
    updateSelected();
  });
  $('alerts-bulk-ack').addEventListener('click', () => decide([...alerts.selected], 'ack'));
  $('alerts-bulk-dismiss').addEventListener('click', () => decide([...alerts.selected], 'dismiss'));

  // decide acknowledges or dismisses the events of the chosen messages,
  // after staff confirm; 撤销 reopens them.
  async function decide(groups, act) {
    const ids = groups.flatMap((g) => g.events.map((e) => e.id));
    if (!ids.length) return;
    const what = act === 'ack' ? '确认处理' : '标记为误报';
    const text = groups.length > 1 ? `将 ${groups.length} 条消息的提醒${what}？` : `将这条消息的提醒${what}？`;
    if (!(await S.confirmAction(text + (act === 'dismiss' ? '误报会用于改进识别。' : ''), what))) return;
    try {
      await call('POST', '/risk/events/bulk', { ids, action: act });
      S.flash(`已${what} ${groups.length} 条。`, false, async () => {
        await call('POST', '/risk/events/bulk', { ids, action: 'reopen' });
        S.flash('已撤销。');
        await loadAlerts();
      });
      await loadAlerts();
      S.refreshBadges();
    } catch (e) { onErr(e); }
  }
  for (const id of ['alerts-status', 'alerts-category']) $(id).addEventListener('change', () => loadAlerts().catch(onErr));
  $('alerts-refresh').addEventListener('click', () => loadAlerts().catch(onErr));

  // ---------- campaigns ----------

  async function loadCampaigns() {
    const body = $('campaigns-body');
    if (!S.has('coupon')) { fill(body, S.absent('优惠券')); $('claims-card').hidden = true; return; }
    const data = await call('GET', '/coupon/campaigns');
    const campaigns = data.campaigns || [];
    if (!campaigns.length) { fill(body, S.empty('还没有活动。')); return; }
    fill(body, el('div', { class: 'campaigns' }, campaigns.map((c) => {
      const stock = c.stock || 0;
      const used = stock ? Math.min(1, (c.issued || 0) / stock) : 0;
      const bar = el('span');
      bar.style.width = Math.round(used * 100) + '%';
      const left = stock ? (c.remaining / stock) : 0;
      const channels = Object.entries(c.per_channel || {});
      return el('div', { class: 'campaign', 'data-id': c.id },
        el('b', { text: c.name || c.id }),
        el('div', { class: 'meta hint campaign-dates', text: `${S.fmtTime(c.start)} 至 ${S.fmtTime(c.end)}` }),
        el('div', { class: 'stock' + (c.remaining <= 0 ? ' out' : left < 0.1 ? ' low' : ''), role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': stock, 'aria-valuenow': c.issued || 0 }, bar),
        el('div', {}, `已发 ${c.issued || 0} / 库存 ${stock}，剩余 ${c.remaining ?? stock - (c.issued || 0)}`),
        channels.length ? el('div', { class: 'chips' }, channels.map(([k, v]) => el('span', { class: 'badge', 'data-channel': k, title: k || '无渠道', text: `${k ? S.channelName(k) : '无渠道（关键词/签到）'}：${v}` }))) : null,
        el('div', {}, el('button', { type: 'button', class: 'ghost', onclick: () => loadClaims(c) }, '领取记录')));
    })));
  }
  function sourceText(x) {
    if (x.source === 'reward') return `签到奖励（${x.source_detail || '里程碑'}）`;
    return label('source', x.source);
  }
  async function loadClaims(c) {
    const card = $('claims-card');
    card.hidden = false;
    $('claims-title').textContent = `领取记录 · ${c.name || c.id}`;
    try {
      const data = await call('GET', `/coupon/campaigns/${encodeURIComponent(c.id)}/claims?limit=100`);
      const claims = data.claims || [];
      fill($('claims-body'), claims.length
        ? S.table(['用户', '券码', '渠道', '来源', '时间'], claims.map((x) => [S.personLabel(x.person, x.tag), x.code, x.channel ? S.channelName(x.channel) : '无渠道', sourceText(x), S.fmtTime(x.created_at)]))
        : S.empty('还没有人领取。'));
    } catch (e) { fill($('claims-body'), S.errorBox(e)); }
    // On a phone the list opens below every campaign: bring it up.
    card.scrollIntoView({ block: 'start', behavior: 'instant' });
  }
  $('campaigns-refresh').addEventListener('click', () => loadCampaigns().catch(onErr));

  // ---------- check-in boards ----------

  async function loadBoards() {
    const body = $('boards-body');
    if (!S.has('checkin')) { fill(body, S.absent('签到')); fill($('checkin-history-body')); return; }
    const sel = $('boards-scope');
    if (!sel.options.length) {
      const s = await call('GET', '/checkin/scopes');
      fill(sel, (s.scopes || []).map((x) => el('option', { value: x.scope, text: `${scopeName(x.scope)}（今日 ${x.checkins_today}）` })));
    }
    if (!sel.options.length) { fill(body, S.empty('还没有人签到。')); return; }
    const q = new URLSearchParams({ scope: sel.value, period: $('boards-period').value });
    const b = await call('GET', '/checkin/boards?' + q);
    const rows = (list, streak) => (list || []).map((r) => [String(r.rank), S.personLabel(r.person, r.name), String(streak ? r.streak : r.points), String(streak ? r.points : r.streak)]);
    fill(body, el('div', { class: 'boards' },
      el('div', {}, el('h3', { text: '积分榜' }), b.by_points && b.by_points.length ? S.table(['名次', '用户', '积分', '连续天数'], rows(b.by_points, false), [0, 2, 3]) : S.empty('暂无签到。')),
      el('div', {}, el('h3', { text: '连续签到榜' }), b.by_streak && b.by_streak.length ? S.table(['名次', '用户', '连续天数', '积分'], rows(b.by_streak, true), [0, 2, 3]) : S.empty('暂无签到。'))));
  }
  // scopeName names a scope (platform:account[:group]) for staff.
  function scopeName(s) {
    const [p, acct, grp] = s.split(':');
    return `${label('platform', p)}${grp ? ' 群 ' + grp : ' 单聊'}` + (acct ? `（${acct.length > 10 ? acct.slice(0, 4) + '…' + acct.slice(-4) : acct}）` : '');
  }
  $('boards-scope').addEventListener('change', () => loadBoards().catch(onErr));
  $('boards-period').addEventListener('change', () => loadBoards().catch(onErr));
  $('history-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!S.has('checkin')) return;
    const person = $('history-person').value.trim();
    if (!person) return;
    try {
      const h = await call('GET', '/checkin/history?' + new URLSearchParams({ person, scope: $('boards-scope').value || '' }));
      fill($('checkin-history-body'), el('p', {}, S.personLabel(h.person, h.tag), `：累计 ${h.total} 分，当前连续 ${h.streak} 天`),
        (h.days || []).length ? S.table(['日期', '积分', '连续天数'], h.days.map((d) => [d.day, String(d.points), String(d.streak)]), [1, 2]) : S.empty('这位用户在该范围没有签到记录。'));
    } catch (e) { fill($('checkin-history-body'), S.errorBox(e)); }
  });

  // ---------- contacts per channel: an SVG chart drawn here ----------

  const palette = ['#0f7b6c', '#d9822b', '#3b6fd1', '#c2417a', '#7a5cc8', '#5a8f29', '#b0453a', '#2c8fa8'];

  async function loadContacts() {
    const body = $('contacts-body');
    if (!S.feature('contacts')) { fill(body, S.absent('企业微信渠道')); return; }
    // Days are the scripts' days (the server's default zone).
    const data = await call('GET', '/contacts?' + new URLSearchParams({ days: $('contacts-days').value }));
    const shown = data.channels.filter((c) => c.total > 0).slice(0, palette.length);
    fill(body,
      shown.length ? chart(data.days, shown) : S.empty('这段时间没有新增客户。'),
      shown.length ? el('ul', { class: 'legend' }, shown.map((c, i) => { const sw = el('i'); sw.style.background = palette[i]; return el('li', {}, sw, c.name || S.channelName(c.state)); })) : null,
      S.table(['渠道', '渠道标识', '新增', '欢迎语结果'], data.channels.map((c) => [
        c.name || S.channelName(c.state), c.state || '—', String(c.total),
        el('span', { class: 'chips' }, Object.entries(c.outcomes).map(([k, v]) => el('span', { class: 'badge' + (k === 'sent' ? ' good' : k === 'failed' ? ' high' : ''), title: k, text: `${label('outcome', k)} ${v}` }))),
      ]), [2]));
  }
  // chart draws one line per channel. The drawing is as wide as its box
  // (not scaled), so its labels stay legible on a phone and a laptop.
  function chart(days, channels) {
    const W = Math.max(280, Math.min($('contacts-body').clientWidth || 720, document.documentElement.clientWidth - 40)), H = W < 500 ? 200 : 260, L = 32, R = 12, T = 10, B = 26;
    const max = Math.max(1, ...channels.flatMap((c) => c.per_day));
    const top = max <= 4 ? max : Math.ceil(max / 4) * 4;
    const x = (i) => L + (days.length === 1 ? (W - L - R) / 2 : i * (W - L - R) / (days.length - 1));
    const y = (v) => T + (H - T - B) * (1 - v / top);
    const g = S.svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': '各渠道每日新增客户折线图', id: 'contacts-chart' });
    const ticks = Math.min(4, top);
    for (let k = 0; k <= ticks; k++) {
      const v = Math.round(top * k / ticks);
      g.append(S.svg('line', { class: k ? 'grid' : 'axis', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
        S.svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', text: String(v) }));
    }
    const every = Math.max(1, Math.ceil(days.length / Math.max(2, Math.floor((W - L - R) / 70))));
    const last = days.length - 1;
    days.forEach((d, i) => {
      if (i !== last && (i % every || last - i < every * 0.7)) return;
      const anchor = days.length > 1 && i === 0 ? 'start' : i === last && days.length > 1 ? 'end' : 'middle';
      g.append(S.svg('text', { x: x(i), y: H - 8, 'text-anchor': anchor, text: d.slice(5) }));
    });
    channels.forEach((c, ci) => {
      const pts = c.per_day.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      g.append(S.svg('polyline', { points: pts, stroke: palette[ci], 'data-channel': c.state }));
      c.per_day.forEach((v, i) => {
        if (!v) return;
        g.append(S.svg('circle', { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 3, fill: palette[ci] },
          S.svg('title', { text: `${c.name || c.state} ${days[i]}：${v}` })));
      });
    });
    return g;
  }
  $('contacts-days').addEventListener('change', () => loadContacts().catch(onErr));

  // ---------- outbox: grouped by error, paged, bulk requeue ----------

  const outbox = { before: 0, pages: [] };
  async function loadOutbox(page) {
    const status = $('outbox-status').value;
    if (page === undefined) { outbox.pages = []; outbox.before = 0; }
    const q = new URLSearchParams({ status, limit: '50' });
    if (outbox.before) q.set('before', String(outbox.before));
    const data = await call('GET', '/outbox?' + q);
    const counts = data.counts || {};
    const items = data.items || [];
    const groups = data.groups || [];
    const canAct = status === 'dead' && S.can('operator');
    fill($('outbox-body'),
      el('div', { class: 'chips' }, ['pending', 'dead', 'sent'].map((k) => el('span', { class: 'badge', text: `${label('outboxStatus', k)} ${counts[k] || 0}` }))),
      status === 'dead' && groups.length ? el('ul', { class: 'reasons', id: 'outbox-groups' }, groups.map((g) => el('li', { 'data-reason': g.reason },
        el('b', { text: `${g.count} 条 · ${label('platform', g.platform)}` }),
        el('span', { class: 'hint', text: g.hint }),
        el('details', {}, el('summary', { text: '原始错误' }), el('code', { text: g.reason })),
        canAct && g.resend_helps ? el('button', { type: 'button', class: 'ghost', 'data-act': 'requeue-group', onclick: () => requeue(g.ids, `这 ${g.ids.length} 条「${g.hint.split('：')[0]}」的消息`) }, `全部重新发送（${g.ids.length}）`) : null))) : null,
      items.length ? S.table(['编号', '平台', '类型', '尝试', '下次', '错误', '创建', ''], items.map((it) => [
        String(it.id), label('platform', it.platform), label('action', it.kind), String(it.attempts), S.fmtTime(it.next_at),
        el('span', {}, el('span', { class: 'hint', text: it.hint || '' }), it.last_error ? el('details', {}, el('summary', { text: '原始错误' }), el('code', { text: it.last_error })) : '—'),
        S.fmtTime(it.created_at),
        it.status === 'dead' && canAct ? el('button', { type: 'button', class: 'ghost', 'data-act': 'requeue', title: it.resend_helps ? '' : '重新发送多半无济于事', onclick: () => requeue([it.id], `消息 ${it.id}`) }, '重新发送') : '',
      ]), [0, 3], (i) => ({ 'data-id': items[i].id })) : S.empty('没有消息。'));
    const pager = $('outbox-pager');
    fill(pager,
      outbox.pages.length ? el('button', { type: 'button', class: 'ghost', onclick: () => { outbox.before = outbox.pages.pop(); loadOutbox(outbox.pages.length).catch(onErr); } }, '上一页') : null,
      data.next_before ? el('button', { type: 'button', class: 'ghost', id: 'outbox-next', onclick: () => { outbox.pages.push(outbox.before); outbox.before = data.next_before; loadOutbox(outbox.pages.length).catch(onErr); } }, '下一页') : null);
  }
  async function requeue(ids, what) {
    if (!(await S.confirmAction(`重新发送${what}？平台会再次尝试投递给用户。`, '重新发送'))) return;
    try {
      const r = await call('POST', '/outbox/requeue', { ids });
      S.flash(ids.length === 1 ? `消息 ${ids[0]} 已重新排队。` : `${r.requeued} 条消息已重新排队。`);
      await loadOutbox();
      S.refreshBadges();
    } catch (e) { onErr(e); }
  }
  $('outbox-status').addEventListener('change', () => loadOutbox().catch(onErr));
  $('outbox-refresh').addEventListener('click', () => loadOutbox().catch(onErr));
  $('scripts-reload').addEventListener('click', async () => {
    try { const r = await call('POST', '/scripts/reload'); S.flash(`脚本已重新加载（版本 ${r.version}）。`); } catch (e) {
      S.flash(e.message + (e.details.length ? '：' + e.details.map((d) => `${d.file}:${d.line} ${d.message}`).join('；') : ''), true);
    }
  });

  // ---------- do-not-disturb ----------

  const optouts = { before: '', pages: [] };
  async function loadDND() {
    const body = $('dnd-held-body');
    if (!S.has('dnd')) { fill(body, S.absent('免打扰')); fill($('dnd-person-body')); fill($('dnd-optouts-body')); return; }
    const data = await call('GET', '/dnd/held?limit=100');
    const held = data.held || [];
    fill(body, held.length ? S.table(['用户', '类型', '原因', '暂缓到', '时间'], held.map((h) => [S.personLabel(h.person, h.tag), label('topic', h.topic), label('hold', h.reason), h.until ? S.fmtTime(h.until) : '不再发送', S.fmtTime(h.created_at)])) : S.empty('没有被暂缓的消息。'));
    await loadOptOuts();
  }
  async function loadOptOuts(page) {
    if (page === undefined) { optouts.before = ''; optouts.pages = []; }
    const q = new URLSearchParams({ limit: '20' });
    if (optouts.before) q.set('before', optouts.before);
    const search = $('optouts-search').value.trim();
    if (search) q.set('q', search);
    let data;
    try { data = await call('GET', '/dnd/opted-out?' + q); } catch (e) { fill($('dnd-optouts-body'), S.errorBox(e)); fill($('optouts-pager')); return; }
    const list = data.people || [];
    fill($('dnd-optouts-body'),
      el('p', { class: 'hint', id: 'optouts-total', text: `共 ${data.total} 人退订，今天 ${data.today} 人。` }),
      list.length ? S.table(['用户', '退订时间', ''], list.map((p) => [S.personLabel(p.person, p.tag), S.fmtTime(p.since),
        S.can('operator') ? el('button', { type: 'button', class: 'ghost', onclick: () => setOptOut(p.person, false) }, '恢复接收') : '']), null, (i) => ({ 'data-person': list[i].person })) : S.empty(search ? '没有符合的已退订用户。' : '没有人退订。'));
    fill($('optouts-pager'),
      optouts.pages.length ? el('button', { type: 'button', class: 'ghost', onclick: () => { optouts.before = optouts.pages.pop(); loadOptOuts(1); } }, '上一页') : null,
      data.next_before ? el('button', { type: 'button', class: 'ghost', onclick: () => { optouts.pages.push(optouts.before); optouts.before = data.next_before; loadOptOuts(1); } }, '下一页') : null);
  }
  let optTimer = 0;
  $('optouts-search').addEventListener('input', () => { clearTimeout(optTimer); optTimer = setTimeout(() => loadOptOuts(), 300); });

  // setOptOut changes a person's choice after staff confirm; the change
  // can be undone.
  async function setOptOut(person, optedOut, quiet) {
    if (!quiet && !(await S.confirmAction(optedOut ? '设为退订后，这位用户不再收到主动消息（回复不受影响）。确定吗？' : '恢复后，这位用户会重新收到主动消息。确定吗？', optedOut ? '设为退订' : '恢复接收'))) return null;
    const p = await call('PUT', '/dnd/persons/' + encodeURIComponent(person), { opted_out: optedOut });
    if (!quiet) {
      S.flash(optedOut ? '已设为退订。' : '已恢复接收。', false, async () => {
        await setOptOut(person, !optedOut, true);
        S.flash('已撤销。');
        await showPerson(person);
        await loadOptOuts();
      });
    }
    await loadOptOuts();
    return p;
  }

  async function showPerson(query) {
    const p = await call('GET', '/dnd/persons/' + encodeURIComponent(query));
    fill($('dnd-person-body'), el('div', { class: 'row', id: 'dnd-person-state', 'data-opted-out': p.opted_out ? 'yes' : 'no' },
      S.personLabel(p.person, p.tag),
      el('span', { text: p.opted_out ? `已退订（${S.fmtTime(p.since)} 起）` : '接收主动消息' }),
      S.can('operator') ? el('button', { type: 'button', class: p.opted_out ? 'ghost' : 'danger ghost', onclick: async () => {
        try { if (await setOptOut(p.person, !p.opted_out)) await showPerson(p.person); } catch (e) { onErr(e); }
      } }, p.opted_out ? '恢复接收' : '设为退订') : null));
  }
  $('dnd-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!S.has('dnd')) return;
    const person = $('dnd-person').value.trim();
    if (!person) return;
    try { await showPerson(person); } catch (e) { fill($('dnd-person-body'), S.errorBox(e)); }
  });

  // Risk events name their account's brand: staff limited to brands
  // see theirs. Each of the other pages' data names no brand:
  // brandBlind.
  S.tab({ id: 'alerts', label: '风险提醒', order: 20, load: loadAlerts, badge: (o) => o.alerts && (o.alerts.high + o.alerts.medium + o.alerts.low) });
  S.tab({ id: 'campaigns', label: '优惠活动', order: 30, brandBlind: true, load: loadCampaigns, badge: (o) => o.campaigns.filter((c) => c.state !== 'ok').length });
  S.tab({ id: 'boards', label: '签到榜', order: 40, brandBlind: true, load: loadBoards });
  S.tab({ id: 'contacts', label: '渠道客户', order: 50, brandBlind: true, load: loadContacts });
  S.tab({ id: 'outbox', label: '消息队列', order: 60, brandBlind: true, load: () => loadOutbox(), badge: (o) => o.outbox.dead });
  S.tab({ id: 'dnd', label: '免打扰', order: 70, brandBlind: true, load: loadDND });
})();
