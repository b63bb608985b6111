import numpy as np
import pytest

from skdiec.metrics import clustering_accuracy


def test_perfect_up_to_renaming():
    assert clustering_accuracy([0, 0, 1, 1, 2, 2], [2, 2, 0, 0, 1, 1]) == 1.0


def test_hand_computed_value():
    # Best matching: cluster 1 -> class 0 (2 samples), cluster 0 -> class 1
    # (2 samples); the sample of class 2 lands in cluster 0, already taken.
    assert clustering_accuracy([0, 0, 1, 1, 2], [1, 1, 0, 0, 0]) == pytest.approx(0.8)


def test_more_clusters_than_classes():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0, 0, 1, 2, 2, 2])
    assert clustering_accuracy(y, p) == pytest.approx(5 / 6)


def test_length_mismatch_and_empty():
    with pytest.raises(ValueError):
        clustering_accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="empty"):
        clustering_accuracy([], [])
