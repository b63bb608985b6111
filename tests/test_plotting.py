import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from skdiec.plotting import plot_search_scores  # noqa: E402


def test_heat_map_marks_col_and_cot(fitted, tmp_path):
    ax = plot_search_scores(fitted)
    image = ax.images[0]
    np.testing.assert_array_equal(np.ma.getmaskarray(image.get_array()),
                                  np.isnan(fitted.search_scores_))
    assert [t.get_text() for t in ax.get_yticklabels()] == fitted.search_layers_
    (box,) = ax.patches
    i = fitted.search_layers_.index(fitted.col_)
    j = list(fitted.search_timesteps_).index(fitted.cot_)
    assert box.get_xy() == (j - 0.5, i - 0.5)
    ax.figure.savefig(tmp_path / "search.png")
    assert (tmp_path / "search.png").stat().st_size > 1000


def test_needs_a_fitted_estimator():
    from sklearn.exceptions import NotFittedError

    from skdiec import DiEC

    with pytest.raises(NotFittedError):
        plot_search_scores(DiEC())
