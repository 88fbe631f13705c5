// The upload page: POST the file to /analyze, then show the annotated result, the timeline
// plot, the per-face rows and the voice windows the service returns.
"use strict";

const $ = (id) => document.getElementById(id);
const SHOWN_COLUMNS = ["frame", "time_s", "track_id", "x1", "y1", "x2", "y2", "top_label"];
const VOICE_COLUMNS = ["window", "start_s", "end_s", "rms_db", "voiced", "top_label"];
// Rows drawn per table: a long video has tens of thousands; the response holds them all.
const MAX_SHOWN_ROWS = 500;

function show(id, visible) {
  $(id).hidden = !visible;
}

function fail(message) {
  $("error").textContent = message;
  show("error", true);
  $("status").textContent = "";
}

function renderTable(table, columns, labels, rows, rowClass) {
  const shown = columns.concat(["score"]);
  const head = document.createElement("tr");
  for (const name of shown) {
    const th = document.createElement("th");
    th.textContent = name;
    head.appendChild(th);
  }
  table.tHead.replaceChildren(head);
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const row of rows.slice(0, MAX_SHOWN_ROWS)) {
    const tr = document.createElement("tr");
    tr.className = rowClass;
    // A silent voice window has probabilities that describe no voice: no label, no score.
    const silent = row.voiced === false;
    const score = silent ? null : Math.max(...labels.map((c) => row[c]));
    for (const name of shown) {
      const td = document.createElement("td");
      td.textContent = cellText(name === "score" ? score : row[name], name, silent);
      td.dataset.column = name;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  table.deleteCaption();
  if (rows.length > MAX_SHOWN_ROWS) {
    table.createCaption().textContent = `First ${MAX_SHOWN_ROWS} of ${rows.length} rows ` +
      "shown; the response of POST /analyze holds them all.";
  }
}

function cellText(value, name, silent) {
  if (name === "top_label" && (silent || value === null)) return "(silence)";
  if (value === null || value === undefined) return "";
  const seconds = name.endsWith("_s");
  return typeof value === "number" && (seconds || !Number.isInteger(value))
    ? value.toFixed(seconds ? 2 : 3) : String(value);
}

function renderRows(result) {
  const faceLabels = result.columns.filter((c) => c.startsWith("p_"));
  show("rows", result.kind !== "audio");
  renderTable($("rows"), SHOWN_COLUMNS, faceLabels, result.rows, "face-row");
  const voiceLabels = result.voice_columns.filter((c) => c.startsWith("p_"));
  show("voice", result.voice_rows.length > 0);
  renderTable($("voice-rows"), VOICE_COLUMNS, voiceLabels, result.voice_rows, "voice-row");
}

function renderResult(result) {
  const voice = result.voice_model
    ? `, ${result.voice_rows.length} voice window(s), voice model ${result.voice_model}` : "";
  $("summary").textContent = `${result.source}: ${result.frames} frame(s), ` +
    `${result.faces} face(s), model ${result.model}${voice}, ${result.elapsed_s.toFixed(2)} s`;
  const annotated = result.files.annotated;
  const isVideo = result.kind === "video";
  show("annotated-figure", Boolean(annotated) && !isVideo);
  show("video-figure", Boolean(annotated) && isVideo);
  if (annotated && isVideo) $("annotated-video").src = annotated;
  if (annotated && !isVideo) $("annotated").src = annotated;
  show("timeline-figure", Boolean(result.files.timeline));
  if (result.files.timeline) $("timeline").src = result.files.timeline;
  show("av-timeline-figure", Boolean(result.files.av_timeline));
  if (result.files.av_timeline) $("av-timeline").src = result.files.av_timeline;
  show("warnings", result.warnings.length > 0);
  $("warnings").textContent = result.warnings.join("\n");
  renderRows(result);
  show("result", true);
}

async function analyse(event) {
  event.preventDefault();
  const file = $("file").files[0];
  if (!file) return fail("choose an image, a video or an audio file first");
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
    const voice = health.voice_model ? `, voice model: ${health.voice_model}` : "";
    $("model").textContent = `Model: ${health.model}, detector: ${health.detector}${voice}.`;
  } catch (err) {
    $("model").textContent = "";
  }
}

$("upload").addEventListener("submit", analyse);
showModel();
