/* WGS-84 -> GCJ-02, the public forward formula (Krasovsky 1940 ellipsoid), as in
 * clusterscape.coords (Python). The page uses it to move the DATA onto GCJ-02 basemaps
 * (Amap/AutoNavi); tiles are never moved. Outside the rectangle lon 72.004-137.8347,
 * lat 0.8293-55.8271 points are left as they are (GCJ-02 == WGS-84 there), like the Python. */
"use strict";

(function (root) {
  const A = 6378245.0;
  const EE = 0.00669342162296594323;
  const PI = Math.PI;

  function delta(lon, lat) {
    if (!(lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271)) return [0, 0];
    const x = lon - 105.0;
    const y = lat - 35.0;
    const sq = Math.sqrt(Math.abs(x));
    const six = 20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI);
    let dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sq;
    dlat += (six + 20.0 * Math.sin(y * PI) + 40.0 * Math.sin((y / 3.0) * PI)
      + 160.0 * Math.sin((y / 12.0) * PI) + 320.0 * Math.sin((y / 30.0) * PI)) * (2.0 / 3.0);
    let dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sq;
    dlon += (six + 20.0 * Math.sin(x * PI) + 40.0 * Math.sin((x / 3.0) * PI)
      + 150.0 * Math.sin((x / 12.0) * PI) + 300.0 * Math.sin((x / 30.0) * PI)) * (2.0 / 3.0);
    const rad = (lat / 180.0) * PI;
    const s = Math.sin(rad);
    const magic = 1.0 - EE * s * s;
    const sm = Math.sqrt(magic);
    return [
      (dlon * 180.0) / ((A / sm) * Math.cos(rad) * PI),
      (dlat * 180.0) / (((A * (1.0 - EE)) / (magic * sm)) * PI),
    ];
  }

  /** One point [lon, lat] in WGS-84 -> [lon, lat] in GCJ-02 (NaN stays NaN). */
  function wgs84ToGcj02(lon, lat) {
    const [dx, dy] = delta(lon, lat);
    return [lon + dx, lat + dy];
  }

  /** A copy of a GeoJSON object with every coordinate moved from WGS-84 to `datum`. */
  function toDatum(data, datum) {
    if (datum !== "gcj02" || !data) return data;
    const move = (c) => (typeof c[0] === "number" ? wgs84ToGcj02(c[0], c[1]) : c.map(move));
    const geom = (g) => {
      if (!g) return g;
      if (g.type === "GeometryCollection") return { ...g, geometries: g.geometries.map(geom) };
      return { ...g, coordinates: move(g.coordinates) };
    };
    if (data.type === "FeatureCollection") {
      return { ...data, features: data.features.map((f) => ({ ...f, geometry: geom(f.geometry) })) };
    }
    if (data.type === "Feature") return { ...data, geometry: geom(data.geometry) };
    return geom(data);
  }

  const api = { wgs84ToGcj02, toDatum };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.clusterscapeCoords = api;
})(typeof window !== "undefined" ? window : globalThis);
