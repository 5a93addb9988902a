// Elicit Studio: progressive enhancement only; every page works without it.
// An e-mail batch that is still sending carries on by itself: the page posts its own "Continue sending" form
// again after a moment (each post sends one slice, then shows this page again).
(function () {
  "use strict";
  var job = document.getElementById("mail-job");
  var form = document.getElementById("mail-continue");
  if (!job || !form || job.getAttribute("data-auto") !== "1") {
    return;
  }
  window.setTimeout(function () {
    form.submit();
  }, 800);
})();
