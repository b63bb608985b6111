import warnings

import numpy as np
import pytest
import torch

from skdiec import DiEC
from skdiec._input import fit_layout, flatten_images

from .conftest import FAST


def test_images_3d_and_4d_are_flattened_with_their_shape():
    X3 = np.zeros((5, 6, 7))
    X2, shape = flatten_images(X3)
    assert X2.shape == (5, 42) and shape == (1, 6, 7)
    X4 = np.zeros((5, 3, 4, 4))
    X2, shape = flatten_images(X4)
    assert X2.shape == (5, 48) and shape == (3, 4, 4)


@pytest.mark.parametrize("ndim", [1, 5])
def test_wrong_dimensions_are_named(ndim):
    with pytest.raises(ValueError, match="X must be 2-D"):
        flatten_images(np.zeros((2,) * ndim))


def test_image_shape_must_match_features():
    with pytest.raises(ValueError, match=r"image_shape=\(3, 3\) holds 9"):
        flatten_images(np.zeros((4, 10)), (3, 3))


def test_square_rows_are_images_and_scaled_globally():
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 16, size=(10, 64))
    layout = fit_layout(X, None, multiple=4)
    assert layout.kind == "image" and layout.image_shape == (1, 8, 8)
    T = layout.to_tensor(X)
    assert T.shape == (10, 1, 8, 8)
    assert T.min().item() == pytest.approx(-1) and T.max().item() == pytest.approx(1)
    # One scale for the whole image: pixel order and contrast are kept.
    np.testing.assert_allclose(T.numpy().reshape(10, -1), (X - X.min()) / np.ptp(X) * 2 - 1,
                               rtol=1e-5, atol=1e-6)


def test_tables_go_on_a_padded_grid_with_per_column_scaling():
    rng = np.random.RandomState(0)
    X = np.c_[rng.normal(0, 1, 20), rng.normal(1000, 50, 20)]
    layout = fit_layout(X, None, multiple=4)
    assert layout.kind == "table"
    # Padded to twice the multiple: the U-Net's deepest map is then 2x2.
    assert layout.image_shape == (1, 2, 2) and layout.padded_shape == (8, 8)
    T = layout.to_tensor(X)
    assert T.shape == (20, 1, 8, 8)
    flat = T[:, 0, :2, :2].reshape(20, 4).numpy()
    for j in range(2):  # each column spans [-1, 1] on its own
        assert flat[:, j].min() == pytest.approx(-1, abs=1e-6)
        assert flat[:, j].max() == pytest.approx(1, abs=1e-6)
    # Padding is the blank value; the unused grid cells hold 0.
    assert torch.all(T[:, :, 2:, :] == -1) and torch.all(T[:, :, :, 2:] == -1)
    np.testing.assert_array_equal(flat[:, 2:], 0)


def test_images_are_padded_to_the_unet_multiple():
    layout = fit_layout(np.zeros((3, 28 * 28)) + np.arange(3)[:, None], None, multiple=8)
    assert layout.padded_shape == (32, 32)
    assert layout.to_tensor(np.ones((2, 784))).shape == (2, 1, 32, 32)


def test_constant_data_does_not_divide_by_zero():
    layout = fit_layout(np.ones((4, 9)), None, multiple=2)
    assert np.isfinite(layout.to_tensor(np.ones((4, 9))).numpy()).all()


def test_images_scaled_otherwise_than_those_fitted_on_warn(fitted, digits):
    # A model fitted on digits (0-16) given them on 0-1, or as 16-bit values,
    # would assign them all the same few clusters without a word.
    X, _ = digits
    for wrong in (X / 16, X * 4096):
        with pytest.warns(UserWarning, match="scaled differently"):
            fitted.predict(wrong[:5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted.predict(X[:5])
        fitted.transform(X[:1] / 4)  # one dark image is no other scale


def test_the_scale_check_measures_from_the_darkest_value_fitted_on(digits):
    # Images scaled to [-1, 1], as diffusers scales them: a dark image's
    # brightest pixel may lie near or below 0 without another scale.
    X = digits[0][:60] / 8 - 1
    est = DiEC(n_clusters=3, random_state=0, **FAST).fit(X)
    dark = np.full((1, 8, 8), -1.0)
    dark[0, 3:5, 3:5] = 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.predict(dark)
        est.predict(dark - 0.3)
    with pytest.warns(UserWarning, match="scaled differently"):
        est.predict((X[:5] + 1) * 127.5)  # given on 0-255
