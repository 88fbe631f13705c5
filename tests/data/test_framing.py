from __future__ import annotations

import numpy as np
import pytest

from emoscope.data.framing import BORDERS, frame_face, framing_params


def _face() -> np.ndarray:
    """A 48x48 grey face stand-in: a bright square with a dark centre mark."""
    face = np.full((48, 48), 200, np.uint8)
    face[20:28, 20:28] = 10
    return face


def test_same_seed_and_index_give_the_same_frame_in_any_order():
    face = _face()
    first = [frame_face(face, seed=7, index=i) for i in range(5)]
    again = [frame_face(face, seed=7, index=i) for i in reversed(range(5))][::-1]
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.frame, b.frame)
        assert a.box == b.box


def test_other_seed_or_index_changes_the_variation():
    a = framing_params(7, 0)
    assert framing_params(7, 1) != a
    assert framing_params(8, 0) != a


def test_distribution_stays_in_documented_ranges():
    draws = [framing_params(3, i) for i in range(400)]
    scales = np.array([d.scale for d in draws])
    tilts = np.array([d.tilt for d in draws])
    sigmas = np.array([d.noise_sigma for d in draws])
    assert 2.0 <= scales.min() and scales.max() <= 3.0
    assert scales.max() - scales.min() > 0.9
    assert -10.0 <= tilts.min() and tilts.max() <= 10.0
    assert tilts.min() < -9 and tilts.max() > 9
    assert 0.0 <= sigmas.min() and sigmas.max() <= 8.0
    counts = {b: sum(d.border == b for d in draws) for b in BORDERS}
    assert all(60 < n < 140 for n in counts.values()), counts
    centres = np.array([d.center for d in draws])
    # Off-centre: the face centre spreads across the frame, not pinned to (160, 120).
    assert np.abs(centres[:, 0] - 160).mean() > 20


def test_box_is_the_enlarged_face_and_holds_its_pixels():
    face = _face()
    for index in range(20):
        framed = frame_face(face, seed=1, index=index)
        height, width = framed.frame.shape[:2]
        assert (height, width) == (240, 320) and framed.frame.dtype == np.uint8
        x0, y0, x1, y1 = framed.box
        side = x1 - x0
        assert side == pytest.approx(y1 - y0)
        assert 96 <= side <= 144
        assert side == pytest.approx(round(48 * framed.params.scale))
        assert 0 <= x0 and x1 <= width and 0 <= y0 and y1 <= height
        # The dark centre mark of the face lands at the box centre (tilt is about that centre).
        cx, cy = framed.center
        patch = framed.frame[int(cy) - 2:int(cy) + 3, int(cx) - 2:int(cx) + 3].astype(float)
        assert patch.mean() < 60


@pytest.mark.parametrize("border", BORDERS)
def test_each_border_type_renders(border):
    face = _face()
    index = next(i for i in range(200) if framing_params(2, i).border == border)
    framed = frame_face(face, seed=2, index=index)
    corner = framed.frame[:10, :10].astype(float)
    if border == "constant":
        colour = np.asarray(framed.params.colour, float)
        assert np.abs(corner.mean(axis=(0, 1)) - colour).max() < 12
    if border == "noise":
        # A texture, not one plain colour: the frame's background varies at large scale.
        assert framed.frame[:, :20].astype(float).std() > 5


def test_rgb_input_and_bad_shapes():
    rgb = np.repeat(_face()[..., None], 3, axis=2)
    assert np.array_equal(frame_face(rgb, 0, 0).frame, frame_face(_face(), 0, 0).frame)
    with pytest.raises(ValueError, match="square"):
        frame_face(np.zeros((48, 40), np.uint8), 0, 0)
    with pytest.raises(ValueError, match="too small"):
        framing_params(0, 0, frame_size=(120, 160))
