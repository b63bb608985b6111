"""Initial partition of the clustering space, where fine-tuning starts.

Three ways to find it, by the estimator's ``init``:

- ``"umap"``: k-means in a UMAP embedding of the clustering space (at 15,
  30 and 50 neighbours, the partition with the best modularity on the
  15-nearest-neighbour graph of the clustering space; every neighbourhood
  capped at half the mean cluster size, see
  :func:`skdiec._graph.neighbourhood_cap`; on small data the chosen size
  drawn twice more, see :func:`_umap_kmeans`).
  UMAP keeps the k-nearest-neighbour manifold of the features, so clusters
  that are elongated or curved in the clustering space (a digit's writing
  styles) come out whole, where a partition by distances to centroids cuts
  them. This is N2D's recipe (McConville et al., 2020: autoencoder, then
  UMAP, then a mixture model) on diffusion features. On the COL/COT
  features of a pretrained U-Net on USPS it gave ACC 0.98 where k-means and
  Ward on the same features gave 0.76-0.93 (BENCHMARKS.md).
- ``"ward"``: Ward linkage (deterministic), on a random subset beyond
  ``WARD_MAX_SAMPLES`` samples, whose centroids then label every sample.
- ``"kmeans"``: k-means with 10 restarts.
"""

import functools
import inspect
import os
import re
import sys
import threading
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.cluster import KMeans
from threadpoolctl import ThreadpoolController
import torch

from ._graph import graph_neighbours, modularity, nearest, neighbour_graph, neighbourhood_cap
from ._progress import progress
from ._search import partition
from ._torch_utils import torch_threads_kept

METHODS = ("umap", "ward", "kmeans")

# Ward's memory grows with the square of the samples: bound it.
WARD_MAX_SAMPLES = 5000

# UMAP settings after N2D: min_dist=0 packs each cluster tightly, which is
# what k-means afterwards needs (not a picture). The neighbourhood sizes
# tried are chosen between by modularity (see _umap_kmeans).
UMAP_N_NEIGHBORS = (15, 30, 50)
UMAP_MAX_COMPONENTS = 10
# UMAP's layout is random, and one draw in a few splits a class and merges
# two others. Up to REDRAW_MAX_SAMPLES samples, where a draw costs seconds,
# the start draws the chosen neighbourhood size REDRAWS more times and keeps
# the draw of best modularity; above it a redraw costs 15 s or more on a
# CPU, and on the spaces measured there (USPS, MNIST) redraws moved ACC by
# 0.001 at most (Design notes, "The start").
REDRAWS = 2
REDRAW_MAX_SAMPLES = 5000
# UMAP's layout epochs (None: its default, 500 up to 10,000 samples, 200
# above). Three draws of 200 lost 0.10 on the MNIST test split, where 200
# epochs lay out 10,000 samples worse.
UMAP_N_EPOCHS = None


# Set to 0 to keep UMAP's compiled code in memory only, as UMAP itself does.
NUMBA_CACHE_ENV = "SKDIEC_NUMBA_CACHE"
_umap_lock = threading.Lock()
_umap_ready = False
# UMAP's spectral start calls SciPy's eigsh with a fixed start vector and no
# ``rng``. Where ARPACK needs a new start vector mid-run (the kNN graph of
# many identical rows), SciPy draws it from the operating system's entropy
# (a SciPy whose eigsh takes no ``rng``: from a state of its own), and the
# same seed gave another start. Inside a layout, eigsh gets a generator
# seeded with the layout's seed (:func:`_seeded_eigsh`); everywhere else,
# and with no new start vector, it runs as SciPy's own.
_eigsh_rng = threading.local()


def _import_umap():
    """``umap``, its numba functions set to keep their compiled code on disk.

    UMAP's functions are compiled on first use in every new process, about
    5 s of the first start on digits (Design notes, "Cost"); with numba's
    cache, later processes load them instead. The code is kept where
    ``@njit(cache=True)`` keeps it: UMAP's ``__pycache__``, or numba's
    user-wide cache folder where that is not writable (``NUMBA_CACHE_DIR``
    moves it). Numba checks the source file's time stamp and size on load,
    so a changed UMAP compiles again.
    """
    global _umap_ready
    import umap  # numba compiles on import: only pay for it when used

    with _umap_lock:
        if not _umap_ready:
            if os.environ.get(NUMBA_CACHE_ENV, "1").strip().lower() not in ("0", "false", "no"):
                enable_numba_cache([module for name, module in list(sys.modules.items())
                                    if name == "umap" or name.startswith("umap.")])
            _install_seeded_eigsh()
            _umap_ready = True
    return umap


def _install_seeded_eigsh():
    """Put :func:`_seeded_eigsh` in place of ``scipy.sparse.linalg.eigsh``,
    where UMAP's spectral start looks it up; a SciPy whose eigsh takes no
    ``rng`` is left as it is."""
    import scipy.sparse.linalg

    eigsh = scipy.sparse.linalg.eigsh
    if not getattr(eigsh, "skdiec_seeded", False) and "rng" in inspect.signature(eigsh).parameters:
        scipy.sparse.linalg.eigsh = _seeded_eigsh(eigsh)


def _seeded_eigsh(eigsh):
    """``eigsh``, given this thread's layout generator as ``rng`` while
    :func:`_umap_candidates` lays out (and the caller passed none); unchanged
    otherwise."""
    @functools.wraps(eigsh)
    def seeded(*args, **kwargs):
        rng = getattr(_eigsh_rng, "rng", None)
        if rng is not None and kwargs.get("rng") is None:
            kwargs["rng"] = rng
        return eigsh(*args, **kwargs)

    seeded.skdiec_seeded = True
    return seeded


def enable_numba_cache(modules):
    """Turn on numba's on-disk cache for the functions defined in
    ``modules`` that do not have it; return how many were turned on.

    Harmless where numba is absent, finds no writable cache folder or no
    longer has these internals: the functions then compile in memory as
    before.
    """
    try:
        from numba.core.dispatcher import Dispatcher
        from numba.core.caching import NullCache
    except ImportError:
        return 0
    enabled = 0
    for module in modules:
        for function in list(vars(module).values()):
            if (isinstance(function, Dispatcher) and function.__module__ == module.__name__
                    and isinstance(getattr(function, "_cache", None), NullCache)):
                try:
                    function.enable_caching()
                except RuntimeError:  # no cache folder numba can write to
                    return enabled
                enabled += 1
    return enabled


def initial_partition(Z, n_clusters, method, rng, n_jobs=None, verbose=0):
    """Labels of every row of ``Z`` and the centres fine-tuning starts from.

    ``n_jobs``: joblib jobs for UMAP's layouts (``"umap"`` only); the
    partition does not depend on it. ``verbose``: a progress bar over them.

    The centres are the centroids of the labels in ``Z`` (the clustering
    space where DEC's soft assignments are measured); for Ward, those of the
    subset's partition, which then labels every row by its nearest centre.
    """
    seed = rng.randint(np.iinfo(np.int32).max)
    if method == "umap":
        labels = _umap_kmeans(Z, n_clusters, seed, n_jobs, verbose)
    elif method == "kmeans":
        labels = KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(Z)
    else:
        rows = Z
        if Z.shape[0] > WARD_MAX_SAMPLES:
            rows = Z[np.sort(rng.choice(Z.shape[0], WARD_MAX_SAMPLES, replace=False))]
        sub_labels = partition(rows, n_clusters, "ward", seed)
        centers = _centroids(rows, sub_labels, n_clusters)
        labels = ((Z[:, None, :] - centers[None]) ** 2).sum(axis=-1).argmin(axis=1)
        return labels, centers
    return labels, _centroids(Z, labels, n_clusters, rng)


def _centroids(Z, labels, n_clusters, rng=None):
    """Mean of each label's rows; an empty label takes a random row."""
    centers = np.empty((n_clusters, Z.shape[1]), dtype=np.float64)
    for k in range(n_clusters):
        members = Z[labels == k]
        if len(members):
            centers[k] = members.mean(axis=0)
        else:  # k-means in the UMAP space can leave a label unused on tiny data
            rng = rng if rng is not None else np.random.RandomState(0)
            centers[k] = Z[rng.randint(Z.shape[0])]
    return centers


def _umap_kmeans(Z, n_clusters, seed, n_jobs=None, verbose=0):
    """k-means in UMAP embeddings at several neighbourhood sizes; the
    partition with the best modularity on the kNN graph of ``Z`` wins, and
    on up to ``REDRAW_MAX_SAMPLES`` samples its size is drawn ``REDRAWS``
    more times (UMAP seeds ``seed + 1``, ...) and the best draw kept.

    The right neighbourhood grows with the clusters: 15 neighbours split the
    classes of digits (1,797 images, ACC 0.86-0.88) where 30-50 kept them
    (0.93-0.94), while on one USPS backbone 50 merged two classes (0.83)
    where 15 kept them (0.98). Modularity (the share of the graph's edges
    inside the clusters, less what cluster sizes alone would give) scores
    every candidate in ``Z``, which they all share, on the neighbourhood
    structure UMAP itself follows. On 9 kept backbones (digits, USPS and the
    MNIST test split, 3 each) at 3 UMAP seeds, its pick reached mean ACC
    0.958 (worst 0.937) where the silhouette's reached 0.937 (worst 0.830),
    against 0.959 for the best candidate each time. It also tells a failed
    draw from a good one of the same size (digits: 0.863 against 0.940).

    The layouts of one round (the sizes, then the redraws) run as
    ``n_jobs`` joblib jobs: UMAP lays out on one core whatever it is given
    (its parallel layout is not reproducible), so a machine with idle cores
    runs them side by side. Each job has its own seed, so the partition does
    not depend on ``n_jobs``.
    """
    sizes = _neighbourhood_sizes(Z.shape[0], n_clusters)
    neighbours = nearest(Z, max(sizes[-1], graph_neighbours(Z.shape[0], n_clusters) + 1))
    redraws = REDRAWS if Z.shape[0] <= REDRAW_MAX_SAMPLES else 0

    # Counted a round at a time: joblib 1.2 returns a round's layouts together.
    with progress(None, verbose, total=len(sizes) + redraws, desc="start: UMAP layouts",
                  unit="layout") as bar:
        def draw(jobs):
            """``(size, labels)`` of each ``(draw number, size)`` of ``jobs``."""
            drawn = Parallel(n_jobs=n_jobs)(
                delayed(_umap_draw)(Z, n_clusters, (seed + number) % np.iinfo(np.int32).max,
                                    neighbours, size)
                for number, size in jobs)
            bar.update(len(drawn))
            return drawn

        if len(sizes) == 1 and redraws == 0:  # one candidate: nothing to choose
            return draw([(0, sizes[0])])[0][1]
        graph = neighbour_graph(neighbours[1], n_clusters)
        best = _keep_best(graph, draw([(0, size) for size in sizes]))
        return _keep_best(graph, draw([(number, best[2]) for number in range(1, 1 + redraws)]),
                          best)[0]


def _keep_best(graph, candidates, best=(None, -np.inf, None)):
    """``(labels, modularity, size)`` of the best of ``candidates``
    (``(size, labels)`` pairs) and ``best`` by their modularity on ``graph``;
    the first of a tie is kept."""
    for size, labels in candidates:
        score = modularity(graph, labels)
        if best[0] is None or score > best[1]:
            best = (labels, score, size)
    return best


def _umap_draw(Z, n_clusters, seed, neighbours, size):
    """One job of the start: ``(size, labels)`` of k-means in the UMAP
    layout of ``Z`` at ``size`` neighbours drawn with ``seed``.

    It runs on one BLAS and OpenMP thread, wherever it runs: UMAP's
    spectral initialisation and k-means round their sums by the number of
    threads, and a joblib worker gets fewer threads than the process that
    calls it, so the partition would otherwise depend on ``n_jobs`` and on
    the machine's cores (Design notes, "Cost"). Both are cheap beside the
    layout, which is single-threaded anyway. The arrays are copied first:
    joblib hands a worker large arrays as read-only memory maps, and UMAP
    writes into the neighbour arrays.
    """
    Z, neighbours = np.array(Z), tuple(np.array(a) for a in neighbours)
    with _libraries_besides_torch().limit(limits=1):
        return next(_umap_candidates(Z, n_clusters, seed, neighbours=neighbours,
                                     n_epochs=UMAP_N_EPOCHS, sizes=[size]))


def _libraries_besides_torch():
    """threadpoolctl's controller of the loaded BLAS and OpenMP libraries,
    torch's own OpenMP runtime left out.

    Limiting torch's runtime for a moment, even given back, changed the
    rounding of its later feature passes in the same process, so a fit's
    later phases would again depend on where its layouts ran.
    """
    controller = ThreadpoolController()
    torch_dir = os.path.realpath(os.path.dirname(torch.__file__))
    return controller.select(filepath=[
        lib.filepath for lib in controller.lib_controllers
        if not os.path.realpath(lib.filepath).startswith(torch_dir + os.sep)])


def _neighbourhood_sizes(n, n_clusters):
    """``UMAP_N_NEIGHBORS`` under :func:`neighbourhood_cap` that ``n``
    samples allow, without repeats."""
    cap = neighbourhood_cap(n, n_clusters)
    return sorted({max(2, min(k, cap, n - 1)) for k in UMAP_N_NEIGHBORS})


def _umap_candidates(Z, n_clusters, seed, neighbours=None, n_epochs=None, sizes=None):
    """The start's candidates of one UMAP draw: for each neighbourhood size,
    in increasing order, ``(n_neighbors, labels)`` of k-means in a UMAP
    embedding of ``Z``.

    ``neighbours``: ``nearest(Z, k)`` for a ``k`` of at least the largest
    size, when the caller already has it. ``n_epochs``: UMAP's layout
    epochs (None: UMAP's default). ``sizes``: the neighbourhood sizes to
    draw (all of :func:`_neighbourhood_sizes` when None)."""
    umap = _import_umap()
    n = Z.shape[0]
    sizes = _neighbourhood_sizes(n, n_clusters) if sizes is None else sorted(sizes)
    # Spectral initialisation needs fewer dimensions than samples.
    n_components = max(1, min(UMAP_MAX_COMPONENTS, max(2, n_clusters), n - 2))
    # The spectral start solves for n_components + 1 eigenvectors of the
    # graph, which needs a few more vertices than that.
    start = "spectral" if n > 2 * (n_components + 1) else "random"
    # scikit-learn's exact neighbours instead of UMAP's approximate search:
    # exact for any n, and it spares numba's compilation of pynndescent
    # (about 40 s in every new process). Sorted by distance, so the first
    # k columns are the k nearest.
    dist, idx = neighbours if neighbours is not None else nearest(Z, max(sizes))
    for n_neighbors in sizes:
        reducer = umap.UMAP(n_components=n_components, n_neighbors=n_neighbors, min_dist=0.0,
                            init=start, random_state=seed, n_jobs=1, n_epochs=n_epochs,
                            precomputed_knn=(idx[:, :n_neighbors], dist[:, :n_neighbors], None))
        with warnings.catch_warnings():
            # Informational: tiny or fragmented data fall back to a random start.
            for message in ("Graph is not fully connected", "Spectral initialisation failed",
                            "A few of your vertices", "Embedding a total of",
                            "n_neighbors is larger than the dataset size",
                            # transform() is never used: UMAP only finds the start
                            "precomputed_knn[2]"):
                warnings.filterwarnings("ignore", message=re.escape(message) + ".*")
            _eigsh_rng.rng = np.random.default_rng(seed)
            try:
                with torch_threads_kept():
                    embedding = reducer.fit_transform(Z)
            finally:
                _eigsh_rng.rng = None
        yield n_neighbors, KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(embedding)
