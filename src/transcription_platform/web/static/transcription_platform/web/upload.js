/* Upload: drag and drop or the file picker, bytes-sent progress (XHR: fetch cannot
 * report upload progress), then the job's progress. A failed upload keeps the form as
 * it was and puts the API's message next to the field it is about. */
(function () {
  "use strict";
  const TP = window.TP;
  const form = document.getElementById("upload-form");
  const input = document.getElementById("audio_file");
  const dropzone = document.getElementById("dropzone");
  const fileName = document.getElementById("file-name");
  const formError = document.getElementById("form-error");
  const submit = document.getElementById("submit");
  const panel = document.getElementById("progress");
  const uploadBar = document.getElementById("upload-progress");
  const uploadText = document.getElementById("upload-text");
  const jobBar = document.getElementById("job-progress");
  const jobText = document.getElementById("job-text");
  const done = document.getElementById("job-done");
  const openReader = document.getElementById("open-reader");
  const FIELDS = ["audio_file", "title", "language", "engine", "prompt"];
  const AUDIO_CODES = ["payload_too_large", "unsupported_media_type", "audio_too_long",
    "invalid_audio", "empty_audio", "corrupt_audio"];

  function showFile() {
    const file = input.files[0];
    fileName.textContent = file ? file.name + " (" + (file.size / 1048576).toFixed(1) + " MB)" : "";
  }

  function clearErrors() {
    formError.hidden = true;
    formError.textContent = "";
    FIELDS.forEach(function (name) {
      const element = document.getElementById(name + "-error");
      element.hidden = true;
      element.textContent = "";
      document.getElementById(name).removeAttribute("aria-invalid");
    });
  }

  function fieldFor(status, error) {
    const field = error.details && error.details.field;
    if (field && FIELDS.includes(field)) return field;
    if (Array.isArray(error.details)) {  // 422: ninja's [{loc: [..., field]}]
      for (const entry of error.details) {
        const name = entry.loc && entry.loc[entry.loc.length - 1];
        if (FIELDS.includes(name)) return name;
      }
    }
    if (status === 413 || status === 415 || AUDIO_CODES.includes(error.code)) return "audio_file";
    if (error.code === "invalid_language" || error.code === "unsupported_language") return "language";
    if (error.code === "unknown_engine") return "engine";
    return null;
  }

  function showError(status, error) {
    const field = fieldFor(status, error);
    const message = error.message || "The upload failed (" + status + ").";
    if (field) {
      const element = document.getElementById(field + "-error");
      element.textContent = message;
      element.hidden = false;
      const control = document.getElementById(field);
      control.setAttribute("aria-invalid", "true");
      (field === "audio_file" ? dropzone.querySelector("label") : control).focus();
    } else {
      formError.textContent = message;
      formError.hidden = false;
      formError.focus();
    }
    panel.hidden = true;
  }

  function followJob(item) {
    const update = function (job) {
      jobBar.value = job.progress;
      jobText.textContent = job.status === "processing" ? job.progress + "%" : job.status;
      if (job.status === "completed") {
        jobBar.value = 100;
        jobText.textContent = "100% — completed";
        openReader.href = TP.readerUrl(job.id);
        done.hidden = false;
        openReader.focus();
      } else if (job.status === "failed" || job.status === "cancelled") {
        jobText.textContent = job.status + (job.error ? ": " + job.error.message : "");
        openReader.href = TP.readerUrl(job.id);
        openReader.textContent = "See the job";
        done.hidden = false;
      }
      return !TP.TERMINAL.has(job.status);
    };
    if (!update(item)) return;
    const poll = function () { return TP.api("transcriptions/" + item.id).then(update); };
    TP.follow({
      poll: poll,
      streamUrl: TP.config.events,  // every job of the user: keep this one's events
      onEvent: function (type, data) {
        if (!data || data.transcription_id !== item.id) return true;
        return update({
          id: item.id,
          status: data.status,
          progress: data.progress,
          error: data.error_message ? { message: data.error_message } : null,
        });
      },
      interval: 1000,
    });
  }

  function send() {
    const data = new FormData(form);
    const analyze = document.getElementById("analyze");
    if (analyze) data.set("analyze", analyze.checked ? "true" : "false");
    const request = new XMLHttpRequest();
    request.open("POST", TP.config.api + "transcriptions/");
    request.setRequestHeader("X-CSRFToken", TP.csrfToken());
    request.setRequestHeader("Accept", "application/json");
    request.responseType = "json";
    request.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable) return;
      const percent = Math.round((event.loaded / event.total) * 100);
      uploadBar.value = percent;
      uploadText.textContent = percent + "% (" + (event.loaded / 1048576).toFixed(1) + " of " +
        (event.total / 1048576).toFixed(1) + " MB)";
    });
    request.addEventListener("load", function () {
      submit.disabled = false;
      const body = request.response || {};
      if (request.status === 201) {
        uploadBar.value = 100;
        uploadText.textContent = "100% — uploaded";
        followJob(body);
      } else {
        showError(request.status, body.error || {});
      }
    });
    request.addEventListener("error", function () {
      submit.disabled = false;
      showError(0, { message: "The upload did not reach the server; check the connection and try again." });
    });
    submit.disabled = true;
    panel.hidden = false;
    done.hidden = true;
    uploadBar.value = 0;
    jobBar.value = 0;
    jobText.textContent = "waiting for the upload";
    request.send(data);
  }

  input.addEventListener("change", showFile);
  ["dragenter", "dragover"].forEach(function (type) {
    dropzone.addEventListener(type, function (event) {
      event.preventDefault();
      dropzone.classList.add("dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (type) {
    dropzone.addEventListener(type, function () { dropzone.classList.remove("dragging"); });
  });
  dropzone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      showFile();
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors();
    if (!input.files.length) {
      showError(400, { message: "Choose an audio file first.", details: { field: "audio_file" } });
      return;
    }
    send();
  });
  showFile();
})();
