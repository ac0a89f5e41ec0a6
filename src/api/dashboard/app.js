// alpha-oto's dashboard: one page over the control API. The token lives in session storage
// (or comes from a `#token=...` link); live state comes from one Server-Sent Events stream,
// read with fetch so the token travels in a header, never in a URL. No polling.
'use strict';

const I18N = {
  en: {
    'conn.on': 'live', 'conn.off': 'offline',
    'btn.new': 'New account', 'btn.halt': 'Halt all', 'btn.logout': 'Log out',
    'btn.cancel': 'Cancel', 'btn.save': 'Save', 'btn.edit': 'Edit',
    'act.start': 'Start', 'act.pause': 'Pause', 'act.resume': 'Resume', 'act.stop': 'Stop', 'act.kill': 'Kill',
    'login.title': 'Log in', 'login.help': 'Paste an API token of this daemon: the one in api-token beside its configuration (written by alpha-oto init, or by deploy/install.sh as /etc/alpha-oto/api-token).',
    'login.token': 'API token', 'login.submit': 'Log in', 'login.bad': 'The token was refused.',
    'col.name': 'Account', 'col.token': 'Token', 'col.state': 'State', 'col.progress': 'Today',
    'col.cycles': 'Cycles', 'col.points': 'Points', 'unit.points': 'points', 'unit.per_point': 'USDT/point',
    'f.daily_target_points': 'or daily target (points)', 'col.cost': 'Cost (bps)', 'col.last': 'Last event', 'col.actions': 'Actions',
    'chart.title': 'Volume today', 'chart.hint': "Click an account's name to chart it.",
    'log.title': 'Events', 'log.account': 'Account', 'log.level': 'Level', 'log.all': 'All',
    'f.name': 'Name', 'f.token': 'Token', 'f.order_usdt': 'Order size (USDT)',
    'f.daily_target_usdt': 'Daily target (USDT)', 'f.volatility_pct': 'Volatility pause (%)',
    'f.cost_budget_bps': 'Cost budget (bps)', 'f.buy_offset': 'Buy price offset', 'f.sell_offset': 'Sell price offset', 'f.auto_resume': 'Resume by itself after a lost stream',
    'f.curl': 'Credentials: paste "Copy as cURL" (optional)',
    'editor.new': 'New account', 'editor.edit': 'Edit {name}',
    'confirm.kill': 'Kill {name}? Every open order of the account is cancelled and it stops.',
    'confirm.halt': 'Halt every account? Every open order is cancelled and all accounts stop.',
    'notice.halted': 'Halted: {n} account(s) stopped.', 'notice.failed': '{what} failed: {why}',
    'notice.halt_unverified': 'Halt NOT verified: {v} of {n} confirmed by the exchange, {u} could not be asked, {p} pending on another instance; {o} order(s) may be open.',
    'notice.kill_unverified': 'Kill of {name} NOT verified ({outcome}): {o} order(s) may be open. {why}',
    'notice.saved': '{name} saved.',
    'state.trading': 'trading', 'state.paused': 'paused', 'state.idle': 'idle', 'state.stopped': 'stopped',
    'state.done_for_today': 'done for today', 'state.failed': 'failed',
    'reason.operator': 'by the operator', 'reason.stream_lost': 'stream lost',
    'reason.session_expired': 'session expired', 'reason.two_factor': '2FA required',
    'reason.face_check': 'face check required', 'reason.insufficient_balance': 'balance too low',
    'reason.volatility': 'price too volatile', 'reason.rate_limited': 'rate limited',
    'reason.unknown_token': 'unknown token', 'reason.precision': 'no precision',
    'reason.order_rejected': 'order rejected', 'reason.cost_budget': 'over cost budget',
    'reason.price_feed_lost': 'price feed lost', 'reason.ambiguous_order': 'order in doubt',
    'reason.session_expiring': 'session expiring', 'reason.failed': 'failed',
    'flt.search': 'Search names', 'flt.any_state': 'Any state', 'flt.any_token': 'Any token',
    'flt.any_profile': 'Any profile', 'flt.any_tag': 'Any tag', 'flt.person': 'Needs a person',
    'sort.name': 'By name', 'sort.state': 'By state', 'sort.volume': 'By volume',
    'btn.import': 'Import file', 'btn.profiles': 'Profiles', 'sel.none': 'Clear',
    'sel.count': '{n} selected', 'sel.filter': 'Select all {n} matching', 'sel.filter_on': 'All {n} matching selected',
    'bulk.set_profile': 'Put on profile', 'bulk.add_tags': 'Add tag', 'bulk.remove_tags': 'Remove tag',
    'bulk.arg': 'profile or tag', 'bulk.apply': 'Apply to selected',
    'confirm.bulk': '{action} {n} account(s)?', 'notice.bulk': '{action}: {done} done, {refused} refused. {why}',
    'notice.imported': 'Imported {rows} row(s): {created} created, {updated} updated.',
    'notice.import_bad': 'Nothing imported: {n} bad row(s). {rows}',
    'page.info': '{from}–{to} of {n}',
    'tile.accounts': 'accounts', 'tile.trading': 'trading', 'tile.paused': 'paused', 'tile.stopped': 'stopped',
    'tile.person': 'need a person', 'tile.volume': 'USDT volume today', 'tile.points': 'points today',
    'tile.cost': 'cost (bps of volume)',
    'prof.title': 'Profiles', 'prof.settings': 'Settings (JSON: whole for a new profile, the fields to change for one that exists)',
    'prof.accounts': '{n} account(s)', 'prof.delete': 'Delete', 'prof.edit': 'Edit',
  },
  zh: {
    'conn.on': '实时', 'conn.off': '离线',
    'btn.new': '新建账户', 'btn.halt': '全部停止', 'btn.logout': '退出',
    'btn.cancel': '取消', 'btn.save': '保存', 'btn.edit': '编辑',
    'act.start': '启动', 'act.pause': '暂停', 'act.resume': '恢复', 'act.stop': '停止', 'act.kill': '强停',
    'login.title': '登录', 'login.help': '粘贴此守护进程的 API 令牌：即其配置旁的 api-token 文件（由 alpha-oto init 写入，或由 deploy/install.sh 写为 /etc/alpha-oto/api-token）。',
    'login.token': 'API 令牌', 'login.submit': '登录', 'login.bad': '令牌被拒绝。',
    'col.name': '账户', 'col.token': '代币', 'col.state': '状态', 'col.progress': '今日',
    'col.cycles': '轮次', 'col.points': '积分', 'unit.points': '分', 'unit.per_point': 'USDT/分',
    'f.daily_target_points': '或每日目标 (积分)', 'col.cost': '成本 (bps)', 'col.last': '最近事件', 'col.actions': '操作',
    'chart.title': '今日交易量', 'chart.hint': '点击账户名查看其曲线。',
    'log.title': '事件', 'log.account': '账户', 'log.level': '级别', 'log.all': '全部',
    'f.name': '名称', 'f.token': '代币', 'f.order_usdt': '单笔金额 (USDT)',
    'f.daily_target_usdt': '每日目标 (USDT)', 'f.volatility_pct': '波动暂停阈值 (%)',
    'f.cost_budget_bps': '成本上限 (bps)', 'f.buy_offset': '买入价偏移', 'f.sell_offset': '卖出价偏移', 'f.auto_resume': '推送断开后自动恢复',
    'f.curl': '凭证：粘贴"复制为 cURL"（可选）',
    'editor.new': '新建账户', 'editor.edit': '编辑 {name}',
    'confirm.kill': '强停 {name}？将撤销该账户的全部挂单并停止。',
    'confirm.halt': '停止所有账户？将撤销全部挂单并停止所有账户。',
    'notice.halted': '已全部停止：{n} 个账户。', 'notice.failed': '{what} 失败：{why}',
    'notice.halt_unverified': '全局强停未经确认：{n} 个账户中 {v} 个已由交易所确认，{u} 个无法查询，{p} 个由其他实例处理；可能仍有 {o} 个挂单。',
    'notice.kill_unverified': '{name} 强停未经确认（{outcome}）：可能仍有 {o} 个挂单。{why}',
    'notice.saved': '{name} 已保存。',
    'state.trading': '交易中', 'state.paused': '已暂停', 'state.idle': '空闲', 'state.stopped': '已停止',
    'state.done_for_today': '今日完成', 'state.failed': '失败',
    'reason.operator': '操作员暂停', 'reason.stream_lost': '推送断开',
    'reason.session_expired': '会话过期', 'reason.two_factor': '需要两步验证',
    'reason.face_check': '需要人脸验证', 'reason.insufficient_balance': '余额不足',
    'reason.volatility': '价格波动过大', 'reason.rate_limited': '被限流',
    'reason.unknown_token': '未知代币', 'reason.precision': '精度未知',
    'reason.order_rejected': '订单被拒', 'reason.cost_budget': '超出成本上限',
    'reason.price_feed_lost': '价格源中断', 'reason.ambiguous_order': '订单状态不明',
    'reason.session_expiring': '会话即将过期', 'reason.failed': '失败',
    'flt.search': '搜索名称', 'flt.any_state': '全部状态', 'flt.any_token': '全部代币',
    'flt.any_profile': '全部配置', 'flt.any_tag': '全部标签', 'flt.person': '需要人工处理',
    'sort.name': '按名称', 'sort.state': '按状态', 'sort.volume': '按交易量',
    'btn.import': '导入文件', 'btn.profiles': '配置模板', 'sel.none': '清除',
    'sel.count': '已选 {n} 个', 'sel.filter': '选择全部 {n} 个匹配', 'sel.filter_on': '已选全部 {n} 个匹配',
    'bulk.set_profile': '应用配置模板', 'bulk.add_tags': '添加标签', 'bulk.remove_tags': '移除标签',
    'bulk.arg': '配置模板或标签', 'bulk.apply': '应用到所选',
    'confirm.bulk': '对 {n} 个账户执行 {action}？', 'notice.bulk': '{action}：{done} 个完成，{refused} 个被拒。{why}',
    'notice.imported': '已导入 {rows} 行：新建 {created} 个，更新 {updated} 个。',
    'notice.import_bad': '未导入任何账户：{n} 行有误。{rows}',
    'page.info': '第 {from}–{to} 个，共 {n} 个',
    'tile.accounts': '账户', 'tile.trading': '交易中', 'tile.paused': '已暂停', 'tile.stopped': '已停止',
    'tile.person': '需要人工处理', 'tile.volume': '今日交易量 USDT', 'tile.points': '今日积分',
    'tile.cost': '成本 (占交易量 bps)',
    'prof.title': '配置模板', 'prof.settings': '设置（JSON：新模板需完整设置，已有模板只需要改的字段）',
    'prof.accounts': '{n} 个账户', 'prof.delete': '删除', 'prof.edit': '编辑',
  },
};

const TOKEN_KEY = 'alpha-oto-token';
const LANG_KEY = 'alpha-oto-lang';
const LOG_KEPT = 500;
const $ = (sel) => document.querySelector(sel);

let lang = localStorage.getItem(LANG_KEY) || ((navigator.language || '').startsWith('zh') ? 'zh' : 'en');
const accounts = new Map(); // name -> view (the API's account, kept current by status frames)
const events = []; // newest first
const series = new Map(); // name -> [[at_ms, volume]]
let selected = null;
let streamAbort = null;
// The table shows one page of the accounts the filters keep, in the chosen order.
const PAGE = 100;
const STATES = ['trading', 'paused', 'idle', 'done_for_today', 'stopped', 'failed'];
let page = 0;
const picked = new Set(); // names ticked by hand
let pickedFilter = false; // or every account the filters keep

function t(key, vars) {
  let s = (I18N[lang] && I18N[lang][key]) || I18N.en[key] || key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replace('{' + k + '}', v);
  return s;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'style') Object.assign(e.style, v); // CSSOM: allowed by the page's policy
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function applyI18n() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.querySelectorAll('[data-i18n]').forEach((e) => { e.textContent = t(e.dataset.i18n); });
  document.querySelectorAll('[data-i18n-placeholder]').forEach((e) => { e.placeholder = t(e.dataset.i18nPlaceholder); });
  fillFilters();
  $('#lang').textContent = lang === 'zh' ? 'English' : '中文';
  setConn(!!streamAbort && $('#conn').classList.contains('on'));
  renderTable();
  renderLog();
}

function token() { return sessionStorage.getItem(TOKEN_KEY); }

async function api(method, path, body, text) {
  const headers = { Authorization: 'Bearer ' + token() };
  let payload;
  if (text !== undefined) { headers['Content-Type'] = 'text/plain'; payload = text; }
  else if (body !== undefined) { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
  const res = await fetch(path, { method, headers, body: payload });
  let data = null;
  const type = res.headers.get('content-type') || '';
  if (type.includes('json')) data = await res.json();
  if (res.status === 401) { logout(t('login.bad')); throw new Error('unauthorized'); }
  return { ok: res.ok, status: res.status, data };
}

function notice(msg) { $('#notice').textContent = msg || ''; }

function setConn(on) {
  const c = $('#conn');
  c.className = 'conn ' + (on ? 'on' : 'off');
  c.textContent = t(on ? 'conn.on' : 'conn.off');
}

// ---- accounts table ----

function fmtTime(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  return d.toLocaleTimeString(lang === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false });
}

// Amounts arrive as exact decimal strings; shown to 2 places, cut as text (never through a
// float).
function usdt(s) {
  const str = String(s ?? '0');
  const [whole, frac = ''] = str.split('.');
  return whole + '.' + (frac + '00').slice(0, 2);
}

function actionsFor(a) {
  const s = a.state;
  const list = [];
  if (s === 'stopped' || s === 'failed' || s === 'idle' && a.phase === 'not_running') list.push('start');
  if (s === 'trading' || s === 'idle') list.push('pause');
  if (s === 'paused') list.push('resume');
  if (s !== 'stopped' && s !== 'failed') list.push('stop', 'kill');
  return list;
}

function row(a) {
  // A points target shows its progress in points, over counted volume (2^P).
  const pts = a.points || {};
  const byPoints = pts.target != null;
  const vol = byPoints ? pts.counted_volume : a.progress.volume_today;
  const target = byPoints ? 2 ** pts.target : (a.progress.target ?? a.settings.daily_target_usdt);
  const pct = Number(target) > 0 ? Math.min(100, (Number(vol) / Number(target)) * 100) : 0;
  const todayText = byPoints ? pts.today + ' / ' + pts.target + ' ' + t('unit.points')
    : usdt(vol) + ' / ' + usdt(target) + ' USDT';
  const pointsText = (pts.today ?? 0) + (byPoints ? '/' + pts.target : '')
    + (pts.cost_per_point_usdt != null ? ' · ' + pts.cost_per_point_usdt + ' ' + t('unit.per_point') : '');
  const person = (a.needs_person || []).filter((r) => r !== a.pause_reason).map((r) => t('reason.' + r));
  const reason = [a.state === 'paused' && a.pause_reason ? t('reason.' + a.pause_reason) : (a.failure || ''), ...person]
    .filter(Boolean).join(' · ');
  const buttons = actionsFor(a).map((act) => el('button', {
    type: 'button', class: act === 'kill' ? 'danger' : '', dataset: { action: act },
    onclick: () => act === 'kill' ? kill(a.name) : action(a.name, act),
  }, t('act.' + act)));
  buttons.push(el('button', { type: 'button', dataset: { action: 'edit' }, onclick: () => openEditor(a.name) }, t('btn.edit')));
  const box = el('input', { type: 'checkbox', dataset: { pick: a.name }, onchange: (ev) => pick(a.name, ev.target.checked) });
  box.checked = pickedFilter || picked.has(a.name);
  const cells = [
    ['', box, 'pick-cell'],
    ['col.name', el('a', { class: 'pick', onclick: () => select(a.name) }, a.name), 'name'],
    ['col.token', a.token],
    ['col.state', el('span', {}, el('span', { class: 'state ' + a.state }, t('state.' + a.state)),
      reason ? el('span', { class: 'reason' }, reason) : null), 'state-cell'],
    ['col.progress', el('div', { class: 'bar', title: pct.toFixed(1) + '%' },
      el('span', { style: { width: pct.toFixed(1) + '%' } }), el('em', {}, todayText)), 'progress'],
    ['col.cycles', String(a.progress.cycles_done ?? 0), 'cycles'],
    ['col.points', pointsText, 'points'],
    ['col.cost', a.cost_bps ?? '—', 'cost'],
    ['col.last', fmtTime(a.last_event_at_ms), 'last'],
    ['col.actions', el('span', {}, ...buttons), 'actions'],
  ];
  return el('tr', { dataset: { name: a.name } },
    ...cells.map(([label, content, cls]) => el('td', { class: cls || '', 'data-label': label ? t(label) : '' }, content)));
}

// ---- filters, order, pages, selection ----

function filters() {
  return {
    q: $('#q').value.trim().toLowerCase(), state: $('#f-state').value, token: $('#f-token').value,
    profile: $('#f-profile').value, tag: $('#f-tag').value, person: $('#f-person').checked,
  };
}

// The same selection as the API's list filters (`api::listing`), so a bulk action on "every
// account matching" reaches exactly the rows shown.
function keeps(a, f) {
  return (!f.state || a.state === f.state)
    && (!f.token || String(a.token).toLowerCase() === f.token.toLowerCase())
    && (!f.profile || a.profile === f.profile)
    && (!f.tag || (a.tags || []).includes(f.tag))
    && (!f.person || (a.needs_person || []).length > 0)
    && (!f.q || a.name.toLowerCase().includes(f.q));
}

// Exact decimal text to units of 1e-8 (BigInt), and back: sums of money never go through a
// float.
function units(s) {
  const m = String(s ?? '0').match(/^(-?)(\d*)(?:\.(\d*))?$/);
  if (!m) return 0n;
  const v = BigInt((m[2] || '0') + ((m[3] || '') + '00000000').slice(0, 8));
  return m[1] ? -v : v;
}

function fromUnits(u, places) {
  const neg = u < 0n;
  const s = (neg ? -u : u).toString().padStart(9, '0');
  return (neg ? '-' : '') + s.slice(0, -8) + '.' + s.slice(-8, -8 + places);
}

function shown() {
  const f = filters();
  const list = [...accounts.values()].filter((a) => keeps(a, f));
  const rank = (s) => STATES.indexOf(s);
  const key = $('#sort').value;
  if (key === 'state') list.sort((x, y) => rank(x.state) - rank(y.state) || (x.name < y.name ? -1 : 1));
  else if (key === 'volume') list.sort((x, y) => { const d = units(y.progress.volume_today) - units(x.progress.volume_today); return d > 0n ? 1 : d < 0n ? -1 : (x.name < y.name ? -1 : 1); });
  else list.sort((x, y) => (x.name < y.name ? -1 : 1));
  return list;
}

function fillFilters() {
  const all = [...accounts.values()];
  const fill = (sel, anyKey, values) => {
    const box = $(sel);
    if (!box) return;
    const current = box.value;
    box.replaceChildren(el('option', { value: '' }, t(anyKey)), ...values.map((v) => el('option', { value: v }, v)));
    box.value = values.includes(current) ? current : '';
  };
  const uniq = (xs) => [...new Set(xs.filter(Boolean))].sort();
  const state = $('#f-state');
  if (state) {
    const current = state.value;
    state.replaceChildren(el('option', { value: '' }, t('flt.any_state')), ...STATES.map((s) => el('option', { value: s }, t('state.' + s))));
    state.value = current;
  }
  fill('#f-token', 'flt.any_token', uniq(all.map((a) => a.token)));
  fill('#f-profile', 'flt.any_profile', uniq(all.map((a) => a.profile)));
  fill('#f-tag', 'flt.any_tag', uniq(all.flatMap((a) => a.tags || [])));
}

function pick(name, on) {
  if (pickedFilter) { pickedFilter = false; for (const a of shown()) picked.add(a.name); }
  if (on) picked.add(name); else picked.delete(name);
  renderSelection();
}

function renderSelection() {
  const n = shown().length;
  const count = pickedFilter ? n : picked.size;
  $('#sel-count').textContent = t('sel.count', { n: count });
  $('#sel-filter').textContent = t(pickedFilter ? 'sel.filter_on' : 'sel.filter', { n });
  document.querySelectorAll('#accounts tbody input[data-pick]').forEach((b) => { b.checked = pickedFilter || picked.has(b.dataset.pick); });
  $('#bulk-apply').disabled = count === 0;
}

function renderTiles() {
  const all = [...accounts.values()];
  const by = (s) => all.filter((a) => a.state === s).length;
  let vol = 0n; let cost = 0n; let points = 0;
  for (const a of all) {
    const v = units(a.progress.volume_today);
    vol += v;
    if (a.cost_bps != null) cost += (units(a.cost_bps) * v) / 100000000n;
    points += Number(a.points?.today || 0);
  }
  const person = all.filter((a) => (a.needs_person || []).length > 0).length;
  const tile = (n, key, cls) => el('div', { class: 'tile ' + (cls || ''), dataset: { tile: key } }, el('b', {}, String(n)), el('span', {}, t('tile.' + key)));
  const personTile = tile(person, 'person', 'person');
  personTile.addEventListener('click', () => { $('#f-person').checked = true; refilter(); });
  $('#tiles').replaceChildren(tile(all.length, 'accounts'), tile(by('trading'), 'trading'), tile(by('paused'), 'paused'),
    tile(by('stopped'), 'stopped'), personTile, tile(fromUnits(vol, 2), 'volume'), tile(points, 'points'),
    tile(vol > 0n ? fromUnits((cost * 100000000n) / vol, 2) : '—', 'cost'));
}

function renderTable() {
  const body = $('#accounts tbody');
  if (!body) return;
  const list = shown();
  const pages = Math.max(1, Math.ceil(list.length / PAGE));
  page = Math.min(page, pages - 1);
  const from = page * PAGE;
  body.replaceChildren(...list.slice(from, from + PAGE).map(row));
  $('#page-info').textContent = t('page.info', { from: list.length ? from + 1 : 0, to: Math.min(from + PAGE, list.length), n: list.length });
  $('#prev').disabled = page === 0;
  $('#next').disabled = page >= pages - 1;
  renderSelection();
  renderTiles();
  const filter = $('#filter-account');
  const current = filter.value;
  const names = [...accounts.keys()].sort().slice(0, 500);
  filter.replaceChildren(el('option', { value: '' }, t('log.all')), ...names.map((n) => el('option', { value: n }, n)));
  filter.value = names.includes(current) ? current : '';
}

function refilter() { page = 0; pickedFilter = false; picked.clear(); renderTable(); }

// Filters that a status can change (state, needs a person): the table and tiles follow once
// a second, not once per status.
let refreshAsked = false;
function refreshSoon() {
  if (refreshAsked) return;
  refreshAsked = true;
  setTimeout(() => { refreshAsked = false; renderTable(); }, 1000);
}

async function bulk() {
  const act = $('#bulk-action').value;
  const arg = $('#bulk-arg').value.trim();
  const f = filters();
  const n = pickedFilter ? shown().length : picked.size;
  if (!n) return;
  const label = $('#bulk-action').selectedOptions[0].textContent + (arg ? ' ' + arg : '');
  if (!confirm(t('confirm.bulk', { action: label, n }))) return;
  const body = { action: act };
  if (pickedFilter) {
    const select = {};
    for (const k of ['state', 'token', 'profile', 'tag']) if (f[k]) select[k] = f[k];
    if (f.q) select.q = f.q;
    if (f.person) select.needs_person = true;
    if (Object.keys(select).length) body.select = select; else body.all = true;
  } else body.names = [...picked];
  if (act === 'set_profile') body.profile = arg || null;
  if (act === 'add_tags' || act === 'remove_tags') body.tags = [arg];
  const r = await api('POST', '/api/v1/accounts/actions', body);
  if (!r.ok) { notice(t('notice.failed', { what: label, why: r.data?.detail || r.status })); return; }
  const refused = (r.data.accounts || []).filter((x) => x.result === 'refused');
  notice(t('notice.bulk', { action: label, done: r.data.done, refused: r.data.refused,
    why: refused.slice(0, 3).map((x) => x.name + ': ' + x.reason).join('; ') }));
  picked.clear(); pickedFilter = false;
  if (['set_profile', 'add_tags', 'remove_tags'].includes(act)) await loadAccounts(); else renderTable();
}

async function importFile(file) {
  const text = await file.text();
  const r = await api('POST', '/api/v1/accounts-file', undefined, text);
  if (r.ok) notice(t('notice.imported', r.data));
  else if (r.data?.rows) notice(t('notice.import_bad', { n: r.data.rows.length,
    rows: r.data.rows.slice(0, 5).map((x) => 'line ' + x.line + ' ' + x.field + ': ' + x.reason).join('; ') }));
  else notice(t('notice.failed', { what: t('btn.import'), why: r.data?.detail || r.status }));
  await loadAccounts();
}

// ---- profiles ----

let editingProfile = null;

async function openProfiles() {
  editingProfile = null;
  const form = $('#profile-form');
  form.reset();
  $('#profile-error').textContent = '';
  const r = await api('GET', '/api/v1/profiles');
  const list = r.ok ? r.data : [];
  $('#profile-list tbody').replaceChildren(...list.map((p) => el('tr', { dataset: { profile: p.name } },
    el('td', {}, p.name), el('td', {}, 'r' + p.revision), el('td', {}, t('prof.accounts', { n: p.accounts })),
    el('td', {}, el('button', { type: 'button', onclick: () => {
      editingProfile = p.name; form.elements.name.value = p.name; form.elements.name.readOnly = true;
      form.elements.settings.value = JSON.stringify(p.settings, null, 1);
    } }, t('prof.edit')), ' ', el('button', { type: 'button', class: 'danger', onclick: async () => {
      const d = await api('DELETE', '/api/v1/profiles/' + encodeURIComponent(p.name));
      if (!d.ok) $('#profile-error').textContent = d.data?.detail || d.status; else openProfiles();
    } }, t('prof.delete'))))));
  form.elements.name.readOnly = false;
  if (!$('#profiles').open) $('#profiles').showModal();
}

async function saveProfile(ev) {
  ev.preventDefault();
  const form = $('#profile-form');
  let body;
  try { body = JSON.parse(form.elements.settings.value || '{}'); } catch (e) { $('#profile-error').textContent = String(e); return; }
  const name = form.elements.name.value.trim();
  const r = editingProfile
    ? await api('PATCH', '/api/v1/profiles/' + encodeURIComponent(editingProfile), body)
    : await api('POST', '/api/v1/profiles', { ...body, name });
  if (!r.ok) { $('#profile-error').textContent = (r.data?.field ? r.data.field + ': ' : '') + (r.data?.detail || r.status); return; }
  notice(t('notice.saved', { name }));
  await openProfiles();
  await loadAccounts();
}

// Rows to draw again at the next frame: thousands of accounts send a status each second, and
// one redraw per frame per row is all the eye can see. Only rows on the page are drawn.
const dirty = new Set();
let frameAsked = false;

function renderRow(name) {
  dirty.add(name);
  if (frameAsked) return;
  frameAsked = true;
  requestAnimationFrame(() => {
    frameAsked = false;
    for (const n of dirty) {
      const a = accounts.get(n);
      const old = document.querySelector('#accounts tr[data-name="' + CSS.escape(n) + '"]');
      if (a && old) old.replaceWith(row(a));
    }
    dirty.clear();
  });
}

async function loadAccounts() {
  const r = await api('GET', '/api/v1/accounts');
  if (!r.ok) { notice(t('notice.failed', { what: 'GET /api/v1/accounts', why: r.data?.detail || r.status })); return false; }
  accounts.clear();
  for (const a of r.data) accounts.set(a.name, a);
  fillFilters();
  renderTable();
  if (window.__firstRender === undefined) window.__firstRender = performance.now();
  if (!selected && r.data.length) select(r.data[0].name);
  return true;
}

async function action(name, act) {
  const r = await api('POST', '/api/v1/accounts/' + encodeURIComponent(name) + '/' + act);
  if (!r.ok) notice(t('notice.failed', { what: t('act.' + act) + ' ' + name, why: r.data?.detail || r.status }));
}

async function kill(name) {
  if (!confirm(t('confirm.kill', { name }))) return;
  const r = await api('POST', '/api/v1/accounts/' + encodeURIComponent(name) + '/kill');
  if (!r.ok) notice(t('notice.failed', { what: t('act.kill') + ' ' + name, why: r.data?.detail || r.status }));
  else if (r.data?.outcome !== 'verified' || r.data?.open_left > 0) {
    // Never "nothing open" unless the exchange said so.
    notice(t('notice.kill_unverified', { name, outcome: r.data?.outcome, o: r.data?.open_left, why: r.data?.error || '' }));
  }
}

async function halt() {
  if (!confirm(t('confirm.halt'))) return;
  const r = await api('POST', '/api/v1/halt');
  const d = r.data || {};
  if (r.ok && d.clean) notice(t('notice.halted', { n: (d.accounts || []).length }));
  else if (r.ok) notice(t('notice.halt_unverified', { n: (d.accounts || []).length, v: d.verified, u: d.unverified, p: d.pending, o: d.open_left }));
  else notice(t('notice.failed', { what: t('btn.halt'), why: r.data?.detail || r.status }));
}

// ---- live stream ----

function onStatus(s) {
  const a = accounts.get(s.name);
  if (!a) return;
  if (a.state !== s.state) refreshSoon();
  a.state = s.state;
  a.phase = s.phase;
  a.pause_reason = s.pause_reason;
  a.pauses = s.pauses;
  a.failure = s.failure;
  a.stream_up = s.stream_up;
  a.cost_bps = s.cost_bps;
  a.progress.volume_today = s.volume_today;
  a.progress.cycles_done = s.cycles_today;
  if (s.points) a.points = s.points;
  if (Number(s.target) > 0) a.progress.target = s.target;
  renderRow(s.name);
  const pts = series.get(s.name);
  if (pts) {
    const last = pts[pts.length - 1];
    if (!last || last[1] !== Number(s.volume_today)) pts.push([s.updated_at_ms, Number(s.volume_today)]);
    if (s.name === selected) drawChart();
  }
}

function normalise(e) {
  return { id: e.id, account: e.account ?? e.account_name ?? '', kind: e.kind, level: e.level,
    reason: e.reason, message: e.message, at_ms: e.at_ms ?? e.created_at_ms };
}

function onEvent(raw) {
  const e = normalise(raw);
  if (events.some((x) => x.id === e.id)) return;
  events.unshift(e);
  events.sort((x, y) => y.id - x.id);
  events.length = Math.min(events.length, LOG_KEPT);
  const a = accounts.get(e.account);
  if (a) { a.last_event_at_ms = Math.max(a.last_event_at_ms || 0, e.at_ms); renderRow(e.account); }
  renderLog();
}

function onFrame(frame) {
  let kind = 'message';
  const data = [];
  for (const line of frame.split('\n')) {
    if (line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'event') kind = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length) return;
  let payload;
  try { payload = JSON.parse(data.join('\n')); } catch { return; }
  if (kind === 'status') onStatus(payload); else onEvent(payload);
}

async function stream() {
  let backoff = 500;
  while (token()) {
    const ctl = new AbortController();
    streamAbort = ctl;
    try {
      const res = await fetch('/api/v1/events/stream?status=true', {
        headers: { Authorization: 'Bearer ' + token() }, signal: ctl.signal,
      });
      if (res.status === 401) { logout(t('login.bad')); return; }
      if (res.ok && res.body) {
        setConn(true);
        backoff = 500;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) { onFrame(buf.slice(0, i)); buf = buf.slice(i + 2); }
        }
      }
    } catch (err) {
      if (ctl.signal.aborted) return;
    }
    setConn(false);
    await new Promise((r) => setTimeout(r, backoff));
    backoff = Math.min(backoff * 2, 15000);
    // What changed while the stream was down: read once again, then follow the stream.
    if (token()) await loadAccounts().catch(() => {});
  }
}

// ---- event log ----

function renderLog() {
  const list = $('#log');
  if (!list) return;
  const acct = $('#filter-account').value;
  const level = $('#filter-level').value;
  const shown = events.filter((e) => (!acct || e.account === acct) && (!level || e.level === level));
  list.replaceChildren(...shown.map((e) => el('li', { class: e.level, dataset: { account: e.account, level: e.level } },
    el('span', { class: 't' }, fmtTime(e.at_ms)), el('span', { class: 'lvl' }, e.level), ' ',
    el('b', {}, e.account), ' ', e.kind + (e.reason ? ' (' + (I18N[lang]['reason.' + e.reason] ? t('reason.' + e.reason) : e.reason) + ')' : ''),
    ': ', e.message)));
}

async function loadRecentEvents() {
  const names = [...accounts.keys()].slice(0, 50);
  await Promise.all(names.map(async (n) => {
    const r = await api('GET', '/api/v1/accounts/' + encodeURIComponent(n) + '/events?limit=20');
    if (r.ok) for (const e of r.data) onEvent(e);
  }));
}

// ---- chart ----

function dayStart(ms) { return ms - (ms % 86400000); }

async function select(name) {
  selected = name;
  $('#chart-account').textContent = name;
  if (!series.has(name)) {
    series.set(name, []);
    const r = await api('GET', '/api/v1/accounts/' + encodeURIComponent(name) + '/fills?limit=500');
    if (r.ok) {
      const today = dayStart(Date.now());
      const buys = r.data.filter((f) => String(f.side).toUpperCase() === 'BUY' && f.traded_at_ms >= today)
        .sort((x, y) => x.traded_at_ms - y.traded_at_ms);
      let sum = 0;
      const pts = buys.map((f) => { sum += Number(f.quote_qty); return [f.traded_at_ms, sum]; });
      // The live figure is the daemon's (it may count fills older than this page of them).
      const a = accounts.get(name);
      if (a) pts.push([Date.now(), Number(a.progress.volume_today)]);
      series.set(name, pts.concat(series.get(name)));
    }
  }
  drawChart();
}

function drawChart() {
  const svg = $('#chart');
  const pts = (series.get(selected) || []).slice().sort((x, y) => x[0] - y[0]);
  const a = accounts.get(selected);
  const now = Date.now();
  const x0 = pts.length ? Math.min(pts[0][0], now - 60000) : now - 3600000;
  const target = a ? Number(a.progress.target ?? a.settings.daily_target_usdt) : 0;
  const ymax = Math.max(1, ...pts.map((p) => p[1]), pts.length ? 0 : target);
  const X = (ms) => ((ms - x0) / Math.max(1, now - x0)) * 400;
  const Y = (v) => 155 - (v / ymax) * 145;
  const line = [[x0, 0], ...pts, [now, pts.length ? pts[pts.length - 1][1] : 0]]
    .map(([ms, v]) => X(ms).toFixed(1) + ',' + Y(v).toFixed(1)).join(' ');
  const ns = 'http://www.w3.org/2000/svg';
  const poly = document.createElementNS(ns, 'polyline');
  poly.setAttribute('points', line);
  const label = document.createElementNS(ns, 'text');
  label.setAttribute('x', '4'); label.setAttribute('y', '12');
  label.textContent = (pts.length ? pts[pts.length - 1][1].toFixed(2) : '0') + ' USDT';
  svg.replaceChildren(poly, label);
}

// ---- account form ----

const FIELDS = ['name', 'token', 'order_usdt', 'daily_target_usdt', 'daily_target_points', 'volatility_pct', 'cost_budget_bps'];
const OFFSETS = ['buy_offset', 'sell_offset'];
// A new account starts from these prices: buy at the last price, sell 0.5 % above it.
const NEW_OFFSETS = { buy_offset: { mode: 'percent', value: '0' }, sell_offset: { mode: 'percent', value: '0.5' } };
let editing = null;

function openEditor(name) {
  editing = name;
  const form = $('#account-form');
  form.reset();
  form.querySelectorAll('.field-error').forEach((e) => { e.textContent = ''; });
  $('#form-error').textContent = '';
  $('#editor-title').textContent = name ? t('editor.edit', { name }) : t('editor.new');
  form.elements.name.readOnly = !!name;
  const a = name && accounts.get(name);
  if (a) {
    for (const f of FIELDS) form.elements[f].value = f === 'name' ? a.name : (a.settings[f] ?? '');
    form.elements.auto_resume.checked = !!a.settings.auto_resume;
  }
  for (const o of OFFSETS) {
    const v = (a && a.settings[o]) || NEW_OFFSETS[o];
    form.elements[o + '_mode'].value = v.mode;
    form.elements[o + '_value'].value = v.value;
  }
  $('#editor').showModal();
}

function showProblem(problem, fallbackField) {
  const field = problem?.field || fallbackField;
  const spot = field && document.querySelector('.field-error[data-for="' + CSS.escape(field) + '"]');
  const msg = problem?.detail || problem?.title || String(problem);
  if (spot) spot.textContent = msg; else $('#form-error').textContent = msg;
}

async function save(ev) {
  ev.preventDefault();
  const form = $('#account-form');
  form.querySelectorAll('.field-error').forEach((e) => { e.textContent = ''; });
  $('#form-error').textContent = '';
  const body = {};
  const a = editing && accounts.get(editing);
  for (const f of FIELDS) {
    const v = form.elements[f].value.trim();
    if (editing && f === 'name') continue;
    if (a && String(a.settings[f] ?? '') === v) continue;
    if (v !== '') body[f] = f === 'daily_target_points' ? Number(v) : v;
  }
  for (const o of OFFSETS) {
    const v = { mode: form.elements[o + '_mode'].value, value: form.elements[o + '_value'].value.trim() };
    const old = a && a.settings[o];
    if (!old || old.mode !== v.mode || String(old.value) !== v.value) body[o] = v;
  }
  const auto = form.elements.auto_resume.checked;
  if (!a || a.settings.auto_resume !== auto) body.auto_resume = auto;
  const name = editing || body.name;
  const r = editing
    ? await api('PATCH', '/api/v1/accounts/' + encodeURIComponent(editing) + '/config', body)
    : await api('POST', '/api/v1/accounts', body);
  if (!r.ok) { showProblem(r.data, editing ? null : 'name'); return; }
  const curl = form.elements.curl.value.trim();
  if (curl) {
    const c = await api('PUT', '/api/v1/accounts/' + encodeURIComponent(name) + '/credentials', undefined, curl);
    if (!c.ok) { showProblem(c.data?.field ? { ...c.data, field: 'curl' } : c.data, 'curl'); editing = name; return; }
  }
  $('#editor').close();
  notice(t('notice.saved', { name }));
  await loadAccounts();
}

// ---- log in and out ----

function logout(msg) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (streamAbort) streamAbort.abort();
  streamAbort = null;
  document.body.classList.remove('authed');
  $('#board').hidden = true;
  $('#login').hidden = false;
  $('#login-error').textContent = msg || '';
  setConn(false);
}

async function enter() {
  $('#login').hidden = true;
  $('#board').hidden = false;
  document.body.classList.add('authed');
  try {
    if (!(await loadAccounts())) return;
  } catch { return; }
  stream();
  loadRecentEvents().catch(() => {});
}

function start() {
  const m = location.hash.match(/^#token=(.+)$/);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  $('#lang').addEventListener('click', () => {
    lang = lang === 'zh' ? 'en' : 'zh';
    localStorage.setItem(LANG_KEY, lang);
    applyI18n();
  });
  $('#login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('#login-token').value.trim());
    enter();
  });
  $('#logout').addEventListener('click', () => logout());
  $('#halt').addEventListener('click', halt);
  $('#new-account').addEventListener('click', () => openEditor(null));
  $('#account-form').addEventListener('submit', save);
  $('#form-cancel').addEventListener('click', () => $('#editor').close());
  $('#filter-account').addEventListener('change', renderLog);
  for (const id of ['#f-state', '#f-token', '#f-profile', '#f-tag', '#f-person', '#sort']) $(id).addEventListener('change', refilter);
  $('#q').addEventListener('input', refilter);
  $('#prev').addEventListener('click', () => { page -= 1; renderTable(); });
  $('#next').addEventListener('click', () => { page += 1; renderTable(); });
  $('#sel-page').addEventListener('change', (ev) => {
    const on = ev.target.checked;
    document.querySelectorAll('#accounts tbody input[data-pick]').forEach((b) => pick(b.dataset.pick, on));
  });
  $('#sel-filter').addEventListener('click', () => { pickedFilter = true; picked.clear(); renderSelection(); });
  $('#sel-none').addEventListener('click', () => { pickedFilter = false; picked.clear(); $('#sel-page').checked = false; renderSelection(); });
  $('#bulk-apply').addEventListener('click', bulk);
  $('#import').addEventListener('click', () => $('#import-file').click());
  $('#import-file').addEventListener('change', (ev) => { const f = ev.target.files[0]; if (f) importFile(f); ev.target.value = ''; });
  $('#profiles-open').addEventListener('click', openProfiles);
  $('#profile-form').addEventListener('submit', saveProfile);
  $('#profile-close').addEventListener('click', () => $('#profiles').close());
  $('#filter-level').addEventListener('change', renderLog);
  setInterval(() => { if (selected) drawChart(); }, 10000);
  applyI18n();
  if (token()) enter(); else logout();
}

document.addEventListener('DOMContentLoaded', start);
