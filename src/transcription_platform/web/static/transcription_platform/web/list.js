/* My transcriptions: the list endpoint with its filters, pages, and live statuses. */
(function () {
  "use strict";
  const TP = window.TP;
  const form = document.getElementById("filters");
  const body = document.querySelector("#jobs tbody");
  const summary = document.getElementById("list-summary");
  const empty = document.getElementById("empty");
  const prev = document.getElementById("prev");
  const next = document.getElementById("next");
  const pageLabel = document.getElementById("page-label");
  const FIELDS = ["search", "status", "language", "ordering"];
  let page = 1;
  let live = null;
  let searchTimer = null;

  function readLocation() {
    const params = new URLSearchParams(window.location.search);
    FIELDS.forEach(function (name) {
      if (params.has(name)) form.elements[name].value = params.get(name);
    });
    page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  }

  function query() {
    const params = new URLSearchParams();
    FIELDS.forEach(function (name) {
      const value = form.elements[name].value.trim();
      if (value) params.set(name, value);
    });
    if (page > 1) params.set("page", String(page));
    return params;
  }

  function row(item) {
    const tr = document.createElement("tr");
    tr.dataset.id = item.id;
    const title = document.createElement("th");
    title.scope = "row";
    const link = document.createElement("a");
    link.href = TP.readerUrl(item.id);
    link.textContent = item.title || item.original_filename;
    title.appendChild(link);
    const status = document.createElement("td");
    status.appendChild(TP.statusBadge(item));
    if (item.status === "processing" || item.status === "pending") {
      const bar = document.createElement("progress");
      bar.max = 100;
      bar.value = item.progress;
      bar.setAttribute("aria-label", "Progress of " + (item.title || item.original_filename));
      status.appendChild(bar);
    }
    if (item.error) status.title = item.error.message;
    const cells = [TP.formatTime(item.duration), item.detected_language || item.language || "–",
      TP.formatDate(item.created_at)];
    tr.append(title, status);
    cells.forEach(function (text) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    });
    return tr;
  }

  async function load() {
    const params = query();
    params.set("page", String(page));
    let data;
    try {
      data = await TP.api("transcriptions/?" + params.toString());
    } catch (error) {
      if (error.status === 404 && page > 1) { page = 1; return load(); }
      summary.textContent = error.message;
      return false;
    }
    body.replaceChildren.apply(body, data.results.map(row));
    const pages = Math.max(1, Math.ceil(data.count / TP.config.pageSize));
    summary.textContent = data.count === 1 ? "1 transcription" : data.count + " transcriptions";
    empty.hidden = data.count !== 0 || query().toString() !== "";
    pageLabel.textContent = "Page " + page + " of " + pages;
    prev.disabled = !data.previous;
    next.disabled = !data.next;
    // Keep following while a job on this page is still moving.
    return data.results.some(function (item) { return !TP.TERMINAL.has(item.status); });
  }

  function startLive() {
    if (live) live.stop();
    live = TP.follow({
      poll: load,
      streamUrl: TP.config.events,
      onEvent: function () { load(); return true; },  // the user's stream never ends
      interval: 2000,
    });
  }

  function apply() {
    window.history.replaceState(null, "", "?" + query().toString());
    startLive();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    page = 1;
    apply();
  });
  form.elements.search.addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () { page = 1; apply(); }, 350);
  });
  ["status", "ordering"].forEach(function (name) {
    form.elements[name].addEventListener("change", function () { page = 1; apply(); });
  });
  prev.addEventListener("click", function () { page = Math.max(1, page - 1); apply(); });
  next.addEventListener("click", function () { page += 1; apply(); });

  readLocation();
  startLive();
})();
