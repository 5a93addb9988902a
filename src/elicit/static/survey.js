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
  // Follow-up questions (.follow-up): a question whose condition reads answers on this page is hidden while that
  // condition, compiled by the server into data-relevant (elicit/survey/conditions.py), is false, and shown, with
  // a word to screen readers, as soon as the answers make it true. Hiding never clears what was typed (the server
  // keeps it, as no answer). A condition the browser cannot judge (an answer it cannot read) leaves it shown.
  var followUps = Array.prototype.slice.call(document.querySelectorAll(".follow-up[data-relevant]"));
  var questionnaire = followUps.length ? followUps[0].closest("form") : null;
  if (questionnaire) {
    var UNKNOWN = {};
    var rules = followUps.map(function (block) {
      try { return JSON.parse(block.getAttribute("data-relevant")); } catch (e) { return null; }
    });
    var status = document.createElement("p");
    status.className = "visually-hidden";
    status.setAttribute("aria-live", "polite");
    status.setAttribute("data-follow-up-status", "");
    questionnaire.appendChild(status);
    var fieldsNamed = function (name) { return questionnaire.querySelectorAll('[name="' + name + '"]'); };
    followUps.forEach(function (block, index) {
      if (!rules[index]) { return; }
      var note = block.querySelector(".condition-note");
      if (note) { note.hidden = true; }  // the question appears when it applies: the note is not needed
      (block.getAttribute("data-controls") || "").split(" ").forEach(function (name) {
        if (!name) { return; }
        fieldsNamed(name).forEach(function (input) {
          var ids = (input.getAttribute("aria-controls") || "").split(" ").filter(Boolean);
          if (ids.indexOf(block.id) < 0) { ids.push(block.id); }
          input.setAttribute("aria-controls", ids.join(" "));
        });
      });
    });
    // Values as the server's expressions see them: null, booleans, text, lists, integers as numbers and decimals
    // as {f: number} (an integer and a text compare as text, a decimal and a text never do).
    var isNumber = function (v) {
      return typeof v === "number" || (v !== null && typeof v === "object" && !Array.isArray(v) && typeof v.f === "number");
    };
    var numberOf = function (v) { return typeof v === "number" ? v : v.f; };
    var truth = function (v) {
      if (v === null || v === undefined) { return false; }
      if (typeof v === "boolean") { return v; }
      if (isNumber(v)) { return numberOf(v) !== 0; }
      if (typeof v === "string" || Array.isArray(v)) { return v.length > 0; }
      return true;
    };
    var codeText = function (v) {  // what Python's str() gives for a choice code
      if (typeof v === "string") { return v; }
      if (typeof v === "boolean") { return v ? "True" : "False"; }
      if (typeof v === "number") { return String(v); }
      if (isNumber(v)) { return Number.isInteger(v.f) && Math.abs(v.f) < 1e16 ? v.f.toFixed(1) : String(v.f); }
      return null;
    };
    var equal = function (a, b) {
      if (a === null || b === null) { return a === null && b === null; }
      if (typeof a === "boolean" || typeof b === "boolean") { return a === b; }
      if (isNumber(a) && isNumber(b)) { return numberOf(a) === numberOf(b); }
      var textual = function (v) { return typeof v === "number" || typeof v === "string"; };
      if (textual(a) && textual(b)) { return codeText(a) === codeText(b); }
      if (Array.isArray(a) && Array.isArray(b)) {
        return a.length === b.length && a.every(function (x, i) { return equal(x, b[i]); });
      }
      return false;
    };
    var textOrder = function (a, b) {  // by code point, as Python orders text
      var x = Array.from(a), y = Array.from(b);
      for (var i = 0; i < Math.min(x.length, y.length); i++) {
        var d = x[i].codePointAt(0) - y[i].codePointAt(0);
        if (d) { return d; }
      }
      return x.length - y.length;
    };
    var answered = function (v) {
      if (v === null) { return false; }
      return typeof v === "string" || Array.isArray(v) ? v.length > 0 : true;
    };
    var compare = function (op, a, b) {
      if (op === "==") { return equal(a, b); }
      if (op === "!=") { return !equal(a, b); }
      if (op === "in" || op === "not in") {
        var found = a !== null && Array.isArray(b) && b.some(function (x) { return equal(a, x); });
        return op === "in" ? found : !found;
      }
      var x, y;
      if (isNumber(a) && isNumber(b)) { x = numberOf(a); y = numberOf(b); }
      else if (typeof a === "string" && typeof b === "string") { x = textOrder(a, b); y = 0; }
      else { return false; }
      return op === "<" ? x < y : op === "<=" ? x <= y : op === ">" ? x > y : op === ">=" ? x >= y : false;
    };
    var read = function (name, spec, hidden) {  // an answer of the page, as the item's type parses it
      if (hidden[name]) { return null; }  // a question hidden itself is unanswered
      if (!spec) { throw UNKNOWN; }
      var dontKnow = fieldsNamed(name + ".dont_know");
      if (spec.dk && dontKnow.length && dontKnow[0].checked) { return null; }
      var inputs = Array.prototype.slice.call(fieldsNamed(name));
      if (spec.k === "one" || spec.k === "many") {
        var keys = spec.codes.map(function (pair) { return pair[0]; });
        var chosen = [];
        inputs.forEach(function (input) {
          var on = input.tagName === "SELECT" ? input.value !== "" : input.checked;
          if (!on) { return; }
          var at = keys.indexOf(input.value);
          if (at < 0) { throw UNKNOWN; }
          chosen.push(at);
        });
        chosen.sort(function (a, b) { return a - b; });
        var codes = chosen.map(function (at) { return spec.codes[at][1]; });
        if (spec.k === "many") { return codes.length ? codes : null; }
        if (codes.length > 1) { throw UNKNOWN; }
        return codes.length ? codes[0] : null;
      }
      var text = inputs.length ? inputs[0].value : "";
      if (spec.k === "text") {
        text = text.replace(/\r\n?/g, "\n").trim();
        if (!spec.multiline) { text = text.split("\n").join(" "); }
        if (Array.from(text).length > spec.max) { throw UNKNOWN; }
        return text === "" ? null : text;
      }
      text = text.normalize("NFKC").replace(digits, asciiDigits).trim().replace("\u2212", "-");
      if (text === "") { return null; }
      var whole = spec.k === "int";
      var pattern = whole ? /^[+-]?\d{1,15}$/ : /^[+-]?(\d{1,15}([.,]\d{0,12})?|[.,]\d{1,12})$/;
      var n = Number(text.replace(",", "."));
      if (!pattern.test(text) || !isFinite(n)) { throw UNKNOWN; }
      if ((spec.min !== null && n < spec.min) || (spec.max !== null && n > spec.max)) { throw UNKNOWN; }
      return whole ? n : {f: n};
    };
    var evaluate = function (node, rule, hidden) {
      var rest = function () { return node.slice(1).map(function (x) { return evaluate(x, rule, hidden); }); };
      var i;
      switch (node[0]) {
        case "lit": return node[1];
        case "float": return {f: node[1]};
        case "list": return rest();
        case "ref": return read(node[1], rule.r[node[1]], hidden);
        case "not": return !truth(evaluate(node[1], rule, hidden));
        case "and":
          for (i = 1; i < node.length; i++) { if (!truth(evaluate(node[i], rule, hidden))) { return false; } }
          return true;
        case "or":
          for (i = 1; i < node.length; i++) { if (truth(evaluate(node[i], rule, hidden))) { return true; } }
          return false;
        case "cmp": return compare(node[1], evaluate(node[2], rule, hidden), evaluate(node[3], rule, hidden));
        case "call":
          var args = node.slice(2).map(function (x) { return evaluate(x, rule, hidden); });
          if (node[1] === "answered") { return answered(args[0]); }
          if (node[1] === "selected") {
            var wanted = codeText(args[1]);
            if (wanted === null || !answered(args[0])) { return false; }
            var values = Array.isArray(args[0]) ? args[0] : [args[0]];
            return values.some(function (v) { return codeText(v) === wanted; });
          }
          if (node[1] === "count_selected") {
            return !answered(args[0]) ? 0 : Array.isArray(args[0]) ? args[0].length : 1;
          }
      }
      throw UNKNOWN;
    };
    var judge = function (announce) {
      var hidden = {};  // items of hidden questions, unanswered for the conditions after them (in page order)
      followUps.forEach(function (block, index) {
        var rule = rules[index];
        if (!rule) { return; }
        var show;
        try { show = truth(evaluate(rule.e, rule, hidden)); } catch (e) { show = true; }
        if (!show) {
          hidden[block.getAttribute("data-item")] = true;
          block.querySelectorAll("[name]").forEach(function (input) { hidden[input.name.split(".")[0]] = true; });
        }
        if (block.hidden !== show) { return; }
        block.hidden = !show;
        if (show && announce) { status.textContent = block.getAttribute("data-announce") || ""; }
      });
    };
    questionnaire.addEventListener("input", function () { judge(true); });
    questionnaire.addEventListener("change", function () { judge(true); });
    judge(false);
  }
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
