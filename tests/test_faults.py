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

from skdiec import DiEC, _backbone, _dec, _features, _init, _input, _model, _search

from .conftest import FAST, fine_tune_tiny, tiny_embedder

# pytest.warns checks the retries' warnings; the further ones it passes on
# (a batch halved twice) need not be shown.
pytestmark = pytest.mark.filterwarnings("ignore::skdiec.OutOfMemoryWarning")

# Smaller than FAST: every phase still runs, and a whole fit takes ~0.2 s.
TINY = dict(FAST, search_n_samples=30, max_iter=4, update_interval=2, pretrain_batch_size=16,
            train_batch_size=16)

# (phase, owner of the function, its name, real calls before the fault)
PHASES = [
    ("validation", _input, "flatten_images", 0),
    ("layout", _input, "fit_layout", 0),
    ("backbone load", _backbone, "load_unet", 0),
    ("backbone build", _backbone, "build_unet", 0),
    ("pretraining", _backbone, "pretrain", 0),
    ("pretraining, mid-epoch", _backbone, "denoising_loss", 1),
    ("search", _search, "search", 0),
    ("search, mid-grid", _search, "cell_partition", 3),
    ("search, features", _search, "extract_features", 1),
    ("embedding", _model.Embedder, "embed", 0),
    ("initial centres", _init, "initial_partition", 0),
    ("DEC fine-tuning", _dec, "fine_tune", 0),
    ("DEC fine-tuning, mid-way", _dec, "kl_divergence", 1),
    ("final labelling", _model.ClusteringModel, "soft_assign", 0),
]
FAULTS = [RuntimeError, KeyboardInterrupt]


def inject(monkeypatch, owner, name, n_ok, fault, n_faults=None):
    """Make ``owner.name`` raise ``fault`` after ``n_ok`` calls, ``n_faults`` times
    (None: for good)."""
    real = getattr(owner, name)
    calls = []

    def faulty(*args, **kwargs):
        calls.append(1)
        if len(calls) > n_ok and (n_faults is None or len(calls) <= n_ok + n_faults):
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


# ------------------------------------------------------- out of GPU memory
#
# A GPU that runs out of memory is simulated on the CPU: the function that
# runs a forward pass raises torch.cuda.OutOfMemoryError (constructible on
# any build) for batches above a limit, or for its first calls.

def memory_limit(real, max_images):
    """``real`` that runs out of memory when its image batch (its first tensor
    argument) holds more than ``max_images`` images."""
    def limited(*args, **kwargs):
        x0 = next(a for a in args if isinstance(a, torch.Tensor))
        if x0.shape[0] > max_images:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(*args, **kwargs)
    return limited


def test_out_of_memory_error_exists_on_every_build():
    assert issubclass(torch.cuda.OutOfMemoryError, RuntimeError)
    assert str(torch.cuda.OutOfMemoryError("x")) == "x"


def test_map_batches_halves_the_failing_batch_and_keeps_earlier_results():
    from skdiec import OutOfMemoryWarning
    from skdiec._torch_utils import map_batches

    seen = []

    def fn(start, stop):
        seen.append(stop - start)
        if stop - start > 3 and len(seen) > 1:  # the first batch of 8 fits
            raise torch.cuda.OutOfMemoryError("simulated")
        return list(range(start, stop))

    with pytest.warns(OutOfMemoryWarning) as record:
        parts, size = map_batches(fn, 20, 8, "a test")
    assert sum(parts, []) == list(range(20))
    assert seen[:4] == [8, 8, 4, 2] and size == 2
    assert [str(w.message) for w in record] == [
        "CUDA ran out of memory in a test on a batch of 8 images; retrying with batch size 4.",
        "CUDA ran out of memory in a test on a batch of 4 images; retrying with batch size 2.",
    ]


def test_map_batches_reraises_when_one_image_does_not_fit():
    from skdiec import OutOfMemoryWarning
    from skdiec._torch_utils import map_batches

    def fn(start, stop):
        raise torch.cuda.OutOfMemoryError("simulated")

    with pytest.warns(OutOfMemoryWarning, match="retrying with batch size 1"):
        with pytest.raises(torch.cuda.OutOfMemoryError, match="simulated"):
            map_batches(fn, 5, 4, "a test")


def test_map_batches_frees_the_failed_batch_before_retrying():
    import weakref

    from skdiec._torch_utils import map_batches

    activations = []

    def fn(start, stop):
        # What the failed attempt allocated must be gone: a retry that kept
        # the traceback alive would keep it in GPU memory.
        assert all(ref() is None for ref in activations)
        big = torch.zeros(stop - start, 1000)
        activations.append(weakref.ref(big))
        if stop - start > 2:
            raise torch.cuda.OutOfMemoryError("simulated")
        return stop - start

    with pytest.warns(Warning):
        parts, _ = map_batches(fn, 8, 8, "a test")
    assert sum(parts) == 8


def test_map_batches_restarts_accumulating_work():
    from skdiec import OutOfMemoryWarning
    from skdiec._torch_utils import map_batches

    total, discarded = [0], []

    def fn(start, stop):
        if start > 0 and stop - start > 2:  # the second batch of 4 does not fit
            raise torch.cuda.OutOfMemoryError("simulated")
        total[0] += stop - start  # an effect that adds up, like a gradient
        return stop - start

    def restart():
        discarded.append(total[0])
        total[0] = 0

    with pytest.warns(OutOfMemoryWarning, match="batch of 4 images; retrying with batch size 2"):
        parts, size = map_batches(fn, 10, 4, "a test", restart=restart)
    assert discarded == [4]  # the first batch was redone, not counted twice
    assert parts == [2] * 5 and total[0] == 10 and size == 2


@pytest.fixture(scope="module")
def small_unet():
    return _backbone.build_unet(1, (8, 8), (8, 16), layers_per_block=1, seed=0).eval()


@pytest.mark.parametrize("faults", ["limit", "first call"])
def test_feature_extraction_retries_and_gives_the_same_features(small_unet, monkeypatch,
                                                                faults):
    from skdiec import OutOfMemoryWarning

    sched = _backbone.make_scheduler()
    X = torch.randn(11, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    bank = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    args = (small_unet, sched, X, 50, ["mid", "up.1"], bank, "flatten", 64, "cpu")
    expected = _features.extract_features(*args)
    if faults == "limit":
        monkeypatch.setattr(_features, "cell_features",
                            memory_limit(_features.cell_features, 3))
    else:
        inject(monkeypatch, _features, "cell_features", 0, torch.cuda.OutOfMemoryError, 1)
    with pytest.warns(OutOfMemoryWarning, match="feature extraction on a batch of 11 images; "
                      "retrying with batch size 5"):
        got = _features.extract_features(*args)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-6)


def test_embedding_retries_and_gives_the_same_embedding(monkeypatch):
    from skdiec import OutOfMemoryWarning

    embedder, X = tiny_embedder()
    expected = embedder.embed(X, 64, "cpu")
    monkeypatch.setattr(_model, "cell_features", memory_limit(_model.cell_features, 7))
    with pytest.warns(OutOfMemoryWarning, match="embedding on a batch of 32 images"):
        got = embedder.embed(X, 64, "cpu")
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert not embedder.unet.training


def fail_training_calls(real, which):
    """``real`` that runs out of memory on its ``which``-th calls with grad enabled."""
    calls = []

    def fails(*args, **kwargs):
        if torch.is_grad_enabled():
            calls.append(1)
            if len(calls) in which:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(*args, **kwargs)
    return fails


# Training forwards 1 and 3 fail: the whole batch of 16, then the second
# half after the first half's gradient was accumulated, which must be
# discarded (not counted twice) when the step is redone in quarters.
TRAINING_FAULTS = {1, 3}


@pytest.mark.parametrize("where", ["forward", "backward"])
def test_split_backward_gives_the_gradient_of_one_pass(monkeypatch, where):
    from skdiec import OutOfMemoryWarning
    from skdiec._torch_utils import backward_in_batches, make_generator

    embedder, X = tiny_embedder()
    unet = embedder.unet.train()
    eps, t = _backbone.draw_noise((16, 1, 8, 8), embedder.scheduler, make_generator(0))
    optimizer = torch.optim.Adam(unet.parameters())

    def batch_loss(start, stop):
        return (_backbone.denoising_loss(unet, X[start:stop], embedder.scheduler,
                                         eps[start:stop], t[start:stop]),)

    def gradient(batch_size):
        (loss,), size = backward_in_batches(batch_loss, 16, batch_size, optimizer, "a step")
        return loss, size, [p.grad.clone() for p in unet.parameters()]

    loss, size, expected = gradient(16)
    assert size == 16
    if where == "forward":
        monkeypatch.setattr(_backbone, "denoising_loss",
                            fail_training_calls(_backbone.denoising_loss, TRAINING_FAULTS))
        batch_size = 16
    else:
        # conv_in's gradient comes last in the backward pass: when it fails,
        # every other weight already holds this batch's gradient, which the
        # retry must not count twice.
        backwards = []

        def hook(grad):
            backwards.append(1)
            if len(backwards) == 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
            return grad

        unet.conv_in.weight.register_hook(hook)
        batch_size = 8
    with pytest.warns(OutOfMemoryWarning, match="batch of 8 images; retrying with batch size 4"):
        split_loss, size, got = gradient(batch_size)
    assert size == 4
    torch.testing.assert_close(split_loss, loss)
    # Gradients agree to float rounding of the sums, relative to their scale
    # (some, like a bias followed by a GroupNorm, are rounding noise around 0).
    scale = max(g.abs().max() for g in expected)
    for g_got, g_expected in zip(got, expected):
        torch.testing.assert_close(g_got, g_expected, rtol=0, atol=1e-5 * scale)


def test_fine_tuning_accumulates_gradients_over_split_batches(monkeypatch):
    from skdiec import OutOfMemoryWarning

    embedder, X = tiny_embedder()
    copied = copy.deepcopy(embedder)
    _, centers, history = fine_tune_tiny(copied, X, max_iter=4)
    Z = copied.embed(X, 64, "cpu")
    monkeypatch.setattr(_model, "cell_features",
                        fail_training_calls(_model.cell_features, TRAINING_FAULTS))
    with pytest.warns(OutOfMemoryWarning) as record:
        _, got_centers, got_history = fine_tune_tiny(embedder, X, max_iter=4)
    got_Z = embedder.embed(X, 64, "cpu")
    assert [str(w.message).split(" on ")[1] for w in record] == [
        "a batch of 16 images; retrying with batch size 8.",
        "a batch of 8 images; retrying with batch size 4.",
    ]
    # Every step saw the same samples and noise and (up to rounding) the same
    # gradient, so the model computes the same embedding. The raw weights
    # are not compared: Adam blows rounding noise on weights whose gradient
    # is 0 in exact arithmetic up to steps of learning_rate, with no effect.
    torch.testing.assert_close(got_centers, centers, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got_Z, Z, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose([h["loss"] for h in got_history],
                               [h["loss"] for h in history], rtol=1e-4)


def test_pretraining_accumulates_gradients_over_split_batches(monkeypatch):
    from skdiec import OutOfMemoryWarning
    from skdiec._torch_utils import make_generator

    embedder, X = tiny_embedder()
    eps, t = _backbone.draw_noise(X.shape, embedder.scheduler, make_generator(9))

    def pretrain(unet):
        losses = _backbone.pretrain(unet, X, embedder.scheduler, epochs=2, batch_size=16,
                                    learning_rate=1e-3, generator=make_generator(3),
                                    device="cpu")
        with torch.no_grad():
            return losses, _backbone.denoising_loss(unet, X, embedder.scheduler, eps, t)

    expected = pretrain(copy.deepcopy(embedder.unet))
    monkeypatch.setattr(_backbone, "denoising_loss",
                        fail_training_calls(_backbone.denoising_loss, TRAINING_FAULTS))
    with pytest.warns(OutOfMemoryWarning, match="pretraining on a batch of 8 images"):
        got = pretrain(embedder.unet)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5)
    torch.testing.assert_close(got[1], expected[1], rtol=1e-4, atol=0)


def limit_memory(monkeypatch, max_images):
    """Every forward pass of fit and predict runs out of memory above ``max_images``."""
    for owner, name in [(_features, "cell_features"), (_model, "cell_features"),
                        (_backbone, "denoising_loss"), (_dec, "denoising_loss")]:
        monkeypatch.setattr(owner, name, memory_limit(getattr(owner, name), max_images))


def test_fit_and_predict_under_a_memory_limit_match_the_unlimited_run(
    fitted, digits, monkeypatch
):
    from skdiec import OutOfMemoryWarning

    X, _ = digits
    # Ward's start is exactly reproducible, so the split batches must give
    # the unsplit fit up to float rounding.
    ward = DiEC(n_clusters=3, random_state=0, init="ward", **FAST).fit(X)
    limit_memory(monkeypatch, 8)
    with pytest.warns(OutOfMemoryWarning) as record:
        est = DiEC(n_clusters=3, random_state=0, init="ward", **FAST).fit(X)
    phases = {str(w.message).split(" in ")[1].split(" on ")[0] for w in record}
    assert phases == {"pretraining", "feature extraction", "embedding", "DEC fine-tuning"}
    np.testing.assert_array_equal(est.labels_, ward.labels_)
    assert (est.col_, est.cot_) == (ward.col_, ward.cot_)
    np.testing.assert_allclose(est.search_scores_, ward.search_scores_, rtol=1e-3)
    np.testing.assert_allclose(est.cluster_centers_, ward.cluster_centers_, rtol=1e-3,
                               atol=1e-3)
    # UMAP's layout is chaotic in float rounding: the default start may move
    # a boundary sample or two, not the partition.
    with pytest.warns(OutOfMemoryWarning):
        umap = DiEC(n_clusters=3, random_state=0, **FAST).fit(X)
    assert (umap.init_labels_ == fitted.init_labels_).mean() >= 0.95
    assert (umap.labels_ == fitted.labels_).mean() >= 0.95
    with pytest.warns(OutOfMemoryWarning, match="embedding on a batch of 32 images"):
        proba = fitted.predict_proba(X)
    monkeypatch.undo()
    np.testing.assert_allclose(proba, fitted.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_fit_that_runs_out_of_memory_on_one_image_raises_and_stays_unfitted(
    digits, monkeypatch
):
    X, _ = digits
    est = DiEC(n_clusters=3, random_state=0, **TINY)
    limit_memory(monkeypatch, 0)
    with pytest.warns(Warning, match="retrying with batch size 1"):
        with pytest.raises(torch.cuda.OutOfMemoryError):
            est.fit(X[:30])
    with pytest.raises(NotFittedError):
        est.predict(X[:5])
