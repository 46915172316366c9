/* clusterscape dashboard: a MapLibre GL map of one saved study (read-only).
 * Basemaps with their datum (data moved to GCJ-02 on GCJ-02 tiles), establishments clustered
 * by MapLibre, a year slider, linked views (map, card, table, charts), exports and a URL that
 * restores the view. Every page string comes from /static/messages.json. */
"use strict";

const FORM_COLOURS = {
  new_park: "#1f77b4",
  converted_industrial: "#d62728",
  government_street: "#2ca02c",
  anchor_enterprise: "#9467bd",
  converted_heritage: "#8c564b",
  unclassified: "#7f7f7f",
};
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"];
const OTHER_COLOUR = "#8a8a8a";
const AMENITY_COLOURS = { hotel: "#e6550d", mall: "#3182bd" };
// Draw order matters: areas first, points last.
const LAYER_STYLES = {
  districts: { type: "line", paint: { "line-color": "#444", "line-width": 1 } },
  boundary: { type: "line", paint: { "line-color": "#000", "line-width": 2 } },
  functional_zones: { type: "fill", paint: { "fill-color": "#f4a460", "fill-opacity": 0.25 }, hidden: true },
  emerging_hotspots: { type: "fill", paint: { "fill-color": "#ff7f0e", "fill-opacity": 0.35 }, hidden: true },
  landuse: { type: "fill", paint: { "fill-color": "#8c564b", "fill-opacity": 0.3 } },
  clusters: {
    type: "fill",
    paint: {
      "fill-color": ["match", ["coalesce", ["get", "form"], "unclassified"],
        ...Object.entries(FORM_COLOURS).flat(), "#7f7f7f"],
      "fill-opacity": 0.55,
      "fill-outline-color": "#000",
    },
  },
  centres: { type: "circle", paint: { "circle-radius": 7, "circle-color": "#000", "circle-stroke-color": "#fff", "circle-stroke-width": 2 } },
  parks: { type: "circle", paint: { "circle-radius": 5, "circle-color": "#e377c2", "circle-stroke-color": "#fff", "circle-stroke-width": 1 } },
};
const EST_LAYERS = ["est-groups", "est-points"];

const state = {
  ready: false, started: false, map: null, config: null, summary: null, clusters: [], messages: {}, lang: "en",
  basemap: "blank", datum: "wgs84", layers: {}, sources: {}, selected: null, brushed: new Set(),
  useTime: false, year: null, cumulative: false, colourBy: "sector", est: null, lifecycle: null,
  counts: {}, playing: null,
};
window.__clusterscape = state;

// --- messages ---------------------------------------------------------------------------------
function t(key, vars = {}) {
  const table = state.messages[state.lang] || {};
  let s = table[key] !== undefined ? table[key] : (state.messages.en || {})[key];
  if (s === undefined) s = key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] !== undefined ? String(vars[k]) : `{${k}}`));
}

function applyStatic() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-label]").forEach((el) => el.setAttribute("aria-label", t(el.dataset.i18nLabel)));
}

// --- helpers ----------------------------------------------------------------------------------
async function getJSON(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.json();
}

// A layer comes in pages (see /api/layers/{name}): follow `next` and join the features.
async function fetchLayer(name) {
  const data = await getJSON(`/api/layers/${encodeURIComponent(name)}`);
  let page = data;
  while (page.next && data.features.length < 1000000) {
    page = await getJSON(page.next);
    data.features.push(...page.features);
  }
  delete data.next;
  return data;
}

function fmt(v, digits = 0) {
  if (v === null || v === undefined || v === "" || (typeof v === "number" && !isFinite(v))) return "–";
  if (typeof v === "number") return v.toLocaleString(state.lang === "zh" ? "zh-CN" : "en", { maximumFractionDigits: digits });
  return String(v);
}

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function bboxOf(features) {
  let b = [Infinity, Infinity, -Infinity, -Infinity];
  const walk = (c) => {
    if (typeof c[0] === "number") {
      b = [Math.min(b[0], c[0]), Math.min(b[1], c[1]), Math.max(b[2], c[0]), Math.max(b[3], c[1])];
    } else c.forEach(walk);
  };
  features.forEach((f) => f.geometry && walk(f.geometry.coordinates));
  return b;
}

const shift = (data) => clusterscapeCoords.toDatum(data, state.datum);
const clusterById = (id) => state.clusters.find((r) => Number(r.cluster_id) === Number(id));

// --- sources: every one kept in WGS-84, shown in the active datum ------------------------------
function setSource(name, data, options = {}) {
  state.sources[name] = data;
  const src = state.map.getSource(name);
  if (src) src.setData(shift(data));
  else state.map.addSource(name, { type: "geojson", data: shift(data), ...options });
}

function reshiftAll() {
  for (const [name, data] of Object.entries(state.sources)) {
    const src = state.map.getSource(name);
    if (src) src.setData(shift(data));
  }
  refreshEstablishments();
}

// --- basemaps ---------------------------------------------------------------------------------
function basemapLabel(b) {
  const key = `basemap_${b.name}`;
  const msg = t(key);
  return msg === key ? t("basemap_custom", { datum: b.datum.toUpperCase() }) : t(key, { datum: b.datum.toUpperCase() });
}

function setBasemap(name) {
  const b = state.config.basemaps.find((x) => x.name === name) || state.config.basemaps[0];
  const map = state.map;
  if (map.getLayer("tiles")) map.removeLayer("tiles");
  if (map.getSource("tiles")) map.removeSource("tiles");
  if (b.tiles.length) {
    map.addSource("tiles", { type: "raster", tiles: b.tiles, tileSize: 256, maxzoom: b.max_zoom, attribution: b.attribution });
    map.addLayer({ id: "tiles", type: "raster", source: "tiles" }, map.getLayer("first-data") ? "first-data" : undefined);
  }
  document.getElementById("basemap").value = b.name;
  document.getElementById("attribution").textContent = b.attribution;
  const datum = b.datum === "gcj02" ? "gcj02" : "wgs84";
  state.basemap = b.name;
  if (datum !== state.datum) { state.datum = datum; reshiftAll(); }
  document.getElementById("datum-note").textContent = t("datum_note", { datum: state.datum === "gcj02" ? "GCJ-02" : "WGS-84" });
  saveHash();
}

// --- establishments: one compact request, GeoJSON built here ------------------------------------
function decode(col, i) {
  if (!col) return null;
  if (col.values) return col.values[i];
  const c = col.codes[i];
  return c === null ? null : col.labels[c];
}

function buildEstablishments(payload) {
  const cols = payload.columns;
  const feats = [];
  const amen = [];
  for (let i = 0; i < payload.n; i++) {
    if (payload.lon[i] === null) continue;
    const p = {
      i, sector: decode(cols.sector, i) || "", function: decode(cols.function, i) || "",
      creative: !!decode(cols.is_creative, i), cluster: decode(cols.cluster, i),
      opened: decode(cols.opened, i), closed: decode(cols.closed, i),
    };
    const f = { type: "Feature", id: i, geometry: { type: "Point", coordinates: [payload.lon[i], payload.lat[i]] }, properties: p };
    feats.push(f);
    if (p.function === "hotel" || p.function === "mall") amen.push(f);
  }
  return { features: feats, amenities: amen };
}

function alive(p, y, cumulative) {
  if (y === null) return true;
  if (p.opened === null || p.opened === undefined) return true; // undated: always shown
  if (p.opened > y) return false;
  return cumulative || p.closed === null || p.closed === undefined || p.closed > y;
}

function refreshEstablishments() {
  if (!state.est || !state.map || state.booting) return; // one refresh at the end of start-up
  const y = state.useTime ? state.year : null;
  const brushed = state.brushed.size ? state.brushed : null;
  const shown = [];
  let undated = 0;
  for (const f of state.est.features) {
    const p = f.properties;
    if (!alive(p, y, state.cumulative)) continue;
    if (brushed && !brushed.has(Number(p.cluster))) continue;
    if (p.opened === null && y !== null) undated++;
    shown.push(f);
  }
  const amen = state.est.amenities.filter((f) => y === null || f.properties.opened === null || f.properties.opened <= y);
  state.counts.establishments = shown.length;
  state.counts.undated = undated;
  state.counts.hotels = amen.filter((f) => f.properties.function === "hotel").length;
  state.counts.malls = amen.filter((f) => f.properties.function === "mall").length;
  setSource("establishments", { type: "FeatureCollection", features: shown });
  setSource("amenities", { type: "FeatureCollection", features: amen });
  refreshSelectedFirms();
  renderCounts();
}

function categoryColours() {
  const key = state.colourBy;
  const freq = new Map();
  for (const f of (state.est ? state.est.features : [])) {
    const v = f.properties[key] || "";
    if (v) freq.set(v, (freq.get(v) || 0) + 1);
  }
  const top = [...freq.entries()].sort((a, b) => b[1] - a[1]).slice(0, PALETTE.length).map(([v]) => v);
  return top.map((v, i) => [v, PALETTE[i]]);
}

function styleEstablishments() {
  const pairs = categoryColours();
  const expr = pairs.length ? ["match", ["get", state.colourBy], ...pairs.flat(), OTHER_COLOUR] : OTHER_COLOUR;
  if (state.map.getLayer("est-points")) state.map.setPaintProperty("est-points", "circle-color", expr);
  const ul = document.getElementById("legend");
  ul.innerHTML = "";
  const item = (colour, label) => {
    const li = el("li");
    li.append(el("span", { class: "swatch", "data-colour": colour, "aria-hidden": "true" }), document.createTextNode(label));
    ul.appendChild(li);
  };
  for (const [v, c] of pairs) item(c, v);
  item(OTHER_COLOUR, t("other"));
  item("#6baed6", t("group_of", { n: "N" }));
  for (const [k, c] of Object.entries(AMENITY_COLOURS)) item(c, t(k));
  // Swatch colours set through CSSOM (the CSP forbids inline style attributes).
  ul.querySelectorAll(".swatch").forEach((s) => { s.style.background = s.dataset.colour; });
}

function addEstablishmentLayers() {
  const map = state.map;
  setSource("establishments", { type: "FeatureCollection", features: [] }, { cluster: true, clusterRadius: 45, clusterMaxZoom: 15 });
  setSource("amenities", { type: "FeatureCollection", features: [] });
  setSource("selected-firms", { type: "FeatureCollection", features: [] });
  map.addLayer({
    id: "est-groups", type: "circle", source: "establishments", filter: ["has", "point_count"],
    paint: {
      "circle-color": "#6baed6", "circle-opacity": 0.75, "circle-stroke-color": "#08519c", "circle-stroke-width": 1,
      "circle-radius": ["step", ["get", "point_count"], 8, 50, 12, 500, 17, 5000, 23, 50000, 30],
    },
  });
  map.addLayer({
    id: "est-points", type: "circle", source: "establishments", filter: ["!", ["has", "point_count"]],
    paint: { "circle-radius": 3.5, "circle-color": OTHER_COLOUR, "circle-stroke-color": "#fff", "circle-stroke-width": 0.5 },
  });
  map.addLayer({
    id: "amenities", type: "circle", source: "amenities",
    paint: {
      "circle-radius": 5, "circle-color": ["match", ["get", "function"], "hotel", AMENITY_COLOURS.hotel, AMENITY_COLOURS.mall],
      "circle-stroke-color": "#000", "circle-stroke-width": 1,
    },
  });
  map.addLayer({
    id: "selected-firms", type: "circle", source: "selected-firms",
    paint: { "circle-radius": 4.5, "circle-color": "#ffd400", "circle-stroke-color": "#000", "circle-stroke-width": 1.5 },
  });
  map.on("click", "est-groups", async (e) => {
    const f = e.features[0];
    const zoom = await map.getSource("establishments").getClusterExpansionZoom(f.properties.cluster_id);
    map.easeTo({ center: f.geometry.coordinates, zoom, duration: 300 });
  });
  map.on("click", "est-points", (e) => firmPopup(e.features[0], e.lngLat));
  map.on("click", "amenities", (e) => firmPopup(e.features[0], e.lngLat));
  for (const id of ["est-groups", "est-points", "amenities", "clusters", "lifecycle", "lifecycle-events"]) {
    map.on("mouseenter", id, () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", id, () => { map.getCanvas().style.cursor = ""; });
  }
}

async function firmPopup(feature, lngLat) {
  const row = await getJSON(`/api/establishments/${feature.properties.i}`);
  const box = el("div", { class: "popup" });
  box.appendChild(el("strong", {}, row.name || row.id || `#${row.index}`));
  const dl = el("dl");
  for (const [k, v] of Object.entries(row)) {
    if (["index", "name"].includes(k) || v === null || v === "") continue;
    dl.append(el("dt", {}, k), el("dd", {}, fmt(v, 6)));
  }
  box.appendChild(dl);
  new maplibregl.Popup({ maxWidth: "320px" }).setLngLat(lngLat).setDOMContent(box).addTo(state.map);
}

// --- life cycle: the clusters of a year ---------------------------------------------------------
function refreshLifecycle() {
  if (!state.lifecycle || !state.map) return;
  const y = state.useTime ? state.year : state.config.years && state.config.years.last;
  const latest = new Map();
  for (const r of state.lifecycle) {
    const yr = Number(r.year);
    if (yr > y || (!state.cumulative && yr !== y)) continue;
    const prev = latest.get(r.track_id);
    if (!prev || Number(prev.year) < yr) latest.set(r.track_id, r);
  }
  const feats = [...latest.values()].filter((r) => r.lon !== null && r.lat !== null).map((r) => ({
    type: "Feature", geometry: { type: "Point", coordinates: [Number(r.lon), Number(r.lat)] },
    properties: { track_id: r.track_id, year: Number(r.year), cluster_id: r.cluster_id, n_creative: Number(r.n_creative) || 0 },
  }));
  state.counts.lifecycle = feats.length;
  state.counts.lifecycleYear = y;
  setSource("lifecycle", { type: "FeatureCollection", features: feats });
  refreshEvents(y);
  renderCounts();
}

// Births, merges, splits and deaths of the year (of the years up to it when cumulative).
// Unlike the hotels/malls (orange/blue, black rim): white-rimmed and larger, drawn on top.
const EVENT_COLOURS = { birth: "#1a9850", merge: "#c51b7d", split: "#01665e", death: "#111111" };
const tracksText = (v) => String(v === null || v === undefined ? "" : v).split(";").filter((x) => x !== "").join(", ") || "–";
function eventText(r) {
  return t(`ev_${r.event}_text`, { track: r.track_id, from: tracksText(r.from_tracks), to: tracksText(r.to_tracks), year: r.year });
}
function refreshEvents(y) {
  if (!state.events || !state.map) return;
  const rows = state.events.filter((r) => EVENT_COLOURS[r.event] && (state.cumulative ? Number(r.year) <= y : Number(r.year) === y));
  const feats = rows.filter((r) => r.lon !== null && r.lat !== null).map((r) => ({
    type: "Feature", geometry: { type: "Point", coordinates: [Number(r.lon), Number(r.lat)] },
    properties: { event: r.event, year: Number(r.year), text: eventText(r) },
  }));
  setSource("lifecycle-events", { type: "FeatureCollection", features: feats });
  const ul = document.getElementById("events-list");
  ul.innerHTML = "";
  document.getElementById("events-title").textContent = t(state.cumulative ? "events_by" : "events_in", { year: y });
  if (!rows.length) ul.appendChild(el("li", {}, t("events_none")));
  for (const r of rows) {
    const li = el("li", { class: `event event-${r.event}`, tabindex: "0", title: t("event_goto") });
    const go = () => { if (r.lon !== null && r.lat !== null) state.map.flyTo({ center: [Number(r.lon), Number(r.lat)], zoom: Math.max(state.map.getZoom(), 12) }); };
    li.addEventListener("click", go);
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
    li.append(el("span", { class: "swatch", "data-colour": EVENT_COLOURS[r.event], "aria-hidden": "true" }),
      document.createTextNode(`${state.cumulative ? r.year + " " : ""}${eventText(r)}`));
    ul.appendChild(li);
  }
  ul.querySelectorAll(".swatch").forEach((s) => { s.style.background = s.dataset.colour; });
}

function renderCounts() {
  const c = state.counts;
  const lines = [];
  const y = state.useTime ? state.year : null;
  if (state.est) {
    if (y === null) lines.push(t("count_est", { n: fmt(c.establishments) }));
    else lines.push(t(state.cumulative ? "count_est_cum" : "count_est_year", { n: fmt(c.establishments), year: y }));
    if (y !== null && c.undated) lines.push(t("count_undated", { n: fmt(c.undated) }));
    if (y !== null && state.est.amenities.length) lines.push(t("count_amenities", { hotels: fmt(c.hotels), malls: fmt(c.malls), year: y }));
  }
  if (state.lifecycle && c.lifecycleYear !== undefined) lines.push(t("count_lifecycle", { n: fmt(c.lifecycle), year: c.lifecycleYear }));
  if (!state.config.years) lines.push(t("no_years"));
  const p = document.getElementById("time-counts");
  p.innerHTML = "";
  lines.forEach((s, i) => { if (i) p.appendChild(el("br")); p.appendChild(document.createTextNode(s)); });
}

// --- time controls ----------------------------------------------------------------------------
function setYear(y, { use = true } = {}) {
  const slider = document.getElementById("year");
  state.useTime = use && !!state.config.years;
  if (state.config.years) {
    const { first, last } = state.config.years;
    state.year = Math.max(first, Math.min(last, Number(y)));
    slider.value = state.year;
  }
  document.getElementById("use-time").checked = state.useTime;
  slider.disabled = !state.useTime;
  document.getElementById("play").disabled = !state.useTime;
  document.getElementById("cumulative").disabled = !state.useTime;
  document.getElementById("year-out").textContent = state.useTime ? String(state.year) : "–";
  refreshEstablishments();
  refreshLifecycle();
  renderCounts();
  saveHash();
}

function togglePlay() {
  const btn = document.getElementById("play");
  if (state.playing) {
    clearInterval(state.playing); state.playing = null;
    btn.dataset.i18n = "play"; btn.textContent = t("play");
    return;
  }
  const { first, last } = state.config.years;
  if (state.year >= last) setYear(first);
  btn.dataset.i18n = "pause"; btn.textContent = t("pause");
  state.playing = setInterval(() => {
    if (state.year >= last) { togglePlay(); return; }
    setYear(state.year + 1);
  }, 900);
}

// --- selection: map, card, table row, charts, firms ---------------------------------------------
function select(id, { fly = false } = {}) {
  const c = id === null || id === undefined ? null : clusterById(id);
  state.selected = c ? Number(c.cluster_id) : null;
  refreshSelectedFirms();
  renderCard();
  document.querySelectorAll("#cluster-table tbody tr").forEach((tr) => {
    const on = Number(tr.dataset.cluster) === state.selected;
    tr.setAttribute("aria-selected", on ? "true" : "false");
    if (on) tr.scrollIntoView({ block: "nearest" });
  });
  document.querySelectorAll("svg circle[data-cluster]").forEach((dot) => {
    dot.classList.toggle("sel", Number(dot.dataset.cluster) === state.selected);
  });
  if (state.map.getLayer("clusters-selected")) {
    state.map.setFilter("clusters-selected", ["==", ["get", "cluster_id"], state.selected === null ? -999999 : state.selected]);
  }
  if (fly && c && isFinite(c.lon) && isFinite(c.lat)) {
    const [lon, lat] = state.datum === "gcj02" ? clusterscapeCoords.wgs84ToGcj02(Number(c.lon), Number(c.lat)) : [Number(c.lon), Number(c.lat)];
    state.map.easeTo({ center: [lon, lat], duration: 0 });
  }
  saveHash();
}

function refreshSelectedFirms() {
  if (!state.map || !state.map.getSource("selected-firms")) return;
  const y = state.useTime ? state.year : null;
  const firms = state.selected === null || !state.est ? [] : state.est.features.filter(
    (f) => Number(f.properties.cluster) === state.selected && alive(f.properties, y, state.cumulative));
  state.counts.selectedFirms = firms.length;
  setSource("selected-firms", { type: "FeatureCollection", features: firms });
  const note = document.getElementById("firm-count");
  if (note) note.textContent = t("firms_highlighted", { n: fmt(firms.length) });
}

function renderCard() {
  const card = document.getElementById("card");
  const c = state.selected === null ? null : clusterById(state.selected);
  if (!c) { card.hidden = true; card.innerHTML = ""; return; }
  card.hidden = false;
  card.innerHTML = "";
  card.appendChild(el("h3", {}, t("cluster_n", { id: c.cluster_id }) + (c.nearest_park ? ` · ${c.nearest_park}` : "")));
  const dl = el("dl");
  const rows = [
    ["form", c.form], ["confidence", fmt(c.form_confidence, 2)], ["markusen", c.markusen],
    ["district", c.district], ["sector", c.dominant_sector], ["n_creative", fmt(c.n_creative)],
    ["n_establishments", fmt(c.n_establishments)], ["employees", fmt(c.employees)],
    ["area", c.area_m2 !== undefined ? `${fmt(c.area_m2 / 1e6, 2)} km²` : undefined],
    ["zone", c.zone_label], ["nearest_centre", c.centre_distance_m !== undefined ? `${fmt(c.centre_distance_m)} m` : undefined],
  ];
  for (const [k, v] of rows) {
    if (v === undefined) continue;
    dl.append(el("dt", {}, t(k)), el("dd", {}, fmt(v, 2)));
  }
  card.appendChild(dl);
  if (c.evidence) card.appendChild(el("p", { class: "evidence" }, c.evidence));
  if (state.est) card.appendChild(el("p", { class: "note", id: "firm-count" }, t("firms_highlighted", { n: fmt(state.counts.selectedFirms || 0) })));
  const clear = el("button", { type: "button" }, t("clear_selection"));
  clear.addEventListener("click", () => select(null));
  card.appendChild(clear);
  for (const f of ["csv", "geojson"]) {
    card.appendChild(el("a", { href: `/api/clusters?format=${f}&cluster_id=${c.cluster_id}`, download: `cluster_${c.cluster_id}.${f}`, class: "card-dl" }, t(`export_card_${f}`)));
  }
}

// --- table, with brushing -----------------------------------------------------------------------
const TABLE_COLUMNS = [
  ["cluster_id", "cluster"], ["district", "district"], ["form", "form"], ["dominant_sector", "sector"],
  ["n_creative", "n_creative"], ["n_establishments", "n_establishments"], ["area_m2", "area"],
];

function visibleClusters() {
  const form = document.getElementById("filter-form").value;
  const sector = document.getElementById("filter-sector").value;
  return state.clusters.filter((c) => (!form || c.form === form) && (!sector || c.dominant_sector === sector));
}

function renderTable() {
  const table = document.getElementById("cluster-table");
  const head = el("tr");
  head.appendChild(el("th", { scope: "col" }, t("brush")));
  for (const [, key] of TABLE_COLUMNS) head.appendChild(el("th", { scope: "col" }, t(key) + (key === "area" ? " (km²)" : "")));
  table.tHead.innerHTML = "";
  table.tHead.appendChild(head);
  const body = table.tBodies[0];
  body.innerHTML = "";
  const shown = new Set(visibleClusters().map((c) => Number(c.cluster_id)));
  for (const c of state.clusters) {
    const id = Number(c.cluster_id);
    const tr = el("tr", { tabindex: "0", "data-cluster": String(id), "aria-selected": id === state.selected ? "true" : "false" });
    tr.hidden = !shown.has(id);
    const td = el("td");
    const box = el("input", { type: "checkbox", "aria-label": `${t("brush")}: ${t("cluster_n", { id })}` });
    box.checked = state.brushed.has(id);
    box.addEventListener("click", (e) => e.stopPropagation());
    box.addEventListener("change", () => brush(id, box.checked));
    td.appendChild(box);
    tr.appendChild(td);
    for (const [col] of TABLE_COLUMNS) {
      const v = col === "area_m2" ? (c.area_m2 === undefined ? undefined : c.area_m2 / 1e6) : c[col];
      tr.appendChild(el("td", {}, fmt(v, col === "area_m2" ? 2 : 0)));
    }
    tr.addEventListener("click", () => select(id, { fly: true }));
    tr.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(id, { fly: true }); }
    });
    body.appendChild(tr);
  }
}

function brush(id, on) {
  if (on) state.brushed.add(id); else state.brushed.delete(id);
  applyFilters();
}

function applyFilters() {
  const visible = visibleClusters();
  const ids = visible.map((c) => Number(c.cluster_id)).filter((id) => !state.brushed.size || state.brushed.has(id));
  if (state.map.getLayer("clusters")) state.map.setFilter("clusters", ["in", ["get", "cluster_id"], ["literal", ids]]);
  document.getElementById("filter-count").textContent = t("filter_count", { n: ids.length, total: state.clusters.length });
  document.querySelectorAll("#cluster-table tbody tr").forEach((tr) => {
    tr.hidden = !visible.some((c) => Number(c.cluster_id) === Number(tr.dataset.cluster));
  });
  const bc = document.getElementById("brush-count");
  bc.textContent = state.brushed.size ? t("brush_count", { n: state.brushed.size }) : "";
  document.getElementById("brush-clear").hidden = !state.brushed.size;
  refreshEstablishments();
  saveHash();
}

// --- charts (small SVG, drawn from the clusters table) ------------------------------------------
const SVGNS = "http://www.w3.org/2000/svg";
function svgEl(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function drawChart(id, points, xlabel, ylabel, { line = false, log = false } = {}) {
  const svg = document.getElementById(id);
  svg.innerHTML = "";
  const W = 320, H = 220, L = 44, R = 10, T = 10, B = 36;
  svg.appendChild(svgEl("rect", { x: 0, y: 0, width: W, height: H, fill: "#fff" }));
  if (!points.length) return;
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const x0 = Math.min(...xs, line ? 0 : Infinity), x1 = Math.max(...xs), y0 = Math.min(...ys, line ? 0 : Infinity), y1 = Math.max(...ys);
  const sx = (x) => L + ((x - x0) / ((x1 - x0) || 1)) * (W - L - R);
  const sy = (y) => H - B - ((y - y0) / ((y1 - y0) || 1)) * (H - T - B);
  svg.appendChild(svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#333" }));
  svg.appendChild(svgEl("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#333" }));
  const tick = (v) => (log ? fmt(10 ** v) : fmt(v, 2));
  for (const [v, x, y, anchor] of [[x0, sx(x0), H - B + 14, "start"], [x1, sx(x1), H - B + 14, "end"]]) {
    const tx = svgEl("text", { x, y, "font-size": 10, "text-anchor": anchor, fill: "#222" }); tx.textContent = tick(v); svg.appendChild(tx);
  }
  for (const [v, y] of [[y0, sy(y0)], [y1, sy(y1) + 8]]) {
    const tx = svgEl("text", { x: L - 4, y, "font-size": 10, "text-anchor": "end", fill: "#222" }); tx.textContent = tick(v); svg.appendChild(tx);
  }
  const xl = svgEl("text", { x: (L + W - R) / 2, y: H - 6, "font-size": 11, "text-anchor": "middle", fill: "#222" }); xl.textContent = xlabel; svg.appendChild(xl);
  const yl = svgEl("text", { x: 12, y: (T + H - B) / 2, "font-size": 11, "text-anchor": "middle", fill: "#222", transform: `rotate(-90 12 ${(T + H - B) / 2})` }); yl.textContent = ylabel; svg.appendChild(yl);
  if (line) {
    const d = [[0, 0], ...points.map((p) => [p.x, p.y])].map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
    svg.appendChild(svgEl("path", { d, fill: "none", stroke: "#1f77b4", "stroke-width": 1.5 }));
    svg.appendChild(svgEl("line", { x1: sx(0), y1: sy(0), x2: sx(1), y2: sy(1), stroke: "#999", "stroke-dasharray": "3 3" }));
  }
  for (const p of points) {
    const dot = svgEl("circle", { cx: sx(p.x).toFixed(1), cy: sy(p.y).toFixed(1), r: 4, "data-cluster": p.id, tabindex: 0, role: "button", "aria-label": t("cluster_n", { id: p.id }) });
    dot.classList.toggle("sel", p.id === state.selected);
    dot.addEventListener("click", () => select(p.id, { fly: true }));
    dot.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(p.id, { fly: true }); } });
    svg.appendChild(dot);
  }
  svg.setAttribute("aria-label", `${xlabel} / ${ylabel}`);
}

function renderCharts() {
  const sized = state.clusters.filter((c) => Number(c.n_creative) > 0)
    .map((c) => ({ id: Number(c.cluster_id), n: Number(c.n_creative) }))
    .sort((a, b) => b.n - a.n);
  drawChart("chart-rank", sized.map((c, i) => ({ id: c.id, x: Math.log10(i + 1), y: Math.log10(c.n) })), `${t("rank")} (log)`, `${t("size")} (log)`, { log: true });
  const total = sized.reduce((s, c) => s + c.n, 0);
  let run = 0;
  drawChart("chart-conc", sized.map((c, i) => { run += c.n; return { id: c.id, x: (i + 1) / sized.length, y: run / total }; }),
    t("share_clusters"), t("share_firms"), { line: true });
}

// --- export -------------------------------------------------------------------------------------
function renderExports() {
  const ul = document.getElementById("exports");
  ul.innerHTML = "";
  const link = (href, label, file) => {
    const li = el("li");
    li.appendChild(el("a", { href, download: file }, label));
    ul.appendChild(li);
  };
  link("/api/clusters?format=csv", t("export_clusters_csv"), "clusters.csv");
  link("/api/clusters?format=geojson", t("export_clusters_geojson"), "clusters.geojson");
  if (state.config.establishments) link("/api/establishments?format=geojson", t("export_establishments"), "establishments.geojson");
  for (const name of state.config.tables) {
    if (name !== "clusters") link(`/api/tables/${encodeURIComponent(name)}?format=csv`, t("export_table", { name }), `${name}.csv`);
  }
  const li = el("li");
  const btn = el("button", { type: "button", id: "export-map" }, t("export_map"));
  btn.addEventListener("click", () => {
    state.map.once("render", () => {
      const a = el("a", { href: state.map.getCanvas().toDataURL("image/png"), download: "map.png" });
      document.body.appendChild(a); a.click(); a.remove();
    });
    state.map.triggerRepaint();
  });
  li.appendChild(btn);
  ul.appendChild(li);
}

function downloadSvg(id) {
  const svg = document.getElementById(id);
  const text = new XMLSerializer().serializeToString(svg);
  const url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
  const a = el("a", { href: url, download: `${id}.svg` });
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// --- the shareable URL (hash) -------------------------------------------------------------------
function saveHash() {
  if (!state.started) return;
  const p = new URLSearchParams();
  p.set("lang", state.lang);
  p.set("basemap", state.basemap);
  if (state.useTime) p.set("year", String(state.year));
  if (state.cumulative) p.set("cumulative", "1");
  p.set("layers", Object.entries(state.layers).filter(([, on]) => on).map(([n]) => n).join(","));
  if (state.selected !== null) p.set("cluster", String(state.selected));
  if (state.brushed.size) p.set("brush", [...state.brushed].join(","));
  p.set("colour", state.colourBy);
  const c = state.map.getCenter();
  p.set("view", `${c.lng.toFixed(5)},${c.lat.toFixed(5)},${state.map.getZoom().toFixed(2)}`);
  const hash = `#${p.toString()}`;
  if (location.hash !== hash) history.replaceState(null, "", hash);
  document.getElementById("share-url").value = location.href;
}

function readHash() {
  return new URLSearchParams(location.hash.replace(/^#/, ""));
}

// --- layers -------------------------------------------------------------------------------------
const LAYER_GROUPS = {
  establishments: EST_LAYERS, amenities: ["amenities"], clusters: ["clusters", "clusters-selected"], lifecycle: ["lifecycle", "lifecycle-events"],
};

function setLayerVisible(name, on) {
  state.layers[name] = on;
  for (const id of LAYER_GROUPS[name] || [name]) {
    if (state.map.getLayer(id)) state.map.setLayoutProperty(id, "visibility", on ? "visible" : "none");
  }
  const box = document.querySelector(`#layer-toggles input[data-layer="${name}"]`);
  if (box) box.checked = on;
  saveHash();
}

function renderToggles() {
  const div = document.getElementById("layer-toggles");
  div.innerHTML = "";
  for (const name of Object.keys(state.layers)) {
    const label = el("label");
    const box = el("input", { type: "checkbox", "data-layer": name });
    box.checked = state.layers[name];
    box.addEventListener("change", () => setLayerVisible(name, box.checked));
    label.append(box, ` ${t(`layer_${name}`)}`);
    div.appendChild(label);
  }
}

function renderAll() {
  applyStatic();
  const sel = document.getElementById("basemap");
  [...sel.options].forEach((o) => { o.textContent = basemapLabel(state.config.basemaps.find((b) => b.name === o.value)); });
  document.getElementById("datum-note").textContent = t("datum_note", { datum: state.datum === "gcj02" ? "GCJ-02" : "WGS-84" });
  document.getElementById("play").textContent = t(state.playing ? "pause" : "play");
  if (state.summary.synthetic) document.getElementById("banner").textContent = t("synthetic");
  document.getElementById("headline").textContent = t("headline", {
    n: fmt(state.summary.input && (state.summary.input.n_analysed ?? state.summary.input.n_accepted)), k: fmt(state.summary.clusters),
  });
  renderToggles();
  renderTable();
  renderCharts();
  renderCard();
  renderExports();
  renderCounts();
  if (state.est) styleEstablishments();
  applyFilters();
}

// --- start --------------------------------------------------------------------------------------
async function main() {
  const [messages, summary, clusters, layers, figures, config] = await Promise.all([
    getJSON("/static/messages.json"), getJSON("/api/summary"), getJSON("/api/clusters"),
    getJSON("/api/layers"), getJSON("/api/figures"), getJSON("/api/config"),
  ]);
  Object.assign(state, { messages, summary, clusters, config });
  const hash = readHash();
  const lang = hash.get("lang") || config.lang;
  state.lang = lang === "zh" ? "zh" : "en";
  document.getElementById("lang").value = state.lang;
  applyStatic();
  if (summary.synthetic) document.getElementById("banner").hidden = false;

  const style = { version: 8, sources: {}, layers: [{ id: "bg", type: "background", paint: { "background-color": "#f8f8f4" } }] };
  const map = new maplibregl.Map({
    container: "map", style, center: [121.55, 29.87], zoom: 9, attributionControl: false,
    canvasContextAttributes: { preserveDrawingBuffer: true },
  });
  state.map = map;
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  await new Promise((resolve) => map.on("load", resolve));
  const attribution = el("div", { id: "attribution", class: "attribution" });
  document.getElementById("map").appendChild(attribution);
  map.addLayer({ id: "first-data", type: "background", paint: { "background-opacity": 0 } });

  // The study's own layers (WGS-84 as stored).
  let extent = null;
  for (const name of Object.keys(LAYER_STYLES).filter((n) => layers.includes(n))) {
    const spec = LAYER_STYLES[name];
    const data = await fetchLayer(name);
    if (name === "clusters") {
      const byId = new Map(clusters.map((c) => [Number(c.cluster_id), c]));
      data.features.forEach((f, i) => {
        const id = f.properties.cluster_id !== undefined ? Number(f.properties.cluster_id) : i;
        const row = byId.get(id) || {};
        f.properties = { ...f.properties, cluster_id: id, form: row.form || f.properties.form || "unclassified", dominant_sector: row.dominant_sector || "" };
      });
    }
    if ((name === "boundary" || name === "districts") && data.features.length) extent = bboxOf(data.features);
    if (name === "clusters" && !extent && data.features.length) extent = bboxOf(data.features);
    setSource(name, data);
    map.addLayer({ id: name, type: spec.type, source: name, paint: spec.paint });
    if (name === "clusters") {
      map.addLayer({ id: "clusters-selected", type: "line", source: "clusters", filter: ["==", ["get", "cluster_id"], -999999], paint: { "line-color": "#000", "line-width": 3 } });
    }
    state.layers[name] = !spec.hidden;
  }
  if (config.lifecycle) {
    state.lifecycle = await getJSON("/api/tables/lifecycle");
    setSource("lifecycle", { type: "FeatureCollection", features: [] });
    map.addLayer({
      id: "lifecycle", type: "circle", source: "lifecycle",
      paint: { "circle-radius": ["interpolate", ["linear"], ["sqrt", ["get", "n_creative"]], 0, 4, 30, 24], "circle-color": "#756bb1", "circle-opacity": 0.45, "circle-stroke-color": "#3f007d", "circle-stroke-width": 1.5 },
    });
    state.layers.lifecycle = true;
    // A track's cluster_id numbers the clusters of that year's snapshot, not clusters.csv: a popup.
    map.on("click", "lifecycle", (e) => {
      const p = e.features[0].properties;
      const box = el("div", { class: "popup" });
      box.append(el("strong", {}, t("track_n", { id: p.track_id })), el("br"), document.createTextNode(t("track_text", { year: p.year, n: p.n_creative })));
      new maplibregl.Popup({ maxWidth: "320px" }).setLngLat(e.lngLat).setDOMContent(box).addTo(map);
    });
    if ((config.tables || []).includes("lifecycle_events")) {
      state.events = await getJSON("/api/tables/lifecycle_events");
      setSource("lifecycle-events", { type: "FeatureCollection", features: [] });
      map.addLayer({
        id: "lifecycle-events", type: "circle", source: "lifecycle-events",
        paint: { "circle-radius": 9, "circle-color": ["match", ["get", "event"], ...Object.entries(EVENT_COLOURS).flat(), "#777"], "circle-stroke-color": "#fff", "circle-stroke-width": 3 },
      });
      map.on("click", "lifecycle-events", (e) => {
        const p = e.features[0].properties;
        new maplibregl.Popup({ maxWidth: "320px" }).setLngLat(e.lngLat).setDOMContent(el("div", { class: "popup" }, p.text)).addTo(map);
      });
      const ul = document.getElementById("legend-events");
      for (const [k, c] of Object.entries(EVENT_COLOURS)) {
        const li = el("li");
        li.append(el("span", { class: "swatch", "data-colour": c, "aria-hidden": "true" }), document.createTextNode(t(`ev_${k}`)));
        ul.appendChild(li);
      }
      ul.querySelectorAll(".swatch").forEach((s) => { s.style.background = s.dataset.colour; });
    }
  }
  if (config.establishments) {
    addEstablishmentLayers();
    state.est = buildEstablishments(await getJSON("/api/establishments"));
    if (!extent && state.est.features.length) extent = bboxOf(state.est.features);
    // Drawn from the start only when there are no clusters to show first (the toggle switches it on).
    state.layers.establishments = !(clusters && clusters.length);
    if (state.est.amenities.length) state.layers.amenities = true;
  } else if (layers.includes("establishments")) {
    state.layers.establishments = false;
  }
  if (extent && isFinite(extent[0])) map.fitBounds([[extent[0], extent[1]], [extent[2], extent[3]]], { padding: 20, duration: 0 });

  map.on("click", "clusters", (e) => {
    const f = e.features && e.features[0];
    if (!f) return;
    select(f.properties.cluster_id);
    const c = clusterById(f.properties.cluster_id) || {};
    new maplibregl.Popup().setLngLat(e.lngLat).setText(`${t("cluster_n", { id: f.properties.cluster_id })}: ${c.form || "unclassified"}`).addTo(map);
  });

  // Controls.
  const bsel = document.getElementById("basemap");
  for (const b of config.basemaps) bsel.appendChild(el("option", { value: b.name }, basemapLabel(b)));
  bsel.addEventListener("change", () => setBasemap(bsel.value));
  document.getElementById("lang").addEventListener("change", (e) => { state.lang = e.target.value; renderAll(); saveHash(); });
  const fill = (id, values) => {
    const s = document.getElementById(id);
    [...new Set(values.filter(Boolean))].sort().forEach((v) => s.appendChild(el("option", { value: v }, v)));
    s.addEventListener("change", applyFilters);
  };
  fill("filter-form", clusters.map((c) => c.form));
  fill("filter-sector", clusters.map((c) => c.dominant_sector));
  const slider = document.getElementById("year");
  if (config.years) {
    slider.min = config.years.first; slider.max = config.years.last; slider.value = config.years.last;
    state.year = config.years.last;
  } else {
    document.getElementById("use-time").disabled = true;
  }
  slider.addEventListener("input", () => setYear(Number(slider.value)));
  document.getElementById("use-time").addEventListener("change", (e) => setYear(state.year, { use: e.target.checked }));
  document.getElementById("cumulative").addEventListener("change", (e) => { state.cumulative = e.target.checked; setYear(state.year); });
  document.getElementById("play").addEventListener("click", togglePlay);
  document.getElementById("colour-by").addEventListener("change", (e) => { state.colourBy = e.target.value; styleEstablishments(); saveHash(); });
  document.getElementById("brush-clear").addEventListener("click", () => {
    state.brushed.clear();
    document.querySelectorAll("#cluster-table tbody input[type=checkbox]").forEach((b) => { b.checked = false; });
    applyFilters();
  });
  document.querySelectorAll(".svg-dl").forEach((b) => b.addEventListener("click", () => downloadSvg(b.dataset.chart)));
  document.getElementById("copy-link").addEventListener("click", async () => {
    const input = document.getElementById("share-url");
    input.select();
    try { await navigator.clipboard.writeText(input.value); } catch (err) { /* the field stays selected */ }
  });
  map.on("moveend", saveHash);

  const grid = document.getElementById("figure-grid");
  for (const name of figures) {
    const fig = el("figure");
    const img = el("img", { src: `/figures/${encodeURIComponent(name)}`, alt: name, loading: "lazy" });
    const cap = el("figcaption", {}, name.replace(/[_-]/g, " ").replace(/\.png$/, "") + " · ");
    cap.appendChild(el("a", { href: `/figures/${encodeURIComponent(name)}`, download: name, "data-i18n": "download" }, t("download")));
    fig.append(img, cap);
    grid.appendChild(fig);
  }

  // Restore the view from the URL (year, cumulative, layers, basemap, selection, brush).
  if (hash.get("colour") === "function") { state.colourBy = "function"; document.getElementById("colour-by").value = "function"; }
  const wanted = hash.get("layers");
  if (wanted !== null) {
    const on = new Set(wanted.split(",").filter(Boolean));
    for (const name of Object.keys(state.layers)) state.layers[name] = on.has(name);
  }
  for (const id of (hash.get("brush") || "").split(",").filter(Boolean)) if (clusterById(id)) state.brushed.add(Number(id));
  state.cumulative = hash.get("cumulative") === "1";
  document.getElementById("cumulative").checked = state.cumulative;
  const year = hash.get("year");
  state.booting = true;
  renderAll();
  for (const [name, on] of Object.entries(state.layers)) setLayerVisible(name, on);
  setBasemap(hash.get("basemap") || config.basemap);
  if (year !== null && config.years) setYear(Number(year));
  else setYear(state.year, { use: false });
  state.booting = false;
  refreshEstablishments();
  const sel = hash.get("cluster");
  const view = (hash.get("view") || "").split(",").map(Number);
  if (view.length === 3 && view.every(isFinite)) map.jumpTo({ center: [view[0], view[1]], zoom: view[2] });
  state.started = true;
  if (sel !== null && clusterById(sel)) select(Number(sel)); else saveHash();
  if (map.getLayer("lifecycle-events")) map.moveLayer("lifecycle-events");
  map.once("idle", () => { state.ready = true; });
  map.triggerRepaint();
}

main().catch((err) => { console.error(err); document.getElementById("headline").textContent = t("error", { msg: err.message }); });
