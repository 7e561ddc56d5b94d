// 团队: staff accounts (admins manage them) and the audit log (who
// changed which script, campaign, alert or opt-out, when).
'use strict';

(() => {
  const S = window.Siyu;
  const { el, fill, $, call, label } = S;
  const audit = { before: 0, pages: [] };

  async function load() {
    await Promise.all([loadStaff(), loadAudit()]);
  }

  async function loadStaff() {
    const card = $('staff-card');
    if (!S.feature('staff_accounts') || !S.can('admin')) { card.hidden = true; return; }
    card.hidden = false;
    const data = await call('GET', '/staff');
    const list = data.staff || [];
    fill($('staff-body'), list.length ? S.table(['账号', '角色', '品牌', '状态', '更新', ''], list.map((m) => [
      m.name,
      el('select', { 'aria-label': '角色', 'data-staff': m.name, onchange: (ev) => update(m.name, { role: ev.target.value }, `把 ${m.name} 的角色改为「${label('role', ev.target.value)}」？他的登录会失效，需要重新登录。`) },
        ['viewer', 'operator', 'admin'].map((r) => el('option', { value: r, text: label('role', r), selected: r === m.role }))),
      el('span', { class: 'row' },
        el('span', { 'data-brands': m.name, text: brandsText(m.brands) }),
        el('button', { type: 'button', class: 'ghost', 'data-act': 'brands', onclick: () => editBrands(m) }, '设置品牌')),
      m.disabled ? '已停用' : '正常',
      S.fmtTime(m.updated_at),
      el('span', { class: 'row' },
        el('button', { type: 'button', class: 'ghost', onclick: () => resetPassword(m.name) }, '重设密码'),
        el('button', { type: 'button', class: 'danger ghost', onclick: () => update(m.name, { disabled: !m.disabled }, m.disabled ? `启用 ${m.name}？` : `停用 ${m.name}？停用后他不能登录。`) }, m.disabled ? '启用' : '停用'),
        el('button', { type: 'button', class: 'danger ghost', onclick: () => remove(m.name) }, '删除')),
    ]), null, (i) => ({ 'data-staff': list[i].name })) : S.empty('还没有员工账号。'));
  }

  async function update(name, change, question) {
    if (!(await S.confirmAction(question, '确定'))) { await loadStaff(); return; }
    try {
      await call('PUT', '/staff/' + encodeURIComponent(name), change);
      S.flash(`已更新 ${name}。`);
    } catch (e) { S.flash(e.message, true); }
    await load();
  }

  function brandsText(brands) { return brands && brands.length ? brands.join('、') : '全部品牌'; }

  // brandPicker offers the brands of the accounts (and those the member
  // has already): none ticked is every brand.
  function brandPicker(selected) {
    const names = Array.from(new Set([...(S.accounts.brands || []), ...(selected || [])])).sort();
    if (!names.length) return el('p', { class: 'hint', text: '还没有配置品牌（SIYU_ACCOUNTS），员工可查看全部数据。' });
    return el('div', {},
      el('div', { class: 'brand-picks', id: 'brand-picks' }, names.map((b) => el('label', { class: 'check' },
        el('input', { type: 'checkbox', value: b, 'data-brand': b, checked: (selected || []).includes(b) }), b))),
      el('p', { class: 'hint', text: '都不勾选 = 全部品牌。限定品牌后，他只能看到这些品牌的账号、人工会话和脚本，只能保存 brands/<品牌>/ 下的脚本；不区分品牌的页面（概览、风险提醒、消息队列等）对他不开放。' }));
  }
  function pickedBrands() { return Array.from(document.querySelectorAll('#brand-picks input:checked')).map((i) => i.value); }

  async function editBrands(m) {
    const extra = brandPicker(m.brands);
    if (!(await S.confirmAction(`设置 ${m.name} 可以查看的品牌？他的登录会失效，需要重新登录。`, '保存', extra))) return;
    const brands = pickedBrands();
    try {
      await call('PUT', '/staff/' + encodeURIComponent(m.name), { brands });
      S.flash(`${m.name} 现在可以查看：${brandsText(brands)}。`);
    } catch (e) { S.flash(e.message, true); }
    await load();
  }

  function passwordInput(id) { return el('input', { type: 'password', id, autocomplete: 'new-password', minlength: 10, placeholder: '至少 10 个字符' }); }

  async function resetPassword(name) {
    const extra = el('label', {}, '新密码 ', passwordInput('confirm-password'));
    if (!(await S.confirmAction(`为 ${name} 设置新密码？他当前的登录会失效。`, '设置', extra))) return;
    try {
      await call('PUT', '/staff/' + encodeURIComponent(name), { password: $('confirm-password').value });
      S.flash(`已为 ${name} 设置新密码。`);
    } catch (e) { S.flash(e.message, true); }
  }

  async function remove(name) {
    if (!(await S.confirmAction(`删除员工账号 ${name}？此操作不能撤销（可以重新添加）。`, '删除'))) return;
    try {
      await call('DELETE', '/staff/' + encodeURIComponent(name));
      S.flash(`已删除 ${name}。`);
    } catch (e) { S.flash(e.message, true); }
    await load();
  }

  $('staff-add').addEventListener('click', async () => {
    const extra = el('div', { class: 'form' },
      el('label', {}, '账号 ', el('input', { id: 'new-staff-name', autocomplete: 'off' })),
      el('label', {}, '角色 ', el('select', { id: 'new-staff-role' }, ['viewer', 'operator', 'admin'].map((r) => el('option', { value: r, text: label('role', r) })))),
      el('label', {}, '初始密码 ', passwordInput('new-staff-password')),
      el('div', {}, el('span', { text: '品牌' }), brandPicker([])));
    if (!(await S.confirmAction('添加员工账号', '添加', extra))) return;
    try {
      await call('POST', '/staff', { name: $('new-staff-name').value.trim(), role: $('new-staff-role').value, password: $('new-staff-password').value, brands: pickedBrands() });
      S.flash('已添加员工账号。');
    } catch (e) { S.flash(e.message, true); }
    await load();
  });

  async function loadAudit(page) {
    if (page === undefined) { audit.before = 0; audit.pages = []; }
    if (!S.feature('audit')) { fill($('audit-body'), S.absent('操作记录')); return; }
    const q = new URLSearchParams({ limit: '30' });
    if (audit.before) q.set('before', String(audit.before));
    const data = await call('GET', '/audit?' + q);
    const entries = data.entries || [];
    fill($('audit-body'), entries.length ? S.table(['时间', '谁', '做了什么', '对象', '说明'], entries.map((e) => [
      S.fmtTime(e.at), e.actor === 'token' ? '管理令牌（自动化）' : e.actor, el('span', { title: e.action, text: label('audit', e.action) }), e.target || '—', e.detail || '—',
    ]), null, (i) => ({ 'data-action': entries[i].action })) : S.empty('还没有操作记录。'));
    const last = entries.length === 30 ? entries[entries.length - 1].id : 0;
    fill($('audit-pager'),
      audit.pages.length ? el('button', { type: 'button', class: 'ghost', onclick: () => { audit.before = audit.pages.pop(); loadAudit(1); } }, '较新') : null,
      last ? el('button', { type: 'button', class: 'ghost', onclick: () => { audit.pages.push(audit.before); audit.before = last; loadAudit(1); } }, '更早') : null);
  }
  $('audit-refresh').addEventListener('click', () => loadAudit().catch((e) => S.flash(e.message, true)));

  S.tab({ id: 'team', label: '团队', order: 90, load, brandBlind: true, visible: () => S.feature('audit') || S.feature('staff_accounts') });
})();
