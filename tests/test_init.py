import inspect
import os
import sys

import numpy as np
import pytest
import scipy.sparse.linalg
import torch
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_info

from skdiec import _dec, _graph, _init, _model
from skdiec._torch_utils import make_generator

from .conftest import tiny_embedder


def two_rings(n, seed):
    """Two concentric rings: no partition by distance to two centroids
    separates them, the nearest-neighbour manifold does."""
    rng = np.random.RandomState(seed)
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = np.where(np.arange(n) % 2 == 0, 1.0, 3.0)
    X = np.c_[radius * np.cos(angle), radius * np.sin(angle)] + 0.05 * rng.randn(n, 2)
    return X, np.arange(n) % 2


@pytest.mark.parametrize("method", _init.METHODS)
def test_separated_blobs_are_found_by_every_method(method):
    X, y = make_blobs(300, centers=4, cluster_std=0.5, random_state=0)
    labels, centers = _init.initial_partition(X, 4, method, np.random.RandomState(0))
    assert labels.shape == (300,) and centers.shape == (4, 2)
    assert adjusted_rand_score(y, labels) > 0.99


def test_umap_follows_the_manifold_where_centroids_cannot():
    X, y = two_rings(600, 0)
    umap_labels, _ = _init.initial_partition(X, 2, "umap", np.random.RandomState(0))
    kmeans_labels, _ = _init.initial_partition(X, 2, "kmeans", np.random.RandomState(0))
    assert adjusted_rand_score(y, umap_labels) > 0.95
    assert adjusted_rand_score(y, kmeans_labels) < 0.1
    moons, y_moons = make_moons(400, noise=0.05, random_state=0)
    labels, _ = _init.initial_partition(moons, 2, "umap", np.random.RandomState(0))
    assert adjusted_rand_score(y_moons, labels) > 0.95


@pytest.mark.parametrize("method", _init.METHODS)
def test_centres_are_the_centroids_of_the_labels(method):
    X, _ = make_blobs(200, centers=3, random_state=1)
    labels, centers = _init.initial_partition(X, 3, method, np.random.RandomState(0))
    if method != "ward":  # Ward's centres are those of its subset (all rows here)
        expected = np.stack([X[labels == k].mean(axis=0) for k in range(3)])
        np.testing.assert_allclose(centers, expected)
    assert np.unique(labels).size == 3


def test_umap_partition_is_deterministic_and_leaves_global_rng_alone():
    X, _ = make_blobs(200, centers=3, random_state=2)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a, _ = _init.initial_partition(X, 3, "umap", np.random.RandomState(5))
    b, _ = _init.initial_partition(X, 3, "umap", np.random.RandomState(5))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


@pytest.mark.skipif("rng" not in inspect.signature(scipy.sparse.linalg.eigsh).parameters,
                    reason="this SciPy's eigsh draws from a state of its own, which no "
                    "seed reaches")
def test_umap_partition_of_many_identical_rows_is_deterministic():
    # Two distinct rows, 32 and 33 times, in 10 clusters: ARPACK needs new
    # start vectors in UMAP's spectral start, which SciPy drew from the
    # operating system's entropy: three runs with one seed gave three starts.
    rng = np.random.RandomState(0)
    Z = np.repeat(rng.rand(2, 4), [32, 33], axis=0)
    runs = [_init.initial_partition(Z, 10, "umap", np.random.RandomState(5))[0]
            for _ in range(3)]
    for labels in runs[1:]:
        np.testing.assert_array_equal(labels, runs[0])


@pytest.mark.parametrize("n, k", [(2, 1), (2, 2), (3, 3), (5, 3), (12, 3), (30, 3)])
def test_umap_partition_of_tiny_data(n, k):
    X = np.random.RandomState(0).randn(n, 4)
    labels, centers = _init.initial_partition(X, k, "umap", np.random.RandomState(0))
    assert labels.shape == (n,) and centers.shape == (k, 4) and np.isfinite(centers).all()
    assert set(labels) <= set(range(k))


def test_modularity_of_two_disjoint_triangles():
    # Each triangle holds half of the 6 edges and half of the degree:
    # Q = 2 * (3/6 - (6/12)**2) = 0.5 when split by triangle.
    indices = np.array([[1, 2], [0, 2], [0, 1], [4, 5], [3, 5], [3, 4]])
    A = _graph.knn_graph(indices)
    assert A.nnz == 12 and A.diagonal().sum() == 0
    assert _graph.modularity(A, np.array([0, 0, 0, 1, 1, 1])) == pytest.approx(0.5)
    assert _graph.modularity(A, np.zeros(6, dtype=int)) == pytest.approx(0.0)
    assert _graph.modularity(A, np.array([0, 1, 0, 1, 0, 1])) < 0


def test_modularity_matches_networkx():
    nx = pytest.importorskip("networkx")
    X, _ = make_blobs(120, centers=3, random_state=0)
    idx = _graph.nearest(X, 8)[1]
    A = _graph.knn_graph(idx[:, 1:])
    labels = np.random.RandomState(0).randint(0, 3, 120)
    G = nx.from_scipy_sparse_array(A)
    expected = nx.community.modularity(G, [set(np.flatnonzero(labels == k)) for k in range(3)])
    assert _graph.modularity(A, labels) == pytest.approx(expected)


def merged_and_split(y):
    """``y`` (three classes) with classes 1 and 2 merged and class 0 split
    in halves: a wrong partition of the same size."""
    wrong = np.where(y == 2, 1, y)
    wrong[np.flatnonzero(y == 0)[::2]] = 2
    return wrong


@pytest.mark.parametrize("n_samples, right_draw", [(300, 0), (300, 1), (300, 2), (6000, 0)])
@pytest.mark.parametrize("right_first", [True, False])
def test_umap_start_keeps_the_candidate_of_best_modularity(monkeypatch, right_first, n_samples,
                                                           right_draw):
    # Over neighbourhood sizes, and on small data over two more draws of the
    # size the first draw chose: the one right partition wins wherever it
    # comes; above REDRAW_MAX_SAMPLES the first draw is the only one.
    X, y = make_blobs(n_samples, centers=3, cluster_std=0.5, random_state=0)
    wrong = merged_and_split(y)
    draws = []

    def candidates(Z, n_clusters, seed, neighbours=None, n_epochs=None, sizes=None):
        (size,) = sizes  # one layout per job
        draws.append((seed, n_epochs, size))
        number = seed - draws[0][0]
        right = number == right_draw and (number > 0 or size == (15 if right_first else 30))
        yield size, (y if right else wrong)

    monkeypatch.setattr(_init, "_umap_candidates", candidates)
    labels, _ = _init.initial_partition(X, 3, "umap", np.random.RandomState(0))
    np.testing.assert_array_equal(labels, y)
    n_draws = 1 + (_init.REDRAWS if n_samples <= _init.REDRAW_MAX_SAMPLES else 0)
    assert {epochs for _, epochs, _ in draws} == {_init.UMAP_N_EPOCHS}
    # The first draw tries every size; the redraws, each its own layout, only
    # the size it chose (all wrong partitions tie, and the first of a tie is
    # kept).
    first = draws[0][0]
    chosen = 15 if right_first or right_draw != 0 else 30
    assert [(seed, size) for seed, _, size in draws] == (
        [(first, 15), (first, 30), (first, 50)]
        + [(first + number, chosen) for number in range(1, n_draws)])


def test_the_start_redraws_only_the_chosen_size_and_can_change_its_mind(monkeypatch):
    # The first draw's best size is redrawn; a redraw that beats every first
    # candidate wins even though its size lost nothing to it.
    X, y = make_blobs(300, centers=3, cluster_std=0.5, random_state=0)
    wrong = merged_and_split(y)
    worse = np.random.RandomState(1).randint(0, 3, y.size)  # no structure at all
    calls = []

    def candidates(Z, n_clusters, seed, neighbours=None, n_epochs=None, sizes=None):
        (size,) = sizes
        calls.append((seed, size))
        number = seed - calls[0][0]
        if number == 0:
            yield size, {15: worse, 30: wrong, 50: worse}[size]
        else:
            yield size, (y if number == 2 else worse)

    monkeypatch.setattr(_init, "_umap_candidates", candidates)
    labels, _ = _init.initial_partition(X, 3, "umap", np.random.RandomState(0))
    graph = _graph.knn_graph(_graph.nearest(X, 16)[1][:, 1:])
    assert _graph.modularity(graph, wrong) > _graph.modularity(graph, worse)
    assert [size for _, size in calls] == [15, 30, 50, 30, 30]
    np.testing.assert_array_equal(labels, y)


def test_the_start_does_not_depend_on_n_jobs():
    # Each layout has its own seed, whichever process lays it out.
    X, _ = make_blobs(200, centers=3, cluster_std=2.0, random_state=0)
    one, _ = _init.initial_partition(X, 3, "umap", np.random.RandomState(0))
    two, _ = _init.initial_partition(X, 3, "umap", np.random.RandomState(0), n_jobs=2)
    np.testing.assert_array_equal(one, two)


def test_a_layout_job_runs_on_one_thread_wherever_it_runs(monkeypatch):
    # The partition must not depend on how many threads the process that
    # runs the job has (a joblib worker has fewer than its parent); torch's
    # own runtime is left alone, since limiting it changes the rounding of
    # the fit's later feature passes.
    X, y = make_blobs(60, centers=3, random_state=0)
    torch_dir = os.path.dirname(torch.__file__)
    inside = []

    def candidates(Z, n_clusters, seed, neighbours=None, n_epochs=None, sizes=None):
        inside.append((threadpool_info(), torch.get_num_threads()))
        yield sizes[0], y

    monkeypatch.setattr(_init, "_umap_candidates", candidates)
    before, torch_threads = threadpool_info(), torch.get_num_threads()
    _init._umap_draw(X, 3, 0, _graph.nearest(X, 16), 15)
    (libraries, threads), = inside
    assert threads == torch_threads
    assert libraries, "threadpoolctl sees no BLAS or OpenMP library"
    for lib, was in zip(libraries, before):
        ours = os.path.realpath(lib["filepath"]).startswith(os.path.realpath(torch_dir))
        assert lib["num_threads"] == (was["num_threads"] if ours else 1), lib["filepath"]
    assert threadpool_info() == before  # given back afterwards


def test_a_layout_job_takes_read_only_arrays():
    # What a joblib worker gets for large arrays: read-only memory maps,
    # which UMAP would write into.
    X, y = make_blobs(120, centers=3, cluster_std=0.5, random_state=0)
    neighbours = _graph.nearest(X, 16)
    for array in (X, *neighbours):
        array.flags.writeable = False
    size, labels = _init._umap_draw(X, 3, 0, neighbours, 15)
    assert size == 15 and adjusted_rand_score(y, labels) == 1.0


def test_smoothed_onehot_is_a_distribution_peaked_at_the_labels():
    p = _dec.smoothed_onehot(np.array([2, 0, 1]), 3, smoothing=0.3)
    torch.testing.assert_close(p.sum(dim=1), torch.ones(3))
    assert p.argmax(dim=1).tolist() == [2, 0, 1]
    assert torch.isclose(p[0, 2], torch.tensor(0.8)) and torch.isclose(p[0, 0], torch.tensor(0.1))


def test_fine_tuning_towards_a_fixed_target_teaches_that_partition():
    # The target is a partition the start does not express (every sample on
    # the first centre); fine-tuning must move the assignments onto it.
    embedder, X = tiny_embedder()
    Z = embedder.embed(X, 64, "cpu")
    labels = np.arange(len(X)) % 2
    centers = torch.nn.Parameter(Z[:2].clone())
    before = _model.soft_assignment(Z, centers.detach(), 1.0).argmax(dim=1).numpy()
    n_iter, history = _dec.fine_tune(
        embedder, X, centers, embedder.scheduler, alpha=1.0, max_iter=150, update_interval=10,
        tol=0.0, denoising_weight=0.0, learning_rate=1e-2, batch_size=64, train_batch_size=40,
        generator=make_generator(0), device="cpu", target=_dec.smoothed_onehot(labels, 2),
    )
    after = _model.soft_assignment(embedder.embed(X, 64, "cpu"), centers.detach(), 1.0)
    assert n_iter == 150
    assert (after.argmax(dim=1).numpy() == labels).mean() > 0.9
    assert (before == labels).mean() < 0.8


def test_the_umap_start_leaves_torch_threads_as_they_were():
    # numba's first parallel launch inside UMAP resets the OpenMP thread
    # count that torch shares: a later pretraining in the same process would
    # then run on another number of threads (other rounding, other results)
    # than the user chose.
    X, _ = make_blobs(200, centers=3, random_state=0)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _init.initial_partition(X, 3, "umap", np.random.RandomState(0))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("n, k, sizes, graph", [
    (1797, 10, [15, 30, 50], 15),  # clusters of 180: as before the cap
    (2862, 10, [15, 30, 50], 15),
    (165, 15, [5], 5),             # Yale: 11 images per identity
    (400, 40, [5], 5),
    (30, 10, [3], 3),              # never below MIN_NEIGHBORS
])
def test_the_start_caps_its_neighbourhoods_at_half_the_mean_cluster(n, k, sizes, graph):
    assert _init._neighbourhood_sizes(n, k) == sizes
    assert _graph.graph_neighbours(n, k) == graph


def test_the_umap_start_uses_the_capped_neighbourhoods(monkeypatch):
    # Many small clusters: every UMAP run and the modularity graph must stay
    # inside a cluster's size, not at the fixed 15-50 neighbours.
    X, _ = make_blobs(165, centers=15, n_features=8, random_state=0)
    seen = {}
    real_candidates, real_graph = _init._umap_candidates, _graph.knn_graph

    def candidates(Z, n_clusters, seed, neighbours=None, n_epochs=None, sizes=None):
        for size, labels in real_candidates(Z, n_clusters, seed, neighbours=neighbours,
                                            n_epochs=n_epochs, sizes=sizes):
            seen.setdefault("sizes", []).append(size)
            yield size, labels

    def graph(indices):
        seen["graph"] = indices.shape[1]
        return real_graph(indices)

    monkeypatch.setattr(_init, "_umap_candidates", candidates)
    monkeypatch.setattr(_graph, "knn_graph", graph)
    labels, _ = _init.initial_partition(X, 15, "umap", np.random.RandomState(0))
    # One size, drawn three times: the graph chooses between the draws.
    assert seen == {"sizes": [5] * 3, "graph": 5} and np.unique(labels).size == 15
    X, _ = make_blobs(400, centers=4, n_features=8, random_state=0)
    seen.clear()
    _init.initial_partition(X, 4, "umap", np.random.RandomState(0))
    assert seen["sizes"][:3] == [15, 30, 50] and seen["graph"] == 15
    assert len(seen["sizes"]) == 5 and seen["sizes"][3] == seen["sizes"][4]
    # One candidate and no redraw above REDRAW_MAX_SAMPLES: no graph needed.
    monkeypatch.setattr(_init, "REDRAW_MAX_SAMPLES", 100)
    X, _ = make_blobs(165, centers=15, n_features=8, random_state=0)
    seen.clear()
    _init.initial_partition(X, 15, "umap", np.random.RandomState(0))
    assert seen == {"sizes": [5]}


def test_numba_functions_keep_their_compiled_code_on_disk(tmp_path, monkeypatch):
    pytest.importorskip("numba")
    (tmp_path / "skdiec_numba_probe.py").write_text(
        "import numba\n\n\n@numba.njit\ndef twice(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    # A fresh import each time: a probe left from an earlier run has its cache on.
    monkeypatch.delitem(sys.modules, "skdiec_numba_probe", raising=False)
    import skdiec_numba_probe as probe

    assert _init.enable_numba_cache([probe]) == 1
    assert _init.enable_numba_cache([probe]) == 0  # already on
    assert probe.twice(3) == 6
    assert list(tmp_path.rglob("*.nbi")), "numba wrote no cache index"


def test_the_start_turns_on_numba_cache_for_umap_unless_told_not_to(monkeypatch):
    turned_on = []
    monkeypatch.setattr(_init, "enable_numba_cache", lambda modules: turned_on.append(
        sorted(m.__name__ for m in modules)))
    for setting, expected in (("0", 0), ("1", 1)):
        monkeypatch.setattr(_init, "_umap_ready", False)
        monkeypatch.setenv(_init.NUMBA_CACHE_ENV, setting)
        turned_on.clear()
        _init._import_umap()
        _init._import_umap()  # once per process
        assert len(turned_on) == expected
    assert "umap.umap_" in turned_on[0] and "umap.layouts" in turned_on[0]
