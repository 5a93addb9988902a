// Small enhancements only: the questionnaire works fully without JavaScript.
(function () {
  "use strict";
  // Live total for constant-sum questions.
  document.querySelectorAll(".constant-sum").forEach(function (group) {
    var inputs = group.querySelectorAll("input");
    var out = group.querySelector("output.sum");
    function update() {
      var total = 0, ok = true;
      inputs.forEach(function (input) {
        var v = input.value.trim().replace(",", ".");
        if (v === "") { return; }
        var n = Number(v);
        if (isNaN(n)) { ok = false; } else { total += n; }
      });
      out.textContent = ok ? String(Math.round(total * 1000) / 1000) : "?";
    }
    inputs.forEach(function (input) { input.addEventListener("input", update); });
  });
  // Move focus to the error summary (autofocus covers browsers that honour it on any element).
  var summary = document.querySelector(".error-summary");
  if (summary && document.activeElement !== summary) { summary.focus(); }
  // Preview pages (studio): forms are inert.
  document.querySelectorAll("form[data-preview]").forEach(function (form) {
    form.addEventListener("submit", function (event) { event.preventDefault(); });
  });
})();
