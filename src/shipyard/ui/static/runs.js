// Run pages: pick runs to compare on /runs, and draw metric line charts on /runs/{id} and /compare.
"use strict";

(function () {
  const chooser = document.getElementById("experiment");
  if (chooser) chooser.addEventListener("change", () => chooser.form.submit());
})();

(function () {
  const form = document.getElementById("compare-form");
  if (!form) return;
  const boxes = Array.from(form.querySelectorAll("input[name=ids]"));
  const button = document.getElementById("compare");
  const label = document.getElementById("selected");
  const all = document.getElementById("select-all");

  function picked() {
    return boxes.filter((box) => box.checked).map((box) => box.value);
  }

  function update() {
    const ids = picked();
    button.disabled = ids.length < 2;
    label.textContent = ids.length ? ids.length + " selected" : "select 2 or more runs";
    all.checked = boxes.length > 0 && ids.length === boxes.length;
  }

  boxes.forEach((box) => box.addEventListener("change", update));
  all.addEventListener("change", () => {
    boxes.forEach((box) => { box.checked = all.checked; });
    update();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const ids = picked();
    if (ids.length >= 2) window.location.href = "/compare?ids=" + ids.map(encodeURIComponent).join(",");
  });
  update();
})();

// Plotly reads trace names as a little HTML; entities keep user text literal.
function shipyardText(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// charts: [{key, lines: [{name, steps, values}]}]; each is drawn into [data-chart=index].
function shipyardDrawCharts(charts) {
  charts.forEach((chart, index) => {
    const element = document.querySelector('[data-chart="' + index + '"]');
    if (!element) return;
    const traces = chart.lines.map((line) => ({
      type: "scatter",
      mode: line.steps.length > 50 ? "lines" : "lines+markers",
      name: shipyardText(line.name),
      x: line.steps,
      y: line.values,
    }));
    const several = chart.lines.length > 1;
    const layout = {
      height: 280,
      margin: { l: 55, r: 15, t: several ? 35 : 10, b: 40 },
      xaxis: { title: { text: "step" } },
      showlegend: several,
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
    };
    Plotly.newPlot(element, traces, layout, { displaylogo: false, responsive: true });
  });
}
