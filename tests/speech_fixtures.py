"""Generated speech data: tones whose pitch encodes the emotion, in the RAVDESS and CREMA-D
layouts, and mp4 files with (or without) an audio track, muxed with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def emotion_tone(emotion: int, seconds: float = 1.2, rate: int = 16000, seed: int = 0,
                 stereo: bool = False) -> np.ndarray:
    """A tone at 250 * emotion Hz (plus a harmonic and a little noise): learnable by pitch."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    freq = 250.0 * emotion * (1 + rng.uniform(-0.02, 0.02))
    wave = 0.5 * np.sin(2 * np.pi * freq * t) + 0.2 * np.sin(4 * np.pi * freq * t)
    wave = (wave + 0.02 * rng.standard_normal(t.size)).astype(np.float32)
    return np.stack([wave, 0.5 * wave], axis=1) if stereo else wave


def write_ravdess(root: Path, actors=(1, 2, 3, 4, 5), emotions=range(1, 9), statements=(1, 2),
                  suffix: str = ".wav", rate: int = 16000, seconds: float = 1.2) -> Path:
    """``Actor_XX/03-01-EE-II-SS-RR-AA<suffix>``: every emotion, intensity (neutral: normal
    only), statement and one repetition, as tones at 250 * emotion Hz."""
    import soundfile as sf

    for actor in actors:
        folder = root / f"Actor_{actor:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for emotion in emotions:
            for intensity in ((1,) if emotion == 1 else (1, 2)):
                for statement in statements:
                    name = f"03-01-{emotion:02d}-{intensity:02d}-{statement:02d}-01-{actor:02d}"
                    seed = actor * 1000 + emotion * 10 + intensity * 3 + statement
                    wave = emotion_tone(emotion, seconds, rate, seed, stereo=actor == 2)
                    sf.write(str(folder / f"{name}{suffix}"), wave, rate)
    return root


def write_av_clip(path: Path, seconds: float = 2.0, fps: int = 12, with_audio: bool = True,
                  frames: list[np.ndarray] | None = None, emotion: int = 3,
                  rate: int = 16000) -> Path:
    """An H.264 mp4 (grey frames unless ``frames`` given) with an AAC tone track if asked."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    count = int(seconds * fps)
    frames = frames or [np.full((96, 128, 3), 40 + 4 * i, np.uint8) for i in range(count)]
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=rate) if with_audio else None
        if audio is not None:
            audio.layout = "mono"
        for i, rgb in enumerate(frames[:count]):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio is not None:
            _encode_audio(container, audio, emotion_tone(emotion, seconds, rate), rate)
    return path


def _encode_audio(container, stream, wave: np.ndarray, rate: int) -> None:
    import av

    block = 1024
    for start in range(0, len(wave), block):
        chunk = wave[start:start + block][None, :].astype(np.float32)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


CREMA_CODES = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")


def write_audio_only_mp4(path: Path, seconds: float = 2.0, rate: int = 16000) -> Path:
    """AAC in an mp4 without a video stream (what a phone saves as a voice memo)."""
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        _encode_audio(container, stream, emotion_tone(3, seconds, rate), rate)
    return path


def write_crema_d(root: Path, actors=(1001, 1002, 1003), sentences=("IEO", "TIE"),
                  votes: dict[str, str] | None = None, rate: int = 16000) -> Path:
    """``AudioWAV/AAAA_SSS_EEE_LL.wav`` tones (pitch = emotion index + 1) and
    ``processedResults/summaryTable.csv`` whose voice vote is the intended emotion's letter
    unless ``votes`` (file stem -> letter or tie such as 'A:S') says otherwise."""
    import soundfile as sf

    audio = root / "AudioWAV"
    audio.mkdir(parents=True, exist_ok=True)
    rows = []
    for actor in actors:
        for sentence in sentences:
            for index, code in enumerate(CREMA_CODES):
                stem = f"{actor}_{sentence}_{code}_XX"
                wave = emotion_tone(index + 1, 0.8, rate, seed=actor + index)
                sf.write(str(audio / f"{stem}.wav"), wave, rate)
                vote = (votes or {}).get(stem, code[0])
                rows.append(f"{len(rows) + 1},{stem},{vote},50,{code[0]},60,{vote},70")
    results = root / "processedResults"
    results.mkdir(exist_ok=True)
    header = ",FileName,VoiceVote,VoiceLevel,FaceVote,FaceLevel,MultiModalVote,MultiModalLevel"
    (results / "summaryTable.csv").write_text("\n".join([header, *rows]) + "\n")
    return root


def speech_card(name: str, architecture: str, kwargs: dict, frames: int = 101):
    """The card of a RAVDESS-labelled speech model on 1 s log-mel crops (``frames`` wide)."""
    from emoscope.data.audio import AudioFrontEnd
    from emoscope.labels import RAVDESS_LABELS
    from emoscope.models.backbones import Preprocessing
    from emoscope.models.files.checkpoint import ModelCard

    return ModelCard(name=name, architecture=architecture, architecture_kwargs=kwargs,
                     label_space=RAVDESS_LABELS, task="speech_emotion",
                     preprocessing=Preprocessing((1, 64, frames), (0.0,), (1.0,)),
                     extra={"audio": AudioFrontEnd().to_dict(), "crop_seconds": 1.0})


def save_tiny_speech_model(folder: Path) -> Path:
    """An untrained two-layer speech CNN saved as ``folder/tiny_speech`` (seeded)."""
    import torch

    from emoscope.models.files.checkpoint import save_model
    from emoscope.models.speech import SpeechCNN

    torch.manual_seed(0)
    kwargs = {"num_classes": 8, "channels": [16, 16], "kernel": 3}
    model = SpeechCNN(**kwargs).eval()
    return save_model(model, speech_card("tiny-speech", "speech_cnn", kwargs),
                      folder / "tiny_speech")
