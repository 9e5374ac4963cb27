'use strict';
/*
 * pgra console: a single-page front-end of the agent's /api/v1 (no framework, no build step, nothing external).
 * Every string from the API is untrusted: the DOM is built with createElement/textContent only (no innerHTML),
 * and the post-mortem's markdown is rendered by a small renderer that builds text nodes the same way.
 */
(function () {
// ---------------------------------------------------------------- constants and state
const ROOT = (() => {
  const p = location.pathname;
  const i = p.lastIndexOf('/console/');
  return i >= 0 ? p.slice(0, i + 1) : '/';
})();
const API = ROOT + 'api/v1';
const CONSOLE = ROOT + 'console';
const ROLES = { viewer: 0, operator: 1, approver: 2 };
const EVENT_NAMES = ['agent.started', 'agent.stopped', 'agent.reconciled', 'snapshot', 'sensing.outage', 'sensing.restored',
  'finding.raised', 'finding.cleared', 'incident.opened', 'incident.mitigating', 'incident.resolved', 'skill.started',
  'skill.finished', 'action.finished', 'approval.requested', 'approval.decided', 'dropped'];
const JOURNAL_KINDS = ['snapshot', 'finding', 'decision', 'action.precheck', 'action.intent', 'action.outcome',
  'approval.requested', 'approval.granted', 'approval.denied', 'incident', 'note', 'brain.exchange', 'mcp.call', 'alert.received'];
const SNAPSHOT_VIEWS = new Set(['fleet', 'clusters', 'cluster']);
const POLL_MS = 10000;
const DEBOUNCE_MS = 700;
const SERIES = ['#3b82f6', '#a855f7', '#14b8a6', '#f97316', '#ec4899', '#84cc16', '#eab308', '#06b6d4'];

const state = {
  session: null, health: null, catalog: null, catalogPromise: null,
  live: 'off', es: null, liveRetry: null, lastEvent: null, flush: null, flushFull: false,
  view: null, loggedOut: false, pending: null, open: null, timers: [],
};
const approvalCards = new Map(); // approval id -> card (kept across refreshes and navigation)
const undoState = new Map(); // action id -> {busy, result}
const writableFallback = new Map(); // cluster -> {at, writable} or 'none'

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- DOM helpers (no innerHTML anywhere)
const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'open']);

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  add(el, kids);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') {
      el.setAttribute('class', v);
    } else if (k === 'text') {
      el.textContent = String(v);
    } else if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (PROPS.has(k)) {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

function add(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k == null || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}

const SVGNS = 'http://www.w3.org/2000/svg';

function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v != null && v !== false) el.setAttribute(k, String(v));
    }
  }
  add(el, kids);
  return el;
}

const enc = encodeURIComponent;
const mono = (t, cls) => h('span', { class: 'mono' + (cls ? ' ' + cls : '') }, t == null ? '–' : String(t));
const link = (href, text, attrs) => h('a', Object.assign({ href }, attrs || {}), text);
const pill = (text, cls, attrs) => h('span', Object.assign({ class: 'pill ' + (cls || 'st-unknown') }, attrs || {}), text);
const loading = () => h('p', { class: 'muted small' }, 'loading…');
const empty = (text) => h('p', { class: 'empty' }, text);
const fill = (region, ...nodes) => { region.replaceChildren(); add(region, nodes); };
const clusterHref = (c) => '#/clusters/' + enc(c);
const incidentHref = (id) => '#/incidents/' + enc(id);
const journalHref = (seq) => '#/journal/' + enc(seq);
const approvalHref = (id) => '#/approvals/' + enc(id);
const seqLink = (seq) => (seq == null ? '' : link(journalHref(seq), '#' + seq, { class: 'mono' }));

function pick(o, ...keys) {
  if (!o) return undefined;
  for (const k of keys) {
    if (o[k] !== undefined) return o[k];
  }
  return undefined;
}

function sevClass(sev) {
  switch (String(sev || '').toLowerCase()) {
    case 'critical': case 'error': return 'sev-critical';
    case 'warning': case 'degraded': return 'sev-warning';
    case 'ok': case 'info-ok': return 'sev-ok';
    case 'info': return 'sev-info';
    default: return 'sev-unknown';
  }
}

const sevPill = (sev) => pill(sev || 'unknown', sevClass(sev));

function stateClass(st) {
  switch (String(st || '').toLowerCase()) {
    case 'open': return 'st-bad';
    case 'mitigating': return 'st-warn';
    case 'resolved': return 'st-ok';
    default: return 'st-unknown';
  }
}

function outcomeClass(st) {
  const v = String(st || '').toLowerCase();
  if (['succeeded', 'executed', 'approved', 'dry-run', 'ok', 'passed', 'execute', 'recommended'].includes(v)) return 'st-ok';
  if (['awaiting-approval', 'await-approval', 'verify-failed', 'pending', 'recommend', 'observed', 'observe'].includes(v)) return 'st-warn';
  if (['execute-failed', 'precheck-failed', 'refused', 'refuse', 'failed', 'denied', 'expired', 'not-planned', 'error'].includes(v)) {
    return 'st-bad';
  }
  return 'st-unknown';
}

const outcomePill = (st) => pill(st || '?', outcomeClass(st));

function table(headers, rows, attrs) {
  const t = h('table', attrs || { class: 'compact' });
  if (headers.some((x) => x !== '')) t.append(h('thead', null, h('tr', null, headers.map((x) => h('th', typeof x === 'object' && !(x instanceof Node) ? x.attrs : null,
    typeof x === 'object' && !(x instanceof Node) ? x.text : x)))));
  const tb = h('tbody');
  for (const r of rows) {
    if (r instanceof Node) {
      tb.append(r);
    } else {
      tb.append(h('tr', null, r.map((c) => (c instanceof Node && c.nodeName === 'TD' ? c : h('td', null, c)))));
    }
  }
  t.append(tb);
  return h('div', { class: 'tablewrap' }, t);
}

function facts(pairs) {
  const dl = h('dl', { class: 'facts' });
  for (const [k, v] of pairs) {
    if (v === undefined) continue;
    dl.append(h('dt', null, k), h('dd', null, v == null || v === '' ? h('span', { class: 'muted' }, '–') : v));
  }
  return dl;
}

function panel(title, body, attrs) {
  return h('section', Object.assign({ class: 'panel' }, attrs || {}), title ? h('h2', null, title) : null, body);
}

// ---------------------------------------------------------------- formatting
function ts(v) {
  if (v == null || v === '') return null;
  if (typeof v === 'number') return v;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$/.exec(String(v).trim());
  const text = m ? m[1] + (m[2] ? m[2].slice(0, 4) : '') + (m[3] || 'Z') : String(v);
  const t = Date.parse(text);
  return Number.isNaN(t) ? null : t;
}

function iso(t) {
  return new Date(t).toISOString();
}

function utc(v, ms) {
  const t = ts(v);
  if (t == null) return '–';
  const d = iso(t);
  return d.slice(0, 10) + ' ' + d.slice(11, ms ? 23 : 19) + 'Z';
}

function hms(t, withSeconds = true) {
  return iso(t).slice(11, withSeconds ? 19 : 16);
}

function span(seconds) {
  const a = Math.abs(seconds);
  if (a < 90) return (a < 10 ? Math.round(a * 10) / 10 : Math.round(a)) + ' s';
  if (a < 90 * 60) return Math.round(a / 60) + ' m';
  if (a < 36 * 3600) return (a < 10 * 3600 ? (a / 3600).toFixed(1) : Math.round(a / 3600)) + ' h';
  return Math.round(a / 86400) + ' d';
}

function ageText(t, now) {
  const secs = ((now || Date.now()) - t) / 1000;
  if (Math.abs(secs) < 1.5) return 'just now';
  return secs >= 0 ? span(secs) + ' ago' : 'in ' + span(secs);
}

function duration(seconds) {
  if (seconds == null || Number.isNaN(Number(seconds))) return 'unknown';
  const v = Number(seconds);
  if (v < 90) return (Math.round(v * 10) / 10) + ' s';
  const m = Math.floor(v / 60);
  if (m < 90) return m + ' m ' + String(Math.round(v % 60)).padStart(2, '0') + ' s';
  return Math.floor(m / 60) + ' h ' + String(m % 60).padStart(2, '0') + ' m';
}

// A time in UTC with its relative age (kept current by the ticker).
function when(v, opts) {
  const t = ts(v);
  if (t == null) return h('span', { class: 'muted' }, '–');
  const short = opts && opts.short;
  return h('span', { class: 'when nowrap' },
    h('time', { datetime: iso(t), title: utc(t, true) }, short ? hms(t) + 'Z' : utc(t)),
    h('span', { class: 'ago', 'data-ago': String(t) }, ageText(t)));
}

function bytes(n) {
  if (n == null || Number.isNaN(Number(n))) return '–';
  let v = Number(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return (i === 0 ? String(Math.round(v)) : v.toFixed(Math.abs(v) < 10 ? 1 : 0)) + ' ' + units[i];
}

function niceCeil(v) {
  if (v <= 0) return 1;
  // powers of 1024 times 1, 2, 2.5, 5, 10 (bytes read best in binary units)
  let base = 1;
  while (base * 1024 <= v) base *= 1024;
  for (const f of [1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 40, 50, 64, 80, 100, 128, 200, 256, 400, 512, 1024]) {
    if (base * f >= v) return base * f;
  }
  return base * 1024;
}

const yesNo = (b) => (b == null ? h('span', { class: 'muted' }, '?') : b ? 'yes' : 'no');

// ---------------------------------------------------------------- API access
class ApiError extends Error {
  constructor(status, message, problems, path) {
    super(message);
    this.status = status;
    this.problems = problems || [];
    this.path = path;
  }
}

class AuthError extends Error {}

async function readBody(res, text) {
  const raw = await res.text();
  if (text) return raw;
  if (!raw) return null;
  try {
    return JSON.parse(raw);
  } catch (e) {
    return { error: raw.length > 300 ? raw.slice(0, 300) + '…' : raw };
  }
}

async function api(path, opts) {
  const text = opts && opts.text;
  const url = path.startsWith('/api/') || path.startsWith('/console/') ? ROOT + path.slice(1) : API + path;
  let res;
  try {
    res = await fetch(url, {
      credentials: 'same-origin', cache: 'no-store',
      headers: { Accept: text ? 'text/markdown, text/plain;q=0.9' : 'application/json' },
    });
  } catch (e) {
    throw new ApiError(0, 'network error (' + (e && e.message ? e.message : e) + '): is the agent up?', null, path);
  }
  if (res.status === 401) {
    sessionEnded(true);
    throw new AuthError('signed out');
  }
  if (!res.ok) {
    const body = await readBody(res, false);
    const msg = body && typeof body.error === 'string' ? body.error : 'HTTP ' + res.status + ' ' + res.statusText;
    throw new ApiError(res.status, msg, body && Array.isArray(body.problems) ? body.problems : [], path);
  }
  return readBody(res, text);
}

// A POST with the CSRF header; never throws for an HTTP status (the caller shows the answer), only AuthError on 401.
async function post(url, body) {
  let res;
  try {
    res = await fetch(url, {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-Pgra-Csrf': state.session ? state.session.csrf || '' : '' },
      body: JSON.stringify(body || {}),
    });
  } catch (e) {
    return { status: 0, ok: false, body: { error: 'network error (' + (e && e.message ? e.message : e) + '); the request may or may not have reached the agent: check the journal' } };
  }
  if (res.status === 401) {
    sessionEnded(true);
    throw new AuthError('signed out');
  }
  return { status: res.status, ok: res.ok, body: await readBody(res, false) };
}

function errBox(e, what) {
  if (e instanceof AuthError) return h('p', { class: 'muted' }, 'signed out');
  const status = e && e.status ? ' (HTTP ' + e.status + ')' : '';
  return h('div', { class: 'errbox', 'data-testid': 'error' },
    h('strong', null, (what ? what + ': ' : '') + 'error' + status), ' ', e && e.message ? e.message : String(e),
    e && e.problems && e.problems.length ? h('ul', null, e.problems.map((p) => h('li', null, String(p)))) : null);
}

const hasRole = (r) => !!state.session && (ROLES[state.session.role] ?? -1) >= ROLES[r];

function ensureCatalog() {
  if (!state.catalogPromise) {
    state.catalogPromise = api('/catalog').then((c) => { state.catalog = c; return c; }, (e) => { state.catalogPromise = null; throw e; });
  }
  return state.catalogPromise;
}

function catalogAction(kind) {
  const list = state.catalog && Array.isArray(state.catalog.actions) ? state.catalog.actions : [];
  return list.find((a) => a.kind === kind) || null;
}

async function loadAttention() {
  const [pending, open, mitigating] = await Promise.all([
    api('/approvals'),
    api('/incidents?state=open&limit=500'),
    api('/incidents?state=mitigating&limit=500'),
  ]);
  state.pending = Array.isArray(pending) ? pending : [];
  state.open = [...(open || []), ...(mitigating || [])].sort((a, b) => (ts(b.opened_at) || 0) - (ts(a.opened_at) || 0));
  renderBadges();
  return { pending: state.pending, open: state.open };
}

async function refreshBadges() {
  try {
    await loadAttention();
  } catch (e) {
    // the views show their own errors; the badges keep their last value
  }
}

function renderBadges() {
  const set = (sel, n) => {
    const b = document.querySelector(sel);
    if (!b) return;
    b.hidden = n == null;
    b.textContent = n == null ? '' : String(n);
    b.classList.toggle('zero', n === 0);
  };
  set('[data-testid="approval-count"]', state.pending ? state.pending.length : null);
  set('[data-testid="incident-count"]', state.open ? state.open.length : null);
  const n = (state.pending ? state.pending.length : 0) + (state.open ? state.open.length : 0);
  document.title = (n ? '(' + n + ') ' : '') + (state.view && state.view.title ? state.view.title + ' · ' : '') + 'pgra console';
}

// ---------------------------------------------------------------- session, login, sign out
async function boot() {
  $('signout').addEventListener('click', signOut);
  window.addEventListener('hashchange', () => {
    if (state.loggedOut) {
      $('login-next').value = location.hash;
    } else {
      route();
    }
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && !state.loggedOut && state.session) {
      refreshBadges();
      refreshView({});
    }
  });
  await loadSession();
}

async function loadSession() {
  const q = new URLSearchParams(location.search);
  let res;
  try {
    res = await fetch(CONSOLE + '/session', { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } });
  } catch (e) {
    banner('Cannot reach the agent (' + (e && e.message ? e.message : e) + '); retrying in 10 s.');
    setTimeout(loadSession, POLL_MS);
    return;
  }
  if (res.status === 401) {
    showLogin(q.get('login') === 'failed', false);
    return;
  }
  if (!res.ok) {
    const body = await readBody(res, false);
    banner('The console session could not be read: HTTP ' + res.status + (body && body.error ? ': ' + body.error : '') + '; retrying in 10 s.');
    setTimeout(loadSession, POLL_MS);
    return;
  }
  state.session = await readBody(res, false) || {};
  if (q.has('login')) history.replaceState(null, '', location.pathname + location.hash);
  banner(null);
  startApp();
}

function banner(text) {
  const b = $('banner');
  b.hidden = !text;
  b.textContent = text || '';
}

function showLogin(failed, expired) {
  state.loggedOut = true;
  stopApp();
  $('nav').hidden = true;
  $('who').hidden = true;
  $('signout').hidden = true;
  $('live').hidden = true;
  $('main').hidden = true;
  $('foot').hidden = true;
  $('login').hidden = false;
  $('login-failed').hidden = !failed;
  $('login-expired').hidden = !expired;
  $('login-form').setAttribute('action', CONSOLE + '/login');
  $('login-next').value = location.hash;
  setLive('off');
  document.title = 'Sign in · pgra console';
  $('login-token').focus();
}

function sessionEnded(expired) {
  if (state.loggedOut) return;
  state.session = null;
  showLogin(false, expired);
}

async function signOut() {
  const btn = $('signout');
  btn.disabled = true;
  try {
    const r = await post(CONSOLE + '/logout', {});
    if (r.ok || r.status === 401) {
      state.session = null;
      approvalCards.clear();
      undoState.clear();
      showLogin(false, false);
    } else {
      banner('Sign out failed: ' + (r.body && r.body.error ? r.body.error : 'HTTP ' + r.status));
    }
  } catch (e) {
    // AuthError: already shown the login
  } finally {
    btn.disabled = false;
  }
}

function startApp() {
  state.loggedOut = false;
  $('login').hidden = true;
  $('main').hidden = false;
  $('foot').hidden = false;
  $('nav').hidden = false;
  $('signout').hidden = false;
  $('live').hidden = false;
  const who = $('who');
  const sess = state.session;
  fill(who, h('b', null, sess.name || '?'), ' · ', sess.role || '?', ' ',
    sess.four_eyes ? h('span', { class: 'pill st-info', title: 'four-eyes: an approver cannot approve an action they requested' }, 'four-eyes') : null);
  const exp = ts(sess.expires_at);
  who.title = 'signed in as ' + (sess.name || '?') + ' (' + (sess.role || '?') + ')' + (exp ? '; session expires ' + utc(exp) : '');
  who.hidden = false;
  loadHealth();
  connectLive();
  state.timers.push(setInterval(poll, POLL_MS));
  state.timers.push(setInterval(tick, 1000));
  route();
  refreshBadges();
}

function stopApp() {
  closeLive();
  for (const t of state.timers) clearInterval(t);
  state.timers = [];
  if (state.view && state.view.unmount) state.view.unmount();
  state.view = null;
}

async function loadHealth() {
  const foot = $('foot');
  try {
    const hl = await api('/health');
    state.health = hl;
    fill(foot, 'pgra ', mono(hl.version || '?'), ' · ',
      hl.agent_loop ? 'agent loop running' : h('span', { class: 'warn-text' }, 'no agent loop here (pgra serve): data is sensed on demand, no live events'),
      hl.started_at ? [' · up since ', when(hl.started_at)] : null,
      ' · times in UTC');
  } catch (e) {
    fill(foot, e instanceof AuthError ? '' : 'health: ' + (e && e.message ? e.message : e));
  }
}

// ---------------------------------------------------------------- live updates (SSE) and polling
function setLive(st, detail) {
  state.live = st;
  const el = $('live');
  el.dataset.state = st;
  const label = { connected: 'live', connecting: 'connecting…', reconnecting: 'reconnecting…', unavailable: 'polling 10 s', off: 'live: off' }[st] || st;
  el.textContent = label;
  const last = state.lastEvent ? '; last event ' + state.lastEvent.name + ' at ' + utc(state.lastEvent.t) : '';
  el.title = (detail || {
    connected: 'connected to the agent\'s event stream: pages refresh as events arrive',
    connecting: 'connecting to the event stream',
    reconnecting: 'the event stream dropped; reconnecting (pages refresh every 10 s meanwhile)',
    unavailable: 'no event stream (pgra serve has no agent loop, or it refused): pages refresh every 10 s',
    off: 'not connected',
  }[st] || st) + last;
}

function connectLive() {
  closeLive();
  if (typeof EventSource === 'undefined') {
    setLive('unavailable', 'this browser has no EventSource: pages refresh every 10 s');
    return;
  }
  const es = new EventSource(API + '/events');
  state.es = es;
  setLive('connecting');
  let wasOpen = false;
  es.onopen = () => {
    setLive('connected');
    if (wasOpen) {
      // a reconnect: catch up with what happened while the stream was down
      refreshBadges();
      refreshView({});
    }
    wasOpen = true;
  };
  es.onerror = () => {
    if (state.es !== es) return;
    if (es.readyState === EventSource.CLOSED) {
      // refused (503 under pgra serve, 401 when the session ended): poll, and try the stream again in a minute
      state.es = null;
      setLive('unavailable');
      state.liveRetry = setTimeout(() => {
        if (!state.loggedOut) connectLive();
      }, 60000);
    } else {
      setLive('reconnecting');
    }
  };
  for (const name of EVENT_NAMES) es.addEventListener(name, (ev) => onEvent(name, ev));
}

function closeLive() {
  if (state.es) {
    state.es.close();
    state.es = null;
  }
  clearTimeout(state.liveRetry);
  clearTimeout(state.flush);
  state.flush = null;
}

function onEvent(name, ev) {
  let data = null;
  try {
    data = JSON.parse(ev.data);
  } catch (e) {
    data = null;
  }
  state.lastEvent = { name, t: Date.now(), data };
  if (state.live === 'connected') setLive('connected');
  if (name !== 'snapshot') state.flushFull = true;
  if (!state.flush) {
    state.flush = setTimeout(() => {
      const full = state.flushFull;
      state.flush = null;
      state.flushFull = false;
      if (full) refreshBadges();
      if (full || (state.view && SNAPSHOT_VIEWS.has(state.view.name))) refreshView({ snapshotOnly: !full });
    }, DEBOUNCE_MS);
  }
}

let polls = 0;

function poll() {
  if (document.hidden || state.loggedOut) return;
  polls++;
  if (state.live === 'connected' && polls % 6 === 0) {
    refreshBadges(); // approvals that expired send no event
  }
  if (state.live !== 'connected') {
    refreshBadges();
    refreshView({});
  }
}

// One refresh of the current view at a time; a request meanwhile runs once after it.
async function refreshView(opts) {
  const v = state.view;
  if (!v || state.loggedOut || !v.refresh) return;
  opts = opts || {};
  if (v.running) {
    v.again = v.again ? { snapshotOnly: v.again.snapshotOnly && !!opts.snapshotOnly } : { snapshotOnly: !!opts.snapshotOnly };
    return;
  }
  v.running = true;
  try {
    await v.refresh(opts);
  } catch (e) {
    if (!(e instanceof AuthError) && v === state.view) v.root.prepend(errBox(e));
  } finally {
    v.running = false;
  }
  if (v.again && v === state.view) {
    const o = v.again;
    v.again = null;
    refreshView(o);
  }
}

// Relative ages and countdowns, once a second.
function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll('[data-ago]')) el.textContent = ageText(Number(el.dataset.ago), now);
  for (const el of document.querySelectorAll('[data-expires]')) countdown(el, now);
  for (const c of approvalCards.values()) c.sync();
}

function countdown(el, now) {
  const left = (Number(el.dataset.expires) - (now || Date.now())) / 1000;
  el.classList.toggle('soon', left > 0 && left < 120);
  el.classList.toggle('gone', left <= 0);
  if (left <= 0) {
    el.textContent = 'expired';
    return;
  }
  const hh = Math.floor(left / 3600);
  const mm = Math.floor((left % 3600) / 60);
  const ss = Math.floor(left % 60);
  el.textContent = 'expires in ' + (hh ? hh + ':' + String(mm).padStart(2, '0') : String(mm)) + ':' + String(ss).padStart(2, '0');
}

function countdownEl(expiresAt) {
  const t = ts(expiresAt);
  if (t == null) return h('span', { class: 'muted' }, 'no expiry');
  const el = h('span', { class: 'countdown', 'data-expires': String(t), title: 'expires ' + utc(t) });
  countdown(el);
  return el;
}

// ---------------------------------------------------------------- router
function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const qi = raw.indexOf('?');
  const path = qi >= 0 ? raw.slice(0, qi) : raw;
  const query = new URLSearchParams(qi >= 0 ? raw.slice(qi + 1) : '');
  const parts = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch (e) {
      return p;
    }
  });
  const [a, b, c] = parts;
  if (parts.length === 0) return { name: 'fleet', nav: 'fleet' };
  if (a === 'clusters' && parts.length === 1) return { name: 'clusters', nav: 'clusters' };
  if (a === 'clusters' && parts.length === 2) return { name: 'cluster', nav: 'clusters', cluster: b };
  if (a === 'incidents' && parts.length === 1) return { name: 'incidents', nav: 'incidents', query };
  if (a === 'incidents' && parts.length === 2) return { name: 'incident', nav: 'incidents', id: b };
  if (a === 'approvals' && parts.length <= 2) return { name: 'approvals', nav: 'approvals', id: b || null };
  if (a === 'journal' && parts.length === 1) return { name: 'journal', nav: 'journal', query };
  if (a === 'journal' && parts.length === 2) return { name: 'entry', nav: 'journal', seq: b };
  return { name: 'notfound', nav: null, path: raw, extra: c };
}

function route() {
  if (state.loggedOut || !state.session) return;
  const r = parseHash();
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === r.nav);
  if (state.view && state.view.name === 'approvals' && r.name === 'approvals') {
    state.view.focus(r.id);
    return;
  }
  if (state.view && state.view.unmount) state.view.unmount();
  const main = $('main');
  main.replaceChildren();
  const v = VIEWS[r.name](main, r) || {};
  v.name = r.name;
  v.root = main;
  state.view = v;
  renderBadges();
  window.scrollTo(0, 0);
  refreshView({});
}

// ---------------------------------------------------------------- view: fleet
function viewFleet(main) {
  const incR = h('div', null, loading());
  const apR = h('div', null, loading());
  const incP = panel('Open incidents', incR, { 'data-testid': 'open-incidents' });
  const apP = panel('Pending approvals', apR, { 'data-testid': 'pending-approvals' });
  const meta = h('p', { class: 'muted small' });
  const cards = h('div', { class: 'cards', 'data-testid': 'cluster-cards' }, loading());
  main.append(h('div', { class: 'attention' }, incP, apP), h('div', { class: 'row' }, h('h2', null, 'Clusters'), meta), cards);
  let clusters = null;
  return {
    title: 'Fleet',
    async refresh(o) {
      const jobs = [api('/clusters')];
      if (!o.snapshotOnly || !state.open || !state.pending) jobs.push(loadAttention());
      const [cl, att] = await Promise.allSettled(jobs);
      if (att) {
        if (att.status === 'fulfilled') {
          renderAttention(incR, incP, apR, apP, att.value);
        } else {
          fill(incR, errBox(att.reason, 'incidents / approvals'));
        }
      }
      if (cl.status === 'fulfilled') {
        clusters = cl.value;
        await writableFallbacks(clusters.clusters || []);
        fill(meta, clusters.agent_loop ? 'from the agent loop\'s last snapshots' : 'fresh snapshots (no agent loop in this process)',
          clusters.taken_at ? [' · ', when(clusters.taken_at)] : null);
        const list = clusters.clusters || [];
        fill(cards, list.length ? list.map(clusterCard) : empty('No cluster is watched.'));
      } else {
        fill(cards, errBox(cl.reason, 'clusters'));
      }
      renderBadges();
    },
  };
}

function renderAttention(incR, incP, apR, apP, att) {
  const open = att.open || [];
  incP.classList.toggle('hot', open.length > 0);
  incP.classList.toggle('calm', open.length === 0);
  fill(incR, open.length
    ? table(['state', 'sev', 'incident', 'cluster', 'title', 'opened'], open.map((i) => [
      pill(i.state, stateClass(i.state)), sevPill(i.severity), link(incidentHref(i.id), i.id, { class: 'mono' }),
      link(clusterHref(i.cluster), i.cluster), h('td', { class: 'wrap' }, i.title), when(i.opened_at)]))
    : h('p', { class: 'ok-text' }, 'No open incident.'));
  const pend = att.pending || [];
  apP.classList.toggle('warm', pend.length > 0);
  apP.classList.toggle('calm', pend.length === 0);
  fill(apR, pend.length
    ? table(['action', 'cluster', 'summary', 'initiator', 'expires', ''], pend.map((a) => {
      const act = a.action || {};
      return [mono(act.kind), [link(clusterHref(act.cluster), act.cluster), act.member ? [' / ', mono(act.member)] : null],
        h('td', { class: 'wrap' }, act.summary), mono(act.initiator), countdownEl(a.expiresAt), link(approvalHref(a.id), 'review →', { class: 'nowrap' })];
    }))
    : h('p', { class: 'ok-text' }, 'Nothing waits for an approver.'));
}

// /clusters has no writable field today: when it lacks one, the last sample of the loop's history says.
async function writableFallbacks(list) {
  const need = list.filter((c) => !c.error && typeof c.writable !== 'boolean' && writableFallback.get(c.cluster) !== 'none');
  await Promise.all(need.map(async (c) => {
    try {
      const hist = await api('/clusters/' + enc(c.cluster) + '/history?minutes=2');
      const last = hist && Array.isArray(hist.samples) && hist.samples.length ? hist.samples[hist.samples.length - 1] : null;
      writableFallback.set(c.cluster, last ? { at: ts(last.at), writable: last.writable } : (hist && hist.source === 'none' ? 'none' : null));
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 400)) writableFallback.set(c.cluster, 'none');
    }
  }));
}

function writableOf(c) {
  if (typeof c.writable === 'boolean') return c.writable;
  const f = writableFallback.get(c.cluster);
  return f && f !== 'none' && typeof f.writable === 'boolean' ? f.writable : null;
}

function writablePill(w) {
  return w === true ? pill('writable', 'st-ok', { 'data-testid': 'writable' })
    : w === false ? pill('NOT writable', 'st-bad', { 'data-testid': 'writable' })
      : pill('writable?', 'st-unknown', { 'data-testid': 'writable', title: 'whether the leader accepts writes is not known' });
}

function clusterCard(c) {
  const name = c.cluster || '?';
  const card = h('section', { class: 'card', 'data-testid': 'cluster-card', 'data-cluster': name });
  const open = (state.open || []).filter((i) => i.cluster === name);
  if (c.error) {
    card.classList.add('s-unknown');
    card.append(h('div', { class: 'card-head' }, link(clusterHref(name), name, { class: 'name' }), pill('no snapshot', 'st-unknown')),
      h('div', { class: 'errbox' }, c.error));
    return card;
  }
  const w = writableOf(c);
  const sensors = c.sensors && typeof c.sensors === 'object' ? Object.entries(c.sensors) : [];
  const problems = Array.isArray(c.sensor_problems) ? c.sensor_problems : [];
  const members = Array.isArray(c.members) ? c.members : [];
  const drift = Array.isArray(c.drift) ? c.drift : [];
  const findings = c.active_findings;
  const critical = !c.leader || w === false || open.some((i) => i.severity === 'critical');
  const warning = (findings || 0) > 0 || sensors.some(([, v]) => v !== 'ok') || drift.length > 0 || open.length > 0
    || (c.firing_alerts || []).length > 0 || members.some((m) => m.reachable === false);
  card.classList.add(critical ? 's-critical' : warning ? 's-warning' : 's-ok');
  const head = h('div', { class: 'card-head' }, link(clusterHref(name), name, { class: 'name' }), writablePill(w),
    open.map((i) => link(incidentHref(i.id), pill('incident ' + i.state, stateClass(i.state)))));
  const snapAge = c.age_seconds != null ? span(c.age_seconds) + ' old' : null;
  const backup = c.backup_age_seconds != null
    ? [span(c.backup_age_seconds) + ' old', c.last_backup ? [' ', mono(c.last_backup, 'muted')] : null]
    : c.last_backup ? mono(c.last_backup) : undefined;
  card.append(head, facts([
    ['leader', c.leader ? [mono(c.leader), c.declared_primary && c.declared_primary !== c.leader ? h('span', { class: 'muted' }, ' (inventory: ' + c.declared_primary + ')') : null]
      : h('span', { class: 'err' }, 'none')],
    ['timeline', c.timeline != null ? mono(c.timeline) : null],
    ['findings', findings == null ? h('span', { class: 'muted' }, 'not judged') : findings > 0
      ? link(clusterHref(name), pill(findings + ' active', 'st-warn', { 'data-testid': 'findings-count' }))
      : h('span', { class: 'ok-text', 'data-testid': 'findings-count' }, 'none')],
    ['sensors', sensors.length ? h('div', { class: 'chips' }, sensors.map(([k, v]) => {
      const why = problems.filter((p) => p.sensor === k).map((p) => (p.target ? p.target + ': ' : '') + (p.reason || p.health)).join('\n');
      return h('span', { class: 'chip h-' + (v === 'ok' || v === 'degraded' ? v : 'unknown'), title: k + ': ' + (v === 'unknown' ? 'blind (unknown)' : v) + (why ? '\n' + why : '') },
        k + (v === 'ok' ? '' : v === 'unknown' ? ' blind' : ' ' + v));
    })) : null],
    ['backup', backup],
    ['alerts', (c.firing_alerts || []).length ? h('span', { class: 'warn-text' }, c.firing_alerts.join(', ')) : undefined],
    ['drift', drift.length ? h('span', { class: 'warn-text', title: drift.map((d) => d.message).join('\n') }, drift.length + ': ' + (drift[0].code || drift[0].message)) : undefined],
    ['snapshot', [snapAge || '–', c.source ? h('span', { class: 'muted' }, ' (' + c.source + ')') : null]],
    // Several agents share the clusters (docs/fleet.md): who owns this one, with its fencing token.
    ['owner', c.owner && typeof c.owner === 'object'
      ? (c.owner.agent ? [mono(c.owner.agent), h('span', { class: 'muted' }, ' token ' + c.owner.token + (c.owner.this_agent ? ', this agent' : ''))]
        : h('span', { class: 'warn-text' }, 'none: no agent watches it'))
      : undefined],
  ]));
  card.append(table(['member', 'role', 'state', 'lag', 'tl'], members.map((m) => {
    const tr = h('tr', { class: (m.role === 'leader' ? 'row-leader' : '') + (m.reachable === false ? ' row-bad' : '') },
      h('td', null, mono(m.name)), h('td', null, m.role || '?', m.declared_role && m.declared_role !== m.role && !(m.role === 'leader' && m.declared_role === 'primary')
        ? h('span', { class: 'muted small' }, ' (' + m.declared_role + ')') : null),
      h('td', null, m.state || '–', m.reachable === false ? h('span', { class: 'err' }, ' unreachable') : null),
      h('td', { class: 'num' }, m.role === 'leader' ? '' : bytes(m.lag_bytes), m.lag_seconds != null && m.role !== 'leader' ? h('span', { class: 'muted small' }, ' ' + duration(m.lag_seconds)) : null),
      h('td', { class: 'num mono' }, m.timeline != null ? String(m.timeline) : '–'));
    return tr;
  })));
  return card;
}

// ---------------------------------------------------------------- view: clusters list
function viewClusters(main) {
  const r = h('div', null, loading());
  main.append(h('h1', null, 'Clusters'), r);
  return {
    title: 'Clusters',
    async refresh() {
      try {
        const cl = await api('/clusters');
        const list = cl.clusters || [];
        fill(r, list.length ? table(['cluster', 'leader', 'timeline', 'members', 'findings', 'sensors', 'snapshot'], list.map((c) => [
          link(clusterHref(c.cluster), c.cluster, { class: 'mono' }),
          c.error ? h('span', { class: 'err' }, c.error) : mono(c.leader || 'none'),
          c.timeline != null ? mono(c.timeline) : '–',
          (c.members || []).length || '–',
          c.active_findings == null ? '–' : String(c.active_findings),
          c.sensors ? Object.entries(c.sensors).filter(([, v]) => v !== 'ok').map(([k, v]) => k + ' ' + v).join(', ') || 'all ok' : '–',
          c.age_seconds != null ? span(c.age_seconds) + ' old' : '–',
        ])) : empty('No cluster is watched.'));
      } catch (e) {
        fill(r, errBox(e, 'clusters'));
      }
    },
  };
}

// ---------------------------------------------------------------- view: one cluster
function viewCluster(main, rt) {
  const name = rt.cluster;
  const head = h('div', null, loading());
  const membersR = h('div', null, loading());
  const chartR = h('div', null, loading());
  const findingsR = h('div', null, loading());
  const actionsR = h('div', null, loading());
  const incR = h('div', null, loading());
  main.append(h('div', { class: 'crumbs' }, link('#/', 'Fleet'), ' / ', link('#/clusters', 'Clusters')),
    h('h1', null, mono(name)), head,
    panel('Members', membersR, { id: 'members' }),
    panel('Replication lag, last hour', chartR, { id: 'lag' }),
    panel('Findings', findingsR, { id: 'findings' }),
    panel('Recent actions', actionsR, { id: 'actions', 'data-testid': 'recent-actions' }),
    panel('Incidents', incR, { id: 'incidents' }));
  let first = true;
  let hist = null;
  // The hour's samples once, then (on snapshot events) only the last two minutes, merged in.
  async function history(c, full) {
    if (full || !hist || !hist.samples.length) {
      hist = await api(c + '/history?minutes=60');
      hist.samples = Array.isArray(hist.samples) ? hist.samples : [];
      return hist;
    }
    let recent;
    try {
      recent = await api(c + '/history?minutes=2');
    } catch (e) {
      hist = null;
      return history(c, true);
    }
    const seen = new Set(hist.samples.map((x) => x.at));
    const cut = Date.now() - 61 * 60000;
    hist.samples = hist.samples.concat((recent.samples || []).filter((x) => !seen.has(x.at))).filter((x) => (ts(x.at) || 0) >= cut);
    hist.source = recent.source || hist.source;
    return hist;
  }
  const view = {
    title: name,
    async refresh(o) {
      const full = first || !o.snapshotOnly;
      first = false;
      const c = '/clusters/' + enc(name);
      const [snap, find, hist, acts, incs] = await Promise.allSettled([
        api(c + '/snapshot'), api(c + '/findings'), history(c, full),
        full ? api('/journal?cluster=' + enc(name) + '&kind=action.outcome&limit=20') : null,
        full ? api('/incidents?cluster=' + enc(name) + '&limit=20') : null,
      ]);
      if (snap.status === 'fulfilled') {
        renderClusterHead(head, snap.value, find.status === 'fulfilled' ? find.value : null);
        renderMembers(membersR, snap.value);
      } else {
        fill(head, errBox(snap.reason, 'snapshot'));
        fill(membersR, snap.reason instanceof ApiError && snap.reason.status === 404 ? empty('No such cluster here.') : errBox(snap.reason, 'snapshot'));
      }
      if (hist.status === 'fulfilled') {
        renderLag(chartR, hist.value);
      } else {
        fill(chartR, errBox(hist.reason, 'history'), lagChart({ samples: [], minutes: 60 }, chartWidth(chartR)).svg);
      }
      fill(findingsR, find.status === 'fulfilled' ? findingsTable(find.value) : errBox(find.reason, 'findings'));
      if (full) {
        view.outcomes = acts.status === 'fulfilled' ? acts.value : null;
        if (acts.status === 'fulfilled') {
          renderActions(actionsR, acts.value, () => refreshView({}));
        } else {
          fill(actionsR, errBox(acts.reason, 'actions'));
        }
        fill(incR, incs.status === 'fulfilled' ? incidentsTable(incs.value, false) : errBox(incs.reason, 'incidents'));
      }
    },
  };
  return view;
}

function leaderWritable(snap) {
  const m = (snap.members || []).find((x) => x.name === snap.leader);
  if (!snap.leader || !m) return snap.leader ? null : false;
  if (m.in_recovery === false && m.postgres_reachable === true) return true;
  if (m.in_recovery == null && m.postgres_reachable == null) return null;
  return false;
}

function renderClusterHead(head, snap, find) {
  const sensors = Array.isArray(snap.sensors) ? snap.sensors : [];
  const drift = Array.isArray(snap.drift) ? snap.drift : [];
  const open = (state.open || []).filter((i) => i.cluster === snap.cluster);
  fill(head, h('div', { class: 'panel' },
    h('div', { class: 'row' }, writablePill(leaderWritable(snap)),
      open.map((i) => link(incidentHref(i.id), pill('incident ' + i.state + ': ' + i.id, stateClass(i.state))))),
    facts([
      ['leader', snap.leader ? [mono(snap.leader), snap.leader_source ? h('span', { class: 'muted' }, ' (from ' + snap.leader_source + ')') : null] : h('span', { class: 'err' }, 'none')],
      ['timeline', snap.timeline != null ? mono(snap.timeline) : null],
      ['last writable', snap.last_writable ? [mono(snap.last_writable.member), ' at ', mono(snap.last_writable.lsn), ' ', when(snap.last_writable.at)] : undefined],
      ['snapshot', [when(snap.taken_at), find && find.source ? h('span', { class: 'muted' }, ' (' + find.source + ')') : null,
        snap.duration_ms != null ? h('span', { class: 'muted' }, ' · took ' + Math.round(snap.duration_ms) + ' ms') : null]],
      ['sensors', h('div', { class: 'chips' }, sensors.map((x) => h('span', {
        class: 'chip h-' + (x.health === 'ok' || x.health === 'degraded' ? x.health : 'unknown'),
        title: x.sensor + ': ' + (x.health === 'unknown' ? 'blind (unknown)' : x.health) + (x.reason ? '\n' + x.reason : ''),
      }, x.sensor + (x.health === 'ok' ? '' : x.health === 'unknown' ? ' blind' : ' ' + x.health))))],
      ['sensor problems', sensors.some((x) => x.health !== 'ok')
        ? h('ul', { class: 'small' }, sensors.filter((x) => x.health !== 'ok').map((x) => h('li', null, mono(x.sensor), ': ', x.reason || x.health)))
        : undefined],
      ['drift', drift.length ? h('ul', { class: 'small' }, drift.map((d) => h('li', null, sevPill(d.severity), ' ', mono(d.code), ' ', d.message))) : undefined],
    ])));
}

function renderMembers(region, snap) {
  const members = Array.isArray(snap.members) ? snap.members : [];
  fill(region, members.length ? table(['member', 'role', 'state', 'postgres', 'lag', 'lag time', 'timeline', 'LSN', 'notes'], members.map((m) => {
    const isLeader = m.name === snap.leader;
    const pg = m.postgres_reachable === false ? h('span', { class: 'err' }, 'no SQL session')
      : m.in_recovery === false ? (isLeader ? h('span', { class: 'ok-text' }, 'read-write') : h('span', { class: 'err' }, 'read-write (not leader!)'))
        : m.in_recovery === true ? 'in recovery' : m.postgres_running === false ? h('span', { class: 'err' }, 'stopped') : '?';
    return h('tr', { class: (isLeader ? 'row-leader' : '') + (m.reachable === false ? ' row-bad' : '') },
      h('td', null, mono(m.name)),
      h('td', null, m.patroni_role || '?', m.declared_role ? h('span', { class: 'muted small' }, ' (inventory ' + m.declared_role + ')') : null),
      h('td', null, m.patroni_state || '–', m.reachable === false ? h('span', { class: 'err' }, ' REST unreachable') : null),
      h('td', null, pg),
      h('td', { class: 'num' }, isLeader ? '' : m.lag_unknown ? 'unknown' : bytes(m.lag_bytes)),
      h('td', { class: 'num' }, isLeader || m.lag_seconds == null ? '' : duration(m.lag_seconds)),
      h('td', { class: 'num mono' }, m.timeline != null ? String(m.timeline) : '–'),
      h('td', { class: 'mono small' }, isLeader ? m.wal_lsn || '' : m.replay_lsn || m.receive_lsn || ''),
      h('td', { class: 'small muted wrap' }, (m.notes || []).join('; ')));
  })) : empty('No member in the snapshot.'));
}

function findingsTable(doc) {
  const list = Array.isArray(doc.findings) ? doc.findings : [];
  return [
    doc.could_not_sense ? h('div', { class: 'errbox' }, 'could not sense: ', doc.could_not_sense) : null,
    list.length ? table(['severity', 'code', 'member', 'since', 'detected', 'summary'], list.map((f) => [
      sevPill(f.severity), mono(f.code), mono(f.subject || (f.members || [])[0] || 'cluster'), when(f.first_seen), when(f.detected_at),
      h('td', { class: 'wrap' }, f.summary || f.title || '', f.persisted === false ? h('span', { class: 'muted small' }, ' (single sample)') : null),
    ])) : h('p', { class: 'ok-text' }, 'No active finding.'),
  ];
}

function incidentsTable(list, withCluster) {
  if (!Array.isArray(list) || !list.length) return empty('No incident.');
  const headers = ['state', 'severity', 'incident'].concat(withCluster ? ['cluster'] : [], ['title', 'codes', 'opened', 'resolved']);
  return table(headers, list.map((i) => [pill(i.state, stateClass(i.state)), sevPill(i.severity), link(incidentHref(i.id), i.id, { class: 'mono' })]
    .concat(withCluster ? [link(clusterHref(i.cluster), i.cluster)] : [],
      [h('td', { class: 'wrap' }, i.title), mono((i.codes || []).join(', ')), when(i.opened_at), i.resolved_at ? when(i.resolved_at) : '–'])));
}

// --- recent actions with undo
function undoable(p) {
  return !!p && (p.status === 'succeeded' || p.status === 'verify-failed') && !!p.undo && !(p.action && p.action.reversible === false);
}

function renderActions(region, entries, after) {
  const list = (Array.isArray(entries) ? entries : []).slice().sort((a, b) => b.seq - a.seq);
  if (!list.length) {
    fill(region, empty('No action outcome in the journal for this cluster.'));
    return;
  }
  const undoneBy = new Map();
  for (const e of list) {
    const p = e.payload || {};
    if (p.action && p.action.undoOf && p.status === 'succeeded') undoneBy.set(p.action.undoOf, p.action.id);
  }
  const canUndo = hasRole('operator');
  fill(region, table(['time', 'action', 'kind', 'summary', 'initiator', 'outcome', 'message', ''], list.map((e) => {
    const p = e.payload && typeof e.payload === 'object' ? e.payload : {};
    const act = p.action || {};
    const id = act.id || e.correlationId;
    const cell = h('td', { class: 'nowrap' });
    const res = h('div', { 'data-role': 'result' });
    const st = undoState.get(id);
    if (act.undoOf) cell.append(h('div', null, h('span', { class: 'muted small' }, 'undo of '), mono(act.undoOf, 'small')));
    if (undoneBy.has(id)) {
      cell.append(h('span', { class: 'muted small' }, 'undone by '), mono(undoneBy.get(id), 'small'));
    } else if (undoable(p) && canUndo) {
      const btn = h('button', { type: 'button', 'data-action': 'undo', 'data-action-id': id, title: 'undo: ' + (p.undo.summary || p.undo.kind || '') }, 'Undo');
      btn.disabled = !!(st && st.busy);
      btn.addEventListener('click', () => runUndo(id, p, btn, res, after));
      cell.append(btn);
    } else if (undoable(p)) {
      cell.append(h('span', { class: 'muted small', title: 'undo needs an operator' }, 'reversible'));
    }
    if (st && st.result) {
      res.append(resultNode(st.result));
    } else if (st && st.busy) {
      res.append(busyNode('undoing…'));
    }
    cell.append(res);
    return h('tr', { 'data-action-id': id || '' },
      h('td', null, when(e.time, { short: false })),
      h('td', null, seqLink(e.seq), ' ', mono(id, 'small nowrap')),
      h('td', null, mono(act.kind || e.topic)),
      h('td', { class: 'wrap' }, act.summary || e.summary),
      h('td', null, mono(act.initiator)),
      h('td', null, outcomePill(p.status), p.reconciled ? h('span', { class: 'muted small' }, ' reconciled') : null),
      h('td', { class: 'wrap small' }, p.message || ''),
      cell);
  })));
}

async function runUndo(id, payload, btn, res, after) {
  const what = payload.undo && (payload.undo.summary || payload.undo.kind) ? payload.undo.summary || payload.undo.kind : 'the recorded undo';
  if (!window.confirm('Undo ' + id + '?\n\nThis runs: ' + what + '\n(through the policy gate, prechecks and verification, as pgra undo)')) return;
  undoState.set(id, { busy: true });
  btn.disabled = true;
  fill(res, busyNode('undoing… the agent answers when the undo has run'));
  let r;
  try {
    r = await post(API + '/actions/' + enc(id) + '/undo', { dry_run: false });
  } catch (e) {
    undoState.delete(id);
    return;
  }
  const result = answerOf(r);
  undoState.set(id, { busy: false, result });
  btn.disabled = false;
  fill(res, resultNode(result));
  if (r.ok) after();
}

// --- the server's answer to a POST, for display
function answerOf(r) {
  const b = r.body && typeof r.body === 'object' ? r.body : {};
  const status = b.status || (r.ok ? 'done' : r.status === 403 ? 'forbidden' : r.status === 409 ? 'refused' : r.status ? 'HTTP ' + r.status : 'no answer');
  const good = r.ok && b.ok !== false && !['failed', 'execute-failed', 'verify-failed', 'precheck-failed', 'refused', 'not-executed', 'unknown'].includes(b.status);
  const msg = b.error || b.message || (b.decidedBy ? 'decided by ' + b.decidedBy + (b.note ? ': ' + b.note : '') : '');
  return { ok: good, http: r.status, status, message: msg, id: b.action_id || b.id, problems: Array.isArray(b.problems) ? b.problems : [], at: Date.now() };
}

function resultNode(x) {
  const known = outcomeClass(x.status);
  const box = !x.ok ? 'bad' : x.status === 'denied' ? '' : 'ok';
  return h('div', { class: 'result ' + box, 'data-ok': String(!!x.ok) },
    pill(x.status, known !== 'st-unknown' ? known : x.ok ? 'st-ok' : 'st-bad', { 'data-testid': 'result-status' }), ' ',
    x.http && x.http >= 400 ? h('span', { class: 'muted small' }, 'HTTP ' + x.http + ' ') : null,
    h('span', { 'data-testid': 'result-message' }, x.message || ''),
    x.id ? h('span', { class: 'muted small' }, ' · ', mono(x.id)) : null,
    x.note && !(x.message || '').includes(x.note) ? h('div', { class: 'small' }, 'your note: ', x.note) : null,
    x.problems.length ? h('ul', { class: 'small' }, x.problems.map((p) => h('li', null, String(p)))) : null,
    h('span', { class: 'ago' }, '(' + utc(x.at) + ')'));
}

function busyNode(text) {
  return h('div', { class: 'result busy' }, h('span', { class: 'spin' }), text);
}

// --- lag chart (inline SVG): one line per replica, writable band along the bottom
function chartWidth(region) {
  const w = region && region.clientWidth ? region.clientWidth : 960;
  return Math.round(Math.max(640, Math.min(1800, w)));
}

function lagChart(hist, width) {
  const W = width || 960;
  const H = 250;
  const L = 70;
  const R = 14;
  const T = 12;
  const PH = 170; // plot height
  const bandY = T + PH + 8;
  const bandH = 12;
  const minutes = Number(hist.minutes) || 60;
  const samples = (Array.isArray(hist.samples) ? hist.samples : []).map((x) => ({
    t: ts(x.at), writable: x.writable, leader: x.leader, timeline: x.timeline, members: Array.isArray(x.members) ? x.members : [],
  })).filter((x) => x.t != null).sort((a, b) => a.t - b.t);
  const t1 = samples.length ? Math.max(samples[samples.length - 1].t, Date.now() - 5000) : Date.now();
  const t0 = t1 - minutes * 60000;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', 'data-testid': 'lag-chart', role: 'img', 'aria-label': 'replication lag per replica over the last ' + minutes + ' minutes' });
  const names = [];
  let maxLag = 0;
  for (const smp of samples) {
    for (const m of smp.members) {
      if (m.role !== 'leader' && m.name && !names.includes(m.name)) names.push(m.name);
      if (m.role !== 'leader' && typeof m.lag_bytes === 'number') maxLag = Math.max(maxLag, m.lag_bytes);
    }
  }
  names.sort();
  const yMax = niceCeil(Math.max(maxLag, 1024));
  const y = (v) => T + PH - (Math.min(v, yMax) / yMax) * PH;
  // grid and y labels
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    svg.append(s('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
      s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, bytes(v)));
  }
  // x ticks: every 10 minutes for an hour (scaled for other windows)
  const step = minutes <= 15 ? 2 : minutes <= 30 ? 5 : minutes <= 90 ? 10 : minutes <= 360 ? 60 : 180;
  const stepMs = step * 60000;
  for (let t = Math.ceil(t0 / stepMs) * stepMs; t <= t1; t += stepMs) {
    svg.append(s('line', { class: 'grid', x1: x(t), x2: x(t), y1: T, y2: bandY + bandH }),
      s('text', { x: x(t), y: bandY + bandH + 16, 'text-anchor': 'middle' }, hms(t, false)));
  }
  svg.append(s('text', { x: W - R, y: bandY + bandH + 32, 'text-anchor': 'end' }, 'UTC'),
    s('text', { x: L, y: bandY + bandH + 32 }, 'writable band: ' + (samples.length ? samples.length + ' samples' : 'no samples')));
  // typical interval, for gaps
  const gaps = [];
  for (let i = 1; i < samples.length; i++) gaps.push(samples[i].t - samples[i - 1].t);
  gaps.sort((a, b) => a - b);
  const typical = gaps.length ? gaps[Math.floor(gaps.length / 2)] : 5000;
  const broken = (i) => i > 0 && samples[i].t - samples[i - 1].t > Math.max(3 * typical, 15000);
  // writable band
  svg.append(s('rect', { class: 'band-none', x: L, y: bandY, width: W - L - R, height: bandH }));
  let runStart = null;
  let runState = null;
  const flush = (end) => {
    if (runStart != null && runState != null) {
      const x0 = Math.max(L, x(runStart));
      const x1 = Math.min(W - R, x(end));
      if (x1 > x0) {
        svg.append(s('rect', { class: runState ? 'band-ok' : 'band-bad', x: x0, y: bandY, width: Math.max(0.8, x1 - x0), height: bandH },
          s('title', null, (runState ? 'writable' : 'NOT writable') + ' ' + hms(runStart) + '–' + hms(end) + 'Z')));
      }
    }
  };
  for (let i = 0; i < samples.length; i++) {
    const smp = samples[i];
    const st = smp.writable === true ? true : smp.writable === false ? false : null;
    if (broken(i)) {
      flush(samples[i - 1].t + typical);
      runStart = null;
      runState = null;
    }
    if (st !== runState || runStart == null) {
      if (runStart != null) flush(smp.t);
      runStart = smp.t;
      runState = st;
    }
  }
  if (samples.length) flush(samples[samples.length - 1].t + typical);
  // leader changes
  for (let i = 1; i < samples.length; i++) {
    if (samples[i].leader !== samples[i - 1].leader) {
      const xx = x(samples[i].t);
      svg.append(s('line', { class: 'cursor', x1: xx, x2: xx, y1: T, y2: bandY + bandH }),
        s('text', { x: Math.min(xx + 3, W - R - 100), y: T + 10, class: 'lbl' }, 'leader → ' + (samples[i].leader || 'none')));
    }
  }
  // one line per replica
  names.forEach((n, k) => {
    let d = '';
    let pen = false;
    samples.forEach((smp, i) => {
      const m = smp.members.find((mm) => mm.name === n);
      const v = m && m.role !== 'leader' && typeof m.lag_bytes === 'number' ? m.lag_bytes : null;
      if (v == null || broken(i)) {
        pen = false;
        if (v == null) return;
      }
      d += (pen ? 'L' : 'M') + x(smp.t).toFixed(1) + ' ' + y(v).toFixed(1);
      pen = true;
    });
    if (d) {
      svg.append(s('path', { d, fill: 'none', stroke: SERIES[k % SERIES.length], 'stroke-width': 1.6, 'stroke-linejoin': 'round' }, s('title', null, n)));
    }
  });
  if (!samples.length) {
    svg.append(s('text', { x: (L + W - R) / 2, y: T + PH / 2, 'text-anchor': 'middle', class: 'nodata' },
      hist.source === 'none' ? 'no history: no agent loop runs in this process' : 'no samples in the last ' + minutes + ' minutes'));
  }
  // hover: a cursor and a readout of the nearest sample
  const cursor = s('line', { class: 'cursor', x1: 0, x2: 0, y1: T, y2: bandY + bandH, visibility: 'hidden' });
  const overlay = s('rect', { x: L, y: T, width: W - L - R, height: bandY + bandH - T, fill: 'transparent' });
  svg.append(cursor, overlay);
  const readout = h('div', { class: 'readout', 'data-testid': 'lag-readout' }, samples.length ? 'hover the chart for values' : '');
  overlay.addEventListener('mousemove', (ev) => {
    const box = svg.getBoundingClientRect();
    const px = ((ev.clientX - box.left) / box.width) * W;
    const t = t0 + ((px - L) / (W - L - R)) * (t1 - t0);
    let best = null;
    for (const smp of samples) {
      if (!best || Math.abs(smp.t - t) < Math.abs(best.t - t)) best = smp;
    }
    if (!best || Math.abs(best.t - t) > Math.max(3 * typical, 15000)) {
      cursor.setAttribute('visibility', 'hidden');
      readout.textContent = hms(t) + 'Z: no sample';
      return;
    }
    cursor.setAttribute('x1', x(best.t));
    cursor.setAttribute('x2', x(best.t));
    cursor.setAttribute('visibility', 'visible');
    readout.textContent = utc(best.t) + ' · leader ' + (best.leader || 'none') + ' · tl ' + (best.timeline ?? '?') + ' · '
      + (best.writable === true ? 'writable' : best.writable === false ? 'NOT writable' : 'writable?') + ' · '
      + best.members.filter((m) => m.role !== 'leader').map((m) => m.name + ' ' + (m.lag_bytes == null ? '?' : bytes(m.lag_bytes))).join(' · ');
  });
  overlay.addEventListener('mouseleave', () => {
    cursor.setAttribute('visibility', 'hidden');
  });
  const lastSample = samples[samples.length - 1];
  const legend = h('div', { class: 'legend' }, names.map((n, k) => {
    const m = lastSample && lastSample.members.find((mm) => mm.name === n);
    const sw = h('span', { class: 'sw' });
    sw.style.background = SERIES[k % SERIES.length];
    return h('span', null, sw, mono(n), m ? ' ' + (m.role === 'leader' ? 'leader now' : bytes(m.lag_bytes)) : '');
  }), h('span', null, h('span', { class: 'sw band-ok' }), 'writable'), h('span', null, h('span', { class: 'sw band-bad' }), 'not writable'),
  h('span', null, h('span', { class: 'sw band-none' }), 'no sample'));
  return { svg, legend, readout };
}

function renderLag(region, hist) {
  const c = lagChart(hist || {}, chartWidth(region));
  fill(region, c.svg, c.legend, c.readout,
    h('p', { class: 'muted small' }, 'source: ', (hist && hist.source) || '?', hist && hist.samples ? ' · ' + hist.samples.length + ' samples' : ''));
}

// ---------------------------------------------------------------- view: incidents list
function viewIncidents(main, rt) {
  const st = rt.query.get('state') || '';
  const cl = rt.query.get('cluster') || '';
  const r = h('div', null, loading());
  const filt = h('div', { class: 'row' }, 'state:', ['', 'open', 'mitigating', 'resolved'].map((x) => {
    const q = new URLSearchParams();
    if (x) q.set('state', x);
    if (cl) q.set('cluster', cl);
    const a = link('#/incidents' + (q.toString() ? '?' + q : ''), x || 'all');
    if (x === st) a.classList.add('pill', 'st-info');
    return a;
  }), cl ? h('span', null, ' cluster ', mono(cl), ' ', link('#/incidents' + (st ? '?state=' + enc(st) : ''), '(all clusters)')) : null);
  main.append(h('h1', null, 'Incidents'), filt, r);
  return {
    title: 'Incidents',
    async refresh() {
      const q = new URLSearchParams({ limit: '200' });
      if (st) q.set('state', st);
      if (cl) q.set('cluster', cl);
      try {
        fill(r, incidentsTable(await api('/incidents?' + q), true));
      } catch (e) {
        fill(r, errBox(e, 'incidents'));
      }
    },
  };
}

// ---------------------------------------------------------------- view: one incident
function viewIncident(main, rt) {
  const id = rt.id;
  const head = h('div', null, loading());
  const chartR = h('div', null, loading());
  const tlR = h('div', null, loading());
  const actR = h('div', null, loading());
  const pmR = h('div', { class: 'md', 'data-testid': 'postmortem' }, loading());
  const evR = h('div');
  const base = API + '/incidents/' + enc(id) + '/postmortem';
  main.append(h('div', { class: 'crumbs' }, link('#/incidents', 'Incidents')), h('h1', null, mono(id)), head,
    panel('Write outage', chartR, { id: 'outage' }),
    panel('Timeline (UTC)', tlR, { id: 'timeline' }),
    panel('What the agent did', actR, { id: 'agent-actions' }),
    panel(null, [h('div', { class: 'row' }, h('h2', null, 'Post-mortem'), h('span', { class: 'spacer' }),
      link(base + '?format=json', 'raw JSON', { target: '_blank', rel: 'noopener', 'data-testid': 'postmortem-json' }), ' · ',
      link(base + '?format=md', 'markdown', { target: '_blank', rel: 'noopener', 'data-testid': 'postmortem-md' })), pmR], { id: 'pm' }),
    panel('Journal entries of the incident', evR, { id: 'events' }));
  return {
    title: id,
    async refresh() {
      const [inc, pm, md] = await Promise.allSettled([api('/incidents/' + enc(id)), api('/incidents/' + enc(id) + '/postmortem?format=json'),
        api('/incidents/' + enc(id) + '/postmortem?format=md', { text: true })]);
      const i = inc.status === 'fulfilled' ? inc.value : null;
      const p = pm.status === 'fulfilled' ? pm.value : null;
      if (!i && !p) {
        fill(head, errBox(inc.reason, 'incident'));
        for (const r of [chartR, tlR, actR, pmR]) fill(r);
        return;
      }
      renderIncidentHead(head, i, p, inc.status === 'rejected' ? inc.reason : null);
      if (p) {
        const c = outageChart(p, i, chartWidth(chartR));
        fill(chartR, c.caption, c.svg, c.legend);
        fill(tlR, timelineTable(p.timeline));
        fill(actR, agentActions(p.actions));
      } else {
        fill(chartR, errBox(pm.reason, 'post-mortem'), outageChart({}, i, chartWidth(chartR)).svg);
        fill(tlR, i && Array.isArray(i.events) ? eventsAsTimeline(i.events) : errBox(pm.reason));
        fill(actR, errBox(pm.reason, 'post-mortem'));
      }
      fill(pmR, md.status === 'fulfilled' ? renderMarkdown(md.value || '') : errBox(md.reason, 'post-mortem markdown'));
      fill(evR, i && Array.isArray(i.events) ? h('details', null, h('summary', null, i.events.length + ' entries'), journalTable(i.events)) : empty('–'));
    },
  };
}

function renderIncidentHead(head, i, p, err) {
  const st = (i && i.state) || (p && p.state) || 'unknown';
  const outage = (p && p.outage) || {};
  const loss = (p && pick(p, 'data_loss', 'dataLoss')) || null;
  const oldL = p && pick(p, 'old_leader', 'oldLeader');
  const newL = p && pick(p, 'new_leader', 'newLeader');
  const oldT = p && pick(p, 'old_timeline', 'oldTimeline');
  const newT = p && pick(p, 'new_timeline', 'newTimeline');
  const cluster = (i && i.cluster) || (p && p.cluster);
  fill(head, h('div', { class: 'panel' },
    err ? errBox(err, 'incident') : null,
    h('div', { class: 'row' },
      h('span', { class: 'pill ' + stateClass(st), 'data-testid': 'incident-state' }, st),
      sevPill((i && i.severity) || (p && p.severity)),
      cluster ? link(clusterHref(cluster), cluster, { class: 'mono' }) : null,
      h('strong', null, (i && i.title) || '')),
    p && p.summary ? h('p', { 'data-testid': 'incident-summary' }, p.summary) : null,
    facts([
      ['opened', when(pick(i, 'opened_at') || pick(p, 'opened_at', 'openedAt'))],
      ['mitigating', i && i.mitigating_at ? when(i.mitigating_at) : undefined],
      ['resolved', pick(i, 'resolved_at') || pick(p, 'resolved_at', 'resolvedAt') ? when(pick(i, 'resolved_at') || pick(p, 'resolved_at', 'resolvedAt')) : h('span', { class: 'err' }, 'not yet')],
      ['first symptom → detected', p ? [when(pick(p, 'first_symptom', 'firstSymptom'), { short: true }), ' → ', when(pick(p, 'detected_at', 'detectedAt'), { short: true }),
        pick(p, 'time_to_detect_seconds', 'timeToDetectSeconds') != null ? h('span', { class: 'muted' }, ' (' + duration(pick(p, 'time_to_detect_seconds', 'timeToDetectSeconds')) + ')') : null] : undefined],
      ['write outage', p ? [outage.seconds != null ? h('strong', null, duration(outage.seconds)) : pick(outage, 'start') ? h('strong', { class: 'err' }, 'ongoing') : 'none measured',
        pick(outage, 'min_seconds', 'minSeconds') != null || pick(outage, 'max_seconds', 'maxSeconds') != null
          ? h('span', { class: 'muted' }, ' (bounds ' + duration(pick(outage, 'min_seconds', 'minSeconds')) + ' to ' + duration(pick(outage, 'max_seconds', 'maxSeconds')) + ')') : null] : undefined],
      ['data loss', loss ? (loss.statement || (loss.bytes != null ? bytes(loss.bytes) : 'unknown') + (loss.method ? ' (' + loss.method + ')' : '')) : undefined],
      ['leader', p ? [mono(oldL || '?'), oldT != null ? ' (tl ' + oldT + ')' : '', ' → ', newL ? mono(newL) : 'unchanged', newT != null ? ' (tl ' + newT + ')' : ''] : undefined],
      ['root cause', p && pick(p, 'root_cause_code', 'rootCauseCode') ? [mono(pick(p, 'root_cause_code', 'rootCauseCode')), ': ', pick(p, 'root_cause', 'rootCause') || ''] : undefined],
      ['findings', i && i.codes ? mono(i.codes.join(', ')) : undefined],
      ['still active', i && (i.active_findings || []).length ? mono(i.active_findings.join(', ')) : undefined],
    ])));
}

function outageChart(p, inc, width) {
  const W = width || 960;
  const L = 14;
  const R = 14;
  const outage = p.outage || {};
  const now = Date.now();
  const st = (inc && inc.state) || p.state || 'unknown';
  const isOpen = st !== 'resolved';
  const start = ts(outage.start);
  const end = ts(outage.end);
  const resolved = ts(pick(p, 'resolved_at', 'resolvedAt') || (inc && inc.resolved_at));
  const symptom = ts(pick(p, 'first_symptom', 'firstSymptom'));
  const detected = ts(pick(p, 'detected_at', 'detectedAt'));
  const opened = ts(pick(p, 'opened_at', 'openedAt') || (inc && inc.opened_at));
  const actions = (Array.isArray(p.actions) ? p.actions : []).map((a) => ({ t: ts(a.at), a })).filter((a) => a.t != null);
  const tl = (Array.isArray(p.timeline) ? p.timeline : []).map((e) => ts(e.at)).filter((t) => t != null);
  const redEnd = end != null ? end : isOpen ? now : resolved != null ? resolved : null;
  const points = [start, end, resolved, symptom, detected, opened, redEnd, ...actions.map((a) => a.t), ...tl].filter((t) => t != null);
  let t0 = points.length ? Math.min(...points) : now - 600000;
  let t1 = points.length ? Math.max(...points) : now;
  if (isOpen) t1 = Math.max(t1, now);
  const spanMs = Math.max(t1 - t0, 60000);
  t0 -= spanMs * 0.06;
  t1 += spanMs * 0.06;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  // marks, with labels placed in lanes so they do not overlap
  const marks = [];
  if (symptom != null) marks.push({ t: symptom, cls: 'm-symptom', label: 'fault / first symptom' });
  if (detected != null) marks.push({ t: detected, cls: 'm-detect', label: 'detected' });
  for (const { t, a } of actions) marks.push({ t, cls: 'm-action', label: (a.what || 'action') + ' → ' + (a.outcome || '?') });
  if (end != null) {
    marks.push({ t: end, cls: 'm-recover', label: 'writes back' });
  } else if (resolved != null) {
    marks.push({ t: resolved, cls: 'm-recover', label: 'resolved' });
  }
  if (isOpen && end == null) marks.push({ t: now, cls: 'm-now', label: 'now' });
  marks.sort((a, b) => a.t - b.t);
  const lanes = [];
  const CH = 6.3;
  for (const m of marks) {
    const mx = x(m.t);
    let text = m.label;
    if (text.length > 60) text = text.slice(0, 58) + '…';
    const wpx = text.length * CH + 8;
    const anchorEnd = mx + wpx > W - R;
    const x0 = anchorEnd ? mx - wpx : mx;
    const x1 = anchorEnd ? mx : mx + wpx;
    let lane = lanes.findIndex((endX) => endX < x0);
    if (lane < 0) {
      lane = lanes.length;
      lanes.push(0);
    }
    lanes[lane] = x1;
    Object.assign(m, { mx, text, anchorEnd, lane });
  }
  const laneH = 15;
  const top = 6 + Math.max(1, lanes.length) * laneH;
  const bandY = top + 6;
  const bandH = 30;
  const H = bandY + bandH + 34;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', 'data-testid': 'outage-chart', role: 'img', 'aria-label': 'write outage over time' });
  // band
  const seg = (a, b, cls, title) => {
    if (a == null || b == null || b <= a) return;
    svg.append(s('rect', { class: cls, x: x(a), y: bandY, width: Math.max(1, x(b) - x(a)), height: bandH, 'data-band': cls }, s('title', null, title + ': ' + utc(a) + ' – ' + utc(b))));
  };
  if (start != null) {
    seg(t0, start, 'band-ok', 'writable');
    seg(start, redEnd != null ? redEnd : t1, 'band-bad', 'NOT writable');
    if (redEnd != null) seg(redEnd, isOpen && end == null ? redEnd : t1, 'band-ok', 'writable');
  } else if (points.length) {
    seg(t0, t1, 'band-ok', 'no write outage measured');
  } else {
    seg(t0, t1, 'band-none', 'no data');
  }
  if (start != null) {
    const xe = x(redEnd != null ? redEnd : t1);
    svg.append(s('text', { x: Math.max(x(start) + 60, Math.min((x(start) + xe) / 2, W - R - 90)), y: bandY + bandH / 2 + 4, class: 'onband', 'text-anchor': 'middle' },
      end != null || !isOpen ? 'writes down ' + duration(outage.seconds ?? ((redEnd - start) / 1000)) : 'writes down for ' + duration((now - start) / 1000)));
  }
  // axis
  const stepChoices = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400].map((v) => v * 1000);
  const step = stepChoices.find((v) => (t1 - t0) / v <= 8) || 86400000;
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    svg.append(s('line', { class: 'grid', x1: x(t), x2: x(t), y1: bandY + bandH, y2: bandY + bandH + 5 }),
      s('text', { x: x(t), y: bandY + bandH + 17, 'text-anchor': 'middle' }, hms(t, step < 60000)));
  }
  svg.append(s('text', { x: W - R, y: bandY + bandH + 31, 'text-anchor': 'end' }, 'UTC, ' + utc(t0).slice(0, 10)));
  // marks
  for (const m of marks) {
    const ly = 6 + m.lane * laneH + 11;
    const kind = { 'm-symptom': 'fault', 'm-detect': 'detection', 'm-action': 'action', 'm-recover': 'recovery', 'm-now': 'now' }[m.cls] || 'other';
    svg.append(s('line', { class: 'mark ' + m.cls, 'data-mark': kind, x1: m.mx, x2: m.mx, y1: ly - 10, y2: bandY + bandH + 3 }),
      s('text', { class: 'mlabel ' + m.cls, x: m.anchorEnd ? m.mx - 4 : m.mx + 4, y: ly, 'text-anchor': m.anchorEnd ? 'end' : 'start' },
        m.text, s('title', null, m.label + ' at ' + utc(m.t, true))));
  }
  const legend = h('div', { class: 'legend' },
    h('span', null, h('span', { class: 'sw band-ok' }), 'writable'),
    h('span', null, h('span', { class: 'sw band-bad' }), 'not writable'),
    h('span', null, h('span', { class: 'sw m-symptom' }), 'fault / first symptom'),
    h('span', null, h('span', { class: 'sw m-detect' }), 'detection'),
    h('span', null, h('span', { class: 'sw m-action' }), 'action (what → outcome)'),
    h('span', null, h('span', { class: 'sw m-recover' }), 'recovery'));
  const caption = h('p', { class: 'small muted' },
    start != null ? ['writes stopped ', utc(start, true), outage.start_method || outage.startMethod ? ' (' + (outage.start_method || outage.startMethod) + ')' : '',
      end != null ? ['; back ', utc(end, true), outage.end_method || outage.endMethod ? ' (' + (outage.end_method || outage.endMethod) + ')' : ''] : isOpen ? '; not back yet' : ''] : 'no write outage measured');
  return { svg, legend, caption };
}

function timelineTable(list) {
  if (!Array.isArray(list) || !list.length) return empty('The timeline is empty.');
  return table(['time', 'kind', 'what', 'source', 'journal'], list.map((e) => {
    const seq = pick(e, 'journal_seq', 'journalSeq');
    return [h('span', { class: 'mono nowrap', title: utc(e.at, true) }, utc(e.at, true)), mono(e.kind), h('td', { class: 'wrap what' }, e.what), e.source || '', seqLink(seq)];
  }), { class: 'compact', 'data-testid': 'timeline' });
}

function eventsAsTimeline(events) {
  return [h('p', { class: 'muted small' }, 'the post-mortem could not be built: the incident\'s journal entries instead'),
    table(['time', 'kind', 'what', 'source', 'journal'], events.map((e) => [mono(utc(e.time, true)), mono(e.kind + (e.topic ? ' ' + e.topic : '')),
      h('td', { class: 'wrap what' }, e.summary), 'journal', seqLink(e.seq)]), { class: 'compact', 'data-testid': 'timeline' })];
}

function agentActions(list) {
  if (!Array.isArray(list) || !list.length) return h('p', { class: 'muted' }, 'Nothing: no skill ran and no action was taken on the cluster.');
  return table(['time', 'what', 'skill / step', 'action', 'policy verdict', 'level', 'outcome', 'why', 'journal'], list.map((a) => {
    const lvl = a.level != null ? a.level + ' (needs ' + (pick(a, 'required_level', 'requiredLevel') ?? '?') + ')' : '–';
    return [h('span', { class: 'mono nowrap' }, utc(a.at, true)), h('strong', null, a.what || ''), [a.skill || '', a.step ? ' / ' + a.step : ''],
      mono(pick(a, 'action_id', 'actionId') || ''), a.verdict ? outcomePill(a.verdict) : '–', lvl, outcomePill(a.outcome), h('td', { class: 'wrap small' }, a.why || ''),
      (pick(a, 'journal_seqs', 'journalSeqs') || []).map((sq, k) => [k ? ' ' : '', seqLink(sq)])];
  }), { class: 'compact', 'data-testid': 'agent-actions' });
}

// ---------------------------------------------------------------- view: approvals
function viewApprovals(main, rt) {
  const intro = h('div');
  const pendingBox = h('div', { 'data-testid': 'pending' });
  const pendingEmpty = h('div');
  const focusNote = h('div');
  const decidedBox = h('div', { 'data-testid': 'decided' });
  const decidedSection = h('section', { hidden: true }, h('h2', null, 'Decided here'), h('p', { class: 'muted small' }, 'What this page decided in this browser, with the agent\'s answer.'), decidedBox);
  const sess = state.session || {};
  fill(intro, !hasRole('approver')
    ? h('p', { class: 'warn-text' }, 'You are signed in as ' + (sess.role || '?') + ': approving and denying needs the approver role, so this page is read-only.')
    : sess.four_eyes ? h('p', { class: 'muted' }, 'Four-eyes is on: an action you requested must be decided by another approver.') : null);
  main.append(h('h1', null, 'Pending approvals'), intro, focusNote, pendingEmpty, pendingBox, decidedSection);
  // cards kept from an earlier visit
  for (const c of approvalCards.values()) (c.decided ? decidedBox : pendingBox).append(c.el);
  decidedSection.hidden = ![...approvalCards.values()].some((c) => c.decided);
  let focusId = rt.id;
  let focused = false;
  const view = {
    title: 'Approvals',
    focus(id) {
      focusId = id;
      focused = false;
      applyFocus();
    },
    async refresh() {
      let list;
      try {
        [list] = await Promise.all([api('/approvals'), ensureCatalog().catch(() => null)]);
      } catch (e) {
        fill(pendingEmpty, errBox(e, 'approvals'));
        return;
      }
      list = Array.isArray(list) ? list : [];
      state.pending = list;
      renderBadges();
      const ids = new Set(list.map((a) => a.id));
      const fresh = [];
      for (const a of list) {
        let c = approvalCards.get(a.id);
        if (!c) {
          c = approvalCard(a);
          approvalCards.set(a.id, c);
          fresh.push(c);
        }
        if (!c.decided && c.el.parentNode !== pendingBox) pendingBox.append(c.el);
      }
      for (const [id, c] of [...approvalCards]) {
        if (ids.has(id) || c.busy || c.decided || c.gone) continue;
        if (c.result) {
          markDecided(c);
        } else if (c.note.value.trim() || (document.activeElement && c.el.contains(document.activeElement))) {
          c.setGone();
        } else {
          c.el.remove();
          approvalCards.delete(id);
        }
      }
      fill(pendingEmpty, list.length ? null : h('p', { class: 'ok-text', 'data-testid': 'no-pending' }, 'No approval is pending.'));
      decidedSection.hidden = ![...approvalCards.values()].some((c) => c.decided);
      applyFocus();
      loadDecisions(fresh);
    },
    unmount() {
      for (const [id, c] of [...approvalCards]) {
        c.el.remove();
        if (c.gone) approvalCards.delete(id);
      }
    },
  };

  function markDecided(c) {
    c.decided = true;
    c.el.classList.add('decided', c.result && c.result.ok ? (c.result.status === 'denied' ? 'neutral' : 'ok') : 'bad');
    c.note.disabled = true;
    c.sync();
    decidedBox.prepend(c.el);
    decidedSection.hidden = false;
  }
  view.markDecided = markDecided;

  function applyFocus() {
    for (const c of approvalCards.values()) c.el.classList.toggle('highlight', c.id === focusId);
    if (!focusId) {
      fill(focusNote);
      return;
    }
    const c = approvalCards.get(focusId);
    if (c) {
      fill(focusNote);
      if (!focused) {
        focused = true;
        c.el.scrollIntoView({ block: 'start', behavior: 'auto' });
      }
    } else if (state.pending) {
      fill(focusNote, h('div', { class: 'errbox' }, 'Approval ', mono(focusId), ' is not pending (decided, expired or unknown). ', link('#/journal?kind=approval.requested,approval.granted,approval.denied', 'approvals in the journal')));
    }
  }
  return view;
}

function fourEyesBlocks(initiator) {
  const sess = state.session;
  if (!sess || !sess.four_eyes || !initiator || !sess.name) return false;
  const n = sess.name;
  return initiator === 'api:' + n || initiator === 'console:' + n || initiator === 'mcp:' + n || initiator.startsWith('mcp:' + n + '/');
}

function approvalCard(a) {
  const act = a.action || {};
  const cat = catalogAction(act.kind);
  const risk = (cat && cat.risk) || act.risk || 'unknown';
  const riskCls = risk === 'high' ? 'st-bad' : risk === 'medium' ? 'st-warn' : risk === 'low' ? 'st-ok' : 'st-unknown';
  const el = h('article', { class: 'approval', 'data-approval-id': a.id, id: 'approval-' + a.id });
  const params = act.parameters && typeof act.parameters === 'object' ? Object.entries(act.parameters) : [];
  const decisionR = h('div', { class: 'small' }, h('span', { class: 'muted' }, 'policy decision: looking it up…'));
  const expires = countdownEl(a.expiresAt);
  el.append(
    h('div', { class: 'head' }, h('span', { class: 'kind', 'data-testid': 'approval-kind' }, act.kind || '?'),
      pill('risk ' + risk, riskCls, { 'data-testid': 'risk', title: cat ? 'from the catalogue' : 'from the action' }),
      'on ', act.cluster ? link(clusterHref(act.cluster), act.cluster, { class: 'mono' }) : '?', act.member ? [' member ', mono(act.member)] : null,
      h('span', { class: 'spacer' }), expires),
    h('p', null, h('strong', { 'data-testid': 'approval-summary' }, act.summary || '')),
    h('div', { class: 'cols' },
      h('div', null,
        facts([
          ['approval', mono(a.id)],
          ['requested', when(a.requestedAt)],
          ['initiator', mono(act.initiator || '?')],
          ['trigger', act.trigger || undefined],
          ['reason', act.reason ? h('span', { 'data-testid': 'approval-reason' }, act.reason) : undefined],
          ['reversible', act.reversible ? ['yes', cat && cat.undo ? h('span', { class: 'muted' }, ' — undo: ' + cat.undo) : null]
            : ['no', act.lossBounded || act.loss_bounded ? h('span', { class: 'muted' }, ' (what it can cost is bounded by a precheck)') : h('span', { class: 'err' }, ' (irreversible)'),
              cat && cat.undo ? h('span', { class: 'muted' }, ' — ' + cat.undo) : null]],
          ['catalogue', cat ? cat.summary : undefined],
          ['policy class', act.class || undefined],
          ['journal', a.requestSeq ? seqLink(a.requestSeq) : undefined],
        ]),
        params.length ? table(['parameter', 'value'], params.map(([k, v]) => [mono(k), mono(v)]), { class: 'compact', 'data-testid': 'parameters' }) : h('p', { class: 'muted small' }, 'no parameters')),
      h('div', null,
        h('h3', null, 'Why it waits'),
        (a.reasons || []).length ? h('ul', { class: 'small', 'data-testid': 'reasons' }, a.reasons.map((r) => h('li', null, mono(r.code), r.blocking ? pill('blocking', 'st-bad') : null, ' ', r.message)))
          : h('p', { class: 'muted small' }, 'no reason recorded'),
        decisionR,
        h('h3', null, 'What the agent saw'),
        evidenceView(a.evidence))));
  const note = h('textarea', { name: 'note', rows: 2, placeholder: 'note for the journal (why you approve or deny)', 'aria-label': 'note' });
  const approve = h('button', { type: 'button', 'data-action': 'approve' }, 'Approve');
  const deny = h('button', { type: 'button', 'data-action': 'deny' }, 'Deny');
  const fe = h('p', { class: 'foureyes', 'data-testid': 'four-eyes', hidden: true }, 'four-eyes: another approver must decide');
  const resultEl = h('div', { 'data-role': 'result', 'aria-live': 'polite' });
  const canDecide = hasRole('approver');
  const decide = h('div', { class: 'decide' }, h('div', { class: 'note' }, note), canDecide ? h('div', { class: 'btns' }, approve, deny) : null);
  const more = h('button', { type: 'button', class: 'btn-quiet small more', 'data-action': 'details' }, 'details');
  more.addEventListener('click', () => {
    el.classList.toggle('expanded');
    more.textContent = el.classList.contains('expanded') ? 'hide details' : 'details';
  });
  el.querySelector('.head').append(more);
  el.append(fe, decide, resultEl);
  if (!canDecide) {
    note.disabled = true;
    note.placeholder = 'approving and denying needs the approver role';
  }
  const c = {
    id: a.id, a, el, note, approve, deny, busy: false, decided: false, result: null, decisionR, gone: false,
    sync() {
      const exp = ts(a.expiresAt);
      const expired = exp != null && exp <= Date.now();
      const blocked = fourEyesBlocks(act.initiator);
      fe.hidden = !blocked || c.decided;
      approve.disabled = c.busy || c.decided || c.gone || expired || blocked;
      deny.disabled = c.busy || c.decided || c.gone || expired;
      approve.title = blocked ? 'four-eyes: you requested this action; another approver must decide' : expired ? 'expired' : '';
      if (c.decided) {
        expires.removeAttribute('data-expires');
        expires.textContent = 'decided';
        expires.className = 'countdown';
      }
    },
    setGone() {
      c.gone = true;
      c.sync();
      fill(resultEl, h('div', { class: 'result bad' }, 'This approval is no longer pending (decided elsewhere or expired); your note was kept.'));
    },
  };
  const go = async (verb) => {
    c.busy = true;
    c.sync();
    fill(resultEl, busyNode(verb === 'approve' ? 'approving… the action runs to its end before the agent answers' : 'denying…'));
    const text = note.value.trim();
    let r;
    try {
      r = await post(API + '/approvals/' + enc(a.id) + '/' + verb, text ? { note: text } : {});
    } catch (e) {
      c.busy = false;
      return;
    }
    c.busy = false;
    const ans = answerOf(r);
    ans.note = text;
    c.result = ans;
    fill(resultEl, resultNode(ans));
    const here = state.view && state.view.name === 'approvals' ? state.view : null;
    if (r.ok && here) {
      here.markDecided(c);
    } else if (r.ok) {
      c.decided = true;
      c.el.classList.add('decided', ans.ok ? (ans.status === 'denied' ? 'neutral' : 'ok') : 'bad');
      note.disabled = true;
    }
    c.sync();
    refreshBadges();
    if (here) refreshView({});
  };
  approve.addEventListener('click', () => go('approve'));
  deny.addEventListener('click', () => go('deny'));
  c.sync();
  return c;
}

function evidenceView(ev) {
  if (ev == null) return h('p', { class: 'muted small' }, 'no evidence recorded');
  if (typeof ev !== 'object') return h('p', null, String(ev));
  const rows = Object.entries(ev).map(([k, v]) => {
    let val;
    if (v == null) {
      val = h('span', { class: 'muted' }, '–');
    } else if (Array.isArray(v)) {
      val = v.length ? h('ul', { class: 'small' }, v.map((x) => h('li', null, typeof x === 'object' ? mono(JSON.stringify(x)) : String(x)))) : h('span', { class: 'muted' }, 'none');
    } else if (typeof v === 'object') {
      const entries = Object.entries(v);
      val = entries.length ? table(['', ''], entries.map(([kk, vv]) => [mono(kk), typeof vv === 'number' && /bytes/i.test(k) ? bytes(vv) + ' (' + vv + ')' : vv == null ? 'unknown' : typeof vv === 'object' ? mono(JSON.stringify(vv)) : String(vv)]))
        : h('span', { class: 'muted' }, 'none');
    } else if (typeof v === 'number' && /bytes/i.test(k)) {
      val = bytes(v) + ' (' + v + ')';
    } else if (/At$|_at$|^at$/.test(k) && ts(v) != null) {
      val = when(v);
    } else {
      val = String(v);
    }
    return [k, val];
  });
  return h('div', { 'data-testid': 'evidence' }, facts(rows));
}

// The policy decision behind each approval: the decision entry whose correlation id is the approval's id.
async function loadDecisions(cards) {
  const byCluster = new Map();
  for (const c of cards) {
    const cl = (c.a.action || {}).cluster;
    if (!byCluster.has(cl)) byCluster.set(cl, []);
    byCluster.get(cl).push(c);
  }
  for (const [cl, list] of byCluster) {
    let entries = [];
    try {
      entries = await api('/journal?kind=decision&limit=200' + (cl ? '&cluster=' + enc(cl) : ''));
    } catch (e) {
      for (const c of list) fill(c.decisionR, h('span', { class: 'muted' }, 'policy decision: not found (' + (e.message || e) + ')'));
      continue;
    }
    for (const c of list) {
      const d = (entries || []).filter((e) => e.correlationId === c.id).pop();
      const dec = d && d.payload && d.payload.decision;
      if (!dec) {
        fill(c.decisionR, h('span', { class: 'muted' }, 'policy decision: not among the cluster\'s last 200 decisions'));
        continue;
      }
      fill(c.decisionR, h('div', { 'data-testid': 'policy-decision' }, 'policy: ', outcomePill(dec.verdict), ' at autonomy level ', h('strong', null, String(dec.level ?? '?')),
        ', needs level ', h('strong', { 'data-testid': 'required-level' }, String(pick(dec, 'requiredLevel', 'required_level') ?? '?')),
        dec.ceiling != null ? ' (ceiling ' + dec.ceiling + ')' : '', ' · ', seqLink(d.seq)));
    }
  }
}

// ---------------------------------------------------------------- view: journal
const JOURNAL_QUERY = ['cluster', 'kind', 'since', 'until', 'limit'];

function viewJournal(main, rt) {
  const q = rt.query;
  const inputs = {};
  const lists = h('div', { hidden: true },
    h('datalist', { id: 'dl-kinds' }, JOURNAL_KINDS.map((k) => h('option', { value: k }))),
    h('datalist', { id: 'dl-clusters' }, ((state.health && state.health.clusters) || []).map((c) => h('option', { value: c }))),
    h('datalist', { id: 'dl-since' }, ['15m', '1h', '2h', '6h', '24h', '7d'].map((c) => h('option', { value: c }))));
  const field = (name, label, attrs) => {
    inputs[name] = h('input', Object.assign({ name, value: q.get(name) || '', autocomplete: 'off', spellcheck: 'false' }, attrs || {}));
    return h('label', null, label, inputs[name]);
  };
  const form = h('form', { class: 'filters', 'data-testid': 'journal-filters' },
    field('cluster', 'cluster', { list: 'dl-clusters', placeholder: 'any' }),
    field('kind', 'kind (comma-separated)', { list: 'dl-kinds', placeholder: 'any' }),
    field('since', 'since (age or time)', { list: 'dl-since', placeholder: 'e.g. 2h', class: 'short' }),
    field('until', 'until', { placeholder: 'now', class: 'short' }),
    field('limit', 'limit', { type: 'number', min: 1, max: 1000, placeholder: '100', class: 'short' }),
    h('button', { type: 'submit' }, 'Show'), link('#/journal', 'clear'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const nq = new URLSearchParams();
    for (const k of JOURNAL_QUERY) {
      const v = inputs[k].value.trim();
      if (v) nq.set(k, v);
    }
    const target = '#/journal' + (nq.toString() ? '?' + nq : '');
    if (location.hash === target) {
      refreshView({});
    } else {
      location.hash = target;
    }
  });
  const verifyBtn = h('button', { type: 'button', 'data-testid': 'verify' }, 'Verify chain');
  const verifyR = h('div', { 'data-testid': 'verify-result' });
  verifyBtn.addEventListener('click', async () => {
    verifyBtn.disabled = true;
    fill(verifyR, busyNode('verifying the hash chain…'));
    try {
      const v = await api('/journal/verify');
      const bad = pick(v, 'firstBadSeq', 'first_bad_seq');
      fill(verifyR, v.ok
        ? h('div', { class: 'okbox' }, h('strong', null, 'chain intact'), ': ', String(v.checked ?? '?'), ' entries checked (last ', seqLink(pick(v, 'lastSeq', 'last_seq')), ')',
          v.message ? h('div', { class: 'small' }, v.message) : null)
        : h('div', { class: 'errbox' }, h('strong', null, 'chain broken'), bad != null ? [' at ', seqLink(bad)] : '', ': ', v.problem || v.message || 'problem not stated',
          ' (', String(v.checked ?? '?'), ' checked)', v.message && v.problem ? h('div', { class: 'small' }, v.message) : null));
    } catch (e) {
      fill(verifyR, errBox(e, 'verify'));
    } finally {
      verifyBtn.disabled = false;
    }
  });
  const r = h('div', null, loading());
  const meta = h('p', { class: 'muted small' });
  main.append(h('div', { class: 'row' }, h('h1', null, 'Journal'), h('span', { class: 'spacer' }), verifyBtn), verifyR, lists, form, meta, r);
  return {
    title: 'Journal',
    async refresh() {
      const aq = new URLSearchParams();
      for (const k of JOURNAL_QUERY) {
        if (q.get(k)) aq.set(k, q.get(k));
      }
      try {
        const list = await api('/journal' + (aq.toString() ? '?' + aq : ''));
        const rows = (Array.isArray(list) ? list : []).slice().sort((a, b) => b.seq - a.seq);
        fill(meta, rows.length + ' entries, newest first', aq.toString() ? ' · ' + [...aq].map(([k, v]) => k + ' ' + v).join(' · ') : '');
        fill(r, rows.length ? journalTable(rows) : empty('No entry matches.'));
      } catch (e) {
        fill(meta);
        fill(r, errBox(e, 'journal'));
      }
    },
  };
}

function journalTable(rows) {
  return table(['seq', 'time', 'kind', 'cluster', 'member', 'summary'], rows.map((e) => h('tr', { class: e.damage ? 'row-bad' : '' },
    h('td', null, seqLink(e.seq)), h('td', null, when(e.time)),
    h('td', null, mono(e.kind), e.topic ? h('div', { class: 'muted small' }, e.topic) : null),
    h('td', { class: 'nowrap' }, e.cluster ? link(clusterHref(e.cluster), e.cluster) : ''), h('td', { class: 'nowrap' }, e.member ? mono(e.member) : ''),
    h('td', { class: 'wrap' }, e.summary || '', e.damage ? h('div', { class: 'err small' }, e.damage) : null))), { class: 'compact', 'data-testid': 'journal-table' });
}

function viewEntry(main, rt) {
  const seq = rt.seq;
  const n = /^\d+$/.test(seq) ? Number(seq) : null;
  const r = h('div', null, loading());
  main.append(h('div', { class: 'crumbs' }, link('#/journal', 'Journal')),
    h('div', { class: 'row' }, h('h1', null, 'Entry ', mono('#' + seq)), h('span', { class: 'spacer' }),
      n && n > 1 ? link(journalHref(n - 1), '← #' + (n - 1)) : null, n ? link(journalHref(n + 1), '#' + (n + 1) + ' →') : null), r);
  return {
    title: '#' + seq,
    async refresh() {
      try {
        const e = await api('/journal/' + enc(seq));
        const corr = e.correlationId;
        const corrNode = corr ? [mono(corr), /^inc-/.test(corr) ? [' ', link(incidentHref(corr), 'incident →')] : null] : null;
        const payload = typeof e.payload === 'string' ? e.payload : JSON.stringify(e.payload, null, 2);
        fill(r, h('div', { class: 'panel', 'data-testid': 'journal-entry' },
          e.damage ? h('div', { class: 'errbox' }, e.damage) : null,
          facts([
            ['seq', mono(e.seq)], ['time', [mono(e.time || '–'), ' ', when(e.time)]], ['kind', mono(e.kind)],
            ['cluster', e.cluster ? link(clusterHref(e.cluster), e.cluster) : null], ['member', e.member ? mono(e.member) : null],
            ['correlation', corrNode], ['topic', e.topic ? mono(e.topic) : null], ['summary', e.summary],
            ['prevHash', h('span', { class: 'hash', 'data-testid': 'prev-hash' }, e.prevHash || '–')],
            ['hash', h('span', { class: 'hash', 'data-testid': 'hash' }, e.hash || '–')],
          ]),
          h('h3', null, 'payload'), h('pre', { 'data-testid': 'payload' }, payload)));
      } catch (e) {
        fill(r, errBox(e, 'entry'));
      }
    },
  };
}

function viewNotFound(main, rt) {
  main.append(h('h1', null, 'Not found'), h('div', { class: 'errbox', 'data-testid': 'not-found' }, 'There is no page at ', mono('#' + rt.path), '.'),
    h('p', null, 'Try the ', link('#/', 'fleet overview'), ', ', link('#/incidents', 'incidents'), ', ', link('#/approvals', 'approvals'), ' or the ', link('#/journal', 'journal'), '.'));
  return { title: 'Not found', refresh: async () => {} };
}

const VIEWS = {
  fleet: viewFleet, clusters: viewClusters, cluster: viewCluster, incidents: viewIncidents, incident: viewIncident,
  approvals: viewApprovals, journal: viewJournal, entry: viewEntry, notfound: viewNotFound,
};

// ---------------------------------------------------------------- markdown (a safe subset, DOM-built: no HTML passes through)
function safeHref(u) {
  return /^#\//.test(u) || /^https?:\/\/[^\s]+$/i.test(u);
}

const INLINE = /`([^`]+)`|\*\*(.+?)\*\*|\[([^\]]+)\]\(([^)\s]+)\)|(?<![\w*])\*(?![\s*])(.+?)(?<![\s*])\*(?![\w*])|(?<![\w])_(?![\s_])(.+?)(?<![\s_])_(?![\w])|(?<![\w&/#])#(\d+)\b/g;

function inline(text, parent) {
  const re = new RegExp(INLINE.source, 'g');
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    if (m.index > last) parent.append(text.slice(last, m.index));
    if (m[1] != null) {
      parent.append(h('code', null, m[1]));
    } else if (m[2] != null) {
      parent.append(inline(m[2], h('strong')));
    } else if (m[3] != null) {
      if (safeHref(m[4])) {
        const external = !m[4].startsWith('#');
        parent.append(inline(m[3], h('a', { href: m[4], target: external ? '_blank' : null, rel: external ? 'noopener noreferrer' : null })));
      } else {
        parent.append(m[0]);
      }
    } else if (m[5] != null || m[6] != null) {
      parent.append(inline(m[5] != null ? m[5] : m[6], h('em')));
    } else if (m[7] != null) {
      parent.append(link(journalHref(m[7]), '#' + m[7]));
    }
    last = re.lastIndex;
  }
  if (last < text.length) parent.append(text.slice(last));
  return parent;
}

function splitRow(line) {
  let t = line.trim();
  if (t.startsWith('|')) t = t.slice(1);
  if (t.endsWith('|') && !t.endsWith('\\|')) t = t.slice(0, -1);
  return t.split(/(?<!\\)\|/).map((c) => c.replace(/\\\|/g, '|').trim());
}

const RE_FENCE = /^\s*(`{3,}|~{3,})\s*([\w+-]*)\s*$/;
const RE_HEAD = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const RE_SEP = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
const RE_ITEM = /^(\s*)([-*+]|\d+[.)])\s+(.*)$/;
const RE_RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;

function renderMarkdown(src) {
  const root = h('div');
  const lines = String(src).replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  const isTableStart = (k) => /^\s*\|/.test(lines[k]) && k + 1 < lines.length && RE_SEP.test(lines[k + 1]) && lines[k + 1].includes('-');
  const startsBlock = (k) => RE_FENCE.test(lines[k]) || RE_HEAD.test(lines[k]) || RE_ITEM.test(lines[k]) || /^\s*>/.test(lines[k]) || isTableStart(k) || RE_RULE.test(lines[k]);
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (/^\s*$/.test(line)) {
      i++;
    } else if ((m = RE_FENCE.exec(line))) {
      const fence = m[1];
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence)) {
        body.push(lines[i]);
        i++;
      }
      i++;
      root.append(h('pre', null, h('code', m[2] ? { 'data-lang': m[2] } : null, body.join('\n'))));
    } else if ((m = RE_HEAD.exec(line))) {
      root.append(inline(m[2], h('h' + Math.min(6, m[1].length + 1))));
      i++;
    } else if (RE_RULE.test(line)) {
      root.append(h('hr'));
      i++;
    } else if (isTableStart(i)) {
      const head = splitRow(line);
      const aligns = splitRow(lines[i + 1]).map((c) => (/^:-+:$/.test(c) ? 'center' : /-+:$/.test(c) ? 'right' : null));
      i += 2;
      const rows = [];
      while (i < lines.length && /^\s*\|/.test(lines[i])) {
        rows.push(splitRow(lines[i]));
        i++;
      }
      const t = h('table', { class: 'compact' });
      if (head.some((c) => c)) t.append(h('thead', null, h('tr', null, head.map((c) => inline(c, h('th'))))));
      t.append(h('tbody', null, rows.map((r) => h('tr', null, head.map((_, k) => {
        const td = inline(r[k] || '', h('td'));
        if (aligns[k]) td.classList.add(aligns[k] === 'right' ? 'num' : 'center');
        return td;
      })))));
      root.append(h('div', { class: 'tablewrap' }, t));
    } else if (/^\s*>/.test(line)) {
      const body = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) {
        body.push(lines[i].replace(/^\s*> ?/, ''));
        i++;
      }
      root.append(h('blockquote', null, renderMarkdown(body.join('\n'))));
    } else if ((m = RE_ITEM.exec(line))) {
      const ordered = /\d/.test(m[2]);
      const list = h(ordered ? 'ol' : 'ul');
      if (ordered && parseInt(m[2], 10) !== 1) list.setAttribute('start', String(parseInt(m[2], 10)));
      let item = null;
      while (i < lines.length) {
        const mm = RE_ITEM.exec(lines[i]);
        if (mm && /\d/.test(mm[2]) === ordered) {
          let text = mm[3];
          const li = h('li');
          const task = /^\[( |x|X)\]\s+(.*)$/.exec(text);
          if (task) {
            li.classList.add('task');
            li.append(task[1] === ' ' ? '☐ ' : '☑ ');
            text = task[2];
          }
          item = { li, text: [text] };
          list.append(li);
          i++;
          while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !RE_ITEM.test(lines[i])) {
            item.text.push(lines[i].trim());
            i++;
          }
          inline(item.text.join(' '), li);
        } else {
          break;
        }
      }
      root.append(list);
    } else {
      const body = [];
      while (i < lines.length && !/^\s*$/.test(lines[i]) && (body.length === 0 || !startsBlock(i))) {
        body.push(lines[i].trim());
        i++;
      }
      root.append(inline(body.join(' '), h('p')));
    }
  }
  return root;
}

// ---------------------------------------------------------------- start
if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', boot);
} else {
  boot();
}
}());
