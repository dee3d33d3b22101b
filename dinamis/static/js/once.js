// One-time form tokens (dinamis/core/idempotency.py). A form that was sent and
// is reached again with Back must send the token of its first submission: the
// server then shows what that submission made instead of making it twice. A
// page restored from the back-forward cache keeps its token by itself; a page
// the browser loads again gets a fresh one, which this puts back.
(function () {
  "use strict";
  var entry = window.performance && performance.getEntriesByType
    ? performance.getEntriesByType("navigation")[0] : null;
  var back = entry && entry.type === "back_forward";

  function keyOf(form) {
    var index = Array.prototype.indexOf.call(document.forms, form);
    return "dinamis.once:" + location.pathname + location.search + "#" + index;
  }

  function remember(key, value) {
    try { sessionStorage.setItem(key, value); } catch (e) { /* storage off: no memory */ }
  }

  function recall(key) {
    try { return sessionStorage.getItem(key); } catch (e) { return null; }
  }

  document.querySelectorAll('input[name="once"]').forEach(function (input) {
    var form = input.form;
    if (!form) { return; }
    var key = keyOf(form);
    var sent = back ? recall(key) : null;
    if (sent) { input.value = sent; }
    form.addEventListener("submit", function () { remember(key, input.value); });
  });
})();
