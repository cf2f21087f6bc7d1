// The console's own script, a few lines beside htmx: every page works without it.
// The language switch comes back to the page as it is now: htmx may have changed the page's address
// (a board's worklist) since the server wrote the form.
document.addEventListener("submit", (event) => {
  const next = event.target.querySelector("input[name=next][data-current-page]");
  if (next) next.value = window.location.pathname + window.location.search;
});

// Below 600 px a table stacks its cells one under another and hides its header row (console.css): each
// cell of a table with a header then says its column's name before its value (data-label, td::before),
// also in rows htmx brings in later.
function nameTheCells() {
  for (const table of document.querySelectorAll("table")) {
    const names = Array.from(table.querySelectorAll("thead th"), (th) => th.textContent.trim());
    if (!names.length) continue;
    for (const row of table.querySelectorAll("tbody tr")) {
      Array.from(row.children).forEach((cell, i) => {
        if (names[i] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", names[i]);
      });
    }
  }
}
document.addEventListener("DOMContentLoaded", nameTheCells);
document.addEventListener("htmx:afterSettle", nameTheCells);
