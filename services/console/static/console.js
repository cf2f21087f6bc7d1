// The console's own script, a few lines beside htmx: every page works without it.
// The language switch comes back to the page as it is now: htmx may have changed the page's address
// (a board's worklist) since the server wrote the form.
document.addEventListener("submit", (event) => {
  const next = event.target.querySelector("input[name=next][data-current-page]");
  if (next) next.value = window.location.pathname + window.location.search;
});
