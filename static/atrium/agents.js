// The agent form: model suggestions that follow the provider, and a notice
// when the form holds changes the test panel does not use yet.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.querySelector("[data-agent-form]");
    if (!form) return;

    const provider = form.querySelector("[name='model_provider']");
    const model = form.querySelector("[name='model_name']");
    function suggestions(name) {
      const list = document.getElementById("model-suggestions-" + name);
      return list ? Array.from(list.options).map(function (o) { return o.value; }) : [];
    }
    function follow(previous) {
      model.setAttribute("list", "model-suggestions-" + provider.value);
      // A model name that belonged to the previous provider cannot be right.
      const fresh = suggestions(provider.value);
      if (previous && fresh.length && (!model.value || suggestions(previous).includes(model.value))) {
        model.value = fresh[0];
      }
    }
    if (provider && model) {
      let current = provider.value;
      follow(null);
      provider.addEventListener("change", function () {
        follow(current);
        current = provider.value;
      });
    }

    const initial = new URLSearchParams(new FormData(form)).toString();
    function markDirty() {
      const dirty = new URLSearchParams(new FormData(form)).toString() !== initial;
      document.querySelectorAll("[data-unsaved]").forEach(function (note) {
        note.hidden = !dirty;
      });
    }
    form.addEventListener("input", markDirty);
    form.addEventListener("change", markDirty);
  });
})();
