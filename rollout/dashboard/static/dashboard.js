// The rollout page's live parts: confirmations on actions, and the charts and text fed by
// the server-sent event stream. No inline script: the pages' CSP allows only files of ours.
(function () {
  "use strict";
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
  var root = document.getElementById("rollout");
  if (!root || typeof uPlot === "undefined") { return; }
  var live = document.getElementById("live");
  var times = [], weights = [], policySeries = {}, policyOrder = [];
  var palette = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2"];

  function width(el) { return Math.max(260, el.clientWidth - 10); }
  var weightEl = document.getElementById("weight-chart");
  var weightPlot = new uPlot({
    width: width(weightEl), height: 180,
    scales: { y: { range: [0, 100] } },
    series: [{}, { label: "canary weight %", stroke: "#2563eb", fill: "rgba(37,99,235,0.12)", width: 2 }],
    axes: [{}, { values: function (u, v) { return v.map(function (x) { return x + "%"; }); } }]
  }, [times, weights], weightEl);

  var evidenceEl = document.getElementById("evidence-chart");
  var evidencePlot = null;
  function rebuildEvidence() {
    var series = [{}], data = [times];
    policyOrder.forEach(function (name, i) {
      var color = palette[i % palette.length], s = policySeries[name];
      series.push({ label: name + " canary", stroke: color, width: 2 });
      data.push(s.canary);
      series.push({ label: name + " stable", stroke: color, dash: [4, 4], width: 1 });
      data.push(s.stable);
      series.push({ label: name + " threshold", stroke: "#9ca3af", dash: [2, 6], width: 1 });
      data.push(s.threshold);
    });
    if (evidencePlot) { evidencePlot.destroy(); }
    evidenceEl.textContent = "";
    evidencePlot = new uPlot({ width: width(evidenceEl), height: 200, series: series }, data, evidenceEl);
  }

  function addPoint(point) {
    times.push(point.at);
    weights.push(point.weight);
    var fresh = false;
    Object.keys(point.policies).forEach(function (name) {
      if (!policySeries[name]) {
        policySeries[name] = { canary: times.slice(0, -1).map(function () { return null; }) };
        policySeries[name].stable = policySeries[name].canary.slice();
        policySeries[name].threshold = policySeries[name].canary.slice();
        policyOrder.push(name);
        fresh = true;
      }
    });
    policyOrder.forEach(function (name) {
      var p = point.policies[name] || {};
      var s = policySeries[name];
      s.canary.push(p.canary === undefined ? null : p.canary);
      s.stable.push(p.stable === undefined ? null : p.stable);
      s.threshold.push(p.threshold === undefined ? null : p.threshold);
    });
    return fresh;
  }

  function setText(id, value) {
    var el = document.getElementById(id);
    if (el && value !== undefined && value !== null) { el.textContent = String(value); }
  }

  function renderEvidence(evidence) {
    var table = document.getElementById("evidence");
    document.getElementById("no-evidence").hidden = evidence.length > 0;
    table.hidden = evidence.length === 0;
    var body = table.querySelector("tbody");
    while (body.firstChild) { body.removeChild(body.firstChild); }
    evidence.forEach(function (e) {
      var tr = document.createElement("tr");
      [["Policy", e.policy], ["Check", e.check], ["Outcome", e.outcome], ["What it saw", e.message]]
        .forEach(function (cell) {
          var td = document.createElement("td");
          td.setAttribute("data-label", cell[0]);
          td.textContent = cell[1];
          if (cell[0] === "Outcome") { td.className = "outcome-" + cell[1]; }
          tr.appendChild(td);
        });
      body.appendChild(tr);
    });
  }

  var source = new EventSource(root.getAttribute("data-stream"));
  source.addEventListener("points", function (event) {
    var fresh = false;
    JSON.parse(event.data).forEach(function (point) { fresh = addPoint(point) || fresh; });
    weightPlot.setData([times, weights]);
    if (policyOrder.length) {
      if (fresh || !evidencePlot) { rebuildEvidence(); }
      else {
        var data = [times];
        policyOrder.forEach(function (n) { var s = policySeries[n]; data.push(s.canary, s.stable, s.threshold); });
        evidencePlot.setData(data);
      }
    } else { evidenceEl.textContent = "No analysis numbers yet."; }
    root.setAttribute("data-points", String(times.length));
    root.setAttribute("data-last-weight", String(weights[weights.length - 1]));
  });
  source.addEventListener("state", function (event) {
    var s = JSON.parse(event.data);
    setText("phase", s.phase);
    document.getElementById("phase").className = "phase phase-" + s.phase;
    setText("weight", s.weight);
    document.getElementById("weight-bar").value = s.weight;
    setText("stable", s.stable); setText("canary", s.canary);
    setText("verdict", s.verdict); setText("reason", s.reason); setText("message", s.message);
    setText("pending", s.pending || "none");
    var list = document.getElementById("steps");
    var items = list.querySelectorAll(".step");
    s.steps.forEach(function (step, i) {
      var item = items[i];
      if (!item) { item = document.createElement("li"); list.appendChild(item); }
      if (item.textContent !== step.text) { item.textContent = step.text; }
      item.className = "step step-" + step.status;
    });
    for (var i = s.steps.length; i < items.length; i++) { list.removeChild(items[i]); }
    renderEvidence(s.evidence);
    if (s.version !== root.getAttribute("data-version")) {
      setText("spec-version", s.version);
      document.getElementById("spec-changed").hidden = false;
    }
    live.textContent = "live · updated " + new Date().toLocaleTimeString();
  });
  source.addEventListener("denied", function () { live.textContent = "access withdrawn"; source.close(); });
  source.addEventListener("problem", function (event) { live.textContent = JSON.parse(event.data).message; });
  source.onerror = function () { live.textContent = "reconnecting…"; };
  window.addEventListener("resize", function () {
    weightPlot.setSize({ width: width(weightEl), height: 180 });
    if (evidencePlot) { evidencePlot.setSize({ width: width(evidenceEl), height: 200 }); }
  });
})();
