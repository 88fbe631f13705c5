"""A folder with one good image and one file that cannot be analysed exits 1, as the same two
files given separately do."""

from __future__ import annotations

from PIL import Image
from tests.cli_runner import run_cli


def test_folder_with_a_bad_member_exits_1(monkeypatch, capsys, tmp_path, tiny_model_path,
                                          astronaut_rgb):
    folder = tmp_path / "media"
    folder.mkdir()
    Image.fromarray(astronaut_rgb).save(folder / "face.png")
    (folder / "notes.mp4").write_text("this is not a video\n")
    out = tmp_path / "out"
    code, stdout, err = run_cli(monkeypatch, capsys, "analyze", folder, "--out", out,
                                "--model", tiny_model_path, "--no-plots", "--no-voice")
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[0].startswith(f"error: {folder / 'notes.mp4'}: ")
    assert lines[-1] == "1 file(s) inside folders could not be analysed (exit 1)"
    assert "Traceback" not in err
    assert f"{folder}: 1 frame(s), 1 face(s) -> {out / 'media.csv'}" in stdout
    # the same two files given separately
    code, _, err = run_cli(monkeypatch, capsys, "analyze", folder / "face.png",
                           folder / "notes.mp4", "--out", tmp_path / "out2", "--model",
                           tiny_model_path, "--no-plots", "--no-voice")
    assert code == 1 and err.splitlines()[-1] == "1 of 2 input(s) could not be analysed (exit 1)"
