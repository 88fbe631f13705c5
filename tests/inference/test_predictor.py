"""Crops and preprocessing strictly from the model card; batched predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emoscope.errors import UserError
from emoscope.faces.detectors import FaceBox
from emoscope.inference.predictor import FacePredictor, face_crop, prepare_crop, resolve_device
from emoscope.models.files.checkpoint import load_model


@pytest.fixture(scope="module")
def predictor(tiny_model_path):
    return FacePredictor.from_name(str(tiny_model_path), batch_size=4)


def test_face_crop_is_square_with_margin_and_padding():
    image = np.arange(100 * 100 * 3, dtype=np.uint8).reshape(100, 100, 3)
    crop = face_crop(image, FaceBox(40, 40, 60, 70), margin=0.1)
    assert crop.shape == (36, 36, 3)
    edge = face_crop(image, FaceBox(-10, -10, 20, 20), margin=0.0)
    assert edge.shape == (30, 30, 3)  # padded beyond the border by replication
    assert np.array_equal(edge[0, 0], image[0, 0])


def test_preprocessing_follows_the_card(tiny_model_path):
    _, card = load_model(tiny_model_path)
    crop = np.zeros((100, 80, 3), np.uint8)
    crop[..., 0] = 255  # pure red
    prepared = prepare_crop(crop, card)
    assert prepared.shape == (64, 64, 3)  # card input size
    grey = round(0.299 * 255)
    assert set(np.unique(prepared)) == {grey}  # card says grayscale copied to 3 channels


def test_normalisation_uses_card_mean_and_std(predictor):
    crop = np.full((64, 64, 3), 255, np.uint8)
    batch = predictor._to_array([crop])
    prep = predictor.card.preprocessing
    expected = (1.0 - prep.mean[0]) / prep.std[0]
    assert batch.shape == (1, 3, 64, 64) and batch.dtype == np.float32
    assert batch[0, 0, 0, 0] == pytest.approx(expected, rel=1e-5)


def test_batched_predictions_match_single(predictor, astronaut_rgb):
    boxes = [FaceBox(177, 70, 275, 178), FaceBox(0, 0, 100, 100), FaceBox(300, 300, 400, 420)]
    crops = predictor.crops(astronaut_rgb, boxes) * 3  # 9 crops over batches of 4
    batched = predictor.predict(crops).probabilities
    single = np.concatenate([predictor.predict([c]).probabilities for c in crops[:3]])
    assert batched.shape == (9, 7)
    assert np.allclose(batched.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(batched[:3], single, atol=1e-4)
    assert np.allclose(batched[:3], batched[6:], atol=1e-4)  # same crop, other batch
    assert predictor.predict([]).probabilities.shape == (0, 7)


def test_valence_arousal_output(tiny_va_model_path, astronaut_rgb):
    predictor = FacePredictor.from_name(str(tiny_va_model_path))
    assert predictor.has_valence_arousal
    out = predictor.predict(predictor.crops(astronaut_rgb, [FaceBox(177, 70, 275, 178)]))
    assert out.valence_arousal.shape == (1, 2)
    assert np.all(np.abs(out.valence_arousal) <= 1.0)


def test_devices():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(UserError, match="unknown device"):
        resolve_device("tpu9")


def test_native_resolution_goes_through_the_training_resolution(tiny_model_path):
    import cv2

    _, card = load_model(tiny_model_path)
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)
    card.extra["native_resolution"] = 48
    prepared = prepare_crop(crop, card)
    small = cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA)
    expected = cv2.cvtColor(cv2.resize(small, (64, 64), interpolation=cv2.INTER_LINEAR),
                            cv2.COLOR_RGB2GRAY)
    assert prepared.shape == (64, 64, 3)
    assert np.array_equal(prepared[..., 0], expected)
    # a crop already below the native resolution is not shrunk further
    tiny = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
    direct = cv2.cvtColor(cv2.resize(tiny, (64, 64), interpolation=cv2.INTER_LINEAR),
                          cv2.COLOR_RGB2GRAY)
    assert np.array_equal(prepare_crop(tiny, card)[..., 0], direct)


def test_small_batches_run_on_one_thread_and_restore_the_count():
    import torch

    from emoscope.inference.predictor import _threads_for_batch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with _threads_for_batch(1, torch.device("cpu")):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with _threads_for_batch(64, torch.device("cpu")):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
