"""Property-based tests: any reasonable input fits, and predictions are sane.

CI runs a few fixed examples of each. ``SKDIEC_FUZZ=N`` runs N random ones
instead, a wider search by hand (``SKDIEC_FUZZ=300 python -m pytest -q
tests/test_properties.py``, a few seconds an example on two cores); a crash
it finds belongs in a named test.
"""

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skdiec import DiEC

from .conftest import FAST

TINY = dict(FAST, search_n_samples=30, max_iter=2, update_interval=1)
FUZZ = int(os.environ.get("SKDIEC_FUZZ", "0"))


def examples(n_in_ci):
    """Hypothesis settings: ``n_in_ci`` derandomized examples, the same on
    every run so that CI reads the same fits, or ``SKDIEC_FUZZ`` random ones."""
    return settings(max_examples=FUZZ or n_in_ci, derandomize=not FUZZ, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def datasets(draw):
    n_clusters = draw(st.integers(1, 4))
    n = draw(st.integers(max(n_clusters, 2), 24))
    layout = draw(st.sampled_from(["rows", "images", "channels"]))
    if layout == "rows":
        shape = (n, draw(st.integers(1, 20)))
    elif layout == "images":
        shape = (n, draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    else:
        shape = (n, draw(st.integers(1, 3)), draw(st.integers(2, 6)), draw(st.integers(2, 6)))
    dtype = draw(st.sampled_from([np.uint8, np.int32, np.float16, np.float32, np.float64]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.RandomState(seed)
    if np.issubdtype(dtype, np.integer):
        X = rng.randint(0, 256, size=shape).astype(dtype)
    else:
        scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
        offset = draw(st.sampled_from([-5.0, 0.0, 100.0]))
        X = (rng.standard_normal(shape) * scale + offset).astype(dtype)
    return X, n_clusters


@examples(25)
@given(datasets())
def test_fit_predict_on_any_reasonable_input(data):
    X, n_clusters = data
    est = DiEC(n_clusters=n_clusters, random_state=0, **TINY).fit(X)
    labels = est.labels_
    assert labels.shape == (len(X),)
    assert labels.min() >= 0 and labels.max() < n_clusters
    assert np.isfinite(est.cluster_centers_).all()
    k = max(1, len(X) // 2)
    np.testing.assert_array_equal(est.predict(X[:k]), est.predict(X)[:k])
    np.testing.assert_array_equal(est.predict(X), labels)
    proba = est.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


@st.composite
def parameter_sets(draw):
    """Corners of the parameter space a tiny fit can reach: small batches,
    one noise draw, a subset barely above ``n_clusters``, pooled cells, every
    search score and start."""
    n_clusters = draw(st.integers(1, 5))
    return n_clusters, dict(
        unet_channels=draw(st.sampled_from([(8,), (8, 16), (8, 8, 16)])),
        pretrain_batch_size=draw(st.sampled_from([1, 7, 64])),
        train_batch_size=draw(st.sampled_from([1, 3, 64])),
        batch_size=draw(st.sampled_from([1, 5, 64])),
        layers=draw(st.sampled_from(["all", ["mid"]])),
        timesteps=draw(st.sampled_from([(10, 100), (0,), (5, 5)])),
        n_refine_timesteps=draw(st.integers(0, 2)),
        search_n_samples=draw(st.sampled_from([max(n_clusters, 2), 30, "auto"])),
        search_score=draw(st.sampled_from(
            ["auto", "consensus", "size_entropy", "modularity", "silhouette",
             "spectral_silhouette", "calinski_harabasz", "davies_bouldin"])),
        init=draw(st.sampled_from(["umap", "ward", "kmeans"])),
        fine_tune_target=draw(st.sampled_from(["init", "dec"])),
        n_noise_draws=draw(st.integers(1, 2)),
        pooling=draw(st.sampled_from(["flatten", "avgmax", 1, 3])),
        n_components=draw(st.sampled_from([1, 4, 50])),
        n_cells=draw(st.integers(1, 3)),
        max_iter=draw(st.integers(0, 3)),
        update_interval=draw(st.integers(1, 2)),
        denoising_weight=draw(st.sampled_from([0.0, 1.0])),
    )


@examples(12)
@given(parameters=parameter_sets(),
       layout=st.sampled_from(["images", "table", "colour", "colour_last"]),
       seed=st.integers(0, 2**16))
def test_fit_predict_across_the_parameter_space(digits, parameters, layout, seed):
    n_clusters, params = parameters
    rng = np.random.RandomState(seed)
    images = digits[0][rng.choice(len(digits[0]), 65, replace=False)]
    # Colour: uint8 photos of three channels, channels first or last.
    colour = np.stack([images, images[::-1], 16 - images], axis=1).astype(np.uint8) * 15
    X = {"images": images, "table": images.reshape(65, -1)[:, :3], "colour": colour,
         "colour_last": colour.transpose(0, 2, 3, 1)}[layout]
    est = DiEC(n_clusters=n_clusters, random_state=seed, pretrain_epochs=1, device="cpu",
               **params).fit(X)
    assert est.labels_.shape == (65,)
    assert est.labels_.min() >= 0 and est.labels_.max() < n_clusters
    np.testing.assert_array_equal(est.predict(X), est.labels_)
    np.testing.assert_array_equal(est.predict(X[-1:]), est.labels_[-1:])
    assert np.isfinite(est.transform(X)).all()
