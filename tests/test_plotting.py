import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from skdiec.plotting import plot_cluster_samples, plot_search_scores  # noqa: E402


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


def test_contact_sheet_shows_each_clusters_most_confident_members(fitted, digits):
    X = digits[0]
    proba = fitted.predict_proba(X)
    fig = plot_cluster_samples(fitted, X, n_per_cluster=4)
    axes = np.array(fig.axes).reshape(fitted.n_clusters, 4)
    labels = proba.argmax(axis=1)
    for k in range(fitted.n_clusters):
        members = np.flatnonzero(labels == k)
        best = np.sort(proba[members, k])[::-1][:4]
        shown = [float(ax.get_title()) for ax in axes[k] if ax.images]
        np.testing.assert_allclose(shown, best, atol=0.0051)
        assert f"({members.size})" in axes[k, 0].get_ylabel()
        # The images shown are the samples, as the model scales them.
        if members.size:
            first = members[np.argmax(proba[members, k])]
            scaled = (X[first] - X.min()) / (X.max() - X.min())
            np.testing.assert_allclose(axes[k, 0].images[0].get_array(), scaled, atol=1e-6)


def test_contact_sheet_keeps_colour(tmp_path):
    from .test_color import colour_blobs, make

    X, _ = colour_blobs()
    est = make().fit(X)
    fig = plot_cluster_samples(est, X, n_per_cluster=3, proba=est.predict_proba(X))
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert shown and all(a.shape == (8, 8, 3) for a in shown)
    fig.savefig(tmp_path / "sheet.png")
    assert (tmp_path / "sheet.png").stat().st_size > 1000


def test_contact_sheet_refuses_tables_and_wrong_proba(fitted, digits):
    from skdiec import DiEC

    from .conftest import FAST

    with pytest.raises(ValueError, match="proba has shape"):
        plot_cluster_samples(fitted, digits[0], proba=np.ones((3, 3)))
    with pytest.raises(ValueError, match="n_per_cluster"):
        plot_cluster_samples(fitted, digits[0], n_per_cluster=0)
    rng = np.random.RandomState(0)
    table = DiEC(n_clusters=2, random_state=0, **FAST).fit(rng.normal(size=(40, 5)))
    with pytest.raises(ValueError, match="fitted on a table"):
        plot_cluster_samples(table, rng.normal(size=(40, 5)))
