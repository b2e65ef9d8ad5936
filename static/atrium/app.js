// Small behaviours of the dashboard that have no place in htmx attributes.
// No inline scripts anywhere: the content security policy forbids them.
(function () {
  "use strict";

  // Markup that only makes sense without JavaScript hides behind .js-hide.
  document.documentElement.classList.add("js");

  // <select data-autosubmit> sends its form as soon as the choice changes
  // (its Save button is there for browsers without JavaScript).
  document.addEventListener("change", function (event) {
    const select = event.target.closest("select[data-autosubmit]");
    if (select && select.form) select.form.requestSubmit();
  });

  // <form data-confirm="Question?"> asks before anything irreversible.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    const question = form.dataset ? form.dataset.confirm : undefined;
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  // Copy buttons: <button data-copy="#element-id">Copy</button>
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    const text = source.value !== undefined ? source.value : source.textContent;
    navigator.clipboard.writeText(text.trim()).then(function () {
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // Close an open <details> menu on Escape or a click outside it.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      menu.querySelector("summary").focus();
    });
  });
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
})();
