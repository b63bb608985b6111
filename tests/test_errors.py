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
@pytest.mark.parametrize("layout", ["rows", "images"])
def test_non_finite_values(digits, bad, layout):
    X = digits[0].copy()
    X[3, 2, 2] = bad
    if layout == "rows":
        X = X.reshape(len(X), -1)
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        make().fit(X)


def test_wrong_number_of_dimensions(digits):
    X = digits[0]
    with pytest.raises(ValueError, match="Invalid X: Expected 2D array, got 1D"):
        make().fit(X[:, 0, 0])
    with pytest.raises(ValueError, match="X must be 2-D.*5 dimension"):
        make().fit(X.reshape(len(X), 1, 1, 8, 8))
    with pytest.raises(ValueError, match="Invalid X: Expected 2D array, got scalar"):
        make().fit(3.0)


# Arrays scikit-learn's checks refuse with messages that do not name the
# array themselves; DiEC prefixes them with "Invalid X".
@pytest.mark.parametrize("X,error,match", [
    (np.empty((0, 64)), ValueError,
     r"Found array with 0 sample\(s\) \(shape=\(0, 64\)\) while a minimum of 2"),
    (np.empty((0, 8, 8)), ValueError,
     r"Found array with 0 sample\(s\) \(shape=\(0, 8, 8\)\) while a minimum of 2"),
    (np.ones((1, 64)), ValueError,
     r"Found array with 1 sample\(s\) \(shape=\(1, 64\)\) while a minimum of 2"),
    (np.ones((1, 8, 8)), ValueError, r"Found array with 1 sample\(s\).* minimum of 2"),
    (np.empty((10, 0)), ValueError, r"Found array with 0 feature\(s\) \(shape=\(10, 0\)\)"),
    (np.empty((10, 0, 3)), ValueError, r"Found array with 0 feature\(s\)"),
    (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), ValueError,
     "could not convert string to float"),
    (np.array([["a", 1.0], [2.0, 3.0], [3.0, 4.0]], dtype=object), ValueError,
     "could not convert string to float"),
    (np.full((4, 3, 3), "x"), ValueError, "could not convert string to float"),
    ([[1.0, 2.0], [3.0, "x"], [5.0, 6.0]], ValueError, "could not convert string to float"),
    (np.array([[{"a": 1}, 1.0], [2.0, 3.0], [3.0, 4.0]], dtype=object), TypeError,
     "float.. argument must be"),
    (np.ones((5, 4)) * 1j, ValueError, "Complex data not supported"),
], ids=["empty rows", "empty images", "one row", "one image", "no features",
        "zero-width images", "strings", "object with a string", "string images",
        "nested list with a string", "object with a dict", "complex"])
def test_unusable_arrays_name_x(X, error, match):
    with pytest.raises(error, match="Invalid X: " + match):
        make(n_clusters=1).fit(X)


def test_predict_on_bad_input_names_x(fitted, digits):
    X = digits[0].reshape(len(digits[0]), -1)
    bad = X[:5].copy()
    bad[0, 0] = np.nan
    for method in (fitted.predict, fitted.predict_proba, fitted.transform, fitted.score):
        with pytest.raises(ValueError, match="Input X contains NaN"):
            method(bad)
        with pytest.raises(ValueError, match="Invalid X: Found array with 0 sample"):
            method(X[:0])
    assert fitted.predict(X[:1]).shape == (1,)  # one sample is fine after fit


@pytest.mark.parametrize("shape,unet_channels", [
    ((1, 1), (8, 16)), ((2, 3), (8, 16)), ((5, 5), (8, 16, 16)), ((3, 9, 7), (8, 16, 16)),
])
def test_tiny_and_odd_sized_images_are_padded_for_the_unet(shape, unet_channels):
    # A U-Net halves its input once per down-sampling block; images of any
    # size are padded to the next multiple instead of being refused.
    X = np.random.RandomState(0).uniform(size=(12,) + shape)
    est = make(n_clusters=2, unet_channels=unet_channels).fit(X)
    multiple = _backbone.built_downsampling_factor(unet_channels)
    assert all(s % multiple == 0 and s >= 2 * multiple
               for s in est._model.layout.padded_shape)
    np.testing.assert_array_equal(est.predict(X), est.labels_)


def test_a_batch_of_one_on_the_smallest_inputs():
    # One column on (8, 8, 16): a deepest map of 1 x 1 left GroupNorm's
    # one-channel groups a single value for a batch of one image, which torch
    # refuses: here the last pretraining batch (64 = 9 x 7 + 1) and predict.
    X = np.random.RandomState(0).uniform(size=(64, 1))
    est = make(unet_channels=(8, 8, 16), pretrain_batch_size=7).fit(X)
    assert est.predict(X[:1]) == est.labels_[:1]


def test_given_unet_with_more_downsamplings_than_the_image_allows(digits):
    # Three halvings need a multiple of 8, and a deepest map of at least
    # 2 x 2 twice that: 5 x 5 images go in as 16 x 16.
    unet = _backbone.build_unet(1, (8, 8), (8, 16, 16, 16), layers_per_block=1, seed=0)
    assert _backbone.downsampling_factor(unet) == 8
    X = digits[0][:30, :5, :5]
    est = make(unet=unet, pretrain_epochs=0).fit(X)
    assert est._model.layout.padded_shape == (16, 16)


def test_more_clusters_than_samples(digits):
    with pytest.raises(ValueError, match="n_samples=5 should be >= n_clusters=6"):
        make(n_clusters=6).fit(digits[0][:5])


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_input_is_refused(digits, fmt):
    # DiEC is dense-only: images go through convolutions.
    X = sp.random(40, 64, density=0.3, format=fmt, random_state=0)
    with pytest.raises(TypeError, match="Sparse data was passed for X, but dense data is "
                       "required"):
        make().fit(X)


def test_image_shape_inconsistent_with_rows(digits):
    X = digits[0].reshape(len(digits[0]), -1)
    with pytest.raises(ValueError, match=r"image_shape=\(7, 7\) holds 49 values.*64 features"):
        make(image_shape=(7, 7)).fit(X)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_asked_for_but_missing(digits):
    with pytest.raises(ValueError, match="asks for CUDA.*is False"):
        make(device="cuda").fit(digits[0])


def test_backbone_with_wrong_channels(digits):
    unet = _backbone.build_unet(3, (8, 8), (8, 16), layers_per_block=1, seed=0)
    with pytest.raises(ValueError, match="expects 3 input channel.*1 channel"):
        make(unet=unet).fit(digits[0])


@pytest.mark.parametrize("config,match", [
    (dict(out_channels=2), "unet has 1 input and 2 output channels"),
    (dict(class_embed_type="timestep"), "unet is class-conditional"),
    (dict(num_class_embeds=10), "unet is class-conditional"),
], ids=["output channels", "class-conditional", "class labels"])
def test_backbone_that_is_not_an_unconditional_denoiser(digits, config, match):
    from diffusers import UNet2DModel

    unet = UNet2DModel(**{**dict(sample_size=8, in_channels=1, out_channels=1,
                                 block_out_channels=(8, 16), layers_per_block=1,
                                 down_block_types=("DownBlock2D",) * 2,
                                 up_block_types=("UpBlock2D",) * 2, norm_num_groups=8),
                          **config})
    with pytest.raises(ValueError, match=match):
        make(unet=unet).fit(digits[0])


class LooksLikeAModel:
    """Passes the ``unet`` constraint (save_pretrained, forward), is not a U-Net."""

    def save_pretrained(self, path):
        pass

    def forward(self, x):
        return x


def test_backbone_that_is_not_a_unet(digits):
    with pytest.raises(TypeError, match="unet must be a diffusers UNet2DModel.*got a "
                                        ".*LooksLikeAModel"):
        make(unet=LooksLikeAModel()).fit(digits[0])


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


# One value or more outside each entry of _parameter_constraints; scikit-learn
# rejects them before fit does any work.
INVALID_PARAMS = [
    ("n_clusters", 0), ("n_clusters", 2.5), ("n_clusters", "3"),
    ("unet", 3),
    ("scheduler", 3), ("scheduler", ["ddpm"]),
    ("image_shape", 64), ("image_shape", "8x8"),
    ("channel_axis", 0), ("channel_axis", 3), ("channel_axis", "last"),
    ("unet_channels", 8), ("unet_channels", "wide"),
    ("pretrain_epochs", -1), ("pretrain_epochs", 1.5), ("pretrain_epochs", "never"),
    ("pretrain_learning_rate", 0.0), ("pretrain_learning_rate", -1e-3),
    ("pretrain_max_timestep", 0), ("pretrain_max_timestep", 1001),
    ("pretrain_batch_size", 0), ("pretrain_batch_size", 2.5), ("train_batch_size", 0),
    ("memory", 3), ("memory", ["cache"]),
    ("layers", "mid"), ("layers", 3),
    ("timesteps", 5),
    ("n_refine_timesteps", -1),
    ("search_n_samples", 1),
    ("search_score", "accuracy"),
    ("init", "random"),
    ("fine_tune_target", "labels"),
    ("n_noise_draws", 0),
    ("pooling", "median"), ("pooling", 0),
    ("n_components", 0),
    ("n_cells", 0),
    ("alpha", 0.0), ("alpha", np.nan),
    ("max_iter", -1), ("max_iter", "never"),
    ("update_interval", 0),
    ("tol", -0.1), ("tol", 2.0),
    ("denoising_weight", -1.0),
    ("learning_rate", 0.0), ("learning_rate", -1.0),
    ("batch_size", 0),
    ("device", 3),
    ("n_jobs", 0), ("n_jobs", 1.5), ("n_jobs", "all"),
    ("random_state", "seed"),
    ("verbose", -1), ("verbose", "loud"),
]


def test_every_constrained_parameter_has_an_invalid_value_tested():
    assert {name for name, _ in INVALID_PARAMS} == set(DiEC._parameter_constraints)


@pytest.mark.parametrize("param,value", INVALID_PARAMS)
def test_invalid_hyperparameters_name_the_parameter(digits, param, value):
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=f"The '{param}' parameter of "
                       "DiffusionEmbeddedClustering must be"):
        make(**{param: value}).fit(digits[0])


# Values of the right type that fit itself rejects, each naming its parameter.
@pytest.mark.parametrize("param,value,match", [
    ("image_shape", (0, 8), r"image_shape must be \(H, W\) or \(C, H, W\) with positive"),
    ("image_shape", (1, 2, 4, 8), r"image_shape must be"),
    ("unet_channels", (), "unet_channels must be 'auto' or a non-empty sequence of positive ints"),
    ("unet_channels", (8, 0), "unet_channels must be"),
    ("unet_channels", (8.5,), "unet_channels must be"),
    ("layers", [], "layers must name at least one layer"),
    ("layers", ["mid", "nope"], r"layers=\['mid', 'nope'\]: unknown layer name"),
    ("search_n_samples", 2, r"search_n_samples=2 should be >= n_clusters=3"),
    ("timesteps", [], "timesteps must be"),
    ("timesteps", [1000], "timesteps must be"),
    ("timesteps", [-1], "timesteps must be"),
    ("timesteps", [1.5], "timesteps must be"),
    ("timesteps", [[1, 2]], "timesteps must be"),
    ("timesteps", ["a"], "timesteps must be"),
    ("device", "tpu", "device must be 'auto', 'cpu', 'cuda'"),
    ("device", "cuda:x", "device must be"),
    ("device", torch.device("meta"), "device=.*only CPU and CUDA devices"),
    ("unet", "no-such-user/no-such-model", "unet='no-such-user/no-such-model' is not a local"),
])
def test_invalid_parameter_values_found_in_fit_name_the_parameter(digits, param, value,
                                                                  match):
    X = digits[0].reshape(len(digits[0]), -1)
    with pytest.raises(ValueError, match=match):
        make(**{param: value}).fit(X)


def test_predict_before_fit(digits):
    with pytest.raises(NotFittedError):
        make().predict(digits[0])


def test_predict_with_other_features_or_image_size(fitted, digits):
    X = digits[0]
    with pytest.raises(ValueError, match="X has 63 features.*expecting 64"):
        fitted.predict(X.reshape(len(X), -1)[:, :63])
    with pytest.raises(ValueError, match=r"images of shape \(1, 4, 16\).*\(1, 8, 8\)"):
        fitted.predict(X.reshape(len(X), 4, 16))


@pytest.mark.parametrize("given,hint", [
    # One image without its leading axis: grey as (H, W) or (H, W, 1).
    (lambda X: X[0], r"X of shape \(8, 8\) holds 8 rows of 8 values.*keep its leading axis"),
    (lambda X: X[0][:, :, None], r"\(8, 8, 1\) holds images of shape \(1, 8, 1\)"
                                 r".*keep its leading axis: X\[None\]"),
    # Images of another size, whose count of features says little.
    (lambda X: np.kron(X[:3], np.ones((2, 2))), r"images of shape \(1, 16, 16\) .*"
                                                r"Resize them to 8x8 first"),
])
def test_images_of_another_shape_are_refused_with_the_mend(fitted, digits, given, hint):
    with pytest.raises(ValueError, match=hint):
        fitted.predict(given(digits[0]))
    assert fitted.predict(digits[0][:1]).shape == (1,)  # the mend works


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
    # The fitted model is the old one: it predicts once its parameters are
    # those it was fitted with again (layers changed since fit is refused).
    with pytest.raises(ValueError, match="layers changed since fit"):
        est.predict_proba(X)
    est.set_params(layers="all")
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
    est.set_params(layers=fitted.layers)  # as fitted: see test_reliability
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


@pytest.mark.parametrize("name", ["pretrain_batch_size", "train_batch_size"])
def test_a_step_batch_above_batch_size_is_lowered_with_a_warning(digits, name):
    with pytest.warns(UserWarning, match=f"^{name}=16 is above batch_size=8.*use 8"):
        est = make(**{name: 16, "batch_size": 8, "max_iter": 0}).fit(digits[0])
    if name == "pretrain_batch_size":
        assert est.unet_.config[_backbone.PRETRAINING_KEY]["batch_size"] == 8


def test_one_row_of_images_one_pixel_high_is_a_row_not_an_image():
    # A 2-D (1, W) array is one row of a model fitted on 1 x W images, not
    # one (H, W) image passed without its leading axis.
    X = np.random.default_rng(0).random((40, 16))
    est = make(image_shape=(1, 16)).fit(X)
    assert est.predict(X[:1]).shape == (1,)
