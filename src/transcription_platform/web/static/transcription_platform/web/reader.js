/* The transcript reader: segments linked to the audio both ways, search, analysis,
 * downloads and the job's actions. Keyboard: Space plays/pauses (outside text fields),
 * ArrowUp/ArrowDown move between segments, Enter plays from the focused one. */
(function () {
  "use strict";
  const TP = window.TP;
  const id = TP.config.id;
  const audio = document.getElementById("audio");
  const list = document.getElementById("segments");
  const emptyNote = document.getElementById("transcript-empty");
  const statusBadge = document.getElementById("status");
  const statusDetail = document.getElementById("status-detail");
  const jobBar = document.getElementById("job-progress");
  const search = document.getElementById("transcript-search");
  const searchCount = document.getElementById("search-count");
  const buttons = {
    retry: document.getElementById("retry"),
    cancel: document.getElementById("cancel"),
    delete: document.getElementById("delete"),
  };
  const downloads = document.querySelector(".downloads");
  let segments = [];
  let items = [];
  let current = -1;
  let analysisLoaded = false;

  function renderSegments(data) {
    segments = data.segments || [];
    items = segments.map(function (segment, index) {
      const li = document.createElement("li");
      li.className = "segment";
      li.tabIndex = index === 0 ? 0 : -1;
      li.dataset.index = String(index);
      li.dataset.start = String(segment.start);
      const time = document.createElement("span");
      time.className = "time";
      time.textContent = TP.formatTime(segment.start);
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = segment.text.trim();
      li.append(time, text);
      li.setAttribute("aria-label", TP.formatTime(segment.start) + " " + segment.text.trim());
      return li;
    });
    list.replaceChildren.apply(list, items);
    emptyNote.hidden = items.length > 0;
    if (!items.length) {
      emptyNote.textContent = data.status === "completed" ? "No speech was found in this audio."
        : "The transcript appears here when the job is done.";
    }
  }

  function segmentAt(time) {
    // Segments are sorted by start: binary search for the last one starting at or before time.
    let low = 0, high = segments.length - 1, found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (segments[middle].start <= time + 0.01) { found = middle; low = middle + 1; }
      else high = middle - 1;
    }
    return found;
  }

  function highlight(index) {
    if (index === current) return;
    if (current >= 0 && items[current]) {
      items[current].classList.remove("current");
      items[current].removeAttribute("aria-current");
    }
    current = index;
    if (index >= 0 && items[index]) {
      items[index].classList.add("current");
      items[index].setAttribute("aria-current", "true");
      items[index].scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  }

  function seek(index, play) {
    if (!segments[index]) return;
    audio.currentTime = segments[index].start;
    highlight(index);
    if (play) audio.play().catch(function () {});
  }

  function focusSegment(index) {
    if (!items[index]) return;
    items.forEach(function (item) { item.tabIndex = -1; });
    items[index].tabIndex = 0;
    items[index].focus();
  }

  list.addEventListener("click", function (event) {
    const li = event.target.closest(".segment");
    if (!li) return;
    const index = Number(li.dataset.index);
    focusSegment(index);
    seek(index, true);
  });
  list.addEventListener("keydown", function (event) {
    const li = event.target.closest(".segment");
    if (!li) return;
    const index = Number(li.dataset.index);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const target = Math.min(items.length - 1, Math.max(0, index + (event.key === "ArrowDown" ? 1 : -1)));
      focusSegment(target);
      seek(target, false);
    } else if (event.key === "Enter") {
      event.preventDefault();
      seek(index, true);
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== " " || event.defaultPrevented) return;
    const target = event.target;
    if (target.closest("input, textarea, select, button, a, summary, audio, dialog")) return;
    event.preventDefault();
    if (audio.paused) audio.play().catch(function () {}); else audio.pause();
  });
  audio.addEventListener("timeupdate", function () { highlight(segmentAt(audio.currentTime)); });
  audio.addEventListener("seeked", function () { highlight(segmentAt(audio.currentTime)); });

  search.addEventListener("input", function () {
    const needle = search.value.trim().toLowerCase();
    let hits = 0;
    items.forEach(function (item, index) {
      const text = item.querySelector(".text");
      const plain = segments[index].text.trim();
      text.textContent = plain;
      const match = needle && plain.toLowerCase().includes(needle);
      item.classList.toggle("match", Boolean(match));
      item.classList.toggle("dimmed", Boolean(needle) && !match);
      if (match) {
        hits += 1;
        // Mark every occurrence with <mark>, built from text nodes (never innerHTML).
        const lower = plain.toLowerCase();
        const parts = [];
        let from = 0, at;
        while ((at = lower.indexOf(needle, from)) !== -1) {
          parts.push(document.createTextNode(plain.slice(from, at)));
          const mark = document.createElement("mark");
          mark.textContent = plain.slice(at, at + needle.length);
          parts.push(mark);
          from = at + needle.length;
        }
        parts.push(document.createTextNode(plain.slice(from)));
        text.replaceChildren.apply(text, parts);
      }
    });
    searchCount.textContent = needle ? hits + (hits === 1 ? " segment" : " segments") : "";
    const first = list.querySelector(".match");
    if (first) first.scrollIntoView({ block: "nearest" });
  });

  function renderStatus(data) {
    statusBadge.className = "status status-" + data.status;
    statusBadge.textContent = data.status;
    const moving = !TP.TERMINAL.has(data.status);
    jobBar.hidden = !moving;
    jobBar.value = data.progress;
    statusDetail.textContent = moving ? data.progress + "%" :
      data.status === "failed" && data.error ? data.error.message :
      data.duration ? TP.formatTime(data.duration) + " of audio" : "";
    buttons.retry.hidden = data.status !== "failed";
    buttons.cancel.hidden = !moving;
    downloads.hidden = data.status !== "completed";
    return moving;
  }

  function renderAnalysis(analysis) {
    const section = document.getElementById("analysis");
    const status = document.getElementById("analysis-status");
    section.hidden = false;
    if (analysis.status !== "completed") {
      status.textContent = analysis.status === "failed" && analysis.error
        ? "The analysis failed: " + analysis.error.message : "The analysis is " + analysis.status + "…";
      return analysis.status !== "failed";
    }
    status.textContent = "By " + analysis.analyzer + (analysis.model ? " (" + analysis.model + ")" : "");
    document.getElementById("summary").textContent = analysis.summary;
    const topics = document.getElementById("topics");
    topics.replaceChildren.apply(topics, analysis.topics.map(function (topic) {
      const li = document.createElement("li");
      li.textContent = topic.label;
      return li;
    }));
    const actions = document.getElementById("action-items");
    actions.replaceChildren.apply(actions, analysis.action_items.map(function (item) {
      const li = document.createElement("li");
      const text = document.createElement("span");
      text.textContent = item.text;
      li.appendChild(text);
      const meta = [];
      if (item.owner) meta.push("owner: " + item.owner);
      if (item.due) meta.push("due: " + item.due);
      if (meta.length) {
        const small = document.createElement("span");
        small.className = "meta";
        small.textContent = " (" + meta.join(", ") + ")";
        li.appendChild(small);
      }
      if (item.start !== null && item.start !== undefined) {
        const jump = document.createElement("button");
        jump.type = "button";
        jump.className = "link-button time";
        jump.textContent = TP.formatTime(item.start);
        jump.setAttribute("aria-label", "Play from " + TP.formatTime(item.start));
        jump.addEventListener("click", function () {
          audio.currentTime = item.start;
          audio.play().catch(function () {});
        });
        li.prepend(jump, " ");
      }
      return li;
    }));
    document.getElementById("analysis-body").hidden = false;
    return false;
  }

  async function loadAnalysis() {
    if (!TP.config.analysis || analysisLoaded) return false;
    try {
      const keepGoing = renderAnalysis(await TP.api("transcriptions/" + id + "/analysis"));
      analysisLoaded = !keepGoing;
      return keepGoing;
    } catch (error) {
      if (error.status !== 404) throw error;
      return false;  // never requested for this transcript: no panel
    }
  }

  async function load() {
    const data = await TP.api("transcriptions/" + id);
    const moving = renderStatus(data);
    if (data.status === "completed" && !segments.length) {
      renderSegments(data);
      audio.load();
    } else if (!segments.length) {
      renderSegments(data);
    }
    const analysing = data.status === "completed" ? await loadAnalysis() : false;
    return moving || analysing;
  }

  function confirmAction(title, text, label) {
    const dialog = document.getElementById("confirm");
    document.getElementById("confirm-title").textContent = title;
    document.getElementById("confirm-text").textContent = text;
    document.getElementById("confirm-ok").textContent = label;
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function () { resolve(dialog.returnValue === "ok"); }, { once: true });
      dialog.returnValue = "";
      dialog.showModal();
    });
  }

  let live = null;
  function startLive() {
    if (live) live.stop();
    live = TP.follow({
      poll: load,
      streamUrl: TP.config.transcriptionEvents,
      onEvent: function (type) {
        if (TP.TERMINAL.has(type)) return false;  // poll() takes the last look
        load();
        return true;
      },
    });
  }

  async function act(name, path, method, question, label, after) {
    if (!(await confirmAction(question[0], question[1], label))) return;
    try {
      await TP.api(path, { method: method });
      after();
    } catch (error) {
      TP.toast(error.message);
    }
  }

  buttons.retry.addEventListener("click", function () {
    act("retry", "transcriptions/" + id + "/retry", "POST",
      ["Retry this transcription?", "The job runs again from the start."], "Retry", startLive);
  });
  buttons.cancel.addEventListener("click", function () {
    act("cancel", "transcriptions/" + id + "/cancel", "POST",
      ["Cancel this transcription?", "The job stops; it cannot be resumed."], "Cancel the job", startLive);
  });
  buttons.delete.addEventListener("click", function () {
    act("delete", "transcriptions/" + id, "DELETE",
      ["Delete this transcription?", "The audio and the transcript are removed for good."],
      "Delete", function () { window.location.assign(TP.config.pages.list); });
  });

  startLive();
})();
