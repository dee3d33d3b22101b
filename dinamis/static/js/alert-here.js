// The tasking form: when the coverage preview says the catalogue does not cover the
// whole area yet, offer "alert me when imagery arrives here" (a saved search of the AOI).
(function () {
  "use strict";
  var coverage = document.getElementById("aoi-coverage");
  var offer = document.getElementById("alert-here");
  var link = document.getElementById("alert-here-link");
  var field = document.getElementById("aoi");
  if (!coverage || !offer || !link || !field) { return; }
  function value(id) { var el = document.getElementById(id); return el ? el.value : ""; }
  function update() {
    var percent = parseFloat(coverage.dataset.percent || "");
    var uncovered = !coverage.hidden && field.value && !isNaN(percent) && percent < 100;
    offer.hidden = !uncovered;
    if (!uncovered) { return; }
    var query = new URLSearchParams({ from: "tasking", aoi: field.value });
    if (value("max_cloud_cover")) { query.set("max_cloud", value("max_cloud_cover")); }
    if (value("max_incidence")) { query.set("max_incidence", value("max_incidence")); }
    link.href = offer.dataset.new + "?" + query.toString();
  }
  new MutationObserver(update).observe(coverage, {
    attributes: true, attributeFilter: ["data-percent", "hidden"]
  });
})();
