// The live board and map: GTFS reference over HTTP once, then /ws/live (snapshot, then deltas).
// Plain JavaScript, no build step; every text from the server goes in through textContent.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const state = {
  stops: new Map(),      // stop_id -> stop
  byLabel: new Map(),    // "name (id)" -> stop_id
  routes: new Map(),     // route_id -> route
  vehicles: new Map(),   // vehicle_id -> vehicle
  board: [],             // arrivals at the chosen stop
  stopId: null,
  ws: null,
  retry: 1000,
  clockOffset: 0,        // server time - local time, ms
  timezone: null,        // the agency's (from /routes): clocks are shown in it
  project: null,         // [lat, lon] -> [x, y]
};

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, text = null) => {
  const node = tag.startsWith("svg:")
    ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
};
const now = () => Date.now() + state.clockOffset;

function label(stop) { return `${stop.name} (${stop.stop_id})`; }

function setConnection(up, text) {
  const node = $("connection");
  node.textContent = text;
  node.className = "connection " + (up ? "up" : "down");
}

// ---- the map -------------------------------------------------------------------------------
function makeProjection(shapes) {
  let [minLat, maxLat, minLon, maxLon] = [90, -90, 180, -180];
  for (const route of shapes) for (const line of route.shapes) for (const [la, lo] of line) {
    minLat = Math.min(minLat, la); maxLat = Math.max(maxLat, la);
    minLon = Math.min(minLon, lo); maxLon = Math.max(maxLon, lo);
  }
  const kx = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  const w = (maxLon - minLon) * kx || 1, h = (maxLat - minLat) || 1;
  const scale = Math.min(960 / w, 760 / h);
  const ox = (1000 - w * scale) / 2, oy = (800 - h * scale) / 2;
  return ([la, lo]) => [ox + (lo - minLon) * kx * scale, oy + (maxLat - la) * scale];
}

function drawRoutes(shapes) {
  state.project = makeProjection(shapes);
  const group = $("routes");
  group.replaceChildren();
  for (const route of shapes) {
    for (const line of route.shapes) {
      const points = line.map((p) => state.project(p).map((v) => v.toFixed(1)).join(",")).join(" ");
      const poly = el("svg:polyline", { points, stroke: route.color });
      poly.append(el("svg:title", {}, `Route ${state.routes.get(route.route_id)?.name ?? route.route_id}`));
      group.append(poly);
    }
  }
}

function drawVehicles() {
  $("vehicle-count").textContent = `(${state.vehicles.size})`;
  if (!state.project) return;
  const group = $("vehicles");
  const seen = new Set();
  for (const v of state.vehicles.values()) {
    const id = "veh-" + v.vehicle_id;
    seen.add(id);
    let dot = document.getElementById(id);
    if (!dot) {
      dot = el("svg:circle", { id, r: 8 });
      dot.append(el("svg:title"));
      group.append(dot);
    }
    const [x, y] = state.project([v.lat, v.lon]);
    dot.setAttribute("cx", x.toFixed(1));
    dot.setAttribute("cy", y.toFixed(1));
    const color = state.routes.get(v.route_id)?.color ?? "#0b5cad";
    dot.setAttribute("fill", color);
    dot.setAttribute("class", v.stale ? "stale" : "live");
    const late = v.delay_s == null ? "" : `, ${describeDelay(v.delay_s).text}`;
    dot.firstChild.textContent =
      `${v.vehicle_id} on route ${v.route_name ?? v.route_id ?? "?"}${late}` +
      (v.next_stop_name ? `, next: ${v.next_stop_name}` : "") + (v.stale ? " (stale)" : "");
  }
  for (const dot of [...group.children]) if (!seen.has(dot.id)) dot.remove();
}

function drawStopMarker() {
  const group = $("stop-marker");
  group.replaceChildren();
  const stop = state.stops.get(state.stopId);
  if (!stop || !state.project) return;
  const [x, y] = state.project([stop.lat, stop.lon]);
  const ring = el("svg:circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 11 });
  ring.append(el("svg:title", {}, stop.name));
  group.append(ring);
}

// ---- the board -----------------------------------------------------------------------------
function describeDelay(delay) {
  if (delay >= 60) return { text: `${Math.round(delay / 60)} min late`, cls: "late" };
  if (delay <= -60) return { text: `${Math.round(-delay / 60)} min early`, cls: "early" };
  return { text: "on time", cls: "ontime" };
}

function due(arrival) {
  const s = Math.round((Date.parse(arrival.predicted_time) - now()) / 1000);
  if (s < 30) return "now";
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return clock(arrival.predicted_time);
}

// Clock times in the agency's timezone: a rider at the stop reads the stop's local time,
// wherever the browser showing the board happens to be.
function clock(iso) {
  return new Date(iso).toLocaleTimeString([], {
    hour: "2-digit", minute: "2-digit", timeZone: state.timezone ?? undefined });
}

function age(arrival) {
  const s = Math.max(0, Math.round((now() - Date.parse(arrival.prediction_time)) / 1000));
  return s < 60 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
}

function renderBoard(changed = false) {
  const body = $("board-body");
  const graceMs = 30_000;
  const rows = state.board
    .filter((a) => Date.parse(a.predicted_time) >= now() - graceMs)
    .sort((a, b) => Date.parse(a.predicted_time) - Date.parse(b.predicted_time));
  body.replaceChildren();
  if (!state.stopId) {
    body.append(emptyRow("Choose a stop to see its next arrivals."));
    return;
  }
  if (!rows.length) {
    body.append(emptyRow("Nothing is predicted to arrive here soon."));
  }
  for (const a of rows) {
    const route = state.routes.get(a.route_id);
    const tr = el("tr", { "data-vehicle": a.vehicle_id });
    if (changed) tr.className = "flash";
    const badge = el("span", { class: "route-badge" }, a.route_name);
    if (route) { badge.style.background = route.color; badge.style.color = readableOn(route.color); }
    const routeCell = el("td"); routeCell.append(badge);
    const status = a.delay_s == null ? { text: "no timetable", cls: "" } : describeDelay(a.delay_s);
    const sched = a.scheduled_time ? clock(a.scheduled_time) : "–";
    tr.append(routeCell, el("td", {}, a.headsign ?? ""), el("td", { class: "due" }, due(a)),
      el("td", {}, sched), el("td", { class: status.cls }, status.text),
      el("td", {}, a.vehicle_id), el("td", {}, age(a)));
    body.append(tr);
  }
}

// GTFS text colours are often too faint on their route colour: pick black or white, whichever
// contrasts more (WCAG relative luminance).
function readableOn(hex) {
  const lin = (c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  const [r, g, b] = [1, 3, 5].map((i) => lin(parseInt(hex.slice(i, i + 2), 16) / 255));
  const lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return (lum + 0.05) / 0.05 > 1.05 / (lum + 0.05) ? "#000000" : "#ffffff";
}

function emptyRow(text) {
  const tr = el("tr", { class: "empty" });
  tr.append(el("td", { colspan: 7 }, text));
  return tr;
}

function announce(text) { $("board-status").textContent = text; }

// ---- the WebSocket -------------------------------------------------------------------------
function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const query = state.stopId ? `?stop_id=${encodeURIComponent(state.stopId)}` : "";
  const ws = new WebSocket(`${proto}://${location.host}/ws/live${query}`);
  state.ws = ws;
  ws.onopen = () => { state.retry = 1000; setConnection(true, "live"); };
  ws.onmessage = (event) => handle(JSON.parse(event.data));
  ws.onclose = () => {
    if (state.ws !== ws) return;
    setConnection(false, `disconnected; retrying in ${Math.round(state.retry / 1000)} s`);
    setTimeout(connect, state.retry);
    state.retry = Math.min(state.retry * 2, 30_000);
  };
}

function handle(message) {
  if (message.time) state.clockOffset = Date.parse(message.time) - Date.now();
  if (message.type === "snapshot") {
    state.vehicles = new Map(message.vehicles.map((v) => [v.vehicle_id, v]));
    if (state.stopId) {
      state.board = message.etas[state.stopId] ?? [];
      announce(`${state.board.length} arrival(s) predicted`);
    }
    renderBoard();
    drawVehicles();
  } else if (message.type === "delta") {
    for (const v of message.vehicles) state.vehicles.set(v.vehicle_id, v);
    if (message.vehicles.length) drawVehicles();
    if (state.stopId && message.etas[state.stopId]) {
      state.board = message.etas[state.stopId];
      renderBoard(true);
      announce(`updated ${new Date().toLocaleTimeString()}`);
    }
  } else if (message.type === "error") {
    $("stop-error").textContent = message.error.message;
  }
}

function chooseStop(stopId) {
  const stop = state.stops.get(stopId);
  if (!stop) { $("stop-error").textContent = "No such stop: pick one from the list."; return; }
  $("stop-error").textContent = "";
  state.stopId = stopId;
  state.board = [];
  $("stop-name").textContent = `at ${stop.name}`;
  $("stop-input").value = label(stop);
  const url = new URL(location.href);
  url.searchParams.set("stop", stopId);
  history.replaceState(null, "", url);
  drawStopMarker();
  renderBoard();
  announce("loading…");
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.ws.send(JSON.stringify({ type: "subscribe", stop_id: [stopId] }));
  }
}

async function getJson(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

async function main() {
  const [stops, routes, shapes] = await Promise.all(
    ["/stops", "/routes", "/shapes"].map(getJson));
  for (const r of routes) state.routes.set(r.route_id, r);
  state.timezone = routes[0]?.timezone;
  const list = $("stop-list");
  for (const s of stops) {
    state.stops.set(s.stop_id, s);
    state.byLabel.set(label(s), s.stop_id);
    list.append(el("option", { value: label(s) }));
  }
  drawRoutes(shapes);
  $("stop-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("stop-input").value.trim();
    chooseStop(state.byLabel.get(text) ?? (state.stops.has(text) ? text : null));
  });
  const wanted = new URL(location.href).searchParams.get("stop");
  if (wanted && state.stops.has(wanted)) chooseStop(wanted);
  connect();
  setInterval(renderBoard, 10_000);  // "due" and "updated" count down between deltas
}

main().catch((err) => setConnection(false, `could not load the GTFS reference: ${err.message}`));
