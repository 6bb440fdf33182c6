// cmemu live view (served by src/system/web/server.ts). Plain browser JavaScript, no build step;
// charts with uPlot (served from its npm package).
'use strict';

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
const fmtTime = (ns) => (ns >= 1e9 ? (ns / 1e9).toFixed(6) + ' s' : ns >= 1e6 ? (ns / 1e6).toFixed(3) + ' ms' : (ns / 1e3).toFixed(1) + ' µs');
const hex2 = (b) => b.toString(16).padStart(2, '0');

let ws = null;
let hello = null;
const boardsUi = [];
const charts = { mips: null, irqs: null, bells: null };
const chartData = { t: [], mips: [], irqs: [] };
const CHART_POINTS = 300;
let t0 = performance.now();
let win = null; // { region, offset, bytes, changedAt: Float64Array }
let bells = [];
let bellCount = 0;

function send(m) {
  if (ws && ws.readyState === 1) ws.send(JSON.stringify(m));
}

function connect() {
  ws = new WebSocket(`ws://${location.host}/ws`);
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === 'hello') onHello(m);
    else if (m.type === 'tick') onTick(m);
    else if (m.type === 'window') onWindow(m);
    else if (m.type === 'stop') onStop(m);
    else if (m.type === 'error') $('stopinfo').textContent = m.message;
  };
  ws.onclose = () => {
    $('state').textContent = 'disconnected';
    $('state').className = 'state paused';
  };
}

function onHello(m) {
  hello = m;
  $('what').textContent = m.world ? `world of ${m.boards.length} board${m.boards.length === 1 ? '' : 's'}, quantum ${fmtTime(m.quantumNs)}` : m.boards[0].board;
  const root = $('boards');
  root.textContent = '';
  boardsUi.length = 0;
  m.boards.forEach((b, i) => {
    const card = el('div', 'board');
    card.id = `board${i}`;
    const h = el('h2', null, `${b.name} — ${b.board}`);
    const stats = el('div', 'stats');
    const tabs = el('div', 'tabs');
    const pre = el('pre', 'console');
    pre.id = `console${i}`;
    card.append(h, stats, tabs, pre);
    root.append(card);
    const ui = { card, stats, tabs, pre, text: {}, shown: 'uart0', buttons: {} };
    boardsUi.push(ui);
    for (const [name, text] of Object.entries(b.consoles)) {
      ui.text[name] = text;
      if (text || name === 'uart0') addTab(i, name);
    }
    showConsole(i, 'uart0');
  });
  const sel = $('region');
  sel.textContent = '';
  m.regions.forEach((r, i) => {
    const o = el('option', null, `${r.name} (${r.size >= 1 << 20 ? r.size / (1 << 20) + ' MiB' : r.size / 1024 + ' KiB'}; peers ${r.peers.map((p) => `${m.boards[p.board]?.name ?? '?'}=${p.id}`).join(', ')})`);
    o.value = String(i);
    sel.append(o);
  });
  if (!m.regions.length) $('hex').textContent = 'no ivshmem-flat on this board';
  makeCharts(m);
  bells = [];
  bellCount = 0;
  $('doorbells').tBodies[0].textContent = '';
  addBells(m.doorbells);
  onState(m.state);
}

function addTab(i, name) {
  const ui = boardsUi[i];
  if (ui.buttons[name]) return;
  const b = el('button', null, name);
  b.onclick = () => showConsole(i, name);
  ui.buttons[name] = b;
  ui.tabs.append(b);
}

function showConsole(i, name) {
  const ui = boardsUi[i];
  ui.shown = name;
  for (const [n, b] of Object.entries(ui.buttons)) b.className = n === name ? 'on' : '';
  ui.pre.textContent = ui.text[name] ?? '';
  ui.pre.scrollTop = ui.pre.scrollHeight;
}

function appendConsole(i, name, text) {
  const ui = boardsUi[i];
  ui.text[name] = ((ui.text[name] ?? '') + text).slice(-65536);
  addTab(i, name);
  if (ui.shown === name) {
    const atEnd = ui.pre.scrollTop + ui.pre.clientHeight >= ui.pre.scrollHeight - 4;
    ui.pre.textContent = ui.text[name];
    if (atEnd) ui.pre.scrollTop = ui.pre.scrollHeight;
  }
}

function makeCharts(m) {
  const width = Math.max(300, $('mips').parentElement.clientWidth - 16);
  const series = [{}, ...m.boards.map((b, i) => ({ label: b.name, stroke: COLORS[i % COLORS.length], width: 1.5 }))];
  const opts = (title) => ({ width, height: 160, series, scales: { x: { time: false } }, axes: [{ label: 'host s' }, { size: 60 }], legend: { show: true }, title });
  chartData.t = [];
  chartData.mips = m.boards.map(() => []);
  chartData.irqs = m.boards.map(() => []);
  for (const k of ['mips', 'irqs']) {
    charts[k]?.destroy();
    $(k).textContent = '';
    charts[k] = new uPlot(opts(), [[], ...m.boards.map(() => [])], $(k));
  }
  charts.bells?.destroy();
  $('timeline').textContent = '';
  const peers = [];
  m.regions.forEach((r, ri) => r.peers.forEach((p) => peers.push({ ri, id: p.id, name: m.boards[p.board]?.name ?? `peer ${p.id}` })));
  charts.bellPeers = peers;
  charts.bells = new uPlot(
    {
      width: Math.max(300, $('timeline').parentElement.clientWidth - 16),
      height: 160,
      scales: { x: { time: false } },
      axes: [{ label: 'virtual ms' }, { label: 'rung peer id', size: 60 }],
      series: [{}, ...peers.map((p, i) => ({ label: `rung by ${p.name}`, stroke: COLORS[i % COLORS.length], paths: () => null, points: { show: true, size: 7, fill: COLORS[i % COLORS.length] } }))],
    },
    [[], ...peers.map(() => [])],
    $('timeline'),
  );
}
const COLORS = ['#1565c0', '#c62828', '#2e7d32', '#6a1b9a', '#ef6c00', '#00838f'];

function onTick(m) {
  onState(m.state);
  m.consoles.forEach((c, i) => {
    for (const [name, text] of Object.entries(c)) appendConsole(i, name, text);
  });
  addBells(m.doorbells);
  if (m.rates) {
    chartData.t.push((performance.now() - t0) / 1000);
    m.rates.forEach((r, i) => {
      chartData.mips[i].push(r.mips);
      chartData.irqs[i].push(r.irqPerSec);
      const ui = boardsUi[i];
      ui.rates = r;
    });
    if (chartData.t.length > CHART_POINTS) {
      chartData.t.shift();
      for (const a of [...chartData.mips, ...chartData.irqs]) a.shift();
    }
    charts.mips.setData([chartData.t, ...chartData.mips]);
    charts.irqs.setData([chartData.t, ...chartData.irqs]);
  }
  renderStats(m.state);
}

function renderStats(st) {
  st.boards.forEach((b, i) => {
    const ui = boardsUi[i];
    if (!ui) return;
    const r = ui.rates;
    ui.stats.innerHTML = '';
    const parts = [
      ['time', fmtTime(b.now)],
      ['insns', b.instructions.toLocaleString('en')],
      ['MIPS', r ? r.mips.toFixed(1) : '–'],
      ['exc/s', r ? Math.round(r.irqPerSec).toLocaleString('en') : '–'],
      ['', b.finished ? `finished (${b.finished})` : b.halted ? 'halted' : 'running'],
    ];
    for (const [k, v] of parts) {
      ui.stats.append(k ? `${k} ` : '', el('b', null, v), '  ');
    }
    ui.card.classList.toggle('current', st.current === i && b.halted);
  });
}

function onState(st) {
  $('vt').textContent = fmtTime(st.vt);
  $('vt').dataset.ns = String(st.vt);
  const live = st.boards.filter((b) => !b.finished);
  const paused = live.length > 0 && live.every((b) => b.halted);
  $('state').textContent = live.length === 0 ? 'finished' : paused ? 'paused' : 'running';
  $('state').className = 'state' + (paused || live.length === 0 ? ' paused' : '');
  renderStats(st);
}

function onStop(m) {
  onState(m.state);
  $('stopinfo').textContent = `${hello.boards[m.board].name}: ${m.kind} at pc 0x${(m.pc >>> 0).toString(16)}`;
}

function addBells(list) {
  if (!list.length) return;
  const tb = $('doorbells').tBodies[0];
  const name = (board, id) => (board >= 0 ? `${hello.boards[board].name} (${id})` : id >= 0 ? `peer ${id}` : 'a peer');
  for (const d of list) {
    bellCount++;
    bells.push(d);
    const tr = el('tr', 'bell');
    tr.dataset.seq = String(d.seq);
    const from = d.dir === 'out' ? name(d.board, d.from) : 'a peer';
    const to = name(d.toBoard, d.to);
    tr.append(el('td', null, fmtTime(d.t)), el('td', 'from', from), el('td', null, '→'), el('td', 'to', to), el('td', 'vector', String(d.vector)));
    tb.prepend(tr);
  }
  while (tb.rows.length > 300) tb.deleteRow(tb.rows.length - 1);
  if (bells.length > 1000) bells = bells.slice(-1000);
  $('bellcount').textContent = `(${bellCount} seen)`;
  // The chart: x virtual ms, y the peer rung; a series per ringer.
  const peers = charts.bellPeers ?? [];
  const sorted = bells.filter((d) => d.dir === 'out').slice(-400).sort((a, b) => a.t - b.t);
  const xs = sorted.map((d) => d.t / 1e6);
  const ys = peers.map((p) => sorted.map((d) => (d.region === p.ri && d.from === p.id ? d.to : null)));
  charts.bells?.setData([xs, ...ys]);
}

function onWindow(m) {
  const raw = atob(m.bytes);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  const now = performance.now();
  const same = win && win.region === m.region && win.offset === m.offset && win.bytes.length === bytes.length;
  const changedAt = same ? win.changedAt : new Float64Array(bytes.length);
  if (same) for (let i = 0; i < bytes.length; i++) if (bytes[i] !== win.bytes[i]) changedAt[i] = now;
  const fresh = !same;
  if (same) Object.assign(win, { bytes, changedAt, at: now });
  else win = { region: m.region, offset: m.offset, bytes, changedAt, at: now };
  renderHex(fresh);
}

function renderHex(rebuild) {
  const box = $('hex');
  const { bytes, changedAt, offset } = win;
  const now = performance.now();
  if (rebuild || !win.spans) {
    box.textContent = '';
    win.spans = [];
    const frag = document.createDocumentFragment();
    for (let row = 0; row < bytes.length; row += 16) {
      const line = el('div', 'row');
      line.append(el('span', 'a', (offset + row).toString(16).padStart(8, '0') + '  '));
      for (let i = row; i < Math.min(row + 16, bytes.length); i++) {
        const s = el('span', 'b');
        s.dataset.off = String(offset + i);
        win.spans.push(s);
        line.append(s, (i & 3) === 3 ? '  ' : ' ');
      }
      frag.append(line);
    }
    box.append(frag);
  }
  // Touch only the spans whose text or class changes (the page stays cheap while the guest runs).
  if (!win.shown || rebuild) win.shown = new Int16Array(bytes.length).fill(-1);
  if (!win.cls || rebuild) win.cls = new Array(bytes.length).fill('');
  for (let i = 0; i < bytes.length; i++) {
    const s = win.spans[i];
    if (win.shown[i] !== bytes[i]) {
      s.textContent = hex2(bytes[i]);
      win.shown[i] = bytes[i];
    }
    const age = changedAt[i] ? now - changedAt[i] : Infinity;
    const cls = changedAt[i] === win.at ? 'b chg' : age < 3000 ? 'b was' : bytes[i] === 0 ? 'b z' : 'b';
    if (win.cls[i] !== cls) {
      s.className = cls;
      win.cls[i] = cls;
    }
  }
}

// The "recently changed" shading fades even when nothing new arrives.
setInterval(() => win && win.spans && renderHex(false), 1000);

$('pause').onclick = () => send({ op: 'pause' });
$('resume').onclick = () => send({ op: 'resume' });
$('step').onclick = () => send({ op: 'step' });
$('go').onclick = () => send({ op: 'window', region: Number($('region').value || 0), offset: Number($('offset').value), length: Number($('length').value) });
connect();
