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
  var splitOut = document.getElementById("aoi-split");
  function value(id) { var el = document.getElementById(id); return el ? el.value : ""; }
  // The preview answers the form as it is now: each change marks it as being
  // recomputed at once, cancels the question before, and an answer that is not
  // to the latest question is dropped (answers may come back out of order).
  var asked = 0;
  var pending = null;
  var typing = null;
  function recomputing() {
    [coverageOut, splitOut].forEach(function (out) {
      if (!out || out.hidden) { return; }
      out.setAttribute("aria-busy", "true");
      out.classList.add("stale");
      out.textContent = box.dataset.recomputing || "…";
    });
  }
  function checkCoverage() {
    if (!box.dataset.coverage || !coverageOut) { return; }
    if (pending) { pending.abort(); pending = null; }
    var question = ++asked;
    if (!field.value) {
      [coverageOut, splitOut].forEach(function (out) { if (out) { out.hidden = true; } });
      return;
    }
    var geometry;
    try { geometry = JSON.parse(field.value); } catch (err) { return; }
    recomputing();
    pending = window.AbortController ? new AbortController() : null;
    fetch(box.dataset.coverage, {
      method: "POST",
      credentials: "same-origin",
      signal: pending ? pending.signal : undefined,
      headers: { "Content-Type": "application/json", "X-CSRFToken": box.dataset.csrf },
      body: JSON.stringify({
        aoi: geometry, sensor: value("sensor"),
        max_cloud_cover: value("max_cloud_cover"), max_incidence: value("max_incidence"),
        mode: value("mode"), window_start: value("window_start"), window_end: value("window_end")
      })
    }).then(function (r) { return r.json(); }).then(function (body) {
      if (question !== asked) { return; }
      pending = null;
      [coverageOut, splitOut].forEach(function (out) {
        if (out) { out.removeAttribute("aria-busy"); out.classList.remove("stale"); }
      });
      coverageOut.hidden = false;
      coverageOut.textContent = body.message || (body.error && body.error.message) || "";
      coverageOut.dataset.percent = body.percent || "";  // read by alert-here.js
      if (splitOut) {
        var problems = body.problems || [];
        splitOut.textContent = "";
        if (problems.length) {
          var list = document.createElement("ul");
          problems.forEach(function (text) {
            var item = document.createElement("li");
            item.textContent = text;
            list.appendChild(item);
          });
          splitOut.appendChild(list);
        }
        if (body.split) {
          var line = document.createElement("span");
          line.textContent = body.split;
          splitOut.appendChild(line);
        }
        splitOut.hidden = !problems.length && !body.split;
        splitOut.classList.toggle("flash-error", problems.length > 0);
      }
    }).catch(function (err) {
      if (question !== asked || (err && err.name === "AbortError")) { return; }
      coverageOut.hidden = true;
      if (splitOut) { splitOut.hidden = true; }
    });
  }
  ["sensor", "max_cloud_cover", "max_incidence", "mode", "window_start", "window_end"].forEach(function (id) {
    var el = document.getElementById(id);
    if (el) {
      el.addEventListener("input", function () {
        recomputing();
        clearTimeout(typing);
        typing = setTimeout(checkCoverage, 400);
      });
      el.addEventListener("change", function () { clearTimeout(typing); checkCoverage(); });
    }
  });

  // The catalogue's search takes any geometry: two points finish as a line, and the
  // "Mark a point" button makes the next click a point (orders keep their polygons).
  var anyGeometry = box.dataset.search === "any-geometry";
  var pointBtn = document.getElementById("aoi-point");
  var marking = false;
  function position(p) { return [+p.lng.toFixed(6), +p.lat.toFixed(6)]; }
  function setMarking(on) {
    marking = on;
    if (pointBtn) { pointBtn.setAttribute("aria-pressed", on ? "true" : "false"); }
  }
  function finish() {
    if (anyGeometry && points.length === 2) {
      if (shape) { map.removeLayer(shape); }
      shape = L.polyline(points, { color: "#1f4e8c" }).addTo(map);
      line.setLatLngs([]);
      field.value = JSON.stringify({ type: "LineString", coordinates: points.map(position) });
      show([]);
      points = [];
      return;
    }
    if (points.length < 3) { return; }
    if (shape) { map.removeLayer(shape); }
    shape = L.polygon(points, { color: "#1f4e8c" }).addTo(map);
    line.setLatLngs([]);
    field.value = JSON.stringify(toGeoJSON(points));
    show(points);
    points = [];
    checkCoverage();
  }
  function mark(latlng) {
    if (shape) { map.removeLayer(shape); }
    points = [];
    line.setLatLngs([]);
    shape = L.circleMarker(latlng, { color: "#1f4e8c", radius: 7 }).addTo(map);
    field.value = JSON.stringify({ type: "Point", coordinates: position(latlng) });
    show([]);
    setMarking(false);
  }
  if (pointBtn) { pointBtn.addEventListener("click", function () { setMarking(!marking); }); }
  function clear() {
    points = [];
    line.setLatLngs([]);
    if (shape) { map.removeLayer(shape); shape = null; }
    field.value = "";
    show([]);
    checkCoverage();
  }
  map.on("click", function (e) {
    if (marking) { mark(e.latlng); return; }
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
      var layer = L.geoJSON(JSON.parse(field.value), {
        style: { color: "#1f4e8c" },
        pointToLayer: function (_feature, latlng) {
          return L.circleMarker(latlng, { color: "#1f4e8c", radius: 7 });
        }
      });
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
        // As text: a tooltip given a string renders it as HTML, and ids come from ingested data.
        var label = document.createElement("span");
        label.textContent = String(feature.id);
        shapeLayer.bindTooltip(label);
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
