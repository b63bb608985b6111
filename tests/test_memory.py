"""The backbone as a step of its own: pretrain_unet, per-phase seeds and the
``memory`` cache of pretrained U-Nets."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch

from skdiec import CacheWarning, DiEC, pretrain_unet

from .conftest import FAST

# FAST's pretraining settings, as pretrain_unet names them.
PRETRAIN = dict(unet_channels=FAST["unet_channels"], epochs=FAST["pretrain_epochs"],
                device="cpu")
LATER = {k: v for k, v in FAST.items() if k not in ("unet_channels", "pretrain_epochs")}


def _entries(location, function="_pretrain_entry"):
    """The cache's entries for ``function`` (pretrained U-Nets by default)."""
    return sorted(location.glob(f"joblib/**/{function}/*/output.pkl"))


def _same_fit(a, b):
    assert a.col_ == b.col_ and a.cot_ == b.cot_
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.init_labels_, b.init_labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(a.search_scores_, b.search_scores_)
    sa, sb = a.unet_.state_dict(), b.unet_.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_pretrain_unet_gives_the_backbone_a_fit_pretrains(digits, fitted):
    # The estimator's own fit (conftest's `fitted`, random_state=0) against a
    # fit given the U-Net pretrain_unet trained with the same seed: every
    # later phase repeats, bit for bit, on the CPU.
    X, _ = digits
    unet = pretrain_unet(X, random_state=0, **PRETRAIN)
    assert not unet.training
    given = DiEC(n_clusters=3, unet=unet, random_state=0, **LATER).fit(X)
    assert given.pretrain_loss_ == []  # nothing was pretrained in this fit
    _same_fit(given, fitted)


def test_phases_have_their_own_seeds(digits):
    # Changing the amount of pretraining changes the backbone only: the noise
    # bank, drawn from its own seed, stays the same.
    X, _ = digits
    one = DiEC(n_clusters=3, random_state=0, **FAST).fit(X)
    two = DiEC(n_clusters=3, random_state=0, **dict(FAST, pretrain_epochs=2)).fit(X)
    assert torch.equal(one._model.noise_bank, two._model.noise_bank)
    assert not torch.equal(one.unet_.conv_in.weight, two.unet_.conv_in.weight)


def test_random_state_instance_and_global_rng(digits):
    X, _ = digits
    before = np.random.get_state()[1].copy(), torch.random.get_rng_state().clone()
    DiEC(n_clusters=3, random_state=np.random.RandomState(0), **FAST).fit(X)
    assert np.array_equal(np.random.get_state()[1], before[0])
    assert torch.equal(torch.random.get_rng_state(), before[1])


def test_memory_hit_repeats_the_fit_and_skips_pretraining(digits, fitted, tmp_path):
    X, _ = digits
    first = DiEC(n_clusters=3, random_state=0, memory=tmp_path, **FAST).fit(X)
    assert len(_entries(tmp_path)) == 1
    second = DiEC(n_clusters=3, random_state=0, memory=str(tmp_path), **FAST).fit(X)
    assert len(_entries(tmp_path)) == 1  # read, not written again
    _same_fit(first, fitted)
    _same_fit(second, fitted)
    assert second.pretrain_loss_ == first.pretrain_loss_
    # A joblib.Memory works as its folder does, and so does pretrain_unet.
    third = DiEC(n_clusters=3, random_state=0, memory=joblib.Memory(tmp_path, verbose=0),
                 **FAST).fit(X)
    _same_fit(third, fitted)
    unet = pretrain_unet(X, random_state=0, memory=tmp_path, **PRETRAIN)
    assert len(_entries(tmp_path)) == 1
    given = DiEC(n_clusters=3, unet=unet, random_state=0, **LATER).fit(X)
    _same_fit(given, fitted)


def test_later_stage_parameters_share_the_backbone_and_the_start(digits, fitted, tmp_path):
    X, _ = digits
    fits = [DiEC(**dict(dict(FAST, n_clusters=3, random_state=0, memory=tmp_path), **params)).fit(X)
            for params in ({}, {"alpha": 0.5}, {"max_iter": 2}, {"learning_rate": 1e-4},
                           {"denoising_weight": 0.0}, {"train_batch_size": 16}, {"n_jobs": 2})]
    assert len(_entries(tmp_path)) == 1
    # Fine-tuning's parameters do not change the search or the start, nor
    # does n_jobs: one entry.
    assert len(_entries(tmp_path, "_start_entry")) == 1
    _same_fit(fits[0], fitted)
    for est in fits[1:]:
        assert (est.col_, est.cot_) == (fitted.col_, fitted.cot_)
        np.testing.assert_array_equal(est.init_labels_, fitted.init_labels_)
        assert est.timings_["init"] < fits[0].timings_["init"]
    # The search depends on n_clusters and on its own parameters: new starts.
    DiEC(**dict(FAST, n_clusters=2, random_state=0, memory=tmp_path)).fit(X)
    DiEC(**dict(FAST, n_clusters=3, random_state=0, memory=tmp_path, n_components=3)).fit(X)
    assert len(_entries(tmp_path)) == 1
    assert len(_entries(tmp_path, "_start_entry")) == 3


def test_a_changed_start_rule_is_not_answered_from_memory(digits, tmp_path, monkeypatch):
    # A development checkout changes the start's code without a new version:
    # the search and start are computed again, on the cached U-Net.
    from skdiec import _backbone

    X, _ = digits
    params = dict(FAST, n_clusters=3, random_state=0, memory=tmp_path)
    DiEC(**params).fit(X)
    real = _backbone.source_sha256
    monkeypatch.setattr(_backbone, "source_sha256",
                        lambda *modules: real(*modules) + "-changed")
    DiEC(**params).fit(X)
    assert len(_entries(tmp_path)) == 1 and len(_entries(tmp_path, "_start_entry")) == 2


@pytest.mark.parametrize("change", [
    "image", "pretrain_epochs", "pretrain_learning_rate", "pretrain_max_timestep",
    "pretrain_batch_size", "unet_channels", "random_state", "version",
])
def test_memory_misses_when_what_it_depends_on_changes(digits, tmp_path, monkeypatch, change):
    X, _ = digits
    params = dict(FAST, n_clusters=3, random_state=0, memory=tmp_path)
    first = DiEC(**params).fit(X)
    if change == "image":
        X = X.copy()
        X[5, 3, 3] += 1.0
    elif change == "version":
        import skdiec

        monkeypatch.setattr(skdiec, "__version__", skdiec.__version__ + ".post1")
    else:
        params[change] = {"pretrain_epochs": 2, "pretrain_learning_rate": 1e-3,
                          "pretrain_max_timestep": 200, "pretrain_batch_size": 16,
                          "unet_channels": (8, 8), "random_state": 1}[change]
    second = DiEC(**params).fit(X)
    assert len(_entries(tmp_path)) == 2  # pretrained again, into an entry of its own
    if change != "version":  # the same code pretrains the same U-Net under any version
        assert second.pretrain_loss_ != first.pretrain_loss_


def test_a_given_unet_is_keyed_on_its_weights(digits, tmp_path):
    X, _ = digits
    base = pretrain_unet(X, random_state=0, **PRETRAIN)
    params = dict(LATER, n_clusters=3, random_state=0, pretrain_epochs=1, memory=tmp_path)
    DiEC(unet=base, **params).fit(X)
    DiEC(unet=base, **params).fit(X)
    assert len(_entries(tmp_path)) == 1
    with torch.no_grad():
        base.conv_in.weight[0, 0, 0, 0] += 0.1
    DiEC(unet=base, **params).fit(X)
    assert len(_entries(tmp_path)) == 2


def _corrupt_weights(path):
    entry = joblib.load(path)
    name = sorted(entry["state"])[0]
    entry["state"][name] = entry["state"][name] + 1.0
    joblib.dump(entry, path)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_start(path):
    entry = joblib.load(path)
    entry["start"].centers = entry["start"].centers + 1.0
    joblib.dump(entry, path)


@pytest.mark.parametrize("function, damage", [
    ("_pretrain_entry", _corrupt_weights), ("_pretrain_entry", _truncate),
    ("_start_entry", _corrupt_start), ("_start_entry", _truncate),
])
def test_a_damaged_entry_is_detected_and_rebuilt(digits, fitted, tmp_path, function, damage):
    X, _ = digits
    params = dict(FAST, n_clusters=3, random_state=0, memory=tmp_path)
    DiEC(**params).fit(X)
    (entry,) = _entries(tmp_path, function)
    damage(entry)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rebuilt = DiEC(**params).fit(X)
    _same_fit(rebuilt, fitted)
    if damage is not _truncate:
        assert any(issubclass(w.category, CacheWarning) and "SHA-256" in str(w.message)
                   for w in caught)
    # The entry was replaced by a good one: the next fit reads it silently.
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        again = DiEC(**params).fit(X)
    _same_fit(again, fitted)


def test_memory_in_params_clone_and_pickle(digits, tmp_path):
    from sklearn.base import clone

    X, _ = digits
    est = DiEC(n_clusters=3, random_state=0, memory=joblib.Memory(tmp_path, verbose=0),
               **FAST).fit(X)
    assert clone(est).memory.location == est.memory.location
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict(X), est.predict(X))
    saved = est.save(tmp_path / "model")
    assert DiEC.load(saved).memory == str(tmp_path)


def test_bad_memory_is_refused(digits, tmp_path):
    X, _ = digits
    with pytest.raises(ValueError, match="memory"):
        DiEC(n_clusters=3, memory=3, **FAST).fit(X)
    # A file where the cache's folder should be: named, before any pretraining
    # (joblib's own error named its sub-folder, at its first write).
    (tmp_path / "notes.txt").write_text("not a cache")
    with pytest.raises(ValueError, match=r"memory=.*notes\.txt' is a file, not a folder"):
        DiEC(n_clusters=3, memory=tmp_path / "notes.txt", **FAST).fit(X)
    with pytest.raises(ValueError, match="epochs"):
        pretrain_unet(X, epochs=-1)
    with pytest.raises(ValueError, match="unet_channels"):
        pretrain_unet(X, unet_channels=(8, 0))


def test_score_measures_a_bounded_subset(monkeypatch):
    # score() embeds every row (linear in n) but the silhouette, quadratic in
    # its rows, sees at most SCORE_SAMPLE_SIZE of them.
    from sklearn.datasets import load_digits

    from skdiec import _estimator

    data = load_digits(n_class=3)
    est = DiEC(n_clusters=3, random_state=0, **FAST).fit(data.images[:120])
    X_big = np.repeat(data.images[:500], 6, axis=0)  # 3,000 rows
    seen = []
    real = _estimator.silhouette_score

    def spy(Z, labels, **kwargs):
        seen.append(Z.shape[0])
        return real(Z, labels, **kwargs)

    monkeypatch.setattr(_estimator, "silhouette_score", spy)
    first = est.score(X_big)
    assert seen == [_estimator.SCORE_SAMPLE_SIZE] and -1 <= first <= 1
    assert est.score(X_big) == first  # the same subset every time
    # Below the bound, it is the silhouette of all rows.
    X_small = data.images[:200]
    Z = est.transform(X_small)
    assert est.score(X_small) == pytest.approx(real(Z, est.predict(X_small)))
    assert seen[-1] == 200
