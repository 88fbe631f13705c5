"""The voice through the service: audio uploads in each format, videos with and without sound,
corrupt audio, the deadline around the voice pass, and a service started without voice."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from emoscope.data.audio import load_audio, sliding_windows
from emoscope.errors import UserError
from emoscope.inference.voice import voice_columns
from emoscope.labels import RAVDESS_LABELS
from emoscope.serve.settings import ServeSettings
from emoscope.serve.uploads import FileSink, sniff
from speech_fixtures import emotion_tone, write_audio_only_mp4, write_av_clip

VOICE_LABELS = list(RAVDESS_LABELS.labels)
PROBS = [f"p_{label}" for label in VOICE_LABELS]
# soundfile's format and subtype per suffix; its MP3 starts with a bare frame sync, no ID3 tag
FORMATS = {".wav": ("WAV", None), ".flac": ("FLAC", None), ".ogg": ("OGG", "VORBIS"),
           ".mp3": ("MP3", "MPEG_LAYER_III")}


def upload(client, name, data, content_type, query=""):
    return client.post(f"/analyze{query}", files={"file": (name, data, content_type)})


def write_tone(path, seconds=2.5, rate=22050, emotion=5):
    import soundfile as sf

    fmt, subtype = FORMATS[path.suffix]
    sf.write(str(path), emotion_tone(emotion, seconds, rate), rate, format=fmt, subtype=subtype)
    return path


def check_timeline(body, path, source):
    """Columns of ``analyze``'s voice table, one row per sliding window of the decoded audio,
    probabilities that sum to 1 and whose largest names ``top_label``."""
    assert body["voice_model"] == "tiny-speech"
    assert body["voice_columns"] == voice_columns(VOICE_LABELS)
    rows = body["voice_rows"]
    wave, rate = load_audio(path, 16000)
    spans = sliding_windows(len(wave), rate, 1.0, 0.5)
    assert len(rows) == len(spans) > 1
    assert [r["window"] for r in rows] == list(range(len(spans)))
    assert [r["start_s"] for r in rows] == [round(a / rate, 4) for a, _ in spans]
    assert {r["source"] for r in rows} == {source}
    probs = np.array([[r[c] for c in PROBS] for r in rows])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert [r["top_label"] for r in rows] == [VOICE_LABELS[i] for i in probs.argmax(axis=1)]


@pytest.mark.parametrize("head, expected", [
    (b"RIFF\x24\x7d\x00\x00WAVEfmt ", ("audio", ".wav")),
    (b"fLaC\x00\x00\x00\x22\x10\x00\x10\x00", ("audio", ".flac")),
    (b"OggS\x00\x02\x00\x00\x00\x00\x00\x00", ("audio", ".ogg")),
    (b"ID3\x04\x00\x00\x00\x00\x00\x21TIT2", ("audio", ".mp3")),
    (b"\xff\xfb\x90\x64\x00\x00\x00\x00", ("audio", ".mp3")),  # MPEG-1 layer III, 128 kb/s
    (b"\xff\xf3\x88\xc4\x00\x00\x00\x00", ("audio", ".mp3")),  # MPEG-2 layer III
    (b"\xff\xf1\x50\x80\x02\x1f\xfc\x21", ("audio", ".aac")),  # ADTS
    (b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00", ("audio", ".m4a")),
    # JPEG markers after FF D8 FF (JFIF, Exif, quantisation table, Adobe) stay images
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", ("image", ".jpg")),
    (b"\xff\xd8\xff\xe1\x2f\xfeExif\x00", ("image", ".jpg")),
    (b"\xff\xd8\xff\xdb\x00\x43\x00\x08", ("image", ".jpg")),
    (b"\xff\xd8\xff\xee\x00\x0eAdobe", ("image", ".jpg")),
    # a sync with reserved fields is not audio
    (b"\xff\xfb\xf0\x64\x00\x00\x00\x00", None),  # bitrate index 15
    (b"\xff\xfb\x9c\x64\x00\x00\x00\x00", None),  # sample-rate index 3
    (b"\xff\xeb\x90\x64\x00\x00\x00\x00", None),  # MPEG version 01
    (b"\xff\xff\xff\xff\xff\xff\xff\xff", None),
    (b"RIFF\x24\x7d\x00\x00WAVX", None),
])
def test_sniff_audio_signatures(head, expected):
    assert sniff(head) == expected


@pytest.mark.parametrize("suffix", list(FORMATS))
def test_sniff_real_audio_files(tmp_path, suffix):
    path = write_tone(tmp_path / f"tone{suffix}")
    assert sniff(path.read_bytes()[:16]) == ("audio", suffix)


def test_declared_audio_in_a_video_container_is_audio(tmp_path):
    """A browser's recorder sends audio/webm, which is Matroska: read for its sound."""
    ebml = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81"
    kinds = []
    for declared in ("audio", None):
        sink = FileSink(tmp_path, "rec.webm", declared, limit=1000)
        sink.write(ebml)
        sink.close()
        kinds.append((sink.kind, sink.path.name))
    assert kinds == [("audio", "upload.mkv"), ("video", "upload.mkv")]


@pytest.mark.parametrize("suffix, content_type", [
    (".wav", "audio/wav"), (".flac", "application/octet-stream"), (".ogg", "audio/ogg"),
    (".mp3", "audio/mpeg"),
])
def test_audio_upload_returns_the_voice_timeline(client, engine, tmp_path, suffix,
                                                 content_type):
    path = write_tone(tmp_path / f"speech{suffix}")
    response = upload(client, path.name, path.read_bytes(), content_type)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "audio" and body["source"] == path.name
    assert (body["frames"], body["faces"], body["columns"], body["rows"]) == (0, 0, [], [])
    check_timeline(body, path, path.name)
    # the same numbers as ``analyze``'s VoiceAnalyzer on the file, to the JSON precision
    direct = engine.voice.timeline(path)
    for got, (_, want) in zip(body["voice_rows"], direct.iterrows(), strict=True):
        assert got["end_s"] == want["end_s"] and got["rms_db"] == want["rms_db"]
        for column in PROBS:
            assert got[column] == pytest.approx(want[column], abs=1e-6)


def test_wav_timeline_windows(client, tmp_path):
    path = write_tone(tmp_path / "speech.wav", seconds=2.5)
    rows = upload(client, "speech.wav", path.read_bytes(), "audio/x-wav").json()["voice_rows"]
    assert [r["start_s"] for r in rows] == [0.0, 0.5, 1.0, 1.5]  # 1 s every 0.5 s
    assert rows[-1]["end_s"] == pytest.approx(2.5)
    assert all(r["rms_db"] > -20 for r in rows)  # a loud tone, not silence


def test_audio_only_mp4_declared_as_audio(client, tmp_path):
    path = write_audio_only_mp4(tmp_path / "memo.m4a")
    response = upload(client, "memo.m4a", path.read_bytes(), "audio/mp4")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "audio" and body["rows"] == []
    check_timeline(body, path, "memo.m4a")


def test_audio_only_mp4_without_a_content_type_is_audio(client, tmp_path):
    """The bytes of an mp4 container say "video"; its streams say it is a voice memo."""
    path = write_audio_only_mp4(tmp_path / "memo.mp4")
    response = upload(client, "memo.mp4", path.read_bytes(), "application/octet-stream")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["kind"], body["frames"], body["rows"], body["warnings"]) == ("audio", 0, [], [])
    check_timeline(body, path, "memo.mp4")


def test_plots_stack_the_face_and_voice_timelines(client, tmp_path, astronaut_rgb):
    from PIL import Image

    from emoscope.inference.demo import camera_path

    frames = camera_path(astronaut_rgb, 320, 180, 24)
    talk = write_av_clip(tmp_path / "talk.mp4", seconds=2.0, fps=12, frames=frames)
    video = upload(client, "talk.mp4", talk.read_bytes(), "video/mp4", "?every=4&plots=true")
    assert video.status_code == 200, video.text
    files = video.json()["files"]
    assert {"timeline", "av_timeline"} <= set(files)
    wav = write_tone(tmp_path / "speech.wav")
    audio = upload(client, "speech.wav", wav.read_bytes(), "audio/wav", "?plots=true").json()
    assert set(audio["files"]) == {"av_timeline"}
    heights = []
    for url in (files["av_timeline"], audio["files"]["av_timeline"]):
        served = client.get(url)
        assert served.status_code == 200 and served.headers["content-type"] == "image/png"
        path = tmp_path / f"plot{len(heights)}.png"
        path.write_bytes(served.content)
        heights.append(Image.open(path).height)
    assert heights[0] > heights[1]  # face + voice panels against the voice panel alone
    plain = upload(client, "speech.wav", wav.read_bytes(), "audio/wav").json()
    assert plain["files"] == {}


def test_video_whose_sound_cannot_be_decoded_keeps_its_faces(client, engine, tmp_path,
                                                            astronaut_rgb, monkeypatch):
    """As ``analyze`` does: the faces come back, the voice is empty, a warning says why."""
    from emoscope.errors import MediaError
    from emoscope.inference.demo import camera_path

    def undecodable(path, **options):
        raise MediaError(path, "cannot decode audio (Invalid data found)")

    monkeypatch.setattr(engine.voice, "timeline", undecodable)
    frames = camera_path(astronaut_rgb, 320, 180, 24)
    talk = write_av_clip(tmp_path / "talk.mp4", seconds=2.0, fps=12, frames=frames)
    response = upload(client, "talk.mp4", talk.read_bytes(), "video/mp4", "?every=4")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["faces"] >= 5 and body["voice_rows"] == []
    assert body["warnings"] == ["talk.mp4: sound not analysed (cannot decode audio (Invalid "
                                "data found)); faces only"]
    wav = write_tone(tmp_path / "speech.wav")  # an audio file has nothing else: still a 422
    refused = upload(client, "speech.wav", wav.read_bytes(), "audio/wav")
    assert (refused.status_code, refused.json()["detail"]) == (
        422, "speech.wav: cannot decode audio (Invalid data found)")


def test_video_with_sound_returns_faces_and_voice(client, tmp_path, astronaut_rgb):
    from emoscope.inference.demo import camera_path

    frames = camera_path(astronaut_rgb, 320, 180, 24)
    path = write_av_clip(tmp_path / "talk.mp4", seconds=2.0, fps=12, frames=frames)
    response = upload(client, "talk.mp4", path.read_bytes(), "video/mp4", "?every=4")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "video" and body["frames"] == 6
    assert body["faces"] == len(body["rows"]) >= 5  # the astronaut in (nearly) every frame
    assert {r["source"] for r in body["rows"]} == {"talk.mp4"}
    check_timeline(body, path, "talk.mp4")


def test_video_without_sound_has_empty_voice_rows(client, tmp_path):
    path = write_av_clip(tmp_path / "mute.mp4", seconds=1.0, fps=12, with_audio=False)
    response = upload(client, "mute.mp4", path.read_bytes(), "video/mp4")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "video" and body["frames"] == 12 and body["faces"] == 0
    assert body["voice_model"] == "tiny-speech"
    assert body["voice_columns"] == voice_columns(VOICE_LABELS) and body["voice_rows"] == []


def test_corrupt_audio_is_422_naming_the_upload(client, photo_jpeg):
    corrupt = b"RIFF\x00\x10\x00\x00WAVE" + bytes(range(256)) * 8
    response = upload(client, "broken.wav", corrupt, "audio/wav")
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("broken.wav: cannot decode audio"), detail
    assert "\n" not in detail and "upload.wav" not in detail and "emoscope-serve" not in detail
    assert upload(client, "ok.jpg", photo_jpeg, "image/jpeg").json()["faces"] == 1


def test_mismatched_audio_declarations_are_415(client, tmp_path, photo_jpeg):
    path = write_tone(tmp_path / "a.wav")
    as_image = upload(client, "a.jpg", path.read_bytes(), "image/jpeg")
    assert (as_image.status_code, as_image.json()["detail"]) == (
        415, "a.jpg: declared as image but the bytes are audio")
    as_audio = upload(client, "b.wav", photo_jpeg, "audio/wav")
    assert (as_audio.status_code, as_audio.json()["detail"]) == (
        415, "b.wav: declared as audio but the bytes are an image")


def test_deadline_applies_before_and_after_the_voice(make_client, engine, tmp_path,
                                                     monkeypatch, one_torch_thread):
    import time

    root = tmp_path / "allowed"
    root.mkdir()
    write_tone(root / "speech.flac")
    response = make_client(timeout_s=1e-6, allow_path=str(root)).post(
        "/analyze", params={"path": "speech.flac"})
    assert (response.status_code, response.json()["detail"]) == (
        504, "analysis did not finish within 1e-06 s")
    timeline, calls = engine.voice.timeline, []

    def slow_timeline(path, **options):  # finishes, but after the deadline
        calls.append(path)
        time.sleep(0.4)
        return timeline(path)

    monkeypatch.setattr(engine.voice, "timeline", slow_timeline)
    client = make_client(timeout_s=0.3, allow_path=str(root))
    late = client.post("/analyze", params={"path": "speech.flac"})
    assert late.status_code == 504 and calls == [root / "speech.flac"]
    monkeypatch.undo()
    good = client.post("/analyze", params={"path": "speech.flac"})
    assert good.status_code == 200 and good.json()["voice_rows"][0]["source"] == "speech.flac"


@pytest.fixture(scope="module")
def mute_client(tiny_model_path, tmp_path_factory):
    """A service started with ``--voice-model none`` (its own engine), with one WAV file in
    its allowed folder."""
    from fastapi.testclient import TestClient

    from emoscope.serve.app import create_app

    root = tmp_path_factory.mktemp("allowed")
    write_tone(root / "speech.wav")
    settings = ServeSettings(model=str(tiny_model_path), voice_model="none",
                             allow_path=str(root))
    with TestClient(create_app(settings)) as client:
        yield client


def test_voice_disabled(mute_client, photo_jpeg, tmp_path, one_torch_thread):
    assert mute_client.get("/health").json()["voice_model"] is None
    assert not any(m["serving"] for m in mute_client.get("/models").json()
                   if m["task"] == "speech_emotion")
    image = upload(mute_client, "a.jpg", photo_jpeg, "image/jpeg").json()
    assert image["faces"] == 1
    assert (image["voice_model"], image["voice_columns"], image["voice_rows"]) == (None, [], [])
    talk = write_av_clip(tmp_path / "talk.mp4", seconds=1.0, fps=12)
    video = upload(mute_client, "talk.mp4", talk.read_bytes(), "video/mp4").json()
    assert video["frames"] == 12
    assert (video["voice_model"], video["voice_columns"], video["voice_rows"]) == (None, [], [])
    wav = write_tone(tmp_path / "a.wav")
    refused = upload(mute_client, "a.wav", wav.read_bytes(), "audio/wav")
    assert (refused.status_code, refused.json()["detail"]) == (
        415, "a.wav: audio file, but this service runs without voice analysis (started with "
             "--voice-model none)")
    by_path = mute_client.post("/analyze", params={"path": "speech.wav"})
    assert (by_path.status_code, by_path.json()["detail"]) == (
        415, "speech.wav: audio file, but this service runs without voice analysis (started "
             "with --voice-model none)")


def test_health_and_models_name_the_voice_model(client):
    assert client.get("/health").json()["voice_model"] == "tiny-speech"
    models = {m["name"]: m for m in client.get("/models").json()}
    assert models["tiny-speech"]["serving"] is True
    assert models["tiny-speech"]["labels"] == VOICE_LABELS
    assert models["ravdess-speech-lite0"]["serving"] is False


def test_audio_response_matches_the_served_schema(client, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = client.get("/openapi.json").json()
    declared = schema["paths"]["/analyze"]["post"]["responses"]["200"]
    target = {**declared["content"]["application/json"]["schema"],
              "components": schema["components"]}
    path = write_tone(tmp_path / "a.wav")
    body = upload(client, "a.wav", path.read_bytes(), "audio/wav").json()
    jsonschema.validate(body, target)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**body, "kind": "speech"}, target)
    description = schema["paths"]["/analyze"]["post"]["requestBody"]["content"][
        "multipart/form-data"]["schema"]["properties"]["file"]["description"]
    assert "audio file (wav, flac, ogg, mp3" in description


@pytest.mark.parametrize("settings, message", [
    ({"voice_window_s": 0}, "--voice-window must be positive, got 0"),
    ({"voice_window_s": -1.5}, "--voice-window must be positive, got -1.5"),
    ({"voice_hop_s": 0.0}, "--voice-hop must be positive, got 0"),
])
def test_voice_settings_are_validated(settings, message):
    with pytest.raises(UserError) as err:
        ServeSettings(**settings).validate()
    assert str(err.value) == message


def test_a_face_model_as_voice_model_fails_at_start(tiny_model_path):
    from emoscope.serve.engine import AnalysisEngine

    with pytest.raises(UserError, match="is not a speech model$"):
        AnalysisEngine(ServeSettings(model=str(tiny_model_path),
                                     voice_model=str(tiny_model_path)))


def test_cli_voice_options_reach_the_settings():
    result = subprocess.run([sys.executable, "-m", "emoscope.cli.main", "serve", "--voice-hop",
                             "0"], capture_output=True, text=True, timeout=240)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --voice-hop must be positive, got 0"
    usage = subprocess.run([sys.executable, "-m", "emoscope.cli.main", "serve", "--help"],
                           capture_output=True, text=True, timeout=240).stdout
    assert {"--voice-model", "--voice-window", "--voice-hop"} <= set(usage.split())
