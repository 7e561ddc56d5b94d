// 话术脚本: the rules list and form (rules.js), the YAML editor with live
// validation, the history, and the dry-run of the draft being edited.
'use strict';

(() => {
  const S = window.Siyu;
  const { el, fill, $, call, label } = S;

  // ed is the editor's state. drafts are unsaved texts by file: the
  // dry-run answers with them laid over the files in force.
  // files are those of the account chosen in the top bar (the shared ones
  // and its brand's); writable are the folders this member may save in
  // ('' for everywhere).
  const ed = { files: [], file: '', original: '', sha: '', isNew: false, editable: false, writable: [''], validateTimer: 0, validateSeq: 0, valid: true, ruleDraft: null, sub: 'rules' };

  // mayWrite says whether this member may save file: a member limited to
  // brands saves under brands/<brand>/ only.
  function mayWrite(file) { return ed.writable.some((p) => file.startsWith(p)); }
  // forAccount says whether a script belongs to the chosen account's
  // scripts: the shared ones and its brand's (every file when none is
  // chosen).
  function forAccount(file) {
    const a = S.account();
    const b = S.scriptBrand(file);
    return !a || b === '' || b === a.brand;
  }
  // newFilePrefix is where a new file goes: the chosen account's brand
  // folder, or the member's first brand's.
  function newFilePrefix() {
    const a = S.account();
    if (a && a.brand) return `brands/${a.brand}/`;
    return ed.writable[0] || '';
  }

  function drafts() {
    const out = {};
    if (ed.file && $('script-text').value !== ed.original) out[ed.file] = $('script-text').value;
    if (ed.ruleDraft) out[ed.ruleDraft.file] = ed.ruleDraft.text;
    return out;
  }

  async function load() {
    const data = await call('GET', '/scripts');
    ed.files = data.files.map((f) => f.name).filter(forAccount);
    ed.editable = data.editable;
    ed.writable = data.writable_prefixes || [''];
    fillFiles();
    // Switching tabs keeps the draft: the file is opened only the first
    // time, or when the account chosen does not use it and it is unchanged.
    const dirty = ed.file && $('script-text').value !== ed.original;
    if ((!ed.file || (!ed.isNew && !dirty && !ed.files.includes(ed.file))) && ed.files.length) await openFile(ed.files[0]);
    $('script-file').value = ed.file;
    readOnlyNote();
    $('dryrun-submit').disabled = !S.feature('dry_run');
    if (!S.feature('dry_run')) fill($('dryrun-result'), S.absent('试运行'));
    dryRunAs();
    showSub(ed.sub);
  }

  // readOnlyNote says why the file open cannot be saved from here.
  function readOnlyNote() {
    const ro = $('script-readonly');
    if (!ed.editable) ro.textContent = '当前使用的是内置示例脚本（未设置 SIYU_SCRIPTS 目录），可以编辑和校验，但不能在线保存。';
    else if (ed.file && !mayWrite(ed.file)) ro.textContent = `你只能保存 ${ed.writable.join('、')} 下的脚本；这个文件可以查看、校验和试运行，不能保存。`;
    ro.hidden = ed.editable && (!ed.file || mayWrite(ed.file));
  }

  // dryRunAs says which account the dry-run answers as: the one chosen
  // in the top bar (its platform fixed), else the environment's on the
  // platform picked here.
  function dryRunAs() {
    const a = S.account();
    const p = $('dryrun-platform');
    if (a) p.value = a.platform;
    p.disabled = !!a;
    const who = $('dryrun-as');
    if (a) {
      fill(who, '以账号 ', el('b', { id: 'dryrun-account', 'data-account': a.key, text: a.default ? '默认账号' : a.name }),
        a.brand ? `（品牌 ${a.brand} · ${label('platform', a.platform)}）` : `（${label('platform', a.platform)}）`, ' 试运行，按它的品牌脚本回答。');
    } else if (S.allBrands()) {
      fill(who, '以默认账号试运行；在顶部选择账号，可以按该账号的品牌脚本回答。');
    } else {
      fill(who, el('span', { class: 'error', text: '请先在顶部选择一个账号：你只能以所属品牌的账号试运行。' }));
    }
  }

  function fillFiles() {
    const names = ed.files.slice();
    if (ed.file && !names.includes(ed.file)) names.push(ed.file); // a new file not saved yet
    fill($('script-file'), names.map((n) => el('option', { value: n, text: ed.files.includes(n) ? n : n + '（新）' })));
    fill($('history-file'), ed.files.map((n) => el('option', { value: n, text: n })));
  }

  function showSub(sub) {
    ed.sub = sub;
    for (const b of document.querySelectorAll('#tab-scripts .sub')) b.classList.toggle('active', b.dataset.sub === sub);
    $('rules-card').hidden = sub !== 'rules';
    $('rule-form-card').hidden = sub !== 'rules' || !ed.formOpen;
    $('editor-card').hidden = sub !== 'editor';
    $('history-card').hidden = sub !== 'history';
    if (sub === 'rules' && S.rules) S.rules.load().catch((e) => S.flash(e.message, true));
    if (sub === 'history' && S.rules) S.rules.history().catch((e) => S.flash(e.message, true));
  }
  for (const b of document.querySelectorAll('#tab-scripts .sub')) b.addEventListener('click', () => showSub(b.dataset.sub));

  async function openFile(name) {
    const data = await call('GET', '/scripts/' + encodeURI(name));
    ed.file = name;
    ed.isNew = false;
    ed.original = data.text;
    ed.sha = data.sha256;
    $('script-text').value = data.text;
    renderGutter([]);
    readOnlyNote();
    setStatus('ok', '已加载，校验通过的版本正在生效。');
    fill($('script-errors'));
    ed.valid = true;
    updateSave();
  }

  function updateSave() {
    const dirty = $('script-text').value !== ed.original;
    $('script-save').disabled = !ed.editable || !ed.valid || !dirty || !S.can('operator') || !mayWrite(ed.file);
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

  // problemText explains a script mistake in Chinese with its place; the
  // loader's own words (often English) go in a details fold.
  function problemItem(p) {
    return el('li', {
      'data-line': p.line, 'data-file': p.file,
      onclick: () => { if (p.file === ed.file) goToLine(p.line); },
    }, el('b', { text: `${p.file}:${p.line}` }), explain(p.message),
    /[A-Za-z]{4,}/.test(p.message) ? el('details', {}, el('summary', { text: '详细信息' }), el('code', { text: p.message })) : null);
  }
  // explain puts the loader's common mistakes in plain Chinese.
  function explain(msg) {
    const known = [
      [/unknown (key|field) "?([\w.]+)"?/i, (m) => `不认识的字段「${m[2]}」：检查拼写，或它是否放错了层级。`],
      [/did not find expected key|mapping values are not allowed|could not find expected ':'/i, () => 'YAML 格式有误：检查冒号、缩进（用空格，不用 Tab）。'],
      [/found character that cannot start any token|tab/i, () => 'YAML 里不能用 Tab 缩进，请改成空格。'],
      [/duplicate rule name|duplicate name|defined twice/i, () => '规则名重复：每条规则的 name 要不同。'],
      [/regex|regexp/i, () => '正则表达式有误或太复杂。'],
      [/unknown time zone/i, () => '时区名称不认识：请写如 Asia/Shanghai 的标准名称。'],
      [/unknown intent/i, () => '意图名称不认识：从意图列表中选择。'],
      [/reply|replies/i, () => '回复内容有误：至少写一种回复。'],
    ];
    for (const [re, f] of known) { const m = msg.match(re); if (m) return f(m); }
    return /[\u4e00-\u9fff]/.test(msg) ? msg : '脚本有误（见详细信息）。';
  }
  S.explainProblem = problemItem;

  function showProblems(problems) {
    const mine = problems.filter((p) => p.file === ed.file);
    renderGutter(mine.map((p) => p.line));
    fill($('script-errors'), problems.map(problemItem));
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
    clearTimeout(ed.validateTimer);
    ed.valid = false;
    updateSave();
    setStatus('busy', '正在校验…');
    ed.validateTimer = setTimeout(validateNow, 400);
  }

  async function validateNow() {
    const seq = ++ed.validateSeq;
    const text = $('script-text').value;
    try {
      const res = await call('POST', '/scripts/validate', { files: { [ed.file]: text } });
      if (seq !== ed.validateSeq) return;
      ed.valid = res.ok;
      if (res.ok) {
        setStatus('ok', text === ed.original ? '校验通过。' : '校验通过，可以保存。');
        renderGutter([]);
        fill($('script-errors'));
      } else {
        setStatus('bad', `有 ${res.errors.length} 处错误，修正后才能保存。`);
        showProblems(res.errors);
      }
    } catch (e) {
      if (seq !== ed.validateSeq) return;
      ed.valid = false;
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
    if (S.caps && ed.file && $('script-text').value !== ed.original) ev.preventDefault();
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
    if ($('script-text').value !== ed.original && !(await S.confirmAction('当前文件有未保存的修改，切换后会丢失。确定要切换吗？', '放弃修改并切换'))) {
      ev.target.value = ed.file;
      return;
    }
    try { await openFile(name); } catch (e) { S.flash(e.message, true); }
  });
  $('script-new').addEventListener('click', () => {
    let name = prompt('新文件名（以 .yaml 结尾）', newFilePrefix() + 'new-rules.yaml');
    if (!name) return;
    name = name.trim();
    if (!/\.ya?ml$/.test(name)) name += '.yaml';
    if (!mayWrite(name)) {
      S.flash(`不能新建 ${name}：你只能保存 ${ed.writable.join('、')} 下的脚本。`, true);
      return;
    }
    // A new file never replaces one: the server refuses (If-None-Match)
    // and the console says so at once.
    if (ed.files.includes(name)) {
      S.flash(`已有同名文件 ${name}：请换一个名字，或在列表中打开它编辑。`, true);
      return;
    }
    ed.file = name;
    ed.isNew = true;
    ed.original = '';
    ed.sha = '';
    fillFiles();
    $('script-file').value = name;
    $('script-text').value = 'rules:\n  - name: new-rule\n    match:\n      contains: ["关键词"]\n    reply: "回复内容"\n';
    renderGutter([]);
    readOnlyNote();
    scheduleValidate();
    $('script-text').focus();
  });
  $('script-save').addEventListener('click', async () => {
    const text = $('script-text').value;
    $('script-save').disabled = true;
    setStatus('busy', '正在保存…');
    try {
      const res = await save(ed.file, text, ed.isNew ? null : ed.sha);
      ed.original = text;
      ed.sha = res.sha256;
      ed.isNew = false;
      setStatus('ok', `已保存并生效（版本 ${res.version}）。` + (res.previous ? `上一版保存在 ${res.previous}，可在「历史版本」恢复。` : ''));
      S.flash(`已保存 ${res.name}`);
      await load();
    } catch (e) {
      setStatus('bad', `未保存：${e.message}`);
      if (e.details && e.details.length) showProblems(e.details);
    }
    updateSave();
  });

  // save writes a file: sha is the version it was opened at (If-Match),
  // null for a new file that must not replace one (If-None-Match: *).
  function save(file, text, sha) {
    const headers = sha ? { 'If-Match': '"' + sha + '"' } : sha === null ? { 'If-None-Match': '*' } : {};
    return call('PUT', '/scripts/' + encodeURI(file), text, { raw: true, headers });
  }

  // ---------- dry-run ----------

  $('dryrun-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    await dryRun(drafts());
  });

  async function dryRun(files) {
    const text = $('dryrun-text').value.trim();
    if (!text) { $('dryrun-text').focus(); return; }
    const out = $('dryrun-result');
    $('dryrun-submit').disabled = true;
    try {
      const a = S.account();
      const req = { text, platform: a ? a.platform : $('dryrun-platform').value, account: a ? a.name : '', group: $('dryrun-group').checked };
      if (files && Object.keys(files).length) req.files = files;
      const r = await call('POST', '/dry-run', req);
      const stage = r.stage ? label('stage', r.stage) : '不回答';
      // The meter is an intent's score: shown only when an intent answered.
      const conf = r.confidence ? el('span', { id: 'dryrun-confidence' }, r.confidence.toFixed(2), meter(r.confidence)) : '—';
      fill(out,
        r.draft ? el('p', { class: 'note', id: 'dryrun-draft', text: '按未保存的草稿回答（' + Object.keys(files).join('、') + '）。' }) : null,
        el('dl', { class: 'kv', id: 'dryrun-answer', 'data-stage': r.stage || '', 'data-rule': r.rule || '' },
          el('dt', { text: '账号' }), el('dd', { id: 'dryrun-answered-as', 'data-account': `${r.platform}:${r.account || ''}`, text: `${r.account || '默认账号'}${r.brand ? ' · 品牌 ' + r.brand : ''} · ${label('platform', r.platform)}` }),
          el('dt', { text: '回答环节' }), el('dd', { id: 'dryrun-stage', text: stage }),
          el('dt', { text: '规则' }), el('dd', { id: 'dryrun-rule', text: r.rule || '—' }),
          el('dt', { text: '意图' }), el('dd', { id: 'dryrun-intent', text: r.intent ? `${label('intent', r.intent)}（${r.intent}）` : '—' }),
          el('dt', { text: '置信度' }), el('dd', {}, conf),
          r.risks && r.risks.length ? [el('dt', { text: '风险' }), el('dd', { text: r.risks.map((x) => label('category', x)).join('、') })] : null),
        el('h3', { text: '将会发送' }),
        r.actions.length ? el('ul', { class: 'bubbles', id: 'dryrun-actions' }, r.actions.map((a) => bubble(a, false))) : S.empty('不发送任何消息（群聊中没有匹配时不兜底）。'),
        el('h3', { text: '免打扰会拦下' }),
        r.held_back.length ? el('ul', { class: 'bubbles', id: 'dryrun-held' }, r.held_back.map((a) => bubble(a, true)))
          : el('p', { class: 'empty', id: 'dryrun-held-none', text: S.feature('dnd_explanation') ? '无。' : '无（免打扰模块未启用）。' }));
    } catch (e) {
      fill(out, S.errorBox(e));
    } finally {
      $('dryrun-submit').disabled = !S.feature('dry_run');
    }
  }
  function meter(v) {
    const bar = el('span');
    bar.style.width = Math.round(Math.max(0, Math.min(1, v)) * 100) + '%';
    return el('span', { class: 'meter' }, bar);
  }
  function bubble(a, held) {
    const kind = label('action', a.type) + (a.proactive ? ' · 主动' : '') + (a.topic ? ` · ${label('topic', a.topic)}` : '') + (a.group ? ' · 群内' : '');
    const why = held ? ` · ${label('hold', a.reason)}` + (a.until ? ` · 暂缓到 ${S.fmtTime(a.until)}` : ' · 不再发送') : '';
    return el('li', { class: held ? 'bubble held' : 'bubble' }, el('small', { text: kind + why }), a.text || JSON.stringify(a.detail));
  }

  S.editor = {
    save, dryRun, drafts, openFile, showSub, mayWrite, forAccount, newFilePrefix,
    get state() { return ed; },
    setRuleDraft(d) { ed.ruleDraft = d; },
    async reload() { ed.file = ''; await load(); },
  };

  S.tab({ id: 'scripts', label: '话术脚本', order: 10, load });
})();
