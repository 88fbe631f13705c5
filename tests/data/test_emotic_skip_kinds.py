"""The EMOTIC skip summary counts reasons by kind: the values inside a reason do not make
rows skipped for one cause count as different kinds."""

from __future__ import annotations

from emoscope.data.emotic.records import EmoticData, SkippedRow


def test_reasons_with_values_group_by_kind():
    reasons = ["unreadable x1 'abc'", "unreadable x1 'zz'", "bad width -3", "bad width 0.5",
               "categories must be 0 or 1, got [0, 2]", "categories must be 0 or 1, got [3]",
               "bad image size 640x480", "bad image size 10x0",
               "body box outside the image: [1, 2, 3, 4] (2x2)", "missing image file: a/b.jpg"]
    data = EmoticData([], [SkippedRow("Annotations.mat", f"row {i}", r)
                           for i, r in enumerate(reasons)])
    assert data.skip_summary() == (
        "skipped 10 row(s): 2 unreadable x1, 2 bad width, 2 categories must be 0 or 1, "
        "2 bad image size, 1 body box outside the image, 1 missing image file")
