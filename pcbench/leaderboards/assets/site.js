// pcbench HTML leaderboard: sort a table by the clicked column, switch the last/best
// timestep columns, show the chosen per-timestep curve. No library, no request.
"use strict";

function sortKey(cell) {
  const text = cell.dataset.value ?? cell.textContent.trim();
  if (text === "") return null;
  const number = Number(text);
  return Number.isNaN(number) ? text : number;
}

function compareKeys(a, b, descending) {
  if (a === null || b === null) return (a === null) - (b === null); // missing values last
  const order = a < b ? -1 : a > b ? 1 : 0;
  return descending ? -order : order;
}

function sortTable(table, header) {
  const column = header.cellIndex;
  const descending = header.getAttribute("aria-sort") !== "descending";
  table.querySelectorAll("th").forEach((th) => th.removeAttribute("aria-sort"));
  header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((a, b) => compareKeys(sortKey(a.cells[column]), sortKey(b.cells[column]), descending));
  rows.forEach((row) => body.appendChild(row));
}

document.querySelectorAll("table.sortable th").forEach((header) => {
  header.addEventListener("click", () => sortTable(header.closest("table"), header));
});

document.querySelectorAll('input[name="at"]').forEach((input) => {
  input.addEventListener("change", () => {
    document.querySelectorAll("table[data-at]").forEach((table) => {
      table.dataset.at = input.value;
    });
  });
});

function showCurve() {
  const metric = document.getElementById("metric").value;
  const view = document.getElementById("view").value;
  let shown = false;
  document.querySelectorAll("figure.curve").forEach((figure) => {
    figure.hidden = figure.dataset.metric !== metric || figure.dataset.view !== view;
    shown = shown || !figure.hidden;
  });
  document.getElementById("no-curve").hidden = shown;
}

if (document.getElementById("metric")) {
  ["metric", "view"].forEach((id) => document.getElementById(id).addEventListener("change", showCurve));
  showCurve();
}
