// 今日概览: what needs staff today, from GET /overview (aggregates the
// server keeps cheap). Each block links to the tab that handles it.
'use strict';

(() => {
  const S = window.Siyu;
  const { el, fill, label } = S;

  function block(id, title, href, ...body) {
    return el('div', { class: 'card stat', id: 'home-' + id },
      el('div', { class: 'stat-head' }, el('h2', { text: title }), href ? el('a', { href, class: 'more', text: '查看 ›' }) : null),
      ...body);
  }
  function big(n, unit, tone) { return el('p', { class: 'big ' + (tone || '') }, el('b', { text: String(n) }), unit ? el('small', { text: ' ' + unit }) : null); }
  function counts(list, kind, emptyText) {
    if (!list || !list.length) return S.empty(emptyText);
    const max = Math.max(...list.map((x) => x.count));
    return el('ul', { class: 'bars' }, list.map((x) => {
      const bar = el('i');
      bar.style.width = Math.round((x.count / max) * 100) + '%';
      return el('li', { title: x.name }, el('span', { class: 'bar-label', text: kind ? label(kind, x.name) : x.name }), el('span', { class: 'bar' }, bar), el('b', { text: String(x.count) }));
    }));
  }

  async function load() {
    const body = S.$('home-body');
    // Staff limited to brands: the server says why the totals are not
    // theirs (a 403 the tab shows in place of the page).
    if (!S.allBrands()) await S.call('GET', '/overview');
    const o = await S.refreshBadges();
    if (!o) { fill(body, S.errorBox(new Error('概览暂时无法读取'))); return; }
    const blocks = [];
    if (o.alerts) {
      const total = o.alerts.high + o.alerts.medium + o.alerts.low;
      blocks.push(block('alerts', '待处理的风险提醒', '#alerts', big(total, '条', o.alerts.high ? 'bad' : ''),
        el('div', { class: 'chips' }, ['high', 'medium', 'low'].map((s) => el('span', { class: 'badge ' + s, text: `${label('severity', s)}风险 ${o.alerts[s]}` }))),
        o.alerts.review ? el('p', { class: 'hint', text: `另有 ${o.alerts.review} 条仅记录、未提醒（脚本中关闭了提醒的类别或低于提醒等级），可在风险提醒中查看。` }) : null));
    }
    blocks.push(block('outbox', '消息队列', '#outbox',
      el('div', { class: 'chips' },
        el('span', { class: 'badge' + (o.outbox.dead ? ' high' : ''), text: `发送失败 ${o.outbox.dead}` }),
        el('span', { class: 'badge' + (o.outbox.stuck ? ' medium' : ''), text: `积压超过 1 小时 ${o.outbox.stuck}` }),
        el('span', { class: 'badge', text: `待发送 ${o.outbox.pending}` })),
      o.outbox.reasons.length ? el('ul', { class: 'reasons' }, o.outbox.reasons.map((r) => el('li', {},
        el('b', { text: `${r.count} 条 · ${label('platform', r.platform)}` }), el('span', { class: 'hint', text: r.hint }),
        el('details', {}, el('summary', { text: '原始错误' }), el('code', { text: r.reason }))))) : S.empty('没有发送失败的消息。')));
    if (o.campaigns.length || S.has('coupon')) {
      blocks.push(block('campaigns', '库存告急的活动', '#campaigns', o.campaigns.length ? el('ul', { class: 'reasons' }, o.campaigns.map((c) => el('li', { 'data-id': c.id },
        el('b', { text: c.name || c.id }),
        el('span', { class: 'badge ' + (c.state === 'out' ? 'high' : c.state === 'low' ? 'medium' : ''), text: c.state === 'out' ? '已领完' : c.state === 'low' ? `仅剩 ${c.remaining}/${c.stock}` : `剩余 ${c.remaining}` }),
        c.refused_today ? el('span', { class: 'hint', text: `今天有 ${c.refused_today} 次因库存不足没领到` }) : null))) : S.empty('所有活动库存充足。')));
    }
    const today = [];
    if (o.opt_outs_today !== null && o.opt_outs_today !== undefined) today.push(el('div', { class: 'kpi', id: 'kpi-optouts' }, el('b', { text: String(o.opt_outs_today) }), el('span', { text: '今日退订' })));
    if (o.checkins_today !== null && o.checkins_today !== undefined) today.push(el('div', { class: 'kpi', id: 'kpi-checkins' }, el('b', { text: String(o.checkins_today) }), el('span', { text: '今日签到' })));
    if (o.contacts_today) today.push(el('div', { class: 'kpi', id: 'kpi-contacts' }, el('b', { text: String(o.contacts_today.reduce((n, c) => n + c.count, 0)) }), el('span', { text: '今日新增客户' })));
    if (o.answers) today.push(el('div', { class: 'kpi', id: 'kpi-turns' }, el('b', { text: String(o.answers.turns) }), el('span', { text: '今日顾客消息' })));
    if (today.length) blocks.push(block('today', `今天（${o.day}）`, null, el('div', { class: 'kpis' }, today),
      o.contacts_today && o.contacts_today.length ? el('div', { class: 'chips' }, o.contacts_today.map((c) => el('span', { class: 'badge', text: `${c.name} +${c.count}` }))) : null));
    if (o.answers) {
      const a = o.answers;
      const rate = a.turns ? Math.round(((a.turns - a.fallback) / a.turns) * 100) : 0;
      blocks.push(block('answers', '今天谁回答了顾客', '#scripts',
        el('p', { class: 'hint', text: a.turns ? `${a.turns} 条消息中 ${rate}% 有规则或意图回答，${a.fallback} 条落到兜底回复。` : '今天还没有顾客消息。' }),
        el('div', { class: 'two' },
          el('div', {}, el('h3', { text: '回答最多的关键词规则' }), counts(a.rules, null, '暂无')),
          el('div', {}, el('h3', { text: '回答最多的意图' }), counts(a.intents, 'intent', '暂无'))),
        el('h3', { text: '落到兜底的消息在问什么（按识别出的意图）' }),
        counts(a.unanswered, 'intent', '暂无：落到兜底的消息没有可识别的意图。')));
    }
    fill(body, blocks);
  }

  S.tab({
    id: 'home', label: '今日概览', order: 0, load, brandBlind: true,
    badge: null,
  });
})();
