// 账号: the accounts this member may see, by brand, each with the callback
// URL to paste into the platform's console and whether siyu can send
// with it. Choosing one here is choosing it in the top bar's switcher.
'use strict';

(() => {
  const S = window.Siyu;
  const { el, fill, label } = S;

  // Where each platform asks for the callback URL, and the credential
  // siyu sends with.
  const where = {
    wechat: { paste: '公众号后台 › 设置与开发 › 基本配置 › 服务器配置 › 服务器地址(URL)', secret: 'AppSecret' },
    wecom: { paste: '企业微信管理后台 › 应用管理 › 应用 › 接收消息 › 设置API接收 › URL', secret: 'Secret' },
    douyin: { paste: '抖音开放平台 › 应用 › 开发配置 › Webhooks 回调地址', secret: 'Client Secret' },
  };

  document.querySelector('main').append(el('section', { id: 'tab-accounts', class: 'tab', hidden: true },
    el('div', { class: 'card' },
      el('div', { class: 'toolbar' }, el('h2', { text: '账号' }), el('span', { class: 'grow' }),
        el('span', { id: 'accounts-current', class: 'hint' })),
      el('p', { class: 'hint', text: '每个账号的回调地址需要填到对应平台的后台；地址按你现在访问控制台的域名生成，请确认它是平台能访问到的 HTTPS 地址。' }),
      el('div', { id: 'accounts-body' }))));

  async function copy(text, button) {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = '已复制';
    } catch (e) {
      // Without a secure context there is no clipboard: select the text
      // so staff copy it themselves.
      const code = button.parentElement.querySelector('code');
      const range = document.createRange();
      range.selectNodeContents(code);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      button.textContent = '已选中，请按 Ctrl+C';
    }
    setTimeout(() => { if (button.isConnected) button.textContent = '复制'; }, 2500);
  }

  async function load() {
    const { list, configured } = S.accounts;
    const cur = S.account();
    S.$('accounts-current').textContent = `当前：${S.accountLabel(cur)}`;
    if (!list.length) {
      fill(S.$('accounts-body'), S.empty(configured ? '你可以查看的品牌下还没有账号。' : '没有配置多账号（SIYU_ACCOUNTS）。'));
      return;
    }
    const groups = new Map();
    for (const a of list) {
      const g = a.default ? '' : a.brand;
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(a);
    }
    fill(S.$('accounts-body'), [...groups].map(([brand, accts]) => el('div', { class: 'accounts-brand', 'data-brand': brand },
      el('h3', { text: brand ? `品牌：${brand}` : '默认账号（环境变量配置）' }),
      S.table(['账号', '平台', '回调地址', '发送凭证', ''], accts.map((a) => {
        const w = where[a.platform] || { paste: '平台后台', secret: '密钥' };
        const button = el('button', { type: 'button', class: 'ghost', onclick: (ev) => copy(a.callback_url, ev.target) }, '复制');
        return [
          el('b', { text: a.default ? '默认账号' : a.name }),
          label('platform', a.platform),
          el('div', {}, el('span', { class: 'callback' }, el('code', { 'data-callback': a.key, text: a.callback_url }), button),
            el('small', { class: 'hint', text: '填到：' + w.paste })),
          a.secret_set ? el('span', { class: 'badge good', text: `${w.secret} 已配置` })
            : el('span', { class: 'badge medium', title: '没有它只能在回调中被动回复，人工会话也无法从控制台回复', text: `${w.secret} 未配置` }),
          cur && cur.key === a.key ? el('span', { class: 'badge', text: '当前账号' })
            : el('button', { type: 'button', class: 'ghost', 'data-choose': a.key, onclick: () => S.chooseAccount(a.key) }, '切换到此账号'),
        ];
      }), null, (i) => ({ 'data-account': accts[i].key, class: cur && cur.key === accts[i].key ? 'current' : null })))));
  }

  S.tab({ id: 'accounts', label: '账号', order: 85, load, visible: () => S.accounts.configured || S.accounts.list.length > 0 });
})();
