"""Search stage: find the Clustering-Optimal Layer (COL) and Timestep (COT).

Without labels, each (layer, timestep) cell is scored by how well its
features cluster on a subset of the data. The search is made cheap by the
"weak coupling" the DiEC paper reports (the best layer hardly moves with the
timestep):

1. coarse: one forward per coarse timestep reads every layer at once
   through hooks; every layer is scored at every coarse timestep, and COL is
   the layer with the best mean score;
2. refine: only COL is scored on a finer set of timesteps around its best
   coarse timestep, with forwards that stop after COL.

Features of each cell are projected on their leading principal components
before scoring, so that layers of very different widths are compared in
spaces of one size (silhouette and friends are not comparable across
dimensions).
"""

from dataclasses import dataclass
import warnings

import numpy as np
from scipy.cluster.hierarchy import ClusterWarning
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.manifold import SpectralEmbedding
from sklearn.metrics import (adjusted_mutual_info_score, calinski_harabasz_score,
                             davies_bouldin_score, normalized_mutual_info_score,
                             silhouette_score)

from ._features import extract_features
from ._graph import knn_modularity
from ._progress import progress


def _silhouette(Z, labels, random_state):
    return silhouette_score(Z, labels)


def _neg_davies_bouldin(Z, labels, random_state):
    return -davies_bouldin_score(Z, labels)


def _calinski_harabasz(Z, labels, random_state):
    return calinski_harabasz_score(Z, labels)


def _spectral_silhouette(Z, labels, random_state):
    """Silhouette in a Laplacian-eigenmap embedding of the kNN graph of ``Z``.

    Internal indices on raw high-dimensional features can mislead, while the
    silhouette measured in a low-dimensional manifold embedding tracks
    clustering accuracy much better (arXiv 2406.02465 shows it with UMAP;
    the spectral embedding is its dependency-free relative).
    """
    n_dims = max(2, np.unique(labels).size)
    n_neighbors = min(15, Z.shape[0] - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "graph is not fully connected"
        E = SpectralEmbedding(n_components=min(n_dims, Z.shape[0] - 2),
                              affinity="nearest_neighbors", n_neighbors=n_neighbors,
                              random_state=random_state).fit_transform(Z)
    return silhouette_score(E, labels)


def _size_entropy(Z, labels, random_state):
    """Entropy of the cluster sizes, divided by its maximum ``log(k)``.

    1 means clusters of equal size. When a representation blurs two classes
    together and splits a third, a partition into ``k`` clusters has to pair
    one merged, oversized cluster with split, undersized ones, so its sizes
    become uneven even while the clusters stay tight (which fools the
    silhouette). This is the balanced-cluster prior that DEC's target
    distribution already carries (it divides by the cluster frequencies).
    """
    p = np.unique(labels, return_counts=True)[1] / len(labels)
    return float(-(p * np.log(p)).sum() / np.log(max(p.size, 2)))


def _modularity(Z, labels, random_state):
    """Newman's modularity of the partition on the cell's own
    k-nearest-neighbour graph (see :func:`skdiec._graph.knn_modularity`).

    It rewards a partition that cuts few of the graph's edges, against what
    its cluster sizes alone would give, and so assumes no size of cluster:
    the start judges its UMAP candidates by the same measure.
    """
    return knn_modularity(Z, labels, np.unique(labels).size)


# search_score="consensus" judges a cell against the other cells rather than
# by its own partition alone, so it is not a scorer of one partition.
CONSENSUS = "consensus"

# search_score="auto" reads how much the coarse cells' partitions agree
# (:func:`agreement`) before it picks a score. Where most cells see one
# partition, the consensus finds the cells that see it and, unlike the size
# entropy, does not take clusters of unequal size for a blurred
# representation. Where they agree less, the partition most of them share
# need not be the classes' (on faces under varying light it is the
# lighting's), and the size entropy is used. Where they share hardly any
# partition (natural photos: 0.21-0.24 on CIFAR-10, where every set of the
# suite and its held-out subsets agreed 0.47 or more), nearly every cell's
# partition has even sizes, so the size entropy cannot tell the cells
# apart (its rank correlation with how a cell clusters was -0.11 there), and
# the modularity of each cell's partition on its own neighbour graph, which
# asks whether the cell has clusters at all, is used (Design notes, "The
# search: `"auto"`").
AUTO = "auto"
AGREEMENT_MIN = 0.7
AGREEMENT_NONE = 0.4
AUTO_SCORES = (CONSENSUS, "size_entropy", "modularity")  # cells agree, partly, hardly

SCORERS = {
    "size_entropy": _size_entropy,
    "modularity": _modularity,
    "silhouette": _silhouette,
    "spectral_silhouette": _spectral_silhouette,
    "calinski_harabasz": _calinski_harabasz,
    "davies_bouldin": _neg_davies_bouldin,
}


# search_n_samples="auto": images per cluster in the search's subset, within
# bounds. The size entropy reads the sizes of a partition of the subset, and
# the sizes' noise falls as each cluster holds more images: on kept digits,
# USPS and MNIST backbones (10 classes) the search on 1,000 images picked
# cells whose start was as low as 0.83 ACC, where on 2,000 it picked cells
# that started at 0.94-0.97 (Design notes, "The search's subset and
# fine-tuning's length, end to end"). The search holds every layer's features of the
# subset at once, hence a ceiling at twice the earlier 1,000.
SUBSET_PER_CLUSTER = 200
SUBSET_MIN, SUBSET_MAX = 1000, 2000


def subset_size(search_n_samples, n_samples, n_clusters):
    """Images the search scores cells on: ``search_n_samples``, or for
    ``"auto"`` ``SUBSET_PER_CLUSTER`` per cluster within ``[SUBSET_MIN,
    SUBSET_MAX]``; never more than ``n_samples``."""
    if search_n_samples == "auto":
        search_n_samples = min(max(SUBSET_PER_CLUSTER * n_clusters, SUBSET_MIN), SUBSET_MAX)
    return min(n_samples, int(search_n_samples))


def draw_subset(search_n_samples, n_samples, n_clusters, seed):
    """The sorted rows the search scores cells on: :func:`subset_size` of
    them, drawn without replacement by ``RandomState(seed)``."""
    size = subset_size(search_n_samples, n_samples, n_clusters)
    return np.sort(np.random.RandomState(seed).choice(n_samples, size, replace=False))


def partition(Z, n_clusters, method, random_state):
    """Cluster labels of ``Z``: Ward linkage (deterministic) or k-means."""
    if method == "ward":
        with warnings.catch_warnings():
            # scipy mistakes a square, symmetric feature matrix (a few samples
            # of tied features) for a distance matrix; Ward gets features here.
            warnings.simplefilter("ignore", ClusterWarning)
            return AgglomerativeClustering(n_clusters, linkage="ward").fit_predict(Z)
    return KMeans(n_clusters, n_init=3, random_state=random_state).fit_predict(Z)


@dataclass
class SearchResult:
    """What the search found, in the shape the estimator stores it."""

    layers: list
    timesteps: np.ndarray
    scores: np.ndarray  # (n_layers, n_timesteps), NaN where not evaluated
    col: str
    cot: int
    n_evaluated: int
    # The PCA of the COL/COT features of the subset, fitted while scoring
    # that cell: the projection to the clustering space, (D,) and (k, D).
    projection_mean: np.ndarray
    projection_components: np.ndarray
    # The mean AMI between the coarse cells' partitions (:func:`agreement`)
    # and the score the cells were ranked by ("auto" resolved).
    agreement: float
    score: str


@dataclass
class Projection:
    """A fitted PCA projection ``z = (f - mean) @ components.T``."""

    mean: np.ndarray
    components: np.ndarray


def fit_projection(F, n_components, random_state):
    """PCA of features ``F`` to at most ``n_components`` dimensions.

    Returns ``(Z, projection)``: the projected ``F`` and the fitted map.
    """
    n_components = min(n_components, F.shape[0] - 1, F.shape[1])
    if n_components < 1:  # a single sample: centring is all there is
        mean = F.mean(axis=0)
        return F - mean, Projection(mean, np.eye(F.shape[1], dtype=F.dtype))
    pca = PCA(n_components=n_components, random_state=random_state)
    # Constant features make PCA divide 0 by 0 for its variance ratios, which
    # are not used; the projection itself is well defined.
    with np.errstate(invalid="ignore", divide="ignore"):
        Z = pca.fit_transform(F)
    return Z, Projection(pca.mean_, pca.components_)


def project(F, n_components, random_state):
    """PCA projection of features ``F`` to at most ``n_components`` dimensions."""
    return fit_projection(F, n_components, random_state)[0]


def clusterability(F, n_clusters, score, n_components, random_state, method="ward"):
    """Score of one cell's features ``F``: higher means more clusterable.

    ``score`` is a name in :data:`SCORERS`, applied to a partition (by
    ``method``, see :func:`partition`) of the projected features into
    ``n_clusters``, or a callable ``score(Z, n_clusters, random_state) ->
    float`` given the projected features ``Z`` themselves: both measure
    the cell in the clustering space its COL/COT would have.

    Returns ``(score, projection)``: the projection is the PCA the score was
    measured in.
    """
    Z, projection = fit_projection(F, n_components, random_state)
    labels = None if callable(score) else cell_partition(Z, n_clusters, method, random_state)
    return partition_score(Z, labels, n_clusters, score, random_state), projection


def partition_score(Z, labels, n_clusters, score, random_state):
    """:func:`clusterability` of projected features ``Z`` given their
    partition ``labels`` (:func:`cell_partition`; a callable ``score`` reads
    ``Z`` alone): -inf where there was nothing to partition."""
    if callable(score):
        return float(score(Z, n_clusters, random_state))
    if labels is None:
        return -np.inf
    return float(SCORERS[score](Z, labels, random_state))


def cell_partition(Z, n_clusters, method, random_state):
    """:func:`partition` of a cell's projected features ``Z``, or None where
    there is nothing to cluster (every sample at one point, or a partition
    into one cluster or into singletons)."""
    if np.ptp(Z, axis=0).max(initial=0.0) <= 1e-12:
        return None
    labels = partition(Z, n_clusters, method, random_state)
    if not 2 <= np.unique(labels).size < Z.shape[0]:
        return None
    return labels


def consensus(labels, pool):
    """Mean NMI of the partition ``labels`` with each partition in ``pool``.

    The ``search_score="consensus"`` of a cell, ``pool`` holding the
    partitions of the other cells of the coarse grid. A cell that sees the
    classes agrees with the many cells that see them too, while a weak cell
    splits them along a style of its own (stroke width, lighting) that few
    other cells share. It assumes no size of cluster.
    """
    if labels is None or not pool:
        return -np.inf
    return float(np.mean([normalized_mutual_info_score(labels, other) for other in pool]))


def consensus_of_each(partitions):
    """:func:`consensus` of every partition of the dict ``partitions``
    (None where a cell had nothing to cluster) against all the others,
    each pair's NMI computed once."""
    valid = [cell for cell, labels in partitions.items() if labels is not None]
    nmi = {}
    for i, a in enumerate(valid):
        for b in valid[i + 1:]:
            nmi[a, b] = nmi[b, a] = normalized_mutual_info_score(partitions[a], partitions[b])
    scores = {cell: -np.inf for cell in partitions}
    if len(valid) > 1:
        for cell in valid:
            scores[cell] = float(np.mean([nmi[cell, other] for other in valid if other != cell]))
    return scores


def agreement(partitions):
    """Mean adjusted mutual information between every pair of partitions
    of the dict ``partitions`` (None where a cell had nothing to cluster),
    or NaN with fewer than two.

    How much the cells of the coarse grid agree on one partition of the
    subset. The AMI, unlike the NMI, is corrected for the agreement of
    chance, which is large between partitions of few images into many
    clusters, so that the value means the same for 10 and for 100 clusters.
    """
    valid = [labels for labels in partitions.values() if labels is not None]
    pairs = [adjusted_mutual_info_score(a, b)
             for i, a in enumerate(valid) for b in valid[i + 1:]]
    return float(np.mean(pairs)) if pairs else float("nan")


def resolve_score(score, cell_agreement):
    """The score the search ranks cells by: ``score`` itself, except for
    ``"auto"``, which is the consensus where ``cell_agreement`` is at least
    :data:`AGREEMENT_MIN`, the modularity where it is below
    :data:`AGREEMENT_NONE` and the size entropy between them (and for NaN,
    where fewer than two cells had a partition)."""
    if not (isinstance(score, str) and score == AUTO):
        return score
    agreed, partly, hardly = AUTO_SCORES
    if cell_agreement >= AGREEMENT_MIN:
        return agreed
    if cell_agreement < AGREEMENT_NONE:
        return hardly
    return partly


def best_cells(result, coarse, n_cells):
    """COL/COT, then the ``n_cells - 1`` best-scoring other cells of the
    coarse grid (the timesteps ``coarse`` that every layer was scored at),
    best first; ties go to the earlier layer, then the earlier timestep.

    These are the cells whose features make a pooled clustering space
    (the estimator's ``n_cells``): each cell sees the images at one depth
    and one noise level, and the best few of them, which no single cell
    is, are less at the mercy of one cell's score on one subset.
    """
    first = (result.col, int(result.cot))
    coarse = {int(t) for t in coarse}
    ranked = sorted((-result.scores[i, j], i, j)
                    for i in range(len(result.layers)) for j, t in enumerate(result.timesteps)
                    if int(t) in coarse and np.isfinite(result.scores[i, j])
                    and (result.layers[i], int(t)) != first)
    return [first] + [(result.layers[i], int(result.timesteps[j]))
                      for _, i, j in ranked[:max(0, n_cells - 1)]]


def refine_timesteps(coarse, best, n_refine, t_max):
    """At least ``n_refine`` new timesteps, evenly spaced between the
    neighbours of ``best`` in the sorted ``coarse`` grid (all the interval
    holds when that is fewer).

    The grid is made finer until enough of its points are not coarse
    timesteps already: with ``n_refine=1`` the midpoint of an evenly spaced
    grid is ``best`` itself, which used to leave nothing to add.
    """
    coarse = np.sort(np.asarray(coarse))
    i = int(np.searchsorted(coarse, best))
    lo = int(coarse[i - 1]) if i > 0 else 0
    # Past the last coarse step, search as far above it as its neighbour is below.
    hi = int(coarse[i + 1]) if i + 1 < coarse.size else min(t_max - 1, 2 * best - lo)
    scored = set(coarse.tolist())
    wanted = min(n_refine, sum(t not in scored for t in range(lo, hi + 1)))
    points = n_refine
    while True:
        grid = np.unique(np.linspace(lo, hi, points + 2).round().astype(int))
        new = [int(t) for t in grid if t not in scored]
        if len(new) >= wanted:
            return new
        points += 1


def search(unet, scheduler, X, *, layers, timesteps, n_refine, n_clusters, score,
           n_components, noise_bank, pooling, batch_size, device, random_state,
           method="ward", max_timestep=None, verbose=0):
    """Score the (layer, timestep) grid on the image tensor ``X`` (the subset).

    Parameters mirror the estimator's. ``timesteps`` is the coarse grid;
    ``n_refine`` timesteps are added around the best one on COL (0 skips
    the refinement), all below ``max_timestep`` (the scheduler's number of
    steps when None).
    """
    layers = list(layers)
    coarse = sorted(int(t) for t in timesteps)
    table = {}  # (layer, t) -> score
    # Per layer, its best cell so far (the first of equal scores) and that
    # cell's projection, so that COL/COT's projection need not be fitted
    # again after the search.
    best = {}  # layer -> (t, projection)
    # Every coarse cell's partition, for the agreement between cells and
    # the consensus. Their projections are not kept (a few MB each for wide
    # layers), so a COL/COT picked by consensus among the coarse cells has
    # its projection fitted again once at the end.
    partitions = {}  # (layer, t) -> labels or None
    # The coarse cells' score before the agreement is known: "auto" starts
    # with the size entropy, and replaces it if the cells agree or hardly
    # agree; for the latter it keeps each coarse cell's projected features
    # (the subset in n_components dimensions, under a MB a cell) to score
    # them again.
    auto = isinstance(score, str) and score == AUTO
    ranking = AUTO_SCORES[1] if auto else score
    projected = {}  # (layer, t) -> (Z, labels), under "auto" only

    def note(name, t, value, projection):
        table[(name, t)] = value
        if name not in best or value > table[(name, best[name][0])]:
            best[name] = (t, projection)

    def score_cell(name, t, F):
        Z, projection = fit_projection(F, n_components, random_state)
        labels = cell_partition(Z, n_clusters, method, random_state)
        if t in coarse:
            partitions[(name, t)] = labels
            if auto:
                projected[(name, t)] = (Z, labels)
        if callable(ranking) or ranking != CONSENSUS:
            note(name, t, partition_score(Z, labels, n_clusters, ranking, random_state),
                 projection)
        elif t not in coarse:  # coarse cells are scored once all are partitioned
            pool = [v for v in partitions.values() if v is not None]
            note(name, t, consensus(labels, pool), projection)

    for t in progress(coarse, verbose, desc="search: all layers"):
        feats = extract_features(unet, scheduler, X, t, layers, noise_bank, pooling,
                                 batch_size, device)
        for name in layers:
            score_cell(name, t, feats.pop(name))

    cell_agreement = agreement(partitions)
    resolved = resolve_score(score, cell_agreement)
    # The consensus scores the coarse cells only once all are partitioned,
    # and "auto" may have resolved to another score than it ranked them by:
    # then the coarse cells are ranked again.
    if resolved == CONSENSUS or resolved != ranking:
        ranking = resolved
        rescored = (consensus_of_each(partitions) if resolved == CONSENSUS else
                    {cell: partition_score(Z, labels, n_clusters, resolved, random_state)
                     for cell, (Z, labels) in projected.items()})
        table.clear()
        best.clear()
        for cell, value in rescored.items():
            note(*cell, value, None)
    projected.clear()

    mean_by_layer = [np.mean([table[(name, t)] for t in coarse]) for name in layers]
    col = layers[int(np.argmax(mean_by_layer))]
    best_coarse = best[col][0]

    fine = refine_timesteps(coarse, best_coarse, n_refine,
                            max_timestep or scheduler.config.num_train_timesteps)
    if n_refine > 0:
        for t in progress(fine, verbose, desc=f"search: timesteps on {col}"):
            F = extract_features(unet, scheduler, X, t, [col], noise_bank, pooling,
                                 batch_size, device)[col]
            score_cell(col, t, F)

    all_t = np.array(sorted({t for _, t in table}), dtype=int)
    scores = np.full((len(layers), all_t.size), np.nan)
    for (name, t), value in table.items():
        scores[layers.index(name), int(np.searchsorted(all_t, t))] = value
    cot, projection = best[col]
    if projection is None:  # a coarse cell, ranked after the coarse pass
        F = extract_features(unet, scheduler, X, cot, [col], noise_bank, pooling,
                             batch_size, device)[col]
        projection = fit_projection(F, n_components, random_state)[1]
    return SearchResult(layers, all_t, scores, col, int(cot), len(table),
                        projection.mean, projection.components, cell_agreement,
                        ranking if isinstance(ranking, str) else "callable")
