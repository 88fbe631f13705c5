"""The upload page's script under Node with a minimal stand-in for the DOM (the browser test
needs Chromium): long tables say they are cut, silent voice windows carry no label."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs node")

SCRIPT = Path(str(resources.files("emoscope.serve") / "static" / "app.js"))

# Elements keep children, text, class, hidden, dataset; tables have a head, a body and a
# caption; fetch never answers (the page asks /health at load).
FAKE_DOM = """
class Element {
  constructor(tag) { this.tag = tag; this.children = []; this.textContent = "";
    this.dataset = {}; this.hidden = false; this.caption = null; }
  appendChild(child) { this.children.push(child); return child; }
  replaceChildren(...nodes) { this.children = nodes; }
  addEventListener() {}
  deleteCaption() { this.caption = null; }
  createCaption() { this.caption = this.caption || new Element("caption"); return this.caption; }
}
const elements = {};
function table(id) {
  const t = new Element("table");
  t.tHead = new Element("thead");
  t.tBodies = [new Element("tbody")];
  elements[id] = t;
}
table("rows"); table("voice-rows");
globalThis.document = {
  getElementById: (id) => elements[id] || (elements[id] = new Element(id)),
  createElement: (tag) => new Element(tag),
};
globalThis.fetch = () => new Promise(() => {});
"""

RUN = """
const result = JSON.parse(require("fs").readFileSync(0, "utf8"));
renderRows(result);
const dump = (id) => ({
  caption: elements[id].caption ? elements[id].caption.textContent : null,
  rows: elements[id].tBodies[0].children.map((tr) => Object.fromEntries(
    tr.children.map((td) => [td.dataset.column, td.textContent]))),
});
console.log(JSON.stringify({faces: dump("rows"), voice: dump("voice-rows")}));
"""


def _render(tmp_path: Path, result: dict) -> dict:
    harness = tmp_path / "harness.js"
    harness.write_text(FAKE_DOM + SCRIPT.read_text(encoding="utf-8") + RUN, encoding="utf-8")
    done = subprocess.run([NODE, str(harness)], input=json.dumps(result), capture_output=True,
                          text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def _face_rows(n: int) -> list[dict]:
    return [{"frame": i, "time_s": i / 10, "track_id": 0, "x1": 1, "y1": 2, "x2": 3, "y2": 4,
             "top_label": "happy", "p_happy": 0.9, "p_sad": 0.1} for i in range(n)]


def _voice_row(i: int, voiced: bool) -> dict:
    return {"window": i, "start_s": i * 0.5, "end_s": i * 0.5 + 1, "rms_db": -20 if voiced
            else -70, "voiced": voiced, "p_calm": 0.2, "p_fearful": 0.8,
            "top_label": "fearful" if voiced else None}


def _result(rows: list[dict], voice_rows: list[dict]) -> dict:
    return {"kind": "video", "columns": ["frame", "p_happy", "p_sad"], "rows": rows,
            "voice_columns": ["window", "p_calm", "p_fearful"], "voice_rows": voice_rows}


def test_a_long_table_says_how_many_rows_it_leaves_out(tmp_path):
    shown = _render(tmp_path, _result(_face_rows(1234), [_voice_row(0, True)]))
    assert len(shown["faces"]["rows"]) == 500
    assert shown["faces"]["caption"] == ("First 500 of 1234 rows shown; the response of "
                                         "POST /analyze holds them all.")
    assert shown["voice"]["caption"] is None
    short = _render(tmp_path, _result(_face_rows(500), []))
    assert len(short["faces"]["rows"]) == 500 and short["faces"]["caption"] is None


def test_silent_voice_windows_are_not_labelled(tmp_path):
    shown = _render(tmp_path, _result([], [_voice_row(0, True), _voice_row(1, False)]))
    voiced, silent = shown["voice"]["rows"]
    assert voiced["top_label"] == "fearful" and voiced["score"] == "0.800"
    assert silent["top_label"] == "(silence)" and silent["score"] == ""
    assert "fearful" not in silent.values()
