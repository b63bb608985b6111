"""Fit options beyond the defaults, each checked for what it changes."""

import numpy as np
import pytest

from skdiec import DiEC

from .conftest import FAST


def test_dec_target_trains_otherwise_than_the_held_one(fitted, digits):
    X, _ = digits
    held = DiEC(n_clusters=3, random_state=0, **dict(FAST, tol=0.0)).fit(X)
    dec = DiEC(n_clusters=3, random_state=0, fine_tune_target="dec",
               **dict(FAST, tol=0.0)).fit(X)
    # The same backbone, search and start; then another target.
    np.testing.assert_array_equal(dec.init_labels_, held.init_labels_)
    assert dec.n_iter_ == held.n_iter_ == FAST["max_iter"]
    assert not np.allclose(dec.cluster_centers_, held.cluster_centers_)
    # DEC's target is refreshed every update_interval steps, each a check.
    assert len(dec.fine_tune_history_) == FAST["max_iter"] // FAST["update_interval"]
    np.testing.assert_array_equal(dec.predict(X), dec.labels_)


def test_kmeans_start_is_its_own_nearest_centre_partition(digits):
    X, _ = digits
    est = DiEC(n_clusters=3, random_state=0, init="kmeans", **dict(FAST, max_iter=0)).fit(X)
    # k-means ends where every sample is nearest its own centroid: without
    # fine-tuning, the soft assignment to those centroids keeps the start.
    np.testing.assert_array_equal(est.labels_, est.init_labels_)
    Z = est.transform(X)
    centroids = np.stack([Z[est.init_labels_ == k].mean(axis=0) for k in range(3)])
    np.testing.assert_allclose(est.cluster_centers_, centroids, rtol=1e-5, atol=1e-5)


def test_a_callable_search_score_chooses_the_cell(digits):
    X, _ = digits
    calls = []

    def first_is_best(Z, n_clusters, random_state):
        calls.append(Z.shape)
        return -float(len(calls))  # every later cell scores lower

    est = DiEC(n_clusters=3, random_state=0, search_score=first_is_best, **FAST).fit(X)
    # Cells are scored timestep by timestep, every layer at each: the first
    # layer has the best mean, and its first coarse timestep is COT.
    assert (est.col_, est.cot_) == (est.search_layers_[0], min(FAST["timesteps"]))
    assert len(calls) == np.isfinite(est.search_scores_).sum()
    assert all(shape[1] <= FAST["n_components"] for shape in calls)


def test_consensus_search_score_fits_and_scores_every_cell(digits):
    X, _ = digits
    est = DiEC(n_clusters=3, random_state=0, search_score="consensus", **FAST).fit(X)
    scored = est.search_scores_[np.isfinite(est.search_scores_)]
    # Every layer on the coarse grid, COL alone on the refined timesteps.
    n_coarse = len(FAST["timesteps"])
    assert scored.size == (len(est.search_layers_) * n_coarse
                           + len(est.search_timesteps_) - n_coarse)
    assert ((0 <= scored) & (scored <= 1)).all()
    i = est.search_layers_.index(est.col_)
    assert est.search_scores_[i, list(est.search_timesteps_).index(est.cot_)] == np.nanmax(
        est.search_scores_[i])
    np.testing.assert_array_equal(est.predict(X), est.labels_)


def test_auto_search_score_is_the_fit_of_the_score_it_chose(digits, tmp_path):
    from skdiec import _search

    X, _ = digits
    auto = DiEC(n_clusters=3, random_state=0, search_score="auto", **FAST).fit(X)
    assert 0 < auto.search_agreement_ <= 1
    assert auto.search_score_ == _search.resolve_score("auto", auto.search_agreement_)
    named = DiEC(n_clusters=3, random_state=0, search_score=auto.search_score_, **FAST).fit(X)
    assert named.search_score_ == auto.search_score_
    assert named.search_agreement_ == auto.search_agreement_
    np.testing.assert_array_equal(named.search_scores_, auto.search_scores_)
    np.testing.assert_array_equal(named.labels_, auto.labels_)
    loaded = DiEC.load(auto.save(tmp_path / "auto"))
    assert (loaded.search_score_, loaded.search_agreement_) == (auto.search_score_,
                                                                auto.search_agreement_)


@pytest.mark.parametrize("tol, steps", [(1.0, 2), (0.0, 8)], ids=["stops", "runs on"])
def test_fine_tuning_stops_once_fewer_labels_change_than_tol(digits, tol, steps):
    X, _ = digits
    est = DiEC(n_clusters=3, random_state=0, **dict(FAST, max_iter=8, tol=tol)).fit(X)
    # With tol=1 the first check after update_interval steps (fewer than all
    # labels changed) stops; with tol=0 none does.
    assert est.n_iter_ == steps
