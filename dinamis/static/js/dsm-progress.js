/* A surface-model request's page follows its computation: the state and the progress
   are asked again every 3 seconds; once the request has moved on to another state the
   page is loaded again (the product, or why it failed). */
(function () {
  "use strict";
  var card = document.getElementById("dsm-progress-card");
  if (!card) { return; }
  var bar = document.getElementById("dsm-progress");
  var text = document.getElementById("dsm-progress-text");
  var tag = document.getElementById("dsm-status");
  var status = card.dataset.status;
  function ask() {
    fetch(card.dataset.progress, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.status !== status) { window.location.reload(); return; }
        bar.value = body.progress;
        bar.textContent = body.progress + " %";
        text.textContent = body.progress + " %" + (body.message ? " · " + body.message : "");
        if (tag) { tag.textContent = body.status_words; }
        setTimeout(ask, 3000);
      })
      .catch(function () { setTimeout(ask, 10000); });
  }
  setTimeout(ask, 3000);
})();
