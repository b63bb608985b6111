"""The k-nearest-neighbour graph of a clustering space, and the modularity
of a partition on it.

Both the search (``search_score="modularity"``) and the start (which of its
UMAP candidates to keep) judge a partition by how few of the graph's edges
it cuts, against what its cluster sizes alone would give.
"""

import numpy as np
from scipy import sparse
from sklearn.neighbors import NearestNeighbors

# Neighbours per sample of the graph modularity is measured on (the start's
# choice between its candidates, and the modularity search score).
GRAPH_N_NEIGHBORS = 15
# The smallest neighbourhood the cap below leaves.
MIN_NEIGHBORS = 3


def nearest(Z, n_neighbors):
    """Exact ``(distances, indices)`` of each row's nearest rows of ``Z``,
    itself included, nearest first."""
    return NearestNeighbors(n_neighbors=min(n_neighbors, Z.shape[0])).fit(Z).kneighbors(Z)


def knn_graph(indices):
    """Symmetric 0/1 adjacency (CSR) of the graph joining each row to the
    rows in its line of ``indices``, without self-loops."""
    n, k = indices.shape
    rows = np.repeat(np.arange(n), k)
    A = sparse.csr_matrix((np.ones(n * k), (rows, indices.ravel())), shape=(n, n))
    A = ((A + A.T) > 0).astype(np.float64)
    A.setdiag(0)  # duplicated rows can list themselves
    A.eliminate_zeros()
    return A.tocsr()


def modularity(A, labels):
    """Newman's modularity of the partition ``labels`` of the graph ``A``:
    the fraction of edge ends inside clusters, less its expectation when
    edges are rewired at random with the degrees kept."""
    degrees = np.asarray(A.sum(axis=1)).ravel()
    total = degrees.sum()
    if total == 0:
        return 0.0
    edges = A.tocoo()
    inside = edges.data[labels[edges.row] == labels[edges.col]].sum() / total
    expected = ((np.bincount(labels, weights=degrees) / total) ** 2).sum()
    return float(inside - expected)


def neighbourhood_cap(n_samples, n_clusters):
    """The largest neighbourhood UMAP and the graph use: half the mean
    cluster size ``n_samples / n_clusters``, at least ``MIN_NEIGHBORS``.

    A neighbourhood larger than a cluster joins each sample to other
    clusters, and UMAP and the modularity graph then see the clusters
    merged: with 11 images per identity (Yale's faces), 15-50 neighbours
    gave a start of ACC 0.44, 5 neighbours 0.50 (BENCHMARKS.md, "The
    development suite"). Clusters of 100 images or more on average (every
    digit set) are left as they were.
    """
    return max(MIN_NEIGHBORS, n_samples // (2 * max(n_clusters, 1)))


def graph_neighbours(n, n_clusters):
    """Neighbours per sample of the graph modularity is measured on, for
    ``n`` samples in ``n_clusters`` clusters."""
    return max(1, min(GRAPH_N_NEIGHBORS, neighbourhood_cap(n, n_clusters), n - 1))


def neighbour_graph(indices, n_clusters):
    """The graph modularity is measured on: each row joined to its
    :func:`graph_neighbours` nearest rows, read from ``indices`` (each
    row's nearest rows, itself first, as :func:`nearest` gives them, at
    least ``graph_neighbours + 1`` columns)."""
    n_neighbors = graph_neighbours(indices.shape[0], n_clusters)
    return knn_graph(indices[:, 1:n_neighbors + 1])


def knn_modularity(Z, labels, n_clusters):
    """Modularity of ``labels`` on the :func:`neighbour_graph` of ``Z``."""
    indices = nearest(Z, graph_neighbours(Z.shape[0], n_clusters) + 1)[1]
    return modularity(neighbour_graph(indices, n_clusters), labels)
