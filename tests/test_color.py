"""Colour images through every stage: channel order, uint8, per-channel scaling, size."""

import numpy as np
import pytest
import torch

from skdiec import DiEC, pretrain_unet
from skdiec._backbone import auto_unet_channels, built_downsampling_factor
from skdiec._features import pool
from skdiec._input import channels_last, fit_layout, flatten_images

from .conftest import FAST


def colour_blobs(n_per_class=20, side=8, seed=0):
    """uint8 (n, side, side, 3) images: noise tinted red, green or blue, each
    with a bright square somewhere, so that only the colour tells the classes."""
    rng = np.random.RandomState(seed)
    images, labels = [], []
    for label in range(3):
        for _ in range(n_per_class):
            img = rng.randint(0, 80, size=(side, side, 3))
            img[..., label] += 120
            lo = rng.randint(0, side // 2)
            img[lo:lo + side // 2, lo:lo + side // 2] += 50
            images.append(img)
            labels.append(label)
    return np.asarray(images, dtype=np.uint8), np.asarray(labels)


def make(**kw):
    # Two pretraining epochs: after FAST's one, the start on these blobs
    # ranges from ARI 0.59 to 1.0 with the seed, whichever search score.
    return DiEC(**{**dict(FAST, n_clusters=3, random_state=0, pretrain_epochs=2), **kw})


@pytest.fixture(scope="module")
def blobs():
    return colour_blobs()


@pytest.fixture(scope="module")
def fitted_last(blobs):
    return make().fit(blobs[0])


@pytest.mark.parametrize("shape,axis,expected", [
    ((5, 32, 32, 3), "auto", True),    # Pillow / matplotlib order
    ((5, 3, 32, 32), "auto", False),   # torch order
    ((5, 16, 16, 1), "auto", True),
    ((5, 8, 6, 6), "auto", False),     # 8 channels of 6x6: no axis of <= 4 last
    ((5, 3, 4, 4), "auto", False),     # ambiguous: torch's order unless told
    ((5, 4, 4, 3), "auto", False),
    ((5, 4, 4, 3), -1, True),
    ((5, 32, 32, 3), 1, False),
])
def test_channel_axis_rule(shape, axis, expected):
    assert channels_last(shape, axis) is expected


def test_channels_last_is_transposed_to_channels_first(blobs):
    X = blobs[0][:4].astype(np.float64)
    X2d, shape = flatten_images(X)
    assert shape == (3, 8, 8)
    np.testing.assert_array_equal(X2d, X.transpose(0, 3, 1, 2).reshape(4, -1))
    X2d_explicit, shape = flatten_images(X.reshape(4, 8, 8, 3), channel_axis=-1)
    np.testing.assert_array_equal(X2d_explicit, X2d)


def test_each_channel_is_scaled_on_its_own():
    rng = np.random.RandomState(0)
    X = np.stack([rng.uniform(0, 1, (6, 16)), rng.uniform(100, 300, (6, 16)),
                  np.full((6, 16), 7.0)], axis=1).reshape(6, -1)
    layout = fit_layout(X, (3, 4, 4), multiple=2)
    T = layout.to_tensor(X).numpy()
    for c in (0, 1):
        assert T[:, c].min() == pytest.approx(-1, abs=1e-6)
        assert T[:, c].max() == pytest.approx(1, abs=1e-6)
    np.testing.assert_array_equal(T[:, 2], -1)  # a constant channel stays blank


def test_channel_orders_and_dtypes_give_the_same_fit(blobs, fitted_last):
    X, _ = blobs
    first = make().fit(X.transpose(0, 3, 1, 2).astype(np.float64))
    assert fitted_last._model.layout.image_shape == (3, 8, 8)
    np.testing.assert_array_equal(first.labels_, fitted_last.labels_)
    np.testing.assert_allclose(first.cluster_centers_, fitted_last.cluster_centers_)
    # A model fitted on one order predicts the other, and uint8 like float.
    np.testing.assert_array_equal(fitted_last.predict(X.transpose(0, 3, 1, 2)),
                                  fitted_last.labels_)
    np.testing.assert_array_equal(fitted_last.predict(X.astype(np.float32)),
                                  fitted_last.labels_)


def test_colour_clusters_are_found(blobs, fitted_last):
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(blobs[1], fitted_last.labels_) > 0.8


def test_uint8_input_is_held_as_float32():
    from skdiec._input import float_dtypes

    assert float_dtypes(np.zeros(3, np.uint8)) is np.float32
    assert float_dtypes(np.zeros(3, np.int16)) is np.float32
    assert float_dtypes(np.zeros(3, np.int64)) == (np.float64, np.float32)
    assert float_dtypes([[1, 2]]) == (np.float64, np.float32)


def test_colour_model_saves_and_loads(tmp_path, blobs, fitted_last):
    import json

    fitted_last.save(tmp_path / "m")
    layout = json.loads((tmp_path / "m" / "estimator.json").read_text())["layout"]
    assert layout["scaling"] == "channel" and layout["image_shape"] == [3, 8, 8]
    loaded = DiEC.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded._model.layout.offset, fitted_last._model.layout.offset)
    np.testing.assert_allclose(loaded.predict_proba(blobs[0]), fitted_last.predict_proba(blobs[0]),
                               rtol=1e-5, atol=1e-6)


def test_images_of_a_different_channel_count_are_refused(fitted_last):
    with pytest.raises(ValueError, match=r"images of shape \(1, 8, 8\) .*fitted on images of "
                                         r"shape \(3, 8, 8\)\.$"):
        fitted_last.predict(np.zeros((2, 8, 8)))


@pytest.mark.parametrize("side,channels", [
    (8, (32, 64, 64)), (28, (32, 64, 64)), (32, (32, 64, 64)),
    (64, (32, 64, 64, 128)), (96, (32, 64, 64, 128, 128)), (128, (32, 64, 64, 128, 128)),
    (256, (32, 64, 64, 128, 128, 128)),
])
def test_auto_unet_keeps_the_bottleneck_at_most_8x8(side, channels):
    assert auto_unet_channels(side) == channels
    if side >= 32:
        assert side / built_downsampling_factor(channels) <= 8


def test_auto_unet_is_built_for_the_image_size():
    X = colour_blobs(n_per_class=2, side=64)[0]
    unet = pretrain_unet(X, epochs=0, random_state=0)
    assert tuple(unet.config.block_out_channels) == (32, 64, 64, 128)
    assert unet.config.in_channels == 3 and tuple(unet.config.sample_size) == (64, 64)


def test_flatten_bounds_the_features_of_large_maps():
    maps = torch.randn(2, 5, 96, 96)
    assert pool(maps, "flatten").shape == (2, 5 * 32 * 32)
    small = torch.randn(2, 5, 16, 8)
    torch.testing.assert_close(pool(small, "flatten"), small.flatten(1))


def test_a_64_pixel_colour_fit_runs_in_small_batches():
    X, y = colour_blobs(n_per_class=8, side=64)
    est = make(unet_channels=(8, 8, 8, 16), batch_size=8, pretrain_batch_size=8,
               train_batch_size=8).fit(X)
    assert est._model.layout.padded_shape == (64, 64)
    assert est.transform(X[:3]).shape == (3, est.n_components_)
