// The documents pages: drag-and-drop uploads with per-file progress and
// outcome, a confirmation dialog before deleting, the "Replace content"
// section (opened by its button, sizes checked before sending), and quieter
// polling.
// Without JavaScript the same forms post normally and the server answers.
(function () {
  "use strict";

  const LABELS = { created: "Added", duplicate: "Already here" };
  const BADGES = {
    created: "badge badge--success",
    duplicate: "badge badge--info",
    refused: "badge badge--danger",
  };

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function formatBytes(bytes) {
    if (bytes < 1024) return bytes + " bytes";
    const units = ["KB", "MB", "GB"];
    let value = bytes / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return value.toFixed(value < 10 ? 1 : 0) + " " + units[unit];
  }

  // One row of the results list, filled in as the upload goes.
  function outcomeRow(item, outcome) {
    item.replaceChildren();
    item.className = "upload upload--" + outcome.outcome;
    item.append(element("span", "upload__name", outcome.name));
    const state = element("span", "upload__state");
    const label = LABELS[outcome.outcome] || outcome.reason || "Refused";
    state.append(element("span", BADGES[outcome.outcome] || BADGES.refused, label));
    item.append(state);
    const message = element("span", "upload__message", outcome.message || "");
    if (outcome.outcome === "refused" && outcome.code) {
      message.append(" ", element("code", "upload__code", outcome.code));
    }
    if (outcome.url) {
      const link = element("a", "", "Open \u201c" + (outcome.document_title || "document") + "\u201d");
      link.href = outcome.url;
      message.append(" ", link);
    }
    if (outcome.help_url) {
      const link = element("a", "", "See plans");
      link.href = outcome.help_url;
      message.append(" ", link);
    }
    item.append(message);
  }

  function failedRow(item, name, reason, message) {
    outcomeRow(item, { name: name, outcome: "refused", reason: reason, message: message });
  }

  function refreshList(listId) {
    const list = document.getElementById(listId);
    if (!list || !window.htmx) return;
    window.htmx.ajax("GET", list.dataset.url, { target: "#" + listId, swap: "outerHTML" });
  }

  function uploadOne(form, file, list) {
    return new Promise(function (resolve) {
      const item = element("li", "upload upload--pending");
      item.append(element("span", "upload__name", file.name));
      const state = element("span", "upload__state");
      const status = element("span", "badge", "Waiting");
      state.append(status);
      item.append(state);
      const progress = element("progress", "upload__progress");
      progress.max = 100;
      progress.value = 0;
      progress.setAttribute("aria-label", "Uploading " + file.name);
      item.append(progress);
      item.append(element("span", "upload__message", formatBytes(file.size)));
      list.append(item);

      const data = new FormData();
      data.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
      data.append("files", file, file.name);
      const request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("Accept", "application/json");
      request.upload.addEventListener("progress", function (event) {
        if (!event.lengthComputable) return;
        progress.value = Math.round((event.loaded / event.total) * 100);
        status.textContent = progress.value < 100 ? "Uploading" : "Checking";
      });
      request.addEventListener("load", function () {
        let body = null;
        try {
          body = JSON.parse(request.responseText);
        } catch (error) {
          body = null;
        }
        if (body && Array.isArray(body.files) && body.files.length) {
          outcomeRow(item, body.files[0]);
          let previous = item;
          body.files.slice(1).forEach(function (outcome) {
            const extra = element("li");
            outcomeRow(extra, outcome);
            previous.after(extra);
            previous = extra;
          });
        } else if (request.status === 403) {
          failedRow(item, file.name, "Not allowed", "Your role in this workspace cannot add documents.");
        } else if (body && body.errors) {
          const first = Object.values(body.errors)[0];
          failedRow(item, file.name, "Refused", Array.isArray(first) ? first.join(" ") : "The upload was refused.");
        } else {
          failedRow(item, file.name, "Server error", "The server could not take this file (HTTP " + request.status + "). Try again.");
        }
        resolve();
      });
      request.addEventListener("error", function () {
        failedRow(item, file.name, "Not sent", "The upload did not reach the server. Check the connection and try again.");
        resolve();
      });
      status.textContent = "Uploading";
      request.send(data);
    });
  }

  function setUpDropzone(form) {
    const input = form.querySelector("input[type=file]");
    const results = document.getElementById(form.dataset.results);
    if (!input || !results) return;
    form.classList.add("js-uploads");
    let queue = Promise.resolve();

    function enqueue(files) {
      if (!files.length) return;
      let list = results.querySelector("ul.uploads");
      if (!list) {
        list = element("ul", "uploads");
        results.append(list);
      }
      Array.from(files).forEach(function (file) {
        // One request per file, one after another: each gets its own progress
        // and outcome, and the plan limit is checked file by file.
        queue = queue
          .then(function () { return uploadOne(form, file, list); })
          .then(function () { refreshList(form.dataset.list); });
      });
    }

    input.addEventListener("change", function () {
      enqueue(input.files);
      input.value = "";
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      enqueue(input.files);
      input.value = "";
    });
    ["dragenter", "dragover"].forEach(function (name) {
      form.addEventListener(name, function (event) {
        if (!event.dataTransfer || !Array.from(event.dataTransfer.types).includes("Files")) return;
        event.preventDefault();
        event.dataTransfer.dropEffect = "copy";
        form.classList.add("dropzone--over");
      });
    });
    form.addEventListener("dragleave", function (event) {
      if (!form.contains(event.relatedTarget)) form.classList.remove("dropzone--over");
    });
    form.addEventListener("drop", function (event) {
      event.preventDefault();
      form.classList.remove("dropzone--over");
      if (event.dataTransfer) enqueue(event.dataTransfer.files);
    });
    // A file dropped beside the zone must not navigate away from the page.
    window.addEventListener("dragover", function (event) { event.preventDefault(); });
    window.addEventListener("drop", function (event) {
      if (!form.contains(event.target)) event.preventDefault();
    });
  }

  // Forms with data-confirm ask in a dialog first; the server asks again
  // (a confirmation page) when JavaScript is off.
  function setUpConfirm() {
    const dialog = document.getElementById("confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function") return;
    let pending = null;
    document.addEventListener("submit", function (event) {
      const form = event.target.closest("form[data-confirm]");
      if (!form) return;
      event.preventDefault();
      pending = form;
      dialog.querySelector("[data-confirm-message]").textContent = form.dataset.confirm;
      dialog.returnValue = "";
      dialog.showModal();
    });
    dialog.addEventListener("close", function () {
      const form = pending;
      pending = null;
      if (!form || dialog.returnValue !== "confirm") return;
      const confirm = document.createElement("input");
      confirm.type = "hidden";
      confirm.name = "confirm";
      confirm.value = "yes";
      form.append(confirm);
      form.submit();
    });
  }

  // Bytes a text field's value is sent as: UTF-8, line breaks as CRLF.
  function sentLength(text) {
    return new TextEncoder().encode(text.replace(/\r?\n/g, "\r\n")).length;
  }

  // Fields with data-max-bytes are checked before the form is sent: a file
  // past the limit would only be refused after a long upload, and text past
  // it gets a bare error page (the server's body limit, before any view).
  function setUpSizeChecks(form) {
    form.addEventListener("submit", function (event) {
      form.querySelectorAll(".js-size-error").forEach(function (node) { node.remove(); });
      for (const field of form.querySelectorAll("[data-max-bytes]")) {
        const limit = Number(field.dataset.maxBytes);
        const isFile = field.type === "file";
        const size = isFile
          ? Array.from(field.files || []).reduce(function (sum, file) { return sum + file.size; }, 0)
          : sentLength(field.value);
        if (size <= limit) continue;
        event.preventDefault();
        const advice = isFile ? "" : " Save it as a file and upload that instead.";
        const error = element("ul", "errorlist js-size-error");
        error.setAttribute("role", "alert");
        error.append(element("li", "", (isFile ? "This file is " : "This text is ") +
          formatBytes(size) + "; the limit is " + formatBytes(limit) + "." + advice));
        (field.closest(".field") || field.parentNode).append(error);
        field.focus();
        return;
      }
    });
  }

  // A link with data-opens="<id>" opens that <details> before the browser
  // scrolls to it (not every browser opens one it navigates to).
  document.addEventListener("click", function (event) {
    const link = event.target.closest("a[data-opens]");
    if (!link) return;
    const target = document.getElementById(link.dataset.opens);
    if (target && target.tagName === "DETAILS") target.open = true;
  });

  // Polling a hidden tab helps nobody; the next tick after it shows catches up.
  document.addEventListener("htmx:beforeRequest", function (event) {
    const source = event.detail && event.detail.elt;
    if (document.hidden && source && source.hasAttribute("data-polling")) {
      event.preventDefault();
    }
  });

  function start() {
    document.querySelectorAll("form[data-dropzone]").forEach(setUpDropzone);
    document.querySelectorAll("form[data-size-checked]").forEach(setUpSizeChecks);
    setUpConfirm();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
