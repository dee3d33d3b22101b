/* Draw an area of interest on a map; the GeoJSON goes into the form's textarea.
   Served by the app with Leaflet (no CDN). The area shown while drawing is a
   spherical estimate; the server measures the polygon on the WGS84 ellipsoid. */
(function () {
  "use strict";
  var box = document.getElementById("aoi-map");
  if (!box || !window.L) { return; }
  var field = document.getElementById(box.dataset.target || "aoi");
  var areaOut = document.getElementById("aoi-area");
  var finishBtn = document.getElementById("aoi-finish");
  var clearBtn = document.getElementById("aoi-clear");
  var R = 6371.0088; // mean Earth radius, km

  var map = window.dinamisBaseMap(box, { doubleClickZoom: false }).setView([46.6, 2.4], 5);

  var points = [];
  var line = L.polyline([], { color: "#1f4e8c" }).addTo(map);
  var shape = null;

  function rad(d) { return d * Math.PI / 180; }
  function areaKm2(latlngs) {
    var total = 0;
    for (var i = 0; i < latlngs.length; i++) {
      var a = latlngs[i], b = latlngs[(i + 1) % latlngs.length];
      total += rad(b.lng - a.lng) * (2 + Math.sin(rad(a.lat)) + Math.sin(rad(b.lat)));
    }
    return Math.abs(total * R * R / 2);
  }
  function show(latlngs) {
    if (!areaOut) { return; }
    areaOut.textContent = latlngs.length >= 3
      ? "≈ " + areaKm2(latlngs).toLocaleString(document.documentElement.lang, { maximumFractionDigits: 1 }) + " km²"
      : "";
  }
  function toGeoJSON(latlngs) {
    var ring = latlngs.map(function (p) { return [+p.lng.toFixed(6), +p.lat.toFixed(6)]; });
    ring.push(ring[0]);
    return { type: "Polygon", coordinates: [ring] };
  }
  var coverageOut = document.getElementById("aoi-coverage");
  function value(id) { var el = document.getElementById(id); return el ? el.value : ""; }
  function checkCoverage() {
    if (!box.dataset.coverage || !coverageOut || !field.value) { return; }
    fetch(box.dataset.coverage, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": box.dataset.csrf },
      body: JSON.stringify({
        aoi: JSON.parse(field.value), sensor: value("sensor"),
        max_cloud_cover: value("max_cloud_cover"), max_incidence: value("max_incidence"),
        mode: value("mode")
      })
    }).then(function (r) { return r.json(); }).then(function (body) {
      coverageOut.hidden = false;
      coverageOut.textContent = body.message || (body.error && body.error.message) || "";
      var splitOut = document.getElementById("aoi-split");
      if (splitOut) {
        splitOut.hidden = !body.split;
        splitOut.textContent = body.split || "";
        splitOut.classList.toggle("flash-error", body.refused === "true");
      }
    }).catch(function () { coverageOut.hidden = true; });
  }
  ["sensor", "max_cloud_cover", "max_incidence", "mode"].forEach(function (id) {
    var el = document.getElementById(id);
    if (el) { el.addEventListener("change", checkCoverage); }
  });

  function finish() {
    if (points.length < 3) { return; }
    if (shape) { map.removeLayer(shape); }
    shape = L.polygon(points, { color: "#1f4e8c" }).addTo(map);
    line.setLatLngs([]);
    field.value = JSON.stringify(toGeoJSON(points));
    show(points);
    points = [];
    checkCoverage();
  }
  function clear() {
    points = [];
    line.setLatLngs([]);
    if (shape) { map.removeLayer(shape); shape = null; }
    field.value = "";
    show([]);
  }
  map.on("click", function (e) {
    if (shape && points.length === 0) { map.removeLayer(shape); shape = null; }
    points.push(e.latlng);
    line.setLatLngs(points);
    show(points);
  });
  map.on("dblclick", finish);
  if (finishBtn) { finishBtn.addEventListener("click", finish); }
  if (clearBtn) { clearBtn.addEventListener("click", clear); }

  // Show what the form already holds (after a refusal, or pasted GeoJSON).
  function load() {
    try {
      var layer = L.geoJSON(JSON.parse(field.value), { style: { color: "#1f4e8c" } });
      if (shape) { map.removeLayer(shape); }
      shape = layer.addTo(map);
      map.fitBounds(layer.getBounds(), { maxZoom: 12 });
    } catch (err) { /* not GeoJSON yet */ }
  }
  // Search results: footprints on the map, linked both ways with the list.
  var results = document.getElementById("footprints");
  if (results) {
    var rows = document.querySelectorAll("tr[data-scene]");
    var layer = L.geoJSON(JSON.parse(results.textContent), {
      style: { color: "#c0392b", weight: 1, fillOpacity: 0.15 },
      onEachFeature: function (feature, shapeLayer) {
        shapeLayer.bindTooltip(String(feature.id));
        shapeLayer.on("click", function () {
          rows.forEach(function (row) {
            // Highlighted only: scrolling here would move the map away while one draws.
            row.classList.toggle("selected", row.dataset.scene === feature.id);
          });
        });
        rows.forEach(function (row) {
          if (row.dataset.scene === feature.id) {
            row.addEventListener("mouseenter", function () { shapeLayer.setStyle({ weight: 3, fillOpacity: 0.4 }); });
            row.addEventListener("mouseleave", function () { shapeLayer.setStyle({ weight: 1, fillOpacity: 0.15 }); });
          }
        });
      }
    }).addTo(map);
    if (layer.getLayers().length && !field.value) { map.fitBounds(layer.getBounds(), { maxZoom: 10 }); }
  }
  // An uploaded file (GeoJSON, KML, zipped shapefile) is read by the server, which
  // answers its area as GeoJSON or says what is wrong with the file.
  var fileInput = document.getElementById(box.dataset.file || "aoi-file");
  var uploadError = document.getElementById("aoi-upload-error");
  if (fileInput && box.dataset.upload) {
    fileInput.addEventListener("change", function () {
      if (!fileInput.files.length) { return; }
      var body = new FormData();
      body.append("file", fileInput.files[0]);
      if (uploadError) { uploadError.hidden = true; }
      fetch(box.dataset.upload, {
        method: "POST", credentials: "same-origin", body: body,
        headers: { "X-CSRFToken": box.dataset.csrf, "Accept": "application/json" }
      }).then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
        .then(function (answer) {
          if (!answer.ok) {
            var message = (answer.body.error && answer.body.error.message) || "Error";
            if (uploadError) { uploadError.textContent = message; uploadError.hidden = false; }
            return;
          }
          field.value = JSON.stringify(answer.body.geometry);
          load();
          if (areaOut) {
            areaOut.textContent = Number(answer.body.area_km2).toLocaleString(
              document.documentElement.lang, { maximumFractionDigits: 2 }) + " km²";
          }
          checkCoverage();
        }).catch(function () {
          if (uploadError) { uploadError.textContent = "—"; uploadError.hidden = false; }
        });
    });
  }
  if (field.value) { load(); checkCoverage(); }
  field.addEventListener("change", function () { load(); checkCoverage(); });
})();
