// evals-etl report: draws the page's charts from its embedded JSON, sorts and filters tables.
// Loaded after plotly.min.js (both deferred); reads nothing but this page.
"use strict";
(function () {
  var config = { displaylogo: false, responsive: true };

  function drawCharts() {
    var node = document.getElementById("report-charts");
    var specs = node ? JSON.parse(node.textContent) : [];
    var drawn = specs.map(function (spec) {
      var div = document.getElementById(spec.id);
      var select = document.querySelector('select[data-chart="' + spec.id + '"]');
      function draw(i) {
        var figure = spec.variants[i];
        return Plotly.react(div, figure.data, figure.layout, config);
      }
      if (select) {
        select.addEventListener("change", function () {
          div.dataset.variant = select.value;
          draw(Number(select.value));
        });
      }
      div.dataset.variant = "0";
      return draw(0);
    });
    Promise.all(drawn).then(function () {
      document.body.dataset.chartsDrawn = String(specs.length);
    });
  }

  function sortKey(cell) {
    var value = cell.dataset.value;
    if (value !== undefined) {
      if (value === "") { return null; }
      var number = Number(value);
      return isNaN(number) ? value.toLowerCase() : number;
    }
    return cell.textContent.trim().toLowerCase();
  }

  function compare(a, b) {
    if (a === b) { return 0; }
    if (a === null) { return 1; }  // empty cells last, either way
    if (b === null) { return -1; }
    if (typeof a !== typeof b) { return typeof a === "number" ? -1 : 1; }
    return a < b ? -1 : 1;
  }

  function sortable(table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, column) {
      th.addEventListener("click", function () {
        var dir = th.dataset.dir === "asc" ? "desc" : "asc";
        Array.prototype.forEach.call(heads, function (h) { delete h.dataset.dir; });
        th.dataset.dir = dir;
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var a = sortKey(r1.cells[column]), b = sortKey(r2.cells[column]);
          if (a === null || b === null) { return compare(a, b); }
          return dir === "asc" ? compare(a, b) : compare(b, a);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }

  function filterable(table) {
    var id = table.id;
    var text = document.querySelector('[data-filter-for="' + id + '"]');
    var status = document.querySelector('[data-status-for="' + id + '"]');
    var regressed = document.querySelector('[data-regressed-for="' + id + '"]');
    var shown = document.querySelector('[data-shown-for="' + id + '"]');
    if (!text) { return; }
    function apply() {
      var query = text.value.trim().toLowerCase();
      var rows = table.tBodies[0].rows, visible = 0;
      Array.prototype.forEach.call(rows, function (row) {
        var keep = (!query || row.textContent.toLowerCase().indexOf(query) >= 0) &&
          (!status || !status.value || row.dataset.status === status.value) &&
          (!regressed || !regressed.checked || row.classList.contains("regressed"));
        row.hidden = !keep;
        visible += keep ? 1 : 0;
      });
      if (shown) { shown.textContent = visible + " of " + rows.length + " shown"; }
    }
    [text, status, regressed].forEach(function (el) {
      if (el) { el.addEventListener("input", apply); el.addEventListener("change", apply); }
    });
    apply();
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), sortable);
  Array.prototype.forEach.call(document.querySelectorAll("table[id]"), filterable);
  drawCharts();
})();
