// Small enhancements only: the questionnaire works fully without JavaScript.
(function () {
  "use strict";
  // Live total for constant-sum questions.
  document.querySelectorAll(".constant-sum").forEach(function (group) {
    var inputs = group.querySelectorAll("input");
    var out = group.querySelector("output.sum");
    var note = group.querySelector(".total-note");  // says the total is the saved one: here it is live
    if (note) { note.hidden = true; }
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
  // Sliders: moving the thumb writes its number in the box, typing a number moves the thumb, and emptying the box
  // puts the thumb back where the page put it (so the question is unanswered again, as without JavaScript).
  var digits = /[\u0660-\u0669\u06f0-\u06f9\uff10-\uff19]/g;
  function asciiDigits(ch) {
    var code = ch.charCodeAt(0);
    var zero = code >= 0xff10 ? 0xff10 : code >= 0x06f0 ? 0x06f0 : 0x0660;
    return String(code - zero);
  }
  document.querySelectorAll(".question.slider").forEach(function (group) {
    var range = group.querySelector('input[type="range"]');
    var box = group.querySelector("input.short");
    var start = group.querySelector('input[type="hidden"]');
    if (!range || !box || !start) { return; }
    range.addEventListener("input", function () { box.value = range.value; });
    box.addEventListener("input", function () {
      var text = box.value.trim().replace(digits, asciiDigits).replace(",", ".").replace("\u2212", "-");
      if (text === "") { range.value = start.value; return; }
      var n = Number(text);
      if (isFinite(n)) { range.value = String(n); }
    });
  });
  // Date fields: where the browser has its own date control, the hint about typing year-month-day is not needed.
  document.querySelectorAll('input[type="date"]').forEach(function (input) {
    var hint = document.getElementById(input.name + "-format");
    if (input.type !== "date" || !hint) { return; }
    hint.hidden = true;
    var ids = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
      return id && id !== hint.id;
    });
    if (ids.length) { input.setAttribute("aria-describedby", ids.join(" ")); } else { input.removeAttribute("aria-describedby"); }
  });
  // Move focus to the error summary (autofocus covers browsers that honour it on any element).
  var summary = document.querySelector(".error-summary");
  if (summary && document.activeElement !== summary) { summary.focus(); }
  // "Show my distribution": ask the server for the drawing alone and put it in place, keeping focus on the button.
  // Without JavaScript (or when the answer is not the drawing: errors, an expired session) the page is posted.
  document.querySelectorAll("button.show-distribution").forEach(function (button) {
    var form = button.form;
    var result = document.getElementById(button.getAttribute("data-result"));
    if (!form || !result || form.hasAttribute("data-preview") || !window.fetch || !window.URLSearchParams) { return; }
    button.addEventListener("click", function (event) {
      event.preventDefault();
      var data = new URLSearchParams(new FormData(form));
      data.append(button.name, button.value);
      result.setAttribute("aria-busy", "true");
      fetch(form.action, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: {"Elicit-Fragment": "distribution"}
      }).then(function (response) {
        if (response.status !== 200 || response.headers.get("Elicit-Fragment") !== "distribution") {
          throw new Error("not the drawing");
        }
        return response.text();
      }).then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(result.id);
        if (!fresh) { throw new Error("not the drawing"); }
        result.replaceChildren.apply(result, Array.prototype.slice.call(fresh.childNodes));
        result.removeAttribute("aria-busy");
      }).catch(function () {
        result.removeAttribute("aria-busy");
        if (form.requestSubmit) { form.requestSubmit(button); } else { form.submit(); }
      });
    });
  });
  // Preview pages (studio): forms are inert.
  document.querySelectorAll("form[data-preview]").forEach(function (form) {
    form.addEventListener("submit", function (event) { event.preventDefault(); });
  });
})();
