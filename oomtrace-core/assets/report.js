// oomtrace report: open an OOM from the timeline, list the OOMs through a
// frame of the merged stacks. Nothing here loads anything.
(function () {
  "use strict";
  function openOom(id) {
    var el = document.getElementById(id);
    if (!el) return false;
    document.querySelectorAll(".oom.target").forEach(function (e) { e.classList.remove("target"); });
    el.classList.add("target");
    var d = el.querySelector("details.report");
    if (d) d.open = true;
    el.scrollIntoView({ block: "start" });
    return true;
  }
  document.querySelectorAll("#timeline a.mark").forEach(function (a) {
    a.addEventListener("click", function (e) {
      e.preventDefault();
      var id = "oom-" + a.getAttribute("data-session") + "-" + a.getAttribute("data-seq");
      if (openOom(id)) history.replaceState(null, "", "#" + id);
    });
  });
  if (location.hash.indexOf("#oom-") === 0) openOom(location.hash.slice(1));
  var pick = document.getElementById("flame-pick");
  function path(g) {
    var names = [];
    while (g) {
      names.unshift(g.getAttribute("data-name"));
      var p = g.getAttribute("data-parent");
      g = p === null ? null : document.querySelector('#flame g[data-node="' + p + '"]');
    }
    return names.slice(1);
  }
  document.querySelectorAll("#flame g.frame").forEach(function (g) {
    g.addEventListener("click", function () {
      document.querySelectorAll("#flame .picked").forEach(function (e) { e.classList.remove("picked"); });
      g.classList.add("picked");
      var seqs = (g.getAttribute("data-seqs") || "").split(" ").filter(Boolean);
      var n = +g.getAttribute("data-count");
      pick.textContent = "";
      var h = document.createElement("div");
      h.textContent = n + " OOM" + (n === 1 ? "" : "s") + " through " + (path(g).join(" → ") || "any stack") +
        (seqs.length < n ? " (the first " + seqs.length + " listed)" : "") + ":";
      pick.appendChild(h);
      seqs.forEach(function (s) {
        var parts = s.split("-");
        var id = "oom-" + s;
        var a = document.createElement("a");
        a.href = "#" + id;
        a.className = "seq";
        a.textContent = "#" + parts[1] + " ";
        if (!document.getElementById(id)) a.title = "no section of its own (detail limit)";
        a.addEventListener("click", function (e) { e.preventDefault(); openOom(id); });
        pick.appendChild(a);
      });
      pick.hidden = false;
    });
  });
})();
