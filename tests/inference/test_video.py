"""Video reading: pts-based times (variable frame rate), sampling, OpenCV fallback, bad files."""

from __future__ import annotations

import numpy as np
import pytest

from emoscope.data.video import FrameSampler, StreamReader, VideoReader, _frames_opencv
from emoscope.errors import MediaError
from emoscope.inference.demo import write_video
from media_fixtures import with_display_rotation


def _frames(n: int, size=(64, 48)) -> list[np.ndarray]:
    return [np.full((size[1], size[0], 3), i * 10 % 255, np.uint8) for i in range(n)]


def test_reads_all_frames_with_times(face_video):
    frames = list(VideoReader(face_video))
    assert len(frames) == 24
    assert [f.index for f in frames] == list(range(24))
    assert frames[0].time_s == pytest.approx(0.0)
    assert frames[12].time_s == pytest.approx(1.0, abs=1e-3)
    assert frames[0].rgb.shape == (180, 320, 3) and frames[0].rgb.dtype == np.uint8


def test_variable_frame_rate_times_come_from_pts(tmp_path):
    times = [0.0, 0.04, 0.08, 0.5, 0.54, 1.5]
    path = write_video(_frames(len(times)), tmp_path / "vfr.mp4", fps=25, times=times)
    got = [f.time_s for f in VideoReader(path)]
    assert got == pytest.approx(times, abs=2e-3)


def test_every_keeps_every_nth_frame(face_video):
    assert [f.index for f in VideoReader(face_video, every=5)] == [0, 5, 10, 15, 20]


def test_fps_sampling(face_video):
    frames = list(VideoReader(face_video, fps=4))  # 12 fps source, 2 s
    assert len(frames) == 8
    gaps = np.diff([f.time_s for f in frames])
    assert gaps == pytest.approx([0.25] * 7, abs=1e-3)


def test_sampler_at_rate_on_irregular_times():
    sampler = FrameSampler(fps=2)
    times = [0.0, 0.1, 0.45, 0.52, 0.9, 1.05, 1.6]
    kept = [t for i, t in enumerate(times) if sampler.keep(i, t)]
    assert kept == [0.0, 0.52, 1.05, 1.6]


def test_large_frames_are_downscaled(tmp_path):
    path = write_video(_frames(2, size=(800, 600)), tmp_path / "big.mp4")
    frame = next(iter(VideoReader(path, max_side=400)))
    assert frame.rgb.shape == (300, 400, 3) and frame.scale == pytest.approx(2.0)


def test_opencv_backend_gives_frames_and_times(face_video):
    items = list(_frames_opencv(face_video))
    assert len(items) == 24
    assert items[12][1] == pytest.approx(1.0, abs=0.1)
    assert items[0][2]().shape == (180, 320, 3)


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"", "empty file"), (b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 500, "not a readable video")],
)
def test_bad_videos_raise_media_error(tmp_path, content, problem):
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(MediaError) as info:
        VideoReader(path)
    assert "clip.mp4" in str(info.value) and problem in str(info.value)


def test_audio_only_file_has_no_video_stream(tmp_path):
    import av

    path = tmp_path / "tone.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(MediaError, match="no video stream"):
        VideoReader(path)


def test_stream_reader_on_a_file(face_video):
    frames = list(StreamReader(str(face_video), every=2))
    assert len(frames) == 12
    assert frames[1].index == 2


def test_stream_reader_bad_sources():
    with pytest.raises(MediaError, match="not a camera index"):
        StreamReader("no/such/file.mp4")
    with pytest.raises(MediaError, match="cannot open camera"):
        StreamReader("97")


def test_opencv_fallback_when_pyav_cannot_open(face_video, monkeypatch):
    import emoscope.data.video as video

    def refuse(path):
        raise MediaError(path, "not a readable video (pretend)")

    monkeypatch.setattr(video, "_probe_pyav", refuse)
    reader = VideoReader(face_video, every=3)
    assert reader.info.backend == "opencv"
    frames = list(reader)
    assert [f.index for f in frames] == list(range(0, 24, 3))
    assert frames[4].time_s == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("clockwise", [90, 180, 270])
def test_display_rotation_is_applied(tmp_path, clockwise):
    stored = np.zeros((48, 64, 3), np.uint8)
    stored[:16, :16] = 255  # a white square in the stored top-left corner
    path = with_display_rotation(write_video([stored] * 3, tmp_path / "phone.mp4", fps=10),
                                 clockwise)
    upright = np.rot90(stored, -clockwise // 90)  # np.rot90 turns counter-clockwise
    frames = list(VideoReader(path))
    assert len(frames) == 3 and frames[0].rgb.shape == upright.shape
    white = frames[0].rgb.mean(axis=2) > 128
    assert (white == (upright.mean(axis=2) > 128)).mean() > 0.97
