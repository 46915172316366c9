/* clusterscape dashboard: a MapLibre GL map of one saved study (read-only). */
"use strict";

const FORM_COLOURS = {
  new_park: "#1f77b4",
  converted_industrial: "#d62728",
  government_street: "#2ca02c",
  anchor_enterprise: "#9467bd",
  converted_heritage: "#8c564b",
  unclassified: "#7f7f7f",
};
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
      "fill-opacity": 0.6,
      "fill-outline-color": "#000",
    },
  },
  // Every establishment (creative in red). Loaded when switched on; on by default only when the
  // run found no cluster, so a study without clusters still shows its data.
  establishments: {
    type: "circle",
    paint: {
      "circle-radius": 2.5,
      "circle-color": ["case", ["to-boolean", ["get", "is_creative"]], "#d62728", "#8a8a8a"],
      "circle-opacity": 0.8,
    },
    hidden: true,
    lazy: true,
  },
  centres: { type: "circle", paint: { "circle-radius": 7, "circle-color": "#000", "circle-stroke-color": "#fff", "circle-stroke-width": 2 } },
  parks: { type: "circle", paint: { "circle-radius": 5, "circle-color": "#e377c2", "circle-stroke-color": "#fff", "circle-stroke-width": 1 } },
};

const state = { clusters: [], map: null, ready: false, selected: null };
window.__clusterscape = state;

async function getJSON(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.json();
}

// A layer comes in pages (see /api/layers/{name}): follow `next` and join the features.
async function fetchLayer(name) {
  let url = `/api/layers/${encodeURIComponent(name)}`;
  const data = await getJSON(url);
  let page = data;
  while (page.next && data.features.length < 1000000) {
    url = page.next;
    page = await getJSON(url);
    data.features.push(...page.features);
  }
  delete data.next;
  return data;
}

function fmt(v, digits = 0) {
  if (v === null || v === undefined || v === "") return "–";
  if (typeof v === "number") return v.toLocaleString("en", { maximumFractionDigits: digits });
  return String(v);
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

function showCard(clusterId) {
  const c = state.clusters.find((r) => Number(r.cluster_id) === Number(clusterId));
  const card = document.getElementById("card");
  if (!c) { card.hidden = true; return; }
  state.selected = c.cluster_id;
  card.hidden = false;
  card.innerHTML = "";
  const h = document.createElement("h3");
  h.textContent = `Cluster ${c.cluster_id}` + (c.nearest_park ? ` · ${c.nearest_park}` : "");
  card.appendChild(h);
  const dl = document.createElement("dl");
  const rows = [
    ["Form", c.form], ["Confidence", fmt(c.form_confidence, 2)], ["Markusen type", c.markusen],
    ["District", c.district], ["Creative establishments", fmt(c.n_creative)], ["All establishments", fmt(c.n_establishments)],
    ["Employees", fmt(c.employees)], ["Area", `${fmt(c.area_m2 / 1e6, 2)} km²`],
    ["Zone", c.zone_label], ["Nearest centre", c.centre_distance_m !== undefined ? `${fmt(c.centre_distance_m)} m` : undefined],
  ];
  for (const [k, v] of rows) {
    if (v === undefined) continue;
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = fmt(v, 2);
    dl.append(dt, dd);
  }
  card.appendChild(dl);
  if (c.evidence) {
    const p = document.createElement("p"); p.className = "evidence"; p.textContent = c.evidence;
    card.appendChild(p);
  }
}

function applyFilters() {
  const form = document.getElementById("filter-form").value;
  const sector = document.getElementById("filter-sector").value;
  const conds = ["all"];
  if (form) conds.push(["==", ["get", "form"], form]);
  if (sector) conds.push(["==", ["get", "dominant_sector"], sector]);
  const filter = conds.length > 1 ? conds : null;
  if (state.map.getLayer("clusters")) state.map.setFilter("clusters", filter);
  const n = state.clusters.filter((c) => (!form || c.form === form) && (!sector || c.dominant_sector === sector)).length;
  document.getElementById("filter-count").textContent = `${n} of ${state.clusters.length} clusters shown`;
}

function fillSelect(id, values) {
  const sel = document.getElementById(id);
  [...new Set(values.filter(Boolean))].sort().forEach((v) => {
    const o = document.createElement("option"); o.value = v; o.textContent = v; sel.appendChild(o);
  });
  sel.addEventListener("change", applyFilters);
}

async function main() {
  const [summary, clusters, layers, figures, config] = await Promise.all([
    getJSON("/api/summary"), getJSON("/api/clusters"), getJSON("/api/layers"),
    getJSON("/api/figures"), getJSON("/api/config"),
  ]);
  state.clusters = clusters;
  if (summary.synthetic) {
    const b = document.getElementById("banner");
    b.hidden = false;
    b.textContent = "Synthetic firms: real geography and anchors, seeded synthetic establishments — a demonstration, not findings.";
  }
  document.getElementById("headline").textContent =
    `${fmt(summary.input && summary.input.n_accepted)} establishments · ${fmt(summary.clusters)} clusters`;

  const style = { version: 8, sources: {}, layers: [{ id: "bg", type: "background", paint: { "background-color": "#f8f8f4" } }] };
  if (config.tile_url) {
    style.sources.tiles = { type: "raster", tiles: [config.tile_url], tileSize: 256 };
    style.layers.push({ id: "tiles", type: "raster", source: "tiles" });
  }
  const map = new maplibregl.Map({ container: "map", style, center: [121.55, 29.87], zoom: 9, attributionControl: false });
  state.map = map;
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  await new Promise((resolve) => map.on("load", resolve));

  const order = Object.keys(LAYER_STYLES).filter((n) => layers.includes(n));
  const toggles = document.getElementById("layer-toggles");
  let extent = null;
  const noClusters = !clusters.length;
  const addLayer = (name, data, visible) => {
    const spec = LAYER_STYLES[name];
    map.addSource(name, { type: "geojson", data });
    map.addLayer({ id: name, type: spec.type, source: name, paint: spec.paint, layout: { visibility: visible ? "visible" : "none" } });
  };
  for (const name of order) {
    const spec = LAYER_STYLES[name];
    const visible = name === "establishments" ? noClusters : !spec.hidden;
    if (spec.lazy && !visible) {
      // Fetched on first switch-on (a large table need not load with the page).
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox"; box.checked = false; box.dataset.layer = name;
      box.addEventListener("change", async () => {
        if (!map.getSource(name)) addLayer(name, await fetchLayer(name), box.checked);
        map.setLayoutProperty(name, "visibility", box.checked ? "visible" : "none");
      });
      label.append(box, ` ${name.replace(/_/g, " ")}`);
      toggles.appendChild(label);
      continue;
    }
    const data = await fetchLayer(name);
    if (name === "clusters") {
      // Join the table's form/sector onto the footprints for styling and filters.
      const byId = new Map(clusters.map((c) => [Number(c.cluster_id), c]));
      data.features.forEach((f, i) => {
        const id = f.properties.cluster_id !== undefined ? Number(f.properties.cluster_id) : i;
        const row = byId.get(id) || {};
        f.properties = { ...f.properties, cluster_id: id, form: row.form || f.properties.form || "unclassified", dominant_sector: row.dominant_sector || "" };
      });
    }
    if ((name === "boundary" || name === "districts") && data.features.length) extent = bboxOf(data.features);
    if (name === "establishments" && !extent && data.features.length) extent = bboxOf(data.features);
    addLayer(name, data, visible);
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.checked = visible; box.dataset.layer = name;
    box.addEventListener("change", () => map.setLayoutProperty(name, "visibility", box.checked ? "visible" : "none"));
    label.append(box, ` ${name.replace(/_/g, " ")}`);
    toggles.appendChild(label);
  }
  if (!extent && layers.includes("clusters")) extent = bboxOf(map.getSource("clusters")._data.features || []);
  if (extent && isFinite(extent[0])) map.fitBounds([[extent[0], extent[1]], [extent[2], extent[3]]], { padding: 20, duration: 0 });

  map.on("click", "clusters", (e) => {
    const f = e.features && e.features[0];
    if (!f) return;
    showCard(f.properties.cluster_id);
    const c = state.clusters.find((r) => Number(r.cluster_id) === Number(f.properties.cluster_id)) || {};
    new maplibregl.Popup().setLngLat(e.lngLat)
      .setText(`Cluster ${f.properties.cluster_id}: ${c.form || "unclassified"}`).addTo(map);
  });
  map.on("mouseenter", "clusters", () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", "clusters", () => { map.getCanvas().style.cursor = ""; });

  fillSelect("filter-form", clusters.map((c) => c.form));
  fillSelect("filter-sector", clusters.map((c) => c.dominant_sector));
  applyFilters();

  const grid = document.getElementById("figure-grid");
  for (const name of figures) {
    const fig = document.createElement("figure");
    const img = document.createElement("img");
    img.src = `/figures/${encodeURIComponent(name)}`; img.alt = name; img.loading = "lazy";
    const cap = document.createElement("figcaption"); cap.textContent = name.replace(/[_-]/g, " ").replace(/\.png$/, "");
    fig.append(img, cap); grid.appendChild(fig);
  }
  map.once("idle", () => { state.ready = true; });
  map.triggerRepaint();
}

main().catch((err) => { console.error(err); document.getElementById("headline").textContent = `Error: ${err.message}`; });
