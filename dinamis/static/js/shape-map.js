/* A read-only map of one GeoJSON shape (an order's area of interest, a
   scene's footprint), fitted to it, over the app's offline land outline and
   the configured tiles if any. Served by the app with Leaflet (no CDN).
   Markup: <div class="map shape-map" data-shape="ID-OF-A-JSON-SCRIPT"
   data-land="URL" data-tiles="URL" data-attribution="TEXT"></div>. */
(function () {
  "use strict";
  if (!window.L) { return; }
  Array.prototype.forEach.call(document.querySelectorAll(".shape-map"), function (box) {
    var source = document.getElementById(box.dataset.shape);
    if (!source || box.dataset.drawn) { return; }
    box.dataset.drawn = "true";
    var map = L.map(box, { scrollWheelZoom: false });
    if (box.dataset.tiles) {
      L.tileLayer(box.dataset.tiles, { maxZoom: 18, attribution: box.dataset.attribution || "" }).addTo(map);
    }
    var shape = L.geoJSON(JSON.parse(source.textContent), {
      style: { color: "#1f4e8c", weight: 2, fillOpacity: 0.2 }
    }).addTo(map);
    map.fitBounds(shape.getBounds(), { padding: [24, 24], maxZoom: 10 });
    fetch(box.dataset.land).then(function (r) { return r.json(); }).then(function (land) {
      L.geoJSON(land, {
        interactive: false,
        style: { color: "#6b7a8f", weight: 1, fillColor: "#e4e8ee", fillOpacity: 1 }
      }).addTo(map).bringToBack();
    }).catch(function () { /* the shape is still shown without the outline */ });
  });
})();
