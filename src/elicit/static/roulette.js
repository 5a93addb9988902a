// Roulette ("chips and bins") questions: shows the board of bins, where pressing a bin's column adds a chip and its
// minus button takes one away. The number boxes stay the form's fields: the board writes them and follows them,
// so the answer posted is the same with or without JavaScript.
(function () {
  "use strict";
  var digits = /[\u0660-\u0669\u06f0-\u06f9\uff10-\uff19]/g;
  function asciiDigits(ch) {
    var code = ch.charCodeAt(0);
    var zero = code >= 0xff10 ? 0xff10 : code >= 0x06f0 ? 0x06f0 : 0x0660;
    return String(code - zero);
  }
  function count(input) {
    var text = input.value.trim().replace(digits, asciiDigits);
    if (text === "") { return 0; }
    return /^\d+$/.test(text) ? Number(text) : NaN;
  }
  document.querySelectorAll(".question.roulette").forEach(function (group) {
    if (group.getAttribute("data-ready") === "yes") { return; }  // the script is included once per question
    group.setAttribute("data-ready", "yes");
    var board = group.querySelector(".roulette-board");
    var status = group.querySelector(".total");
    var chips = Number(group.getAttribute("data-chips"));
    var template = group.getAttribute("data-status") || "";
    if (!board || !status || !chips) { return; }
    var columns = [];
    board.querySelectorAll(".roulette-column").forEach(function (column) {
      var add = column.querySelector(".roulette-add");
      var input = document.getElementById(add.getAttribute("data-field"));
      if (!input) { return; }
      columns.push({
        input: input,
        add: add,
        remove: column.querySelector(".roulette-remove"),
        stack: column.querySelector(".roulette-stack"),
        shown: column.querySelector(".roulette-count")
      });
    });
    function placed() {
      var total = 0;
      for (var i = 0; i < columns.length; i += 1) {
        var n = count(columns[i].input);
        if (isNaN(n)) { return NaN; }
        total += n;
      }
      return total;
    }
    function draw() {
      var total = placed();
      columns.forEach(function (c) {
        var n = count(c.input);
        var wanted = isNaN(n) ? 0 : Math.min(n, chips);
        while (c.stack.children.length > wanted) { c.stack.removeChild(c.stack.lastChild); }
        while (c.stack.children.length < wanted) {
          var chip = document.createElement("span");
          chip.className = "roulette-chip";
          c.stack.appendChild(chip);
        }
        c.shown.textContent = isNaN(n) ? "?" : String(n);
        c.remove.disabled = isNaN(n) || n === 0;
        c.add.setAttribute("aria-disabled", isNaN(total) || total >= chips ? "true" : "false");
      });
      status.textContent = template.replace("{placed}", isNaN(total) ? "?" : String(total));
      group.classList.toggle("roulette-full", total === chips);
    }
    function change(c, by) {
      var n = count(c.input);
      var total = placed();
      if (isNaN(n) || isNaN(total)) { return; }
      if (by > 0 && total >= chips) { return; }
      n = Math.max(0, n + by);
      c.input.value = n === 0 ? "" : String(n);
      draw();
    }
    columns.forEach(function (c) {
      c.add.addEventListener("click", function () { change(c, 1); });
      c.remove.addEventListener("click", function () { change(c, -1); });
      c.input.addEventListener("input", draw);
    });
    board.hidden = false;
    draw();
  });
})();
