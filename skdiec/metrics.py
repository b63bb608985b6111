"""Evaluation metrics for clusterings against reference labels."""

from scipy.optimize import linear_sum_assignment
from sklearn.metrics.cluster import contingency_matrix
from sklearn.utils.validation import check_consistent_length, column_or_1d

__all__ = ["clustering_accuracy"]


def clustering_accuracy(labels_true, labels_pred):
    """Accuracy of a clustering under the best one-to-one matching of labels.

    Clusters are matched to classes with the Hungarian algorithm
    (:func:`scipy.optimize.linear_sum_assignment`) on the contingency table,
    so that the matched pairs cover as many samples as possible; the score is
    the fraction of samples that fall on a matched pair. This is the ``ACC``
    reported by deep-clustering papers (DEC, IDEC, DiEC).

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Reference class labels.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate. The number of clusters may differ from
        the number of classes; unmatched clusters count as errors.

    Returns
    -------
    accuracy : float
        In ``[0, 1]``; 1 means the clustering equals the classes up to a
        renaming of the clusters.

    Examples
    --------
    >>> from skdiec.metrics import clustering_accuracy
    >>> clustering_accuracy([0, 0, 1, 1, 2], [1, 1, 0, 0, 0])
    0.8
    """
    labels_true = column_or_1d(labels_true)
    labels_pred = column_or_1d(labels_pred)
    check_consistent_length(labels_true, labels_pred)
    if labels_true.size == 0:
        raise ValueError("labels_true and labels_pred must not be empty.")
    table = contingency_matrix(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / labels_true.size)
