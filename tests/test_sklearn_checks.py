"""scikit-learn's estimator checks on a fast configuration of the real method."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skdiec import DiEC

from .conftest import FAST

# Every check runs the full diffusion path (pretraining, search, DEC) on a
# tiny U-Net; check_clustering's blobs are laid out on a 2x2 grid image.
EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks(
    [DiEC(n_clusters=3, random_state=0, **FAST)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
