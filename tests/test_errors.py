"""Bad input fails loudly, names what is wrong, and never corrupts a fitted model."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.exceptions import NotFittedError

from skdiec import DiEC, _backbone

from .conftest import FAST


def make(**kw):
    return DiEC(**{**dict(FAST, n_clusters=3, random_state=0), **kw})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values(digits, bad):
    X = digits[0].copy()
    X[3, 2, 2] = bad
    with pytest.raises(ValueError, match="X"):
        make().fit(X)


def test_wrong_number_of_dimensions(digits):
    X = digits[0]
    with pytest.raises(ValueError, match="Expected 2D array"):
        make().fit(X[:, 0, 0])
    with pytest.raises(ValueError, match="X must be 2-D.*5 dimension"):
        make().fit(X.reshape(len(X), 1, 1, 8, 8))


def test_more_clusters_than_samples(digits):
    with pytest.raises(ValueError, match="n_samples=5 should be >= n_clusters=6"):
        make(n_clusters=6).fit(digits[0][:5])


def test_sparse_input_is_refused(digits):
    X = sp.csr_matrix(digits[0].reshape(len(digits[0]), -1))
    with pytest.raises(TypeError, match="dense data is required"):
        make().fit(X)


def test_image_shape_inconsistent_with_rows(digits):
    X = digits[0].reshape(len(digits[0]), -1)
    with pytest.raises(ValueError, match=r"image_shape=\(7, 7\) holds 49 values.*64 features"):
        make(image_shape=(7, 7)).fit(X)


@pytest.mark.parametrize("device,match", [
    ("tpu", "device must be 'auto', 'cpu', 'cuda'"),
    ("cuda:x", "device must be"),
])
def test_unknown_device(digits, device, match):
    with pytest.raises(ValueError, match=match):
        make(device=device).fit(digits[0])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_asked_for_but_missing(digits):
    with pytest.raises(ValueError, match="asks for CUDA.*is False"):
        make(device="cuda").fit(digits[0])


def test_backbone_with_wrong_channels(digits):
    unet = _backbone.build_unet(3, (8, 8), (8, 16), layers_per_block=1, seed=0)
    with pytest.raises(ValueError, match="expects 3 input channel.*1 channel"):
        make(unet=unet).fit(digits[0])


@pytest.mark.filterwarnings("ignore:There are modules in UNet2DModel")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_half_precision_backbone_is_trained_in_float32(digits, dtype):
    # It used to fail in the first convolution: float32 images, half weights.
    unet = _backbone.build_unet(1, (8, 8), (8, 16), layers_per_block=1, seed=0).to(dtype)
    original = {k: v.clone() for k, v in unet.state_dict().items()}
    est = make(unet=unet).fit(digits[0][:40])
    assert est.unet_.dtype == torch.float32 and np.isfinite(est.cluster_centers_).all()
    assert unet.dtype == dtype  # the caller's model is not touched
    for key, value in unet.state_dict().items():
        assert torch.equal(value, original[key])


def test_unknown_layer_and_bad_timesteps(digits):
    with pytest.raises(ValueError, match="unknown layer name"):
        make(layers=["mid", "nope"]).fit(digits[0])
    for bad in ([], [1000], [-1], [1.5]):
        with pytest.raises(ValueError, match="timesteps must be"):
            make(timesteps=bad).fit(digits[0])


@pytest.mark.parametrize("param,value", [
    ("n_clusters", 0), ("alpha", 0.0), ("tol", 2.0), ("batch_size", 0),
    ("pooling", "median"), ("search_score", "accuracy"), ("init", "random"),
    ("pretrain_epochs", -1), ("learning_rate", -1.0), ("unet", 3),
])
def test_invalid_hyperparameters_name_the_parameter(digits, param, value):
    with pytest.raises(ValueError, match=f"'{param}' parameter"):
        make(**{param: value}).fit(digits[0])


def test_predict_before_fit(digits):
    with pytest.raises(NotFittedError):
        make().predict(digits[0])


def test_predict_with_other_features_or_image_size(fitted, digits):
    X = digits[0]
    with pytest.raises(ValueError, match="X has 63 features.*expecting 64"):
        fitted.predict(X.reshape(len(X), -1)[:, :63])
    with pytest.raises(ValueError, match=r"images of shape \(1, 4, 16\).*\(1, 8, 8\)"):
        fitted.predict(X.reshape(len(X), 4, 16))


def test_failed_fit_leaves_the_fitted_model_as_it_was(digits):
    X = digits[0]
    est = make().fit(X)
    before = {k: v for k, v in vars(est).items() if k.endswith("_")}
    proba = est.predict_proba(X)
    est.set_params(timesteps=[5000])
    with pytest.raises(ValueError):
        est.fit(X)
    est.set_params(timesteps=FAST["timesteps"], layers=["nope"])
    with pytest.raises(ValueError):
        est.fit(X)
    after = {k: v for k, v in vars(est).items() if k.endswith("_")}
    assert before.keys() == after.keys()
    for key in before:
        assert after[key] is before[key]
    np.testing.assert_array_equal(est.predict_proba(X), proba)


def test_failed_fit_leaves_an_unfitted_model_unfitted(digits):
    est = make(layers=["nope"])
    with pytest.raises(ValueError):
        est.fit(digits[0])
    with pytest.raises(NotFittedError):
        est.predict(digits[0])


def test_cli_help(capsys):
    from skdiec.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "demo" in capsys.readouterr().out


def test_failed_fit_with_other_features_keeps_the_fitted_feature_count(fitted, digits):
    import copy

    est = copy.deepcopy(fitted)
    est.set_params(layers=["nope"])
    with pytest.raises(ValueError):
        est.fit(digits[0][:, :4, :4])  # 16 features, and a failure after validation
    assert est.n_features_in_ == 64
    np.testing.assert_array_equal(est.predict(digits[0]), fitted.predict(digits[0]))


def test_keyboard_interrupt_during_fit_leaves_the_model_as_it_was(digits, monkeypatch):
    from skdiec import _dec

    est = make().fit(digits[0])
    labels = est.labels_.copy()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_dec, "fine_tune", interrupted)
    with pytest.raises(KeyboardInterrupt):
        est.set_params(random_state=5).fit(digits[0][:50])
    np.testing.assert_array_equal(est.labels_, labels)
    assert est.n_features_in_ == 64


@pytest.mark.parametrize("X", [np.ones((30, 8, 8)), np.tile(np.arange(64.0), (30, 1))],
                         ids=["constant", "duplicates"])
def test_too_few_distinct_samples_warn_and_still_fit(X):
    from sklearn.exceptions import ConvergenceWarning

    with pytest.warns(ConvergenceWarning, match="only 1 distinct sample.*n_clusters=3"):
        est = make().fit(X)
    assert est.labels_.shape == (30,) and np.isfinite(est.cluster_centers_).all()


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.float16, np.float32])
def test_integer_and_low_precision_input(digits, dtype):
    X = digits[0].astype(dtype)
    est = make().fit(X)
    assert est.predict(X[:5]).shape == (5,)
