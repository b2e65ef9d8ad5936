// Chat with an agent: post the question, render the streamed answer, then
// swap in the stored answer as the server renders it (citations, tools).
//
// The answer endpoint answers a POST with server-sent events (EventSource
// can only GET, so the stream is read with fetch). A dropped connection is
// resumed by posting again with Last-Event-ID: the server keeps the answer's
// events for a while and sends the rest.
(function () {
  "use strict";

  const INLINE = /\[((?:\s*S\d+\s*[,;]?)+)\]|\*\*([^*\n]+)\*\*|`([^`\n]+)`/g;
  const LIST_ITEM = /^(?:[-*•]|\d+[.)])\s+/;
  const SOURCE_LINE = /^\[(S\d+)\]\s*(.*?):?$/;
  const HEADING = /^#{1,6}\s+/;
  const RESUME_ATTEMPTS = 3;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // --- The answer as it streams: the server's rules, in small ---------------

  function appendInline(target, text, numbers) {
    let position = 0;
    let match;
    INLINE.lastIndex = 0;
    while ((match = INLINE.exec(text))) {
      if (match.index > position) {
        target.appendChild(document.createTextNode(text.slice(position, match.index)));
      }
      if (match[1]) {
        match[1].match(/S\d+/g).forEach(function (label) {
          if (!(label in numbers)) numbers[label] = Object.keys(numbers).length + 1;
          target.appendChild(element("span", "cite cite--pending", String(numbers[label])));
        });
      } else if (match[2]) {
        target.appendChild(element("strong", "", match[2]));
      } else {
        target.appendChild(element("code", "", match[3]));
      }
      position = INLINE.lastIndex;
    }
    if (position < text.length) {
      target.appendChild(document.createTextNode(text.slice(position)));
    }
  }

  function renderAnswer(container, text) {
    const blocks = [];
    let current = null;
    text.split("\n").forEach(function (raw) {
      const line = raw.trim();
      if (!line) {
        current = null;
        return;
      }
      let kind = "paragraph";
      let content = line;
      if (HEADING.test(line)) {
        blocks.push({ kind: "heading", lines: [line.replace(HEADING, "")] });
        current = null;
        return;
      }
      if (line.startsWith(">")) {
        kind = "quote";
        content = line.slice(1).trim();
      } else if (LIST_ITEM.test(line)) {
        kind = "list";
        content = line.replace(LIST_ITEM, "");
      }
      if (!current || current.kind !== kind) {
        current = { kind: kind, lines: [] };
        blocks.push(current);
      }
      current.lines.push(content);
    });

    const numbers = {};
    const fragment = document.createDocumentFragment();
    blocks.forEach(function (block, index) {
      const next = blocks[index + 1];
      const source = block.lines.length === 1 && SOURCE_LINE.exec(block.lines[0]);
      if (block.kind === "list") {
        const list = fragment.appendChild(element("ul"));
        block.lines.forEach(function (item) {
          appendInline(list.appendChild(element("li")), item, numbers);
        });
      } else if (block.kind === "paragraph" && source && next && next.kind === "quote") {
        const heading = fragment.appendChild(element("p", "answer__source"));
        appendInline(heading, "[" + source[1] + "]", numbers);
        heading.appendChild(element("span", "", source[2]));
      } else if (block.kind === "heading") {
        appendInline(fragment.appendChild(element("p", "answer__heading")), block.lines[0], numbers);
      } else {
        const tag = block.kind === "quote" ? "blockquote" : "p";
        const joiner = block.kind === "quote" ? " " : "\n";
        appendInline(fragment.appendChild(element(tag)), block.lines.join(joiner), numbers);
      }
    });
    container.replaceChildren(fragment);
  }

  // --- Server-sent events over a POST ---------------------------------------

  function parseEvent(block) {
    const event = { id: null, type: "message", data: "" };
    block.split("\n").forEach(function (line) {
      const colon = line.indexOf(":");
      if (colon <= 0) return;
      const field = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") event.id = value;
      else if (field === "event") event.type = value;
      else if (field === "data") event.data += (event.data ? "\n" : "") + value;
    });
    try {
      event.data = event.data ? JSON.parse(event.data) : {};
    } catch (error) {
      event.data = {};
    }
    return event;
  }

  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (block.trim()) onEvent(parseEvent(block));
      }
    }
  }

  async function errorOf(response) {
    try {
      const body = await response.json();
      if (body && body.error) return body.error;
    } catch (error) {
      // Not JSON: a proxy's or the server's own error page.
    }
    return { code: "http_" + response.status, message: "The request failed (" + response.status + ")." };
  }

  // --- One conversation ---------------------------------------------------------

  function Chat(root) {
    this.root = root;
    this.form = root.querySelector("[data-chat-form]");
    this.transcript = root.querySelector("[data-transcript]");
    this.status = root.querySelector("[data-chat-status]");
    this.input = root.querySelector("[data-chat-input]");
    this.send = root.querySelector("[data-chat-send]");
    this.session = root.querySelector("[data-session-input]");
    this.busy = false;
    if (!this.form) return;

    const chat = this;
    this.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        chat.form.requestSubmit();
      }
    });
    this.input.addEventListener("input", function () { chat.fit(); });
    this.form.addEventListener("submit", function (event) {
      event.preventDefault();
      const question = chat.input.value.trim();
      if (question && !chat.busy) chat.ask(question);
    });
    root.querySelectorAll("[data-suggest]").forEach(function (button) {
      button.addEventListener("click", function () {
        chat.input.value = button.textContent.trim();
        chat.form.requestSubmit();
      });
    });
    this.scrollToEnd(true);
  }

  Chat.prototype.fit = function () {
    this.input.style.height = "auto";
    this.input.style.height = Math.min(this.input.scrollHeight + 2, 240) + "px";
  };

  Chat.prototype.say = function (text) {
    if (this.status) this.status.textContent = text;
  };

  // On phones the page scrolls rather than the transcript.
  Chat.prototype.scrolls = function () {
    return window.getComputedStyle(this.transcript).overflowY !== "visible";
  };

  Chat.prototype.nearEnd = function () {
    const t = this.transcript;
    if (this.scrolls()) return t.scrollHeight - t.scrollTop - t.clientHeight < 80;
    const page = document.documentElement;
    return window.innerHeight + window.scrollY >= page.scrollHeight - 120;
  };

  Chat.prototype.scrollToEnd = function (force) {
    if (!force && !this.nearEnd()) return;
    if (this.scrolls()) this.transcript.scrollTop = this.transcript.scrollHeight;
    else if (this.transcript.children.length > 1) {
      window.scrollTo(0, document.documentElement.scrollHeight);
    }
  };

  Chat.prototype.reset = function () {
    this.transcript.replaceChildren(element("div", "chat__welcome",
      "A new test: ask a question to try the saved configuration."));
    if (this.session) this.session.value = "";
    this.input.focus();
  };

  Chat.prototype.setBusy = function (busy) {
    this.busy = busy;
    this.send.disabled = busy;
    this.send.setAttribute("aria-disabled", busy ? "true" : "false");
  };

  Chat.prototype.ask = async function (question) {
    const welcome = this.transcript.querySelector("[data-welcome], .chat__welcome");
    if (welcome) welcome.remove();

    const mine = element("div", "msg msg--user");
    mine.appendChild(element("div", "msg__bubble", question));
    this.transcript.appendChild(mine);

    const answer = new Answer(this);
    this.transcript.appendChild(answer.node);
    this.scrollToEnd(true);

    const data = new FormData(this.form);
    data.set("query", question);
    this.input.value = "";
    this.fit();
    this.setBusy(true);
    this.say("Asking " + (this.root.dataset.agentName || "the agent") + "…");
    try {
      await this.stream(data, answer);
    } finally {
      this.setBusy(false);
      this.input.focus();
    }
  };

  Chat.prototype.stream = async function (data, answer) {
    const url = this.root.dataset.answerUrl;
    let attempt = 0;
    for (;;) {
      const headers = { Accept: "text/event-stream" };
      if (answer.lastId) headers["Last-Event-ID"] = answer.lastId;
      let response;
      try {
        response = await fetch(url, {
          method: "POST", body: data, headers: headers, credentials: "same-origin",
        });
      } catch (error) {
        response = null;
      }
      if (response && !response.ok) {
        const problem = await errorOf(response);
        answer.fail(problem.code, problem.message);
        return;
      }
      if (response) {
        try {
          await readEvents(response, function (event) { answer.handle(event); });
        } catch (error) {
          // The connection dropped mid-answer: resume below.
        }
      }
      if (answer.finished) return;
      attempt += 1;
      if (!answer.lastId || attempt > RESUME_ATTEMPTS) {
        answer.fail("network_error", "The connection was lost before the answer finished.");
        return;
      }
      this.say("Connection lost; resuming the answer…");
      await new Promise(function (resolve) { setTimeout(resolve, 500 * attempt); });
    }
  };

  Chat.prototype.sessionStarted = function (sessionId) {
    const known = this.session && this.session.value;
    if (this.session) this.session.value = sessionId;
    if (known === sessionId || this.root.dataset.followSession !== "true") return;
    const address = this.root.dataset.chatUrl + "s/" + sessionId + "/";
    window.history.replaceState(null, "", address);
    const list = document.getElementById("session-list");
    if (list && window.htmx) {
      window.htmx.ajax("GET", list.dataset.sessionsUrl + "?current=" + sessionId, {
        target: list, swap: "innerHTML",
      });
    }
  };

  // --- One streamed answer ------------------------------------------------------

  function Answer(chat) {
    this.chat = chat;
    this.text = "";
    this.lastId = null;
    this.finished = false;
    this.sessionId = null;
    this.citations = [];
    this.calls = {};
    this.node = element("article", "msg msg--assistant is-streaming");
    this.node.setAttribute("aria-busy", "true");
    const body = this.node.appendChild(element("div", "msg__body"));
    this.tools = body.appendChild(element("div", "tools-live"));
    this.body = body.appendChild(element("div", "answer"));
    this.body.appendChild(element("p", "answer__thinking", "Thinking"));
    this.pending = false;
  }

  Answer.prototype.handle = function (event) {
    if (event.id) this.lastId = event.id;
    const data = event.data;
    switch (event.type) {
      case "session":
        this.sessionId = data.session_id;
        this.chat.sessionStarted(data.session_id);
        break;
      case "tool_call":
        this.toolCall(data);
        break;
      case "tool_result":
        this.toolResult(data);
        break;
      case "token":
        this.text += data.text || "";
        this.draw();
        break;
      case "citation":
        this.citations.push(data);
        break;
      case "done":
        this.done(data);
        break;
      case "error":
        this.fail(data.code, data.message);
        break;
    }
  };

  Answer.prototype.toolCall = function (data) {
    const chip = element("span", "tool-chip tool-chip--running");
    const query = data.arguments && (data.arguments.query || data.arguments.entity);
    chip.textContent = data.name + (query ? " · “" + query + "”" : "");
    this.calls[data.id] = chip;
    this.tools.appendChild(chip);
    this.chat.say("Searching with " + data.name + "…");
    this.chat.scrollToEnd();
  };

  Answer.prototype.toolResult = function (data) {
    const chip = this.calls[data.id];
    if (!chip) return;
    chip.classList.remove("tool-chip--running");
    if (data.is_error) {
      chip.classList.add("tool-chip--error");
      chip.textContent = data.name + " · " + (data.error ? data.error.code : "failed");
    } else {
      const count = (data.sources || []).length;
      chip.textContent = data.name + " · " + count + " source" + (count === 1 ? "" : "s");
    }
  };

  Answer.prototype.draw = function () {
    if (this.pending) return;
    this.pending = true;
    const answer = this;
    window.requestAnimationFrame(function () {
      answer.pending = false;
      renderAnswer(answer.body, answer.text);
      answer.chat.scrollToEnd();
    });
  };

  Answer.prototype.done = async function (data) {
    this.finished = true;
    const count = this.citations.length;
    this.chat.say("Answer ready" + (count ? ", with " + count + " source" + (count === 1 ? "" : "s") : "") + ".");
    const url = this.chat.root.dataset.chatUrl + "s/" + data.session_id + "/m/" + data.message_id + "/";
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      const holder = document.createElement("div");
      holder.innerHTML = await response.text();
      const rendered = holder.firstElementChild;
      const wasNearEnd = this.chat.nearEnd();
      this.node.replaceWith(rendered);
      this.node = rendered;
      if (window.htmx) window.htmx.process(rendered);
      if (wasNearEnd) this.chat.scrollToEnd(true);
    } catch (error) {
      // The streamed text stays; only the stored rendering is missing.
      renderAnswer(this.body, this.text);
      this.node.classList.remove("is-streaming");
      this.node.removeAttribute("aria-busy");
    }
  };

  Answer.prototype.fail = function (code, message) {
    this.finished = true;
    this.node.classList.remove("is-streaming");
    this.node.removeAttribute("aria-busy");
    const thinking = this.body.querySelector(".answer__thinking");
    if (thinking) thinking.remove();
    this.tools.querySelectorAll(".tool-chip--running").forEach(function (chip) {
      chip.classList.remove("tool-chip--running");
    });
    const box = element("div", "chat-error");
    box.setAttribute("role", "alert");
    box.appendChild(element("code", "chat-error__code", code || "error"));
    box.appendChild(element("p", "chat-error__message", message || "The answer failed."));
    this.node.querySelector(".msg__body").appendChild(box);
    this.chat.say("The answer failed: " + (message || code));
    this.chat.scrollToEnd(true);
  };

  // --- The cited passage, in a side panel -----------------------------------

  function setUpSourcePanel() {
    const dialog = document.getElementById("source-panel");
    if (!dialog) return;
    const body = document.getElementById("source-body");
    let opener = null;

    document.addEventListener("click", function (event) {
      const button = event.target.closest("[data-source-open]");
      if (!button) return;
      opener = button;
      body.replaceChildren(element("p", "muted source-panel__loading", "Loading the passage…"));
      if (!dialog.open) dialog.showModal();
    });
    body.addEventListener("htmx:afterSwap", function () {
      const heading = body.querySelector("[tabindex='-1']");
      if (heading) heading.focus();
    });
    body.addEventListener("htmx:responseError", function () {
      body.replaceChildren(element("p", "chat-error__message", "This source could not be loaded."));
    });
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog || event.target.closest("[data-dialog-close]")) dialog.close();
    });
    dialog.addEventListener("close", function () {
      if (opener && document.contains(opener)) opener.focus();
    });
  }

  // --- Page furniture -----------------------------------------------------------

  function setUpPage() {
    const picker = document.querySelector("[data-agent-picker]");
    if (picker) {
      const submit = picker.querySelector("[data-agent-picker-submit]");
      if (submit) submit.hidden = true;
      picker.querySelector("select").addEventListener("change", function () {
        picker.requestSubmit();
      });
    }
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
    // The session list starts open on wide screens and folded on phones.
    const sessions = document.querySelector("[data-sessions]");
    if (sessions && window.matchMedia("(max-width: 900px)").matches) sessions.open = false;
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpPage();
    setUpSourcePanel();
    document.querySelectorAll("[data-chat]").forEach(function (root) {
      const chat = new Chat(root);
      root._chat = chat;
      const reset = root.closest("section") && root.closest("section").querySelector("[data-chat-reset]");
      if (reset && chat.form) reset.addEventListener("click", function () { chat.reset(); });
    });
  });
})();
