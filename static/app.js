// Stepwise's own script (the CSP allows no inline code). Small, progressive: every page works
// without it.

// Tell the server the browser's time zone, so pages show times in local time and the
// workflow form defaults to it. Pages read the `tz` cookie; a zone set in Settings wins.
(function rememberTimeZone() {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    // IANA names are letters, digits and "/_+-": safe in a cookie as they are, unencoded, so
    // the server reads the name itself.
    if (zone && /^[A-Za-z0-9_+\/-]+$/.test(zone) && document.cookie.indexOf("tz=" + zone) === -1) {
      document.cookie = "tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* an old browser: times stay in UTC */ }
})();

// --- workflows and runs ---------------------------------------------------------------------

// Schedule presets: "Daily at 09:00" and friends write a cron into the Schedule field, which then
// describes itself as if typed. Without JavaScript the presets stay hidden; the field works alone.
(function schedulePresets() {
  function cronOf(box) {
    var get = function (name) { var el = box.querySelector('[data-preset="' + name + '"]'); return el ? el.value : ""; };
    var time = (get("time") || "09:00").split(":");
    var hour = String(parseInt(time[0], 10) || 0), minute = String(parseInt(time[1], 10) || 0);
    switch (get("kind")) {
      case "hourly": return minute + " * * * *";
      case "daily": return minute + " " + hour + " * * *";
      case "weekdays": return minute + " " + hour + " * * 1-5";
      case "weekly": return minute + " " + hour + " * * " + get("weekday");
      case "monthly": return minute + " " + hour + " " + (get("day") || "1") + " * *";
      default: return null;
    }
  }
  function showParts(box) {
    var kind = box.querySelector('[data-preset="kind"]').value;
    box.querySelectorAll("[data-preset-part]").forEach(function (part) {
      var which = part.getAttribute("data-preset-part");
      part.hidden = !kind || (which === "weekly" && kind !== "weekly") || (which === "monthly" && kind !== "monthly");
    });
  }
  function setUp(root) {
    root.querySelectorAll("[data-preset-for]").forEach(function (box) {
      if (box.dataset.ready) return;
      box.dataset.ready = "1";
      box.hidden = false;
      showParts(box);
      box.addEventListener("change", function () {
        showParts(box);
        var cron = cronOf(box), input = document.getElementById(box.getAttribute("data-preset-for"));
        if (cron && input) {
          input.value = cron;
          input.dispatchEvent(new Event("input", { bubbles: true }));
        }
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { setUp(document); });
})();

// "Needs approval" switched off asks first: the step would then act without anyone's OK.
document.addEventListener("change", function (event) {
  var box = event.target;
  if (box.matches && box.matches("input[type=checkbox][data-confirm-off]") && !box.checked) {
    if (!window.confirm(box.getAttribute("data-confirm-off"))) box.checked = true;
  }
});

// Copy buttons (assets on a run page): copy the raw text of the element they name.
(function copyButtons() {
  function reveal(root) {
    if (!navigator.clipboard) return;
    root.querySelectorAll("button[data-copy]").forEach(function (button) { button.hidden = false; });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    navigator.clipboard.writeText(source ? source.textContent : "").then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    }, function () { button.textContent = "Copy failed"; });
  });
  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  document.addEventListener("htmx:afterSettle", function (event) { reveal(event.target); });
})();

// A polled run page replaces itself every 2 s: keep the <details> a reader opened open.
(function keepDetailsOpen() {
  var open = {};
  document.addEventListener("htmx:beforeSwap", function (event) {
    open = {};
    event.detail.target.querySelectorAll("details[id]").forEach(function (d) { open[d.id] = d.open; });
  });
  document.addEventListener("htmx:afterSettle", function () {
    Object.keys(open).forEach(function (id) {
      var d = document.getElementById(id);
      if (d) d.open = open[id];
    });
    open = {};
  });
})();
