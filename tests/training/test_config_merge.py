"""Typed configs: defaults <- YAML <- --set, type errors, unknown keys, the shipped YAMLs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from emoscope.config import merge_config, save_config, to_dict
from emoscope.errors import UserError
from emoscope.training.config import TrainConfig
from emoscope.training.emotic_config import EmoticConfig, is_emotic_config
from emoscope.training.tasks import config_class, task_of

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _keys(data: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in data.items():
        if isinstance(value, dict) and not key.endswith("kwargs"):
            keys |= _keys(value, f"{prefix}{key}.")
        else:
            keys.add(prefix + key)
    return keys


def test_defaults_then_yaml_then_overrides(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("name: exp\noptim:\n  lr: 0.01\ntrainer:\n  max_epochs: 3\n")
    cfg = merge_config(TrainConfig, path, ["optim.lr=5e-4", "trainer.mixup_alpha=0.2",
                                           "model.kwargs.depth=2", "trainer.tta_flip=false"])
    assert cfg.name == "exp"
    assert cfg.optim.lr == 5e-4 and isinstance(cfg.optim.lr, float)
    assert cfg.trainer.max_epochs == 3
    assert cfg.trainer.mixup_alpha == 0.2
    assert cfg.model.kwargs == {"depth": 2}
    assert cfg.trainer.tta_flip is False
    assert cfg.optim.weight_decay == TrainConfig().optim.weight_decay  # untouched default


def test_ints_widen_to_floats_and_strings_parse():
    cfg = merge_config(TrainConfig, None, ["optim.lr=1", "augment.hflip=no",
                                           "data.image_size=96"])
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    assert cfg.augment.hflip is False
    assert cfg.data.image_size == 96


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_epochs=2.5", "cannot read 2.5 as int"),
        ("trainer.max_epochs=many", "cannot read 'many' as int"),
        ("trainer.tta_flip=maybe", "cannot read 'maybe' as bool"),
        ("optim.learning_rate=0.1", "unknown config key.*optim.learning_rate.*known:.*lr"),
        ("nonsense=1", "unknown config key"),
        ("optim=3", "'optim' must be a mapping"),
        ("no_equals_sign", "--set expects key=value"),
    ],
)
def test_bad_values_are_one_line_user_errors(override, message):
    with pytest.raises(UserError, match=message) as err:
        merge_config(TrainConfig, None, [override])
    assert "\n" not in str(err.value)


def test_yaml_errors(tmp_path):
    with pytest.raises(UserError, match="config file not found"):
        merge_config(TrainConfig, tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        merge_config(TrainConfig, bad)
    bad.write_text("- a list\n")
    with pytest.raises(UserError, match="mapping at the top level"):
        merge_config(TrainConfig, bad)


def test_saved_config_round_trips(tmp_path):
    cfg = merge_config(TrainConfig, None, ["name=x", "model.kwargs.depth=2"])
    save_config(cfg, tmp_path / "config.yaml")
    assert merge_config(TrainConfig, tmp_path / "config.yaml") == cfg


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_is_complete(path):
    written = yaml.safe_load(path.read_text())
    if "stages" in written:  # a study (emoscope study); its trials: tests/study
        from emoscope.study.runner import load_study

        assert load_study(path).stages
        return
    kind = config_class(task_of(written))  # as `emoscope train` reads it
    cfg = merge_config(kind, path)
    assert isinstance(cfg, kind)
    assert _keys(written) == _keys(to_dict(kind())), "a config must set every key"


def test_the_expected_configs_exist():
    names = {p.name for p in CONFIGS.glob("*.yaml")}
    assert {"fer2013_lite0.yaml", "fer2013_seed_recipe.yaml", "fer2013_hybrid.yaml"} <= names
    seed = merge_config(TrainConfig, CONFIGS / "fer2013_seed_recipe.yaml")
    assert (seed.trainer.sampler, seed.loss.name, seed.loss.focal_gamma) == (
        "class_weighted", "focal", 2.0)
    assert seed.trainer.mixup_alpha == 0.2 and seed.optim.scheduler == "plateau"
    assert seed.model.freeze_stages >= 0 and seed.optim.backbone_lr_mult == 0.1
    assert seed.trainer.early_stopping_patience > 0
    hybrid = merge_config(TrainConfig, CONFIGS / "fer2013_hybrid.yaml")
    assert hybrid.model.architecture == "resnet_transformer"


def test_the_emotic_presets():
    reference = merge_config(EmoticConfig, CONFIGS / "emotic_reference.yaml")
    assert reference.model.architecture == "emotic_reference"
    assert (reference.loss.categorical, reference.loss.vad) == ("discrete", "l2")
    best = merge_config(EmoticConfig, CONFIGS / "emotic_study_best.yaml")
    m = best.model
    assert (m.context.backbone, m.body.backbone, m.face.backbone) == (
        "swin", "swin", "efficientnet_b7")
    assert (m.fusion, best.loss.categorical, best.trainer.max_epochs) == ("weighted", "discrete",
                                                                          20)
    assert {m.context.augment, m.body.augment, m.face.augment} == {"basic"}


def test_each_task_yaml_is_read_with_its_own_config():
    read = {p.name: task_of(yaml.safe_load(p.read_text())).name for p in CONFIGS.glob("*.yaml")}
    assert read["fer2013_lite0.yaml"] == "classification"
    assert read["emotic_reference.yaml"] == "emotic"
    assert read["ravdess_speech.yaml"] == "speech"
    assert read["affwild2_multitask.yaml"] == "affwild2"
    assert read["clef_caer_s.yaml"] == "clef"


def test_emotic_configs_are_recognised_by_task_or_dataset():
    assert is_emotic_config({"task": "emotic"})
    assert is_emotic_config({"data": {"dataset": "emotic"}})
    assert not is_emotic_config(yaml.safe_load((CONFIGS / "fer2013_lite0.yaml").read_text()))
    assert not is_emotic_config({"data": None})
