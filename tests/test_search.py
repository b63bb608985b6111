import numpy as np
import pytest
from sklearn.datasets import make_blobs

from skdiec import _backbone, _search

LAYERS = ["down.0", "mid", "up.0"]


def fake_features(best_layer, best_t):
    """Features whose clusterability peaks at (best_layer, best_t) and falls
    off with the distance in timestep; every other layer is pure noise."""
    centers = np.random.RandomState(0).normal(size=(4, 6)) * 6

    def extract(unet, scheduler, X, t, names, noise_bank, pooling, batch_size, device):
        out = {}
        for name in names:
            rng = np.random.RandomState(hash((name, t)) % 2**31)
            n = X.shape[0]
            if name == best_layer:
                spread = 1.0 + abs(t - best_t) / 40.0
                y = np.arange(n) % 4
                out[name] = centers[y] + rng.normal(scale=spread, size=(n, 6))
            else:
                out[name] = rng.normal(size=(n, 6))
        return out

    return extract


def search_fake_grid(score, n_refine):
    """The search over LAYERS x (10, 100, 200, 400) of 200 samples in 4
    clusters, on whatever features ``extract_features`` is patched to give."""
    return _search.search(
        None, _backbone.make_scheduler(), np.zeros((200, 1)), layers=LAYERS,
        timesteps=[10, 100, 200, 400], n_refine=n_refine, n_clusters=4, score=score,
        n_components=6, noise_bank=None, pooling="avg", batch_size=64, device="cpu",
        random_state=0,
    )


def test_search_finds_the_known_best_cell(monkeypatch):
    calls = []
    real = fake_features("mid", 130)

    def spy(unet, scheduler, X, t, names, *args):
        calls.append((t, tuple(names)))
        return real(unet, scheduler, X, t, names, *args)

    monkeypatch.setattr(_search, "extract_features", spy)
    result = search_fake_grid("silhouette", n_refine=5)
    assert result.col == "mid"
    # Refinement ran between the neighbours of the best coarse step (100),
    # on COL alone, and found a step closer to 130 than the coarse grid had.
    assert abs(result.cot - 130) < 30
    coarse_calls = [c for c in calls if len(c[1]) == 3]
    fine_calls = [c for c in calls if len(c[1]) == 1]
    assert [c[0] for c in coarse_calls] == [10, 100, 200, 400]
    assert fine_calls and all(c[1] == ("mid",) and 10 < c[0] < 200 for c in fine_calls)
    # The table: every layer on the coarse grid, only COL elsewhere.
    assert result.scores.shape == (3, result.timesteps.size)
    for j, t in enumerate(result.timesteps):
        evaluated = ~np.isnan(result.scores[:, j])
        if t in (10, 100, 200, 400):
            assert evaluated.all()
        else:
            assert evaluated.tolist() == [False, True, False]
    assert result.n_evaluated == 3 * 4 + len(fine_calls)


def test_refine_timesteps_between_neighbours():
    # Evenly spaced grids put a point on the best timestep itself: the grid
    # is made finer until n_refine new timesteps come (1 and 3 used to give
    # none and two).
    assert _search.refine_timesteps([0, 100, 200], 100, 1, 1000) == [67, 133]
    assert _search.refine_timesteps([0, 100, 200], 100, 3, 1000) == [40, 80, 120, 160]
    assert _search.refine_timesteps([0, 100, 200], 100, 4, 1000) == [40, 80, 120, 160]
    # No more than the interval holds.
    assert _search.refine_timesteps([10, 12, 14], 12, 5, 1000) == [11, 13]
    # The default grid is refined as before.
    assert _search.refine_timesteps([1, 25, 50, 100, 200], 50, 4, 300) == [40, 55, 70, 85]
    fine = _search.refine_timesteps([10, 50], 50, 4, 1000)
    assert min(fine) > 10 and max(fine) < 999 and 50 not in fine


@pytest.mark.parametrize("score", list(_search.SCORERS))
def test_clusterability_ranks_separated_data_higher(score):
    X_good, _ = make_blobs(300, n_features=8, centers=4, cluster_std=0.5, random_state=0)
    X_bad = np.random.RandomState(0).normal(size=(300, 8))
    good = _search.clusterability(X_good, 4, score, 5, 0)[0]
    bad = _search.clusterability(X_bad, 4, score, 5, 0)[0]
    assert good > bad


def test_constant_features_score_worst():
    assert _search.clusterability(np.ones((50, 4)), 3, "silhouette", 3, 0)[0] == -np.inf


def test_callable_score_gets_the_projected_features_named_scores_see():
    seen = {}

    def score(Z, n_clusters, random_state):
        seen["Z"] = Z
        return 1.5

    F = np.random.RandomState(0).normal(size=(10, 7))
    value, projection = _search.clusterability(F, 2, score, 3, 0)
    assert value == 1.5
    np.testing.assert_allclose(seen["Z"], _search.project(F, 3, 0))
    np.testing.assert_allclose(seen["Z"], (F - projection.mean) @ projection.components.T)


def test_size_entropy_by_hand():
    # Sizes 2, 1, 1: p = (1/2, 1/4, 1/4), H = 1.5 log 2, normalised by log 3.
    expected = 1.5 * np.log(2) / np.log(3)
    got = _search.SCORERS["size_entropy"](None, np.array([5, 5, 7, 9]), 0)
    assert got == pytest.approx(expected)
    assert _search.SCORERS["size_entropy"](None, np.repeat([0, 1, 2], 4), 0) == pytest.approx(1.0)


def test_size_entropy_prefers_the_cell_that_keeps_classes_apart():
    # Four equal classes. In the "blurred" cell classes 0 and 1 coincide while
    # class 3 has two far-apart modes: a partition into 4 must merge 0+1 and
    # split 3, which the silhouette rates as tight but the sizes give away.
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(4), 100)
    centers = rng.normal(size=(4, 6)) * 8
    sharp = centers[y] + rng.normal(size=(400, 6))
    blurred_centers = centers.copy()
    blurred_centers[1] = blurred_centers[0]
    blurred = blurred_centers[y] + rng.normal(size=(400, 6))
    blurred[y == 3] += np.where(np.arange(100) % 2, 12.0, -12.0)[:, None]
    sharp_score = _search.clusterability(sharp, 4, "size_entropy", 6, 0)[0]
    blurred_score = _search.clusterability(blurred, 4, "size_entropy", 6, 0)[0]
    assert sharp_score > 0.99 > blurred_score


def test_modularity_by_hand():
    # Two groups of 4 points far apart. The graph joins each point to its 3
    # nearest (8 samples in 2 clusters: the cap is max(3, 8 // 4) = 3), all
    # in its own group, so the split keeps every edge inside and scores
    # 1 - 2 * (1/2)^2 = 1/2; a partition across the groups scores lower.
    Z = np.concatenate([np.arange(4.0), 100 + np.arange(4.0)])[:, None]
    split = np.repeat([0, 1], 4)
    assert _search.SCORERS["modularity"](Z, split, 0) == pytest.approx(0.5)
    across = np.tile([0, 1], 4)
    assert _search.SCORERS["modularity"](Z, across, 0) < 0.5


def test_modularity_does_not_punish_unequal_clusters():
    # Long-tailed classes (10:1), well apart in the "sharp" cell; in the
    # "blurred" cell the two largest coincide. The size entropy prefers the
    # blurred cell, whose forced partition happens to be more even; the
    # modularity does not.
    rng = np.random.RandomState(0)
    sizes = [200, 100, 50, 20]
    y = np.repeat(np.arange(4), sizes)
    centers = rng.normal(size=(4, 6)) * 8
    sharp = centers[y] + rng.normal(size=(len(y), 6))
    blurred_centers = centers.copy()
    blurred_centers[1] = blurred_centers[0]
    blurred = blurred_centers[y] + rng.normal(size=(len(y), 6))

    def score(F, name):
        return _search.clusterability(F, 4, name, 6, 0)[0]

    assert score(sharp, "modularity") > score(blurred, "modularity")
    assert score(sharp, "size_entropy") < score(blurred, "size_entropy")


@pytest.mark.parametrize("requested, n_samples, n_clusters, expected", [
    ("auto", 9298, 10, 2000),   # 200 per cluster
    ("auto", 9298, 3, 1000),    # at least 1,000
    ("auto", 9298, 40, 2000),   # at most 2,000
    ("auto", 1797, 10, 1797),   # never more than the data
    (300, 9298, 10, 300),       # an int is taken as it is
    (300, 120, 10, 120),
])
def test_subset_size(requested, n_samples, n_clusters, expected):
    assert _search.subset_size(requested, n_samples, n_clusters) == expected


def test_consensus_finds_the_layer_whose_cells_agree(monkeypatch):
    # Only "mid" sees the classes; the other layers' partitions are noise,
    # which agrees with nothing, so mid's cells agree most with the grid.
    monkeypatch.setattr(_search, "extract_features", fake_features("mid", 130))
    result = search_fake_grid("consensus", n_refine=3)
    assert result.col == "mid"
    assert np.nanmin(result.scores[1]) > np.nanmax(result.scores[[0, 2]])
    assert ((0 <= result.scores[~np.isnan(result.scores)])
            & (result.scores[~np.isnan(result.scores)] <= 1)).all()
    # COL/COT's projection is that of its own features, whether COT is a
    # coarse cell (fitted again at the end) or a refined one.
    F = fake_features("mid", 130)(None, None, np.zeros((200, 1)), result.cot, ["mid"],
                                  None, "avg", 64, "cpu")["mid"]
    projection = _search.fit_projection(F, 6, 0)[1]
    np.testing.assert_allclose(result.projection_mean, projection.mean)
    np.testing.assert_allclose(np.abs(result.projection_components),
                               np.abs(projection.components), atol=1e-8)


def test_consensus_is_mean_nmi_with_the_pool():
    a = np.repeat([0, 1, 2], 10)
    relabelled = (a + 1) % 3
    other = np.tile([0, 1, 2], 10)
    assert _search.consensus(a, [relabelled]) == pytest.approx(1.0)
    assert _search.consensus(a, [relabelled, other]) == pytest.approx(0.5, abs=0.02)
    assert _search.consensus(None, [a]) == -np.inf
    assert _search.consensus(a, []) == -np.inf


def test_consensus_of_each_is_consensus_against_the_others():
    rng = np.random.RandomState(0)
    partitions = {("a", 1): np.repeat([0, 1, 2], 10), ("a", 2): rng.randint(3, size=30),
                  ("b", 1): np.tile([0, 1, 2], 10), ("b", 2): None}
    got = _search.consensus_of_each(partitions)
    for cell, labels in partitions.items():
        pool = [v for c, v in partitions.items() if c != cell and v is not None]
        assert got[cell] == pytest.approx(_search.consensus(labels, pool), abs=1e-12)
    assert got[("b", 2)] == -np.inf
    assert _search.consensus_of_each({("a", 1): np.arange(4) % 2}) == {("a", 1): -np.inf}


def test_agreement_is_mean_ami_over_pairs():
    a = np.repeat([0, 1, 2], 20)
    relabelled = (a + 1) % 3
    assert _search.agreement({1: a, 2: relabelled, 3: None}) == pytest.approx(1.0)
    rng = np.random.RandomState(0)
    unrelated = {i: rng.randint(3, size=60) for i in range(6)}
    assert abs(_search.agreement(unrelated)) < 0.05
    assert np.isnan(_search.agreement({1: a, 2: None}))


@pytest.mark.parametrize("value, expected", [(0.95, "consensus"), (0.7, "consensus"),
                                             (0.69, "size_entropy"), (0.4, "size_entropy"),
                                             (0.39, "modularity"), (-0.1, "modularity"),
                                             (float("nan"), "size_entropy")])
def test_auto_score_follows_the_cells_agreement(value, expected):
    assert _search.resolve_score("auto", value) == expected
    assert _search.resolve_score("silhouette", value) == "silhouette"


def fake_views(regime):
    """Four classes of 200 samples. "down.0" sees them at every timestep.
    Where the cells ``"agree"``, "mid" and "up.0" see them too, less
    sharply; where they agree ``"partly"``, "mid" does and "up.0" only at
    t = 10; where they ``"hardly"`` agree, neither does. A cell that does not
    see the classes splits the samples along a nuisance of its own (a random
    partition per cell)."""
    centers = np.random.RandomState(0).normal(size=(4, 6)) * 6
    seen = {"agree": lambda name, t: True,
            "partly": lambda name, t: name != "up.0" or t == 10,
            "hardly": lambda name, t: name == "down.0"}[regime]

    def extract(unet, scheduler, X, t, names, noise_bank, pooling, batch_size, device):
        out = {}
        n = X.shape[0]
        for name in names:
            rng = np.random.RandomState((LAYERS.index(name) * 1000 + int(t)) % 2**31)
            if seen(name, t):
                y, spread = np.arange(n) % 4, 1.0 if name == "down.0" else 2.0
            else:
                y, spread = rng.randint(4, size=n), 0.5
            out[name] = centers[y] + rng.normal(scale=spread, size=(n, 6))
        return out

    return extract


@pytest.mark.parametrize("regime, expected", [("agree", "consensus"),
                                              ("partly", "size_entropy"),
                                              ("hardly", "modularity")])
def test_auto_search_ranks_by_the_score_the_agreement_chooses(monkeypatch, regime, expected):
    monkeypatch.setattr(_search, "extract_features", fake_views(regime))
    auto = search_fake_grid("auto", n_refine=2)
    assert _search.resolve_score("auto", auto.agreement) == expected
    assert auto.score == expected
    chosen = search_fake_grid(expected, n_refine=2)
    # The same search as with the chosen score named, cell for cell.
    assert (auto.col, auto.cot) == (chosen.col, chosen.cot)
    np.testing.assert_array_equal(auto.timesteps, chosen.timesteps)
    np.testing.assert_allclose(auto.scores, chosen.scores)
    np.testing.assert_allclose(auto.projection_mean, chosen.projection_mean)
    np.testing.assert_allclose(auto.projection_components, chosen.projection_components)
    assert chosen.agreement == pytest.approx(auto.agreement)
    assert auto.col == "down.0"  # the layer that sees the classes at every timestep
