"""Integration on real photos and video in ``<repo>/../shared/data/demo-media`` (if present)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("EMOSCOPE_SHARED_DATA", REPO / ".." / "shared" / "data"))
DEMO_MEDIA = SHARED / "demo-media"

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not DEMO_MEDIA.is_dir(), reason=f"{DEMO_MEDIA} not present"),
]


def test_real_photos_and_video(tmp_path, tiny_model_path):
    from emoscope.inference.analyze import AnalyzeOptions, run_analysis
    from emoscope.inference.writers import read_table

    errors = []
    report = run_analysis([str(DEMO_MEDIA)], AnalyzeOptions(
        out=str(tmp_path), model=str(tiny_model_path), fps=10, plots=False),
        on_error=errors.append)
    assert report.analysed == 1 and errors == []  # PHOTOS_README.md is skipped, not an error
    table = read_table(tmp_path / "demo-media.csv")
    faces = table.groupby(table["source"].map(lambda s: Path(s).name))["track_id"].nunique()
    for photo in ("angry.jpg", "happy-baby.jpeg", "neutral.jpeg", "sad-baby.jpeg",
                  "surprised.jpeg"):
        assert faces[photo] == 1, photo
    assert faces["group.jpeg"] >= 4  # five people, one cut by the top edge
    video = table[table["source"].str.endswith("single_face.mp4")]
    assert video["track_id"].nunique() == 1  # one man, one stable track
    assert len(video) >= 20  # 2.4 s sampled at 10 fps
    assert video["time_s"].diff().dropna().between(0.09, 0.11).all()
