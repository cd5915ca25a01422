// Stepwise's own script (the CSP allows no inline code). Small, progressive: every page works
// without it.

// Tell the server the browser's time zone, so pages show times in local time and the
// workflow form defaults to it. Pages read the `tz` cookie; a zone set in Settings wins.
(function rememberTimeZone() {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* an old browser: times stay in UTC */ }
})();
