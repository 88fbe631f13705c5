"""``emoscope evaluate --protocol pipeline``: its report and its one-line errors."""

from __future__ import annotations

import json
import re

import pytest

from cli_runner import run_cli
from synthetic_faces import FERPLUS_HEADER, write_fer2013_folders, write_ferplus_csv


def _one_error_line(code: int, err: str, message: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err


def _ferplus_fixture(tmp_path, drop_column: str | None = None):
    """FER2013 folders plus ``ferplus/`` beside them: votes and the file-name mapping."""
    fixture = write_fer2013_folders(tmp_path / "fer2013", train_per_class=1, test_per_class=1)
    names = sorted(p.relative_to(fixture.root).as_posix()
                   for p in (fixture.root / "test").glob("*/*.jpg"))
    rows, mapping = [], ["ferplus_png\tfer2013_jpg\tmean_abs_diff"]
    for i, jpg in enumerate(names):
        votes = [0] * 10
        votes[i % 8] = 10
        rows.append(("PublicTest", f"fer{i:07d}.png", votes))
        mapping.append(f"FER2013Valid/fer{i:07d}.png\t{jpg}\t0.0")
    csv_path = write_ferplus_csv(tmp_path / "ferplus" / "fer2013new.csv", rows)
    (tmp_path / "ferplus" / "ferplus_to_fer2013_files.tsv").write_text("\n".join(mapping) + "\n")
    if drop_column:
        keep = [i for i, name in enumerate(FERPLUS_HEADER) if name != drop_column]
        lines = [line.split(",") for line in csv_path.read_text().splitlines()]
        csv_path.write_text("\n".join(",".join(row[i] for i in keep) for row in lines) + "\n")
    return fixture.root


@pytest.mark.parametrize(("extra", "message"), [
    (["--protocol", "camera"], "unknown protocol 'camera'; use registered or pipeline"),
    (["--protocol", "pipeline", "--dataset", "affwild2"],
     "--protocol pipeline scores fer2013 or ferplus faces; got dataset 'affwild2'"),
])
def test_bad_protocol_arguments(monkeypatch, capsys, tmp_path, extra, message):
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--root", tmp_path, *extra)
    _one_error_line(code, err, message)


def test_no_test_faces_under_the_root(monkeypatch, capsys, tmp_path, bar_oracle_path):
    (tmp_path / "fer" / "test" / "angry").mkdir(parents=True)
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--protocol", "pipeline",
                           "--model", bar_oracle_path, "--root", tmp_path / "fer")
    _one_error_line(code, err, "no images found for split 'test'")
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--protocol", "pipeline",
                           "--model", bar_oracle_path, "--root", tmp_path)
    _one_error_line(code, err, "split folder not found")


def test_ferplus_csv_with_a_missing_column(monkeypatch, capsys, tmp_path, bar_oracle_path):
    root = _ferplus_fixture(tmp_path, drop_column="contempt")
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--protocol", "pipeline",
                           "--dataset", "ferplus", "--model", bar_oracle_path, "--root", root)
    _one_error_line(code, err, "fer2013new.csv: missing column 'contempt'")


def test_model_labels_that_do_not_cover_the_dataset(monkeypatch, capsys, tmp_path,
                                                    bar_oracle_path):
    """A 7-class FER2013 model cannot be scored on FER+'s 8 classes (contempt)."""
    root = _ferplus_fixture(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--protocol", "pipeline",
                           "--dataset", "ferplus", "--model", bar_oracle_path, "--root", root,
                           "--json", tmp_path / "r.json")
    _one_error_line(code, err, "the model cannot predict dataset label(s) contempt")
    assert not (tmp_path / "r.json").exists()


def test_pipeline_protocol_on_real_faces(monkeypatch, capsys, tmp_path, shared_data):
    """The shipped model through the default detector on 21 PublicTest faces."""
    code, out, err = run_cli(monkeypatch, capsys, "evaluate", "--protocol", "pipeline",
                             "--dataset", "fer2013", "--root", shared_data / "fer2013",
                             "--limit", "21", "--json", tmp_path / "p.json")
    assert code == 0, err
    report = json.loads((tmp_path / "p.json").read_text())
    assert report["protocol"] == "pipeline" and report["n"] == 21
    assert report["detected"] >= 0.8
    assert report["accuracy"] == pytest.approx(report["detected"] *
                                               report["accuracy_detected"])
    assert 0 <= report["ece"] <= 1 and report["ece_bins"] == 15
    assert set(report["per_class"]["happy"]) == {"recall", "recall_detected", "detected",
                                                 "support"}
    assert (tmp_path / "p_confusion.png").is_file()
    assert "accuracy on detected" in out


def test_models_lists_registered_and_pipeline_scores(monkeypatch, capsys):
    """The default face model's card carries both numbers and ``emoscope models`` prints them."""
    from emoscope.models.files.zoo import shipped_cards

    card = next(c for c in shipped_cards() if c.name == "fer2013-lite0")
    keys = ("fer2013_publictest_accuracy", "fer2013_publictest_pipeline_accuracy",
            "fer2013_publictest_pipeline_detected",
            "fer2013_publictest_pipeline_accuracy_detected")
    assert all(0 < card.scores[key] < 1 for key in keys)
    code, out, err = run_cli(monkeypatch, capsys, "models")
    assert code == 0, err
    lines = re.split(r"(?m)^fer2013-lite0  \[", out, maxsplit=1)[1].splitlines()[1:]
    block = lines[:next((i for i, line in enumerate(lines) if not line.startswith("  ")),
                        len(lines))]
    for key in keys:
        assert f"  {key}: {card.scores[key]}" in block
