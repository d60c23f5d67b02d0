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
    // Bring the first message that needs attention into view.
    var alert = document.querySelector("[role='alert']");
    if (alert && alert.scrollIntoView) { alert.scrollIntoView({ block: "center" }); }
  });
})();
