/* A read-only map of one GeoJSON shape (an order's area of interest, a
   scene's footprint), fitted to it, on the portal's base map (base-map.js).
   Markup: <div class="map shape-map" data-shape="ID-OF-A-JSON-SCRIPT"
   data-land="URL" data-tiles="URL" data-attribution="TEXT"></div>. */
(function () {
  "use strict";
  if (!window.L || !window.dinamisBaseMap) { return; }
  Array.prototype.forEach.call(document.querySelectorAll(".shape-map"), function (box) {
    var source = document.getElementById(box.dataset.shape);
    if (!source || box.dataset.drawn) { return; }
    box.dataset.drawn = "true";
    var map = window.dinamisBaseMap(box, { scrollWheelZoom: false });
    var shape = L.geoJSON(JSON.parse(source.textContent), {
      style: { color: "#1f4e8c", weight: 2, fillOpacity: 0.2 }
    }).addTo(map);
    map.fitBounds(shape.getBounds(), { padding: [24, 24], maxZoom: 10 });
  });
})();
