"""Property-based tests: any reasonable input fits, and predictions are sane."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skdiec import DiEC

from .conftest import FAST

TINY = dict(FAST, search_n_samples=30, max_iter=2, update_interval=1)


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


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
