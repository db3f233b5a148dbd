// The page a portal link opens (/portal/login#token=...): the token is in the fragment, which
// the browser never sends. Take it out of the address bar first, then post it to /portal/login, which
// answers with the session cookie and the application's page.
(function () {
  var match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  history.replaceState(null, '', window.location.pathname);
  var status = document.getElementById('portal-status');
  if (!match) {
    status.textContent = 'This link holds no token. Ask for a new portal link.';
    return;
  }
  document.getElementById('portal-token').value = decodeURIComponent(match[1]);
  status.textContent = 'Signing in…';
  document.getElementById('portal-login').submit();
})();
