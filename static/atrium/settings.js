// Workspace settings and API keys: show the expiry date only when it applies.
// Without JavaScript the date field simply stays visible.
(function () {
  "use strict";

  function sync(select) {
    const date = document.querySelector("[data-expiry-date]");
    if (date) date.hidden = select.value !== "custom";
  }

  document.addEventListener("DOMContentLoaded", function () {
    const select = document.querySelector("select[name='expiry']");
    if (!select) return;
    sync(select);
    select.addEventListener("change", function () { sync(select); });
  });
})();
