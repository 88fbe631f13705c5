"""Aff-Wild2 multi-task runs end to end on the generated tree: ``emoscope train`` (one model and
a bagged ensemble), ``emoscope evaluate --dataset affwild2`` and ``emoscope ensemble``."""

from __future__ import annotations

import json

import pytest
import yaml

from affwild2_fixtures import write_affwild2
from cli_runner import run_cli

TINY = {"backbone": "tiny_cnn_test", "pretrained": "none", "input_size": 32, "num_heads": 4,
        "hidden_dim": 32}
EASY_AUGMENT = {"hflip": False, "rotate_deg": 0.0, "erase_p": 0.0, "translate": 0.02}




@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_affwild2(tmp_path_factory.mktemp("affwild2"), frames=16)


def _config(tmp_path, tree, **sections) -> str:
    data = {"task": "affwild2", "name": "mt", "out_dir": str(tmp_path / "runs"),
            "data": {"root": str(tree.root), "image_size": 32, "cache_dir": ""},
            "model": TINY, "augment": EASY_AUGMENT,
            "trainer": {"max_epochs": 2, "batch_size": 16, "num_threads": 1},
            **sections}
    path = tmp_path / "affwild2_tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.slow
def test_train_learns_then_evaluate_and_ensemble_agree(monkeypatch, capsys, tmp_path, tree,
                                                        one_torch_thread):
    config = _config(tmp_path, tree)
    code, out, err = run_cli(monkeypatch, capsys, "train", config, "--set",
                             "trainer.max_epochs=8", "--set", "trainer.batch_size=8",
                             "--set", "optim.lr=5e-3", "--set",
                             "data.val_split=train")
    assert code == 0, err
    run = tmp_path / "runs" / "mt"
    for name in ("model.safetensors", "model.json", "checkpoints/best.ckpt", "metrics.csv",
                 "val_metrics.txt", "val_metrics.json", "config.yaml"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "val_metrics.json").read_text())
    # valence/arousal are drawn as colour levels: 8 epochs on 30 frames learn them
    assert metrics["valence_arousal"]["mean_ccc"] > 0.5
    assert metrics["score"] == pytest.approx(sum(metrics["score_parts"].values()))
    card = json.loads((run / "model.json").read_text())
    assert card["outputs"] == ["logits", "valence_arousal", "action_units"]
    assert card["extra"]["au_labels"][-1] == "AU26"

    code, out, err = run_cli(monkeypatch, capsys, "evaluate", "--dataset", "affwild2",
                             "--root", tree.root, "--split", "train", "--model",
                             run / "model.json", "--json", tmp_path / "eval.json")
    assert code == 0, err
    assert "challenge score" in out and "CCC valence" in out
    report = json.loads((tmp_path / "eval.json").read_text())  # frames decoded as in training
    assert report["score"] == pytest.approx(metrics["score"], abs=1e-5)

    # an ensemble of the best checkpoint and the exported model (the same weights) scores alike
    code, out, err = run_cli(monkeypatch, capsys, "ensemble", run / "checkpoints" / "best.ckpt",
                             run / "model.json", "--out", tmp_path / "ens.safetensors")
    assert code == 0, err and "ensemble of 2" in out
    code, out, err = run_cli(monkeypatch, capsys, "evaluate", "--dataset", "affwild2",
                             "--root", tree.root, "--split", "train", "--model",
                             tmp_path / "ens.json", "--out", tmp_path / "ens_eval")
    assert code == 0, err
    ens = json.loads((tmp_path / "ens_eval" / "affwild2_metrics.json").read_text())
    assert ens["score"] == pytest.approx(metrics["score"], abs=1e-4)


def test_bagged_ensemble_trains_members_on_disjoint_subsets(monkeypatch, capsys, tmp_path,
                                                            tree, one_torch_thread):
    config = _config(tmp_path, tree, balance={"subsets": 2, "max_per_class": 2,
                                              "boost": {"Fear": 2.0}})
    code, out, err = run_cli(monkeypatch, capsys, "train", config, "--set",
                             "trainer.max_epochs=1", "--set", "data.image_size=24")
    assert code == 0, err
    root = tmp_path / "runs" / "mt"
    member_card = json.loads((root / "member_0" / "model.json").read_text())
    assert member_card["extra"]["native_resolution"] == 24  # live crops shrink to 24 px first
    frames = []
    for member in (0, 1):
        assert (root / f"member_{member}" / "model.safetensors").is_file()
        frames.append(json.loads((root / f"member_{member}" / "train_frames.json").read_text()))
    assert not set(frames[0]["sources"]) & set(frames[1]["sources"])
    for seen in frames:  # balancing as configured: at most 2 per class, Fear doubled
        counts = seen["expression_counts"]
        assert max(v for k, v in counts.items() if k != "Fear") <= 2
        assert counts["Fear"] in (0, 2, 4)
    card = json.loads((root / "ensemble.json").read_text())
    assert card["architecture"]["name"] == "ensemble"
    assert [m["name"] for m in card["extra"]["members"]] == ["mt-member0", "mt-member1"]
    report = json.loads((root / "ensemble_metrics.json").read_text())
    assert set(report["score_parts"]) == {"expression_f1", "mean_ccc", "au_f1"}
    assert "ensemble on val" in out
    # one member alone, e.g. on another machine: only its folder is written
    code, _, err = run_cli(monkeypatch, capsys, "train", config, "--set", "member=1",
                           "--set", f"out_dir={tmp_path / 'solo'}")
    assert code == 0, err
    assert (tmp_path / "solo" / "mt" / "member_1" / "model.json").is_file()
    assert not (tmp_path / "solo" / "mt" / "member_0").exists()


def test_evaluate_errors_are_one_line(monkeypatch, capsys, tmp_path, tree, tiny_model_path):
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--dataset", "affwild2", "--root",
                           tree.root, "--model", tiny_model_path)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err
    assert "Aff-Wild2 scores the 8 expressions" in errors[0]
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--dataset", "affwild2", "--root",
                           tree.root)
    assert code == 2 and "needs --model" in err


def test_resume_continues_the_run(monkeypatch, capsys, tmp_path, tree, one_torch_thread):
    import torch

    config = _config(tmp_path, tree, loss={"uncertainty": True})
    code, _, err = run_cli(monkeypatch, capsys, "train", config, "--set", "trainer.max_epochs=1")
    assert code == 0, err
    last = tmp_path / "runs" / "mt" / "checkpoints" / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=True)["state_dict"]
    assert state["loss.log_vars"].abs().sum() > 0  # the task weights are learnt
    code, _, err = run_cli(monkeypatch, capsys, "train", config, "--set", "trainer.max_epochs=1")
    assert code == 2 and "--resume" in err  # an existing run is never overwritten
    code, _, err = run_cli(monkeypatch, capsys, "train", config, "--set", "trainer.max_epochs=2",
                           "--resume")
    assert code == 0, err
    from emoscope.training.history import read_history

    history = read_history(tmp_path / "runs" / "mt")  # both epochs, across the restart
    assert sorted({int(r["epoch"]) for r in history if "val/score" in r}) == [0, 1]


def test_ema_weights_are_kept_in_a_multitask_run(monkeypatch, capsys, tmp_path, tree,
                                                 one_torch_thread):
    import torch

    config = _config(tmp_path, tree)
    code, _, err = run_cli(monkeypatch, capsys, "train", config, "--set", "trainer.max_epochs=1",
                           "--set", "trainer.ema_decay=0.9")
    assert code == 0, err
    last = torch.load(tmp_path / "runs" / "mt" / "checkpoints" / "last.ckpt",
                      map_location="cpu", weights_only=True)
    assert int(last["averaging_state"]["n_averaged"]) == last["global_step"] > 0
