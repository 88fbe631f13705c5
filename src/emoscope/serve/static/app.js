// The upload page: POST the file to /analyze, then show the annotated result, the timeline
// plot and the per-face rows the service returns.
"use strict";

const $ = (id) => document.getElementById(id);
const SHOWN_COLUMNS = ["frame", "time_s", "track_id", "x1", "y1", "x2", "y2", "top_label"];

function show(id, visible) {
  $(id).hidden = !visible;
}

function fail(message) {
  $("error").textContent = message;
  show("error", true);
  $("status").textContent = "";
}

function renderRows(result) {
  const labels = result.columns.filter((c) => c.startsWith("p_"));
  const columns = SHOWN_COLUMNS.concat(["score"]);
  const head = document.createElement("tr");
  for (const name of columns) {
    const th = document.createElement("th");
    th.textContent = name;
    head.appendChild(th);
  }
  $("rows").tHead.replaceChildren(head);
  const body = $("rows").tBodies[0];
  body.replaceChildren();
  for (const row of result.rows.slice(0, 500)) {
    const tr = document.createElement("tr");
    tr.className = "face-row";
    const score = Math.max(...labels.map((c) => row[c]));
    for (const name of columns) {
      const td = document.createElement("td");
      const value = name === "score" ? score : row[name];
      td.textContent = typeof value === "number" && !Number.isInteger(value)
        ? value.toFixed(name === "time_s" ? 2 : 3) : String(value);
      td.dataset.column = name;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

function renderResult(result) {
  $("summary").textContent = `${result.source}: ${result.frames} frame(s), ` +
    `${result.faces} face(s), model ${result.model}, ${result.elapsed_s.toFixed(2)} s`;
  const annotated = result.files.annotated;
  const isVideo = result.kind === "video";
  show("annotated-figure", Boolean(annotated) && !isVideo);
  show("video-figure", Boolean(annotated) && isVideo);
  if (annotated && isVideo) $("annotated-video").src = annotated;
  if (annotated && !isVideo) $("annotated").src = annotated;
  show("timeline-figure", Boolean(result.files.timeline));
  if (result.files.timeline) $("timeline").src = result.files.timeline;
  renderRows(result);
  show("result", true);
}

async function analyse(event) {
  event.preventDefault();
  const file = $("file").files[0];
  if (!file) return fail("choose an image or a video first");
  show("error", false);
  show("result", false);
  $("status").textContent = `analysing ${file.name} ...`;
  $("analyse").disabled = true;
  const query = new URLSearchParams({
    annotate: "true", plots: String($("plots").checked), every: $("every").value || "1",
  });
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const response = await fetch(`/analyze?${query}`, { method: "POST", body: form });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
      return fail(`error ${response.status}: ${detail || response.statusText}`);
    }
    $("status").textContent = "done";
    renderResult(body);
  } catch (err) {
    fail(`request failed: ${err}`);
  } finally {
    $("analyse").disabled = false;
  }
}

async function showModel() {
  try {
    const health = await (await fetch("/health")).json();
    $("model").textContent = `Model: ${health.model}, detector: ${health.detector}.`;
  } catch (err) {
    $("model").textContent = "";
  }
}

$("upload").addEventListener("submit", analyse);
showModel();
