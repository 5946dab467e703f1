"use strict";
// Sorting, filtering and a self-test hook. The page is complete without this script.
(function () {
  var violations = [];
  document.addEventListener("securitypolicyviolation", function (e) {
    violations.push(String(e.violatedDirective) + " " + String(e.blockedURI));
  });
  function cellText(row, key) {
    var c = row.querySelector("td[data-key=\"" + key + "\"]");
    if (!c) return "";
    return c.getAttribute("data-sort") || c.textContent.trim();
  }
  function rowsOf(tbody) {
    return Array.prototype.filter.call(tbody.rows, function (r) { return r.classList.contains("asset"); });
  }
  function sortTable(table, key, descending) {
    var cmp = function (a, b) {
      var x = cellText(a, key).toLowerCase(), y = cellText(b, key).toLowerCase();
      var none = function (v) { return v === "" || v === "\u2013"; };
      if (none(x) !== none(y)) return none(x) ? 1 : -1; // unknown last, either way
      var r = x < y ? -1 : x > y ? 1 : 0;
      if (r === 0) r = cellText(a, "ip") < cellText(b, "ip") ? -1 : 1;
      return descending ? -r : r;
    };
    Array.prototype.forEach.call(table.tBodies, function (tb) {
      rowsOf(tb).sort(cmp).forEach(function (r) { tb.appendChild(r); });
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      var k = th.getAttribute("data-key");
      if (k) th.setAttribute("aria-sort", k === key ? (descending ? "descending" : "ascending") : "none");
    });
  }
  function matches(row, tokens) {
    return tokens.every(function (t) {
      var i = t.indexOf(":");
      if (i > 0) {
        var c = row.querySelector("td[data-key=\"" + t.slice(0, i) + "\"]");
        return !!c && c.textContent.toLowerCase().indexOf(t.slice(i + 1)) >= 0;
      }
      return row.textContent.toLowerCase().indexOf(t) >= 0;
    });
  }
  function applyFilter() {
    var box = document.getElementById("filter"), flag = document.getElementById("flagged");
    var tokens = (box ? box.value : "").toLowerCase().split(/\s+/).filter(Boolean);
    var only = !!(flag && flag.checked), shown = 0, all = 0;
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable tbody"), function (tb) {
      rowsOf(tb).forEach(function (r) {
        var ok = matches(r, tokens) && (!only || r.classList.contains("flagged"));
        r.hidden = !ok; all++; if (ok) shown++;
      });
    });
    var out = document.getElementById("shown");
    if (out) out.textContent = shown + " of " + all + " shown";
  }
  function ips(selector) {
    return Array.prototype.map.call(document.querySelectorAll(selector), function (r) { return r.getAttribute("data-ip"); });
  }
  function selftest(spec) {
    // #selftest:sort=vendor:desc:filter=siemens (colons separate; `filter` takes the rest)
    var opts = {}, parts = decodeURIComponent(spec).split(":");
    for (var i = 0; i < parts.length; i++) {
      var kv = parts[i].split("=");
      if (kv[0] === "filter") { opts.filter = [kv.slice(1).join("=")].concat(parts.slice(i + 1)).join(":"); break; }
      opts[kv[0]] = kv.length > 1 ? kv.slice(1).join("=") : true;
    }
    var table = document.querySelector("table.sortable");
    if (table && opts.sort) sortTable(table, opts.sort, !!opts.desc);
    var box = document.getElementById("filter");
    if (box && opts.filter !== undefined) box.value = opts.filter;
    if (opts.flagged) document.getElementById("flagged").checked = true;
    applyFilter();
    var res = {
      script: "ran",
      sorted_by: opts.sort || null,
      order: ips("table.sortable tbody tr.asset"),
      visible: ips("table.sortable tbody tr.asset:not([hidden])"),
      map_nodes: document.querySelectorAll("svg.map g.node").length,
      map_edges: document.querySelectorAll("svg.map g.edge").length,
      warn_edges: document.querySelectorAll("svg.map g.edge.warn").length,
      resources: performance.getEntriesByType("resource").length,
      linking: document.querySelectorAll("[src],[href],[srcset],[action],[formaction],[poster],[data],[xlink\\:href],iframe,object,embed,link,base").length,
      violations: violations
    };
    var pre = document.getElementById("selftest");
    pre.textContent = JSON.stringify(res);
    pre.hidden = false;
  }
  document.addEventListener("DOMContentLoaded", function () {
    var controls = document.getElementById("controls");
    if (controls) controls.hidden = false;
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
        var key = th.getAttribute("data-key");
        if (!key) return;
        var go = function () { sortTable(table, key, th.getAttribute("aria-sort") === "ascending"); };
        th.addEventListener("click", go);
        th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); } });
      });
    });
    var box = document.getElementById("filter"), flag = document.getElementById("flagged");
    if (box) box.addEventListener("input", applyFilter);
    if (flag) flag.addEventListener("change", applyFilter);
    applyFilter();
    var h = location.hash;
    if (h.indexOf("#selftest") === 0) {
      // Resource timing and CSP reports arrive after load: wait for them.
      window.addEventListener("load", function () { setTimeout(function () { selftest(h.slice(10)); }, 50); });
    }
  });
})();
