/* Shared by every page: the page's configuration, API calls with the session, live
 * updates (server-sent events when the site has them, polling otherwise), formatting.
 * No framework, no build step; the pages load this file first (defer keeps the order). */
(function () {
  "use strict";

  const configElement = document.getElementById("page-config");
  const config = configElement ? JSON.parse(configElement.textContent) : {};
  const ZERO_ID = "00000000-0000-0000-0000-000000000000";
  const TERMINAL = new Set(["completed", "failed", "cancelled"]);

  class ApiError extends Error {
    constructor(status, error) {
      super((error && error.message) || "The server answered " + status + ".");
      this.status = status;
      this.code = (error && error.code) || "error";
      this.details = (error && error.details) || null;
    }
  }

  /* The CSRF token of the page's own forms (works with CSRF_COOKIE_HTTPONLY too). */
  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function api(path, options) {
    options = options || {};
    const method = options.method || "GET";
    const headers = { Accept: "application/json" };
    let body = options.body;
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.json);
    }
    let response;
    try {
      response = await fetch(config.api + path, {
        method: method, headers: headers, body: body, credentials: "same-origin",
      });
    } catch (networkError) {
      throw new ApiError(0, { code: "network_error", message: "The server cannot be reached." });
    }
    const type = response.headers.get("Content-Type") || "";
    const text = await response.text();  // a 204 has no body, whatever its type says
    const data = text && type.includes("json") ? JSON.parse(text) : null;
    if (!response.ok) throw new ApiError(response.status, data && data.error);
    return data;
  }

  function readerUrl(id) {
    return config.pages.reader.replace(ZERO_ID, id);
  }

  function formatTime(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return "–";
    const total = Math.floor(seconds);
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = String(total % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + s : m + ":" + s;
  }

  function formatDate(iso) {
    if (!iso) return "–";
    return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function statusBadge(item) {
    const badge = document.createElement("span");
    badge.className = "status status-" + item.status;
    badge.textContent = item.status === "processing" ? "processing " + item.progress + "%" : item.status;
    return badge;
  }

  let toastTimer = null;
  function toast(message) {
    const element = document.getElementById("toast");
    if (!element) return;
    element.textContent = message;
    element.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { element.hidden = true; }, 5000);
  }

  /* Follow changes. `poll()` loads the state and returns false once nothing is left to
   * follow. It runs first; then, with the realtime endpoints (config.eventsToken and
   * `streamUrl`), an EventSource calls `onEvent(type, data)` for each event until it
   * returns false; without them, or when the stream fails, `poll()` runs every
   * `interval` ms until it returns false. Returns {stop}. */
  function follow(options) {
    const interval = options.interval || 1500;
    let stopped = false;
    let timer = null;
    let source = null;

    // Signed out, no longer allowed, or deleted meanwhile: asking again will not help.
    function worthRetrying(error) {
      return !(error instanceof ApiError && [401, 403, 404].includes(error.status));
    }

    function pollLoop() {
      if (stopped) return;
      Promise.resolve(options.poll()).catch(worthRetrying).then(function (again) {
        if (!stopped && again !== false) timer = setTimeout(pollLoop, interval);
      });
    }

    async function stream() {
      try {
        const grant = await api(config.eventsToken.replace(config.api, ""), { method: "POST", json: {} });
        const url = new URL(options.streamUrl, window.location.origin);
        url.searchParams.set("token", grant.token);
        source = new EventSource(url.toString());
        const handler = function (event) {
          let data = null;
          try { data = JSON.parse(event.data); } catch (ignored) { /* keep null */ }
          if (options.onEvent(event.type, data) === false && source) {
            // Done streaming (a terminal event): close before EventSource reconnects,
            // and let poll() take the last look (and follow what comes after, such
            // as the analysis).
            source.close();
            source = null;
            pollLoop();
          }
        };
        // The stream starts at the newest event: a change made between the first look
        // and the stream's opening (a loaded server, a slow token request) is not
        // replayed. Look once more when it opens (and reopens), then follow its events.
        source.onopen = function () {
          Promise.resolve(options.poll()).catch(worthRetrying).then(function (again) {
            if (again === false && source) {
              source.close();
              source = null;
            }
          });
        };
        ["status", "progress", "completed", "failed", "cancelled", "message"].forEach(function (type) {
          source.addEventListener(type, handler);
        });
        source.onerror = function () {
          if (source && source.readyState === EventSource.CLOSED && !stopped) {
            source = null;
            pollLoop();
          }
        };
      } catch (error) {
        pollLoop();
      }
    }

    function stop() {
      stopped = true;
      clearTimeout(timer);
      if (source) source.close();
    }

    // The first look is always a plain request; a stream (or polling) only follows
    // while there is something left to change.
    Promise.resolve(options.poll()).catch(worthRetrying).then(function (again) {
      if (stopped || again === false) return;
      if (options.streamUrl && config.eventsToken && options.onEvent && window.EventSource) stream();
      else timer = setTimeout(pollLoop, interval);
    });
    return { stop: stop };
  }

  window.TP = {
    config: config, api: api, ApiError: ApiError, csrfToken: csrfToken, readerUrl: readerUrl,
    formatTime: formatTime, formatDate: formatDate, statusBadge: statusBadge, toast: toast,
    follow: follow, TERMINAL: TERMINAL,
  };
})();
