/* The base every map of the portal shares: a Leaflet map in `box` with the
   configured tiles (data-tiles, data-attribution) if any, and the app's
   offline land outline (data-land) behind everything drawn on it.
   Served by the app with Leaflet (no CDN). */
window.dinamisBaseMap = function (box, options) {
  "use strict";
  var map = L.map(box, options);
  if (box.dataset.tiles) {
    L.tileLayer(box.dataset.tiles, { maxZoom: 18, attribution: box.dataset.attribution || "" }).addTo(map);
  }
  fetch(box.dataset.land).then(function (r) { return r.json(); }).then(function (land) {
    L.geoJSON(land, {
      interactive: false,
      style: { color: "#6b7a8f", weight: 1, fillColor: "#e4e8ee", fillOpacity: 1 }
    }).addTo(map).bringToBack();
  }).catch(function () { /* the map still works without the outline */ });
  return map;
};
