"""Frame sampling options that cannot be honoured are refused, and sampling always advances."""

from __future__ import annotations

import math

import pytest

from emoscope.data.video import MAX_SAMPLE_FPS, FrameSampler, VideoReader
from emoscope.errors import UserError
from emoscope.inference.analyze import AnalyzeOptions


@pytest.mark.parametrize("fps", [math.inf, math.nan, 1e12, -1.0, 0.0, MAX_SAMPLE_FPS * 1.01])
def test_unusable_rates_are_refused_in_one_line(fps):
    with pytest.raises(UserError, match=r"^--fps must be a number of frames per second above "
                                        r"0 and at most 1000, got "):
        AnalyzeOptions(fps=fps).validate()
    with pytest.raises(UserError):
        FrameSampler(fps=fps)


@pytest.mark.timeout(20)
def test_a_long_gap_between_timestamps_costs_one_step():
    # At the highest rate, a jump of 10^7 s took 10^10 loop turns (the thread spun for hours).
    sampler = FrameSampler(fps=MAX_SAMPLE_FPS)
    assert sampler.keep(0, 0.0)
    assert sampler.keep(1, 1e7)
    assert not sampler.keep(2, 1e7 + 1e-4)
    assert sampler.keep(3, 1e7 + 2e-3)


@pytest.mark.timeout(20)
def test_huge_timestamps_still_advance():
    # At 1e15 s one period (1 ms) is below the float resolution of the time itself.
    sampler = FrameSampler(fps=MAX_SAMPLE_FPS)
    kept = [sampler.keep(i, 1e15 + i * 0.125) for i in range(5)]
    assert kept == [True] * 5
    assert not sampler.keep(5, 1e15)  # a timestamp going back is not kept twice


def test_broken_timestamps_are_skipped_not_looped_on():
    sampler = FrameSampler(fps=2)
    assert not sampler.keep(0, math.nan)
    assert sampler.keep(1, 0.0) and not sampler.keep(2, 0.2) and sampler.keep(3, 0.5)


def test_the_rate_keeps_its_grid():
    sampler = FrameSampler(fps=4)
    times = [i / 30 for i in range(61)]  # 30 fps for 2 s
    kept = [t for i, t in enumerate(times) if sampler.keep(i, t)]
    assert kept == pytest.approx([i * 0.25 for i in range(9)], abs=1 / 30)
    assert len(kept) == 9


def test_the_check_sees_every_decoded_frame(face_video):
    seen = []
    frames = list(VideoReader(face_video, every=1000, check=lambda: seen.append(1)))
    assert [f.index for f in frames] == [0]
    assert len(seen) == 24  # skipped frames are decoded too, and a deadline must reach them


@pytest.mark.parametrize("fps", ["inf", "nan", "1e12"])
def test_the_cli_refuses_unusable_rates_in_one_line(monkeypatch, capsys, face_video, tmp_path,
                                                    fps):
    from cli_runner import run_cli

    code, _, err = run_cli(monkeypatch, capsys, "analyze", face_video, "--out", tmp_path,
                           "--fps", fps)
    assert code == 2
    assert err.strip().splitlines() == [err.strip().splitlines()[0]]
    assert "--fps must be a number of frames per second above 0" in err
    assert "Traceback" not in err
