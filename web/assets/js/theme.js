// The theme, set before the first paint so that a dark page never flashes white. A
// classic script loaded synchronously in <head>: a module would run only after the
// page is parsed, and an inline script is refused by the Content-Security-Policy.
(function () {
  var t = new URLSearchParams(location.search).get('theme');
  try { t = t || localStorage.getItem('skein-theme'); } catch (e) { /* storage disabled */ }
  document.documentElement.dataset.theme = t || (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
})();
