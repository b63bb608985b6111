"""Faults injected into fit: a fit that fails in any phase changes nothing.

Each phase function the estimator calls is replaced by one that raises (a
RuntimeError, or a KeyboardInterrupt as from Ctrl-C), optionally after
letting the real function run a few times so that the fault lands in the
middle of the phase. A previously fitted estimator must keep every attribute
(arrays, U-Net weights, private state) and its predictions; an unfitted one
must stay unfitted.
"""

import copy
import dataclasses

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from skdiec import DiEC, _backbone, _dec, _features, _input, _search
from skdiec._estimator import DiffusionEmbeddedClustering

from .conftest import FAST

# Smaller than FAST: every phase still runs, and a whole fit takes ~0.2 s.
TINY = dict(FAST, search_n_samples=30, max_iter=4, update_interval=2, train_batch_size=16)

# (phase, owner of the function, its name, real calls before the fault)
PHASES = [
    ("validation", _input, "flatten_images", 0),
    ("layout", _input, "fit_layout", 0),
    ("backbone load", _backbone, "load_unet", 0),
    ("backbone build", _backbone, "build_unet", 0),
    ("pretraining", _backbone, "pretrain", 0),
    ("pretraining, mid-epoch", _backbone, "denoising_loss", 1),
    ("search", _search, "search", 0),
    ("search, mid-grid", _search, "clusterability", 3),
    ("features at COL/COT", _features, "extract_features", 0),
    ("projection", _dec.FeatureHead, "fit", 0),
    ("initial centres", DiffusionEmbeddedClustering, "_initial_centers", 0),
    ("DEC fine-tuning", _dec, "fine_tune", 0),
    ("DEC fine-tuning, mid-way", _dec, "kl_divergence", 1),
    # The first call labels the initial partition, the second the final one.
    ("final labelling", DiffusionEmbeddedClustering, "_soft_assign_embedded", 1),
]
FAULTS = [RuntimeError, KeyboardInterrupt]


def inject(monkeypatch, owner, name, n_ok, fault):
    real = getattr(owner, name)
    calls = []

    def faulty(*args, **kwargs):
        calls.append(1)
        if len(calls) > n_ok:
            raise fault(f"injected fault in {name}")
        return real(*args, **kwargs)

    if isinstance(owner, type) and isinstance(vars(owner).get(name), classmethod):
        faulty_attr = staticmethod(faulty)  # FeatureHead.fit is called on the class
    else:
        faulty_attr = faulty
    monkeypatch.setattr(owner, name, faulty_attr)
    return calls


def assert_same(a, b, where):
    """Deep equality of fitted state: arrays, tensors, modules, layouts."""
    assert type(a) is type(b), where
    if isinstance(a, torch.nn.Module):
        assert_same(a.state_dict(), b.state_dict(), where)
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.device == b.device, where
        assert torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b)):
            assert_same(u, v, f"{where}[{i}]")
    elif dataclasses.is_dataclass(a):
        assert_same(vars(a), vars(b), where)
    elif hasattr(a, "config"):  # the diffusers scheduler
        assert_same(dict(a.config), dict(b.config), where)
    else:
        assert a == b, where


@pytest.fixture(scope="module")
def fitted_tiny(digits):
    X, _ = digits
    return DiEC(n_clusters=3, random_state=0, **TINY).fit(X[:60])


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("phase,owner,name,n_ok", PHASES, ids=[p[0] for p in PHASES])
def test_failed_fit_leaves_a_fitted_model_exactly_as_it_was(
    fitted_tiny, digits, monkeypatch, phase, owner, name, n_ok, fault
):
    X, _ = digits
    est = copy.deepcopy(fitted_tiny)
    # A refit on other data and another seed: had it got far enough to
    # store anything, the state would differ (36 features instead of 64).
    est.set_params(random_state=7)
    before = copy.deepcopy(vars(est))
    proba = est.predict_proba(X[:60])

    calls = inject(monkeypatch, owner, name, n_ok, fault)
    with pytest.raises(fault, match="injected fault"):
        est.fit(X[60:90, :6, :6])
    assert len(calls) == n_ok + 1, f"{phase}: the fault was not reached"
    monkeypatch.undo()

    assert_same(vars(est), before, "vars(est)")
    np.testing.assert_array_equal(est.predict_proba(X[:60]), proba)
    np.testing.assert_array_equal(est.predict(X[:60]), est.labels_)


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("phase,owner,name,n_ok", PHASES, ids=[p[0] for p in PHASES])
def test_failed_fit_leaves_an_unfitted_model_unfitted(
    digits, monkeypatch, phase, owner, name, n_ok, fault
):
    X, _ = digits
    est = DiEC(n_clusters=3, random_state=0, **TINY)
    params = copy.deepcopy(vars(est))
    inject(monkeypatch, owner, name, n_ok, fault)
    with pytest.raises(fault, match="injected fault"):
        est.fit(X[:30])
    monkeypatch.undo()
    # Nothing but the constructor parameters, unchanged.
    assert_same(vars(est), params, "vars(est)")
    with pytest.raises(NotFittedError):
        est.predict(X[:5])
