// Rules as forms: a searchable list of the rules in force (what each
// matches, what it answers), a form for a keyword or intent rule with
// reply variants, shadowing warnings, and a file's history with a diff
// and one-click restore. The server writes the form's rule into its YAML
// file (POST /rules/preview); saving is the editor's save.
'use strict';

(() => {
  const S = window.Siyu;
  const { el, fill, $, call, label } = S;
  const st = { rules: [], intents: [], editing: null, preview: null, previewSeq: 0, timer: 0 };

  const kindNames = { contains: '包含', exact: '等于', regex: '正则', intent: '意图', menu: '菜单' };

  async function load() {
    const data = await call('GET', '/rules');
    // The chosen account's rules: the shared files' and its brand's.
    st.rules = (data.rules || []).filter((r) => S.editor.forAccount(r.file));
    st.intents = data.intents || [];
    renderList();
  }

  function matches(r, q) {
    if (!q) return true;
    const hay = [r.name, r.file, ...r.patterns, ...r.intents, ...r.intents.map((i) => label('intent', i)), ...r.replies].join('\n').toLowerCase();
    return hay.includes(q.toLowerCase());
  }

  function renderList() {
    const q = $('rules-search').value.trim();
    const shown = st.rules.filter((r) => matches(r, q));
    if (!st.rules.length) { fill($('rules-body'), S.empty('还没有规则：点「新建规则」添加第一条。')); return; }
    fill($('rules-body'), shown.length ? el('ul', { class: 'rules' }, shown.map((r) => el('li', { class: 'rule', 'data-rule': r.name },
      el('div', { class: 'rule-head' },
        el('b', { text: r.name }),
        el('span', { class: 'badge', text: kindNames[r.kind] || r.kind }),
        el('small', { class: 'hint', text: `${r.file}:${r.line}` }),
        el('span', { class: 'grow' }),
        r.mixed ? el('small', { class: 'hint', text: '多种匹配，请用 YAML 编辑' })
          : S.can('operator') && S.editor.mayWrite(r.file) ? el('button', { type: 'button', class: 'ghost', 'data-act': 'edit', onclick: () => openForm(r) }, '编辑') : null),
      el('div', { class: 'chips' }, r.kind === 'intent'
        ? r.intents.map((i) => el('span', { class: 'chip', text: `${label('intent', i)} ≥ ${r.min_confidence || '默认'}` }))
        : r.patterns.map((p) => el('span', { class: 'chip', text: p }))),
      el('div', { class: 'reply', text: '回复：' + r.replies.join(' ／ ') })))) : S.empty('没有符合搜索的规则。'));
  }
  $('rules-search').addEventListener('input', renderList);

  function fillIntents(selected) {
    const names = Array.from(new Set([...st.intents, selected].filter(Boolean)));
    fill($('rule-intent'), names.map((i) => el('option', { value: i, text: `${label('intent', i)}（${i}）` })));
    if (selected) $('rule-intent').value = selected;
  }

  function openForm(r) {
    st.editing = r || null;
    const ed = S.editor.state;
    $('rule-form-title').textContent = r ? `编辑规则 ${r.name}` : '新建规则';
    // A new rule goes in a file this member may save: their brand's (a
    // new rules.yaml there when it has none yet).
    let files = ed.files.filter(S.editor.mayWrite);
    if (!files.length) files = [S.editor.newFilePrefix() + 'rules.yaml'];
    if (r && !files.includes(r.file)) files = [r.file, ...files];
    fill($('rule-file'), files.map((f) => el('option', { value: f, text: ed.files.includes(f) ? f : f + '（新）' })));
    $('rule-file').value = r ? r.file : (files.find((f) => /faq|rules/.test(f)) || files[0]);
    $('rule-file').disabled = !!r;
    $('rule-name').value = r ? r.name : '';
    $('rule-kind').value = r ? r.kind : 'contains';
    $('rule-patterns').value = r ? r.patterns.join('\n') : '';
    fillIntents(r && r.intents[0]);
    $('rule-conf').value = r && r.min_confidence ? r.min_confidence : 0.7;
    $('rule-replies').value = r ? r.replies.join('\n') : '';
    fill($('rule-warnings'));
    showKind();
    ed.formOpen = true;
    $('rule-form-card').hidden = false;
    $('rule-form-card').scrollIntoView({ block: 'start' });
    $('rule-name').focus();
  }
  function closeForm() {
    S.editor.state.formOpen = false;
    S.editor.setRuleDraft(null);
    st.preview = null;
    $('rule-form-card').hidden = true;
  }
  function showKind() {
    const intent = $('rule-kind').value === 'intent';
    $('rule-patterns-label').hidden = intent;
    $('rule-intent-label').hidden = !intent;
    $('rule-conf-label').hidden = !intent;
  }
  $('rule-kind').addEventListener('change', () => { showKind(); schedulePreview(); });
  $('rule-new').addEventListener('click', () => openForm(null));
  $('rule-cancel').addEventListener('click', closeForm);
  for (const id of ['rule-name', 'rule-patterns', 'rule-replies', 'rule-intent', 'rule-conf']) $(id).addEventListener('input', schedulePreview);

  function draft() {
    const lines = (id) => $(id).value.split('\n').map((s) => s.trim()).filter(Boolean);
    return {
      name: $('rule-name').value.trim(), kind: $('rule-kind').value, patterns: lines('rule-patterns'),
      intent: $('rule-intent').value, min_confidence: parseFloat($('rule-conf').value) || 0, replies: lines('rule-replies'),
    };
  }

  function schedulePreview() {
    clearTimeout(st.timer);
    st.timer = setTimeout(() => preview().catch(() => {}), 400);
  }

  // preview asks the server for the file with the draft rule in place,
  // its mistakes and the shadowing warnings; the dry-run then answers
  // with it.
  async function preview() {
    const d = draft();
    if (!d.name || !d.replies.length || (d.kind !== 'intent' && !d.patterns.length)) {
      fill($('rule-warnings'), el('li', { class: 'muted', text: '填写规则名、关键词（或意图）和回复后，这里会提示与其他规则的冲突。' }));
      return null;
    }
    const seq = ++st.previewSeq;
    try {
      const r = await call('POST', '/rules/preview', { file: $('rule-file').value, replace: st.editing ? st.editing.name : '', rule: d });
      if (seq !== st.previewSeq) return null;
      st.preview = r;
      S.editor.setRuleDraft({ file: r.file, text: r.text });
      fill($('rule-warnings'),
        r.errors.map((p) => el('li', { class: 'bad' }, S.explainProblem(p))),
        r.warnings.map((w) => el('li', { class: 'warn', 'data-kind': w.kind, 'data-rule': w.rule, text: '⚠ ' + w.message })),
        r.ok && !r.warnings.length ? el('li', { class: 'ok', text: '没有冲突：这条规则的关键词不会被其他规则抢先回答。' }) : null);
      return r;
    } catch (e) {
      if (seq === st.previewSeq) fill($('rule-warnings'), el('li', { class: 'bad', text: e.message }));
      return null;
    }
  }

  $('rule-dryrun').addEventListener('click', async () => {
    const r = await preview();
    if (!r) return;
    if (!$('dryrun-text').value.trim()) {
      const d = draft();
      $('dryrun-text').value = d.kind === 'intent' ? '' : d.patterns[0] || '';
    }
    await S.editor.dryRun({ [r.file]: r.text });
  });

  $('rule-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const r = await preview();
    if (!r) return;
    if (!r.ok) { S.flash('规则有误，未保存。', true); return; }
    if (r.warnings.length && !(await S.confirmAction(`这条规则与其他规则有 ${r.warnings.length} 处冲突（见表单下方）。仍要保存吗？`, '仍然保存'))) return;
    $('rule-save').disabled = true;
    try {
      const res = await S.editor.save(r.file, r.text, r.existed ? r.sha256 : null);
      S.flash(`已保存规则 ${draft().name}（${res.name}）。` + (res.previous ? '上一版可在「历史版本」恢复。' : ''));
      closeForm();
      await S.editor.reload();
      await load();
    } catch (e) {
      S.flash(`未保存：${e.message}`, true);
    } finally {
      $('rule-save').disabled = false;
    }
  });

  // ---------- history: versions, a diff against the current file, restore ----------

  async function history() {
    const file = $('history-file').value || S.editor.state.file;
    if (!file) { fill($('history-body'), S.empty('没有脚本文件。')); return; }
    $('history-file').value = file;
    $('history-diff').hidden = true;
    const data = await call('GET', '/history?' + new URLSearchParams({ file }));
    const vs = data.versions || [];
    fill($('history-body'), vs.length ? S.table(['保存时间', '大小', ''], vs.map((v) => [
      S.fmtTime(v.at), `${v.size} 字节`,
      el('span', { class: 'row' },
        el('button', { type: 'button', class: 'ghost', 'data-act': 'diff', onclick: () => diff(file, v) }, '对比当前'),
        S.can('operator') ? el('button', { type: 'button', class: 'danger ghost', 'data-act': 'restore', onclick: () => restore(file, v) }, '恢复此版本') : null),
    ]), null, (i) => ({ 'data-version': vs[i].version })) : S.empty('这个文件还没有历史版本（每次保存会保留上一版，最多 20 个）。'));
  }
  $('history-file').addEventListener('change', () => history().catch((e) => S.flash(e.message, true)));

  async function diff(file, v) {
    const [old, cur] = await Promise.all([
      call('GET', '/history/version?' + new URLSearchParams({ file, version: v.version })),
      call('GET', '/scripts/' + encodeURI(file)),
    ]);
    const out = $('history-diff');
    const lines = lineDiff(old.text.split('\n'), cur.text.split('\n'));
    fill(out, el('div', { class: 'diff-head', text: `${S.fmtTime(v.at)} 的版本 → 当前版本（- 将被删除，+ 为当前新增）` }),
      lines.map(([op, text]) => el('div', { class: op === '+' ? 'add' : op === '-' ? 'del' : 'same', text: `${op} ${text}` })));
    out.hidden = false;
    out.scrollIntoView({ block: 'nearest' });
  }

  // lineDiff is a longest-common-subsequence diff of two line lists:
  // script files are small (at most 256 KB), so the table fits.
  function lineDiff(a, b) {
    const n = a.length, m = b.length;
    if (n * m > 4e6) return [['!', '文件太大，无法逐行对比。']];
    const dp = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
    const out = [];
    let i = 0, j = 0;
    while (i < n && j < m) {
      if (a[i] === b[j]) { out.push([' ', a[i]]); i++; j++; } else if (dp[i + 1][j] >= dp[i][j + 1]) { out.push(['-', a[i++]]); } else { out.push(['+', b[j++]]); }
    }
    while (i < n) out.push(['-', a[i++]]);
    while (j < m) out.push(['+', b[j++]]);
    return out;
  }

  async function restore(file, v) {
    if (!(await S.confirmAction(`把 ${file} 恢复为 ${S.fmtTime(v.at)} 的版本？当前版本会先保存到历史版本中，可以再恢复回来。`, '恢复'))) return;
    try {
      const r = await call('POST', '/history/restore', { file, version: v.version });
      S.flash(`已恢复 ${file}（版本 ${r.version}）。`);
      await S.editor.reload();
      await history();
    } catch (e) {
      S.flash(`未恢复：${e.message}`, true);
      if (e.details && e.details.length) fill($('history-body'), S.errorBox(e));
    }
  }

  S.rules = { load, history };
})();
