// ClaimSight workspace: the little behaviour the pages need. Loaded from this origin only (the CSP allows no
// inline script), and the pages work without it.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // "Print" buttons print the page; the print stylesheet shows only the letter.
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
    // Queue filters apply as soon as a choice changes.
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { if (select.form) { select.form.submit(); } });
    });
    // A form is sent once: a second click while the first is on its way would post it again.
    document.querySelectorAll("form[method='post']").forEach(function (form) {
      form.addEventListener("submit", function () {
        window.setTimeout(function () {
          form.querySelectorAll("button[type='submit']").forEach(function (b) { b.disabled = true; });
        }, 0);
      });
    });
    // Coming back with the browser's Back button shows the page as it was left: buttons usable again.
    window.addEventListener("pageshow", function () {
      document.querySelectorAll("button[disabled]").forEach(function (b) { b.disabled = false; });
    });
    // The appeal level is for appeals and reconsiderations: hidden and cleared for other work, the suggested
    // level put back when such work is chosen (the server refuses a level on other work either way).
    var action = document.getElementById("work-action"), level = document.getElementById("work-level");
    if (action && level) {
      var leveled = (level.getAttribute("data-leveled") || "").split(" ");
      var levelLabel = document.querySelector("label[for='work-level']");
      var showLevel = function (changed) {
        var on = leveled.indexOf(action.value) >= 0;
        level.hidden = !on;
        if (levelLabel) { levelLabel.hidden = !on; }
        if (!on) { level.value = ""; } else if (changed && level.value === "") { level.value = level.getAttribute("data-suggested") || ""; }
      };
      showLevel(false);
      action.addEventListener("change", function () { showLevel(true); });
    }
    // Bring the first message that needs attention into view.
    var alert = document.querySelector("[role='alert']");
    if (alert && alert.scrollIntoView) { alert.scrollIntoView({ block: "center" }); }
  });
})();
