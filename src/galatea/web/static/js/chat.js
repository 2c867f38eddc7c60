// The chat page: replies stream in from the JSON API (fetch + reading the event stream),
// message tools call the API, and the message list is then re-rendered by the server
// (/chats/ID/fragments/messages), so Markdown is rendered and sanitised in one place.
// Text that streams in is shown with textContent only: nothing from a model becomes HTML here.
"use strict";

(() => {
  const root = document.getElementById("chat");
  if (!root) return;
  const chatId = root.dataset.chatId;
  const csrf = root.dataset.csrf;
  const api = `/api/v1/chats/${encodeURIComponent(chatId)}`;
  const list = document.getElementById("messages");
  const statusLine = document.getElementById("chat-status");
  const composer = document.getElementById("composer");
  const input = document.getElementById("composer-text");
  const sendButton = composer.querySelector('[data-action="send"]');
  const stopButton = composer.querySelector('[data-action="stop"]');
  const turnButtons = composer.querySelectorAll(
    '[data-action="regenerate"], [data-action="continue"], [data-action="impersonate"]'
  );
  const inspector = document.getElementById("inspector");
  const inspectorBody = document.getElementById("inspector-body");
  const MAX_RESUMES = 5;

  let busy = false;

  // ---- small helpers ------------------------------------------------------------------

  function headers(extra) {
    return Object.assign({ "X-CSRF-Token": csrf, Accept: "application/json" }, extra || {});
  }

  async function call(method, path, body) {
    const options = { method, headers: headers(), credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    if (!response.ok) throw new Error(await errorText(response));
    if (response.status === 204) return null;
    return response.json();
  }

  async function errorText(response) {
    try {
      const data = await response.json();
      if (data && typeof data.error === "string") return data.error;
    } catch (ignored) {
      // not JSON: fall through to the status line
    }
    return `the server answered ${response.status}`;
  }

  function say(text, kind) {
    statusLine.hidden = !text;
    statusLine.textContent = text || "";
    statusLine.className = "chat-status" + (kind ? ` chat-status-${kind}` : "");
    statusLine.setAttribute("role", kind === "error" ? "alert" : "status");
  }

  function setBusy(value) {
    busy = value;
    root.dataset.busy = value ? "true" : "false";
    sendButton.hidden = value;
    stopButton.hidden = !value;
    turnButtons.forEach((button) => { button.disabled = value; });
    list.querySelectorAll(".message-tools button").forEach((button) => {
      button.disabled = value || button.dataset.disabledAlways === "true";
    });
  }

  function scrollToEnd() {
    const last = list.lastElementChild;
    if (last) last.scrollIntoView({ block: "end", behavior: "smooth" });
  }

  async function refresh() {
    const response = await fetch(`/chats/${encodeURIComponent(chatId)}/fragments/messages`, {
      headers: { Accept: "text/html" },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(await errorText(response));
    // Our own server's rendering, sanitised there (see web/markup.py).
    list.innerHTML = await response.text();
    markSwipeButtons();
    scrollToEnd();
  }

  function markSwipeButtons() {
    list.querySelectorAll('[data-action="swipe"]').forEach((button) => {
      if (button.disabled) button.dataset.disabledAlways = "true";
    });
  }

  // A bubble for text that is still streaming; plain text only.
  function streamingBubble(role, name) {
    const item = document.createElement("li");
    item.className = `message message-${role} message-streaming`;
    const head = document.createElement("div");
    head.className = "message-head";
    const speaker = document.createElement("span");
    speaker.className = "speaker";
    speaker.textContent = name;
    head.appendChild(speaker);
    const body = document.createElement("div");
    body.className = "message-body pre-wrap";
    item.append(head, body);
    const empty = list.querySelector(".message-empty");
    if (empty) empty.remove();
    list.appendChild(item);
    return body;
  }

  function characterName() {
    const link = document.querySelector(".chat-title a");
    return (link ? link.textContent : document.querySelector(".chat-title").textContent).trim();
  }

  function lastMessage() {
    const items = list.querySelectorAll(".message[data-id]");
    return items.length ? items[items.length - 1] : null;
  }

  // ---- reading an event stream ---------------------------------------------------------

  function parseBlock(block) {
    const event = { kind: "message", data: null, id: null };
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event.kind = line.slice(6).trim();
      else if (line.startsWith("data:")) event.data = JSON.parse(line.slice(5).trim());
      else if (line.startsWith("id:")) event.id = Number(line.slice(3).trim());
    }
    return event.data === null ? null : event;
  }

  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = parseBlock(block);
        if (event) onEvent(event);
      }
    }
  }

  // Follows one generation's events to `done`, rejoining the server's stream if the
  // connection drops (the reply goes on on the server either way).
  async function follow(response, mode) {
    const view = { mode, body: null, lastId: -1, finished: false, draft: "" };
    const onEvent = (event) => handle(view, event);
    let attempt = 0;
    for (;;) {
      try {
        await readEvents(response, onEvent);
      } catch (error) {
        // The connection broke: fall through and rejoin below.
      }
      if (view.finished || attempt >= MAX_RESUMES) break;
      attempt += 1;
      say("Connection lost; rejoining the reply…", "info");
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      response = await fetch(`${api}/stream?after=${view.lastId}`, {
        headers: headers({ Accept: "text/event-stream" }),
        credentials: "same-origin",
      });
      if (response.status === 204 || !response.ok) break;
    }
    return view;
  }

  function handle(view, event) {
    if (event.id !== null && !Number.isNaN(event.id)) view.lastId = event.id;
    const data = event.data;
    switch (event.kind) {
      case "accepted":
        streamingBubble("user", data.name).textContent = data.shown_text;
        break;
      case "queued":
        say(`Waiting for a free text generator: you are number ${data.position} in line.`, "info");
        break;
      case "started":
        if (data.kind) view.mode = data.kind;
        if (data.kind === "continue" && data.message_id) {
          const target = list.querySelector(`[data-id="${CSS.escape(data.message_id)}"] .message-body`);
          if (target) {
            target.classList.remove("prose");
            target.classList.add("pre-wrap");
            view.body = target;
          }
        }
        say(view.mode === "impersonate" ? "Drafting your message…" : "Writing…", "info");
        break;
      case "token":
        if (view.mode === "impersonate") {
          view.draft += data.text;
          input.value = view.draft;
          break;
        }
        if (!view.body) {
          if (view.mode === "regenerate") {
            const last = lastMessage();
            if (last && last.dataset.role === "character") last.remove();
          }
          view.body = streamingBubble("character", characterName());
        }
        view.body.textContent += data.text;
        scrollToEnd();
        break;
      case "error":
        view.error = data.message;
        break;
      case "done":
        view.finished = true;
        if (view.mode === "impersonate" && typeof data.text === "string") {
          input.value = data.text;
          input.focus();
        }
        view.reason = data.reason;
        break;
      default:
        break;
    }
  }

  // Starts a generation (or rejoins one) and follows it to the end.
  async function generate(path, body, mode) {
    if (busy) return;
    setBusy(true);
    say(mode === "impersonate" ? "Drafting your message…" : "Sending…", "info");
    let view = null;
    try {
      const response = await fetch(path, {
        method: body === null ? "GET" : "POST",
        headers: headers({ Accept: "text/event-stream", "Content-Type": "application/json" }),
        credentials: "same-origin",
        body: body === null ? undefined : JSON.stringify(body),
      });
      if (response.status === 204) {
        say("");
        return;
      }
      if (!response.ok) {
        // The server's own words: busy (429, with when to retry), a reply already running
        // (409), a message too long (422)... The typed text stays in the box.
        say(await errorText(response), "error");
        return null;
      }
      if (mode === "send") input.value = "";
      view = await follow(response, mode);
      if (view.error) say(view.error, "error");
      else if (view.reason === "stopped") say("Stopped; the text so far is kept.", "info");
      else say("");
    } catch (error) {
      say(String(error.message || error), "error");
    } finally {
      setBusy(false);
      if (!view || view.mode !== "impersonate") {
        try {
          await refresh();
        } catch (error) {
          say(String(error.message || error), "error");
        }
      }
    }
    return view;
  }

  // ---- the composer --------------------------------------------------------------------

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) {
      input.focus();
      return;
    }
    generate(`${api}/messages`, { text }, "send");
  });

  input.addEventListener("keydown", (event) => {
    const touch = window.matchMedia("(pointer: coarse)").matches;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !touch) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });

  composer.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest("button") : null;
    if (!button) return;
    const action = button.dataset.action;
    if (action === "stop") {
      try {
        await call("POST", `${api}/stop`);
      } catch (error) {
        say(String(error.message || error), "error");
      }
    } else if (action === "regenerate") {
      generate(`${api}/regenerate`, {}, "regenerate");
    } else if (action === "continue") {
      generate(`${api}/continue`, {}, "continue");
    } else if (action === "impersonate") {
      generate(`${api}/impersonate`, {}, "impersonate");
    }
  });

  // ---- message tools -------------------------------------------------------------------

  list.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest("button[data-action]") : null;
    if (!button || busy) return;
    const item = button.closest(".message[data-id]");
    if (!item) return;
    const id = item.dataset.id;
    const path = `${api}/messages/${encodeURIComponent(id)}`;
    try {
      switch (button.dataset.action) {
        case "swipe":
          await swipe(item, path, Number(button.dataset.step));
          break;
        case "edit":
          await edit(item, path, id);
          break;
        case "hide":
          await call("PATCH", path, { hidden: button.dataset.hidden !== "true" });
          await refresh();
          break;
        case "delete":
          if (window.confirm("Delete this message and everything after it on this branch?")) {
            await call("DELETE", path);
            await refresh();
          }
          break;
        case "branch":
          if (window.confirm("Start a new chat from this message?")) {
            const chat = await call("POST", `${path}/branch`, {});
            window.location.assign(`/chats/${encodeURIComponent(chat.id)}`);
          }
          break;
        case "inspect":
          await inspect(path);
          break;
        default:
          break;
      }
    } catch (error) {
      say(String(error.message || error), "error");
    }
  });

  async function swipe(item, path, step) {
    const index = Number(item.dataset.swipeIndex);
    const count = Number(item.dataset.swipeCount);
    const isNewest = step > 0 && index + 1 >= count;
    if (isNewest && item.dataset.last === "true" && item.dataset.role === "character" &&
        item.dataset.greeting !== "true") {
      // Past the last version of the newest reply: write a new one.
      await generate(`${api}/regenerate`, { message_id: item.dataset.id }, "regenerate");
      return;
    }
    await call("POST", `${path}/swipe`, { step });
    await refresh();
  }

  async function edit(item, path, id) {
    const messages = await call("GET", `${api}/messages`);
    const message = messages.find((m) => m.id === id);
    if (!message) return;
    const body = item.querySelector(".message-body");
    const form = document.createElement("form");
    form.className = "message-edit";
    const area = document.createElement("textarea");
    area.value = message.text;
    area.rows = Math.min(16, Math.max(3, message.text.split("\n").length + 1));
    area.setAttribute("aria-label", "Message text");
    const actions = document.createElement("div");
    actions.className = "cluster";
    const save = document.createElement("button");
    save.type = "submit";
    save.className = "btn btn-small btn-primary";
    save.textContent = "Save";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "btn btn-small";
    cancel.textContent = "Cancel";
    actions.append(save, cancel);
    form.append(area, actions);
    body.replaceWith(form);
    area.focus();
    cancel.addEventListener("click", () => { refresh().catch(() => {}); });
    form.addEventListener("submit", async (submitted) => {
      submitted.preventDefault();
      try {
        await call("PATCH", path, { text: area.value });
        await refresh();
      } catch (error) {
        say(String(error.message || error), "error");
      }
    });
  }

  // ---- the prompt inspector ------------------------------------------------------------

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function seconds(value) {
    return typeof value === "number" ? `${value.toFixed(2)} s` : "–";
  }

  async function inspect(path) {
    let info;
    try {
      info = await call("GET", `${path}/generation`);
    } catch (error) {
      info = null;
    }
    inspectorBody.replaceChildren();
    if (!info || !Array.isArray(info.runs) || !info.runs.length) {
      inspectorBody.appendChild(element("p", "No prompt was recorded for this message.", "muted"));
    } else {
      info.runs.slice().reverse().forEach((run, index) => inspectorBody.appendChild(renderRun(run, index)));
    }
    if (typeof inspector.showModal === "function") inspector.showModal();
    else inspector.setAttribute("open", "");
  }

  function renderRun(run, index) {
    const section = element("section", null, "inspector-run");
    const title = index === 0 ? "Latest run" : "Earlier run";
    section.appendChild(element("h3", `${title}: ${run.kind} · ${run.finish.reason}`));
    const facts = element("dl", null, "inspector-facts");
    const add = (label, value) => {
      facts.append(element("dt", label), element("dd", value));
    };
    const prompt = run.prompt || {};
    const usage = run.usage || {};
    add("Template", prompt.template || "–");
    add("Prompt", prompt.total_tokens !== undefined
      ? `${prompt.total_tokens} tokens of ${prompt.context_length} (${prompt.reply_reserve} kept for the reply)`
      : "–");
    add("Tokens", `${usage.prompt_tokens} prompt (${usage.cached_prompt_tokens} from cache), ${usage.generated_tokens} written`);
    add("First token", `${seconds((run.timing || {}).first_token_s)} (waited ${seconds((run.timing || {}).queued_s)} in line)`);
    if (run.finish && run.finish.error) add("Error", run.finish.error);
    if (run.budget) add("Budget", `${run.budget.max_context_tokens} context, ${run.budget.max_reply_tokens} reply${run.budget.degraded ? " (reduced under load)" : ""}`);
    if (prompt.history_kept !== undefined) add("History", `${prompt.history_kept} messages kept; examples ${prompt.examples_kept}/${prompt.examples_total}`);
    const fired = (prompt.lore || []).filter((hit) => hit.fired);
    add("Lore", fired.length ? fired.map((hit) => `${hit.label} (${hit.reason})`).join("; ") : "none fired");
    section.appendChild(facts);
    (prompt.sections || []).forEach((part) => {
      const details = element("details", null, "inspector-section");
      details.appendChild(element("summary", `${part.label} · ${part.tokens} tokens`));
      details.appendChild(element("pre", part.text));
      section.appendChild(details);
    });
    return section;
  }

  inspector.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (target && (target === inspector || target.closest('[data-action="close-inspector"]'))) {
      inspector.close();
    }
  });

  // ---- on load: rejoin a reply that is being written -----------------------------------

  markSwipeButtons();
  scrollToEnd();
  if (root.dataset.generating === "true") {
    generate(`${api}/stream`, null, "rejoin");
  }
})();
