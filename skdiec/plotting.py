"""Plots of a fitted DiEC estimator (matplotlib is an optional dependency)."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["plot_search_scores"]


def plot_search_scores(est, *, ax=None, cmap="viridis"):
    """Heat map of the COL/COT search: layers x timesteps, COL/COT marked.

    Cells the two-stage search did not evaluate are left blank.

    Parameters
    ----------
    est : DiffusionEmbeddedClustering
        A fitted estimator.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    cmap : str, default="viridis"

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skdiec import DiEC
    >>> from skdiec.plotting import plot_search_scores
    >>> from sklearn.datasets import load_digits
    >>> est = DiEC(n_clusters=3, unet_channels=(8, 16), pretrain_epochs=1,
    ...            timesteps=(10, 100), max_iter=0, random_state=0)
    >>> ax = plot_search_scores(est.fit(load_digits().images[:60]))
    >>> ax.get_xlabel()
    'timestep'
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError("plot_search_scores needs matplotlib: "
                          "pip install 'skdiec[plot]'") from exc
    check_is_fitted(est)
    scores = np.ma.masked_invalid(est.search_scores_)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.6 * scores.shape[1], 1.0 + 0.45 * scores.shape[0]))
    image = ax.imshow(scores, aspect="auto", cmap=cmap, interpolation="nearest")
    ax.set_xticks(range(len(est.search_timesteps_)),
                  [str(t) for t in est.search_timesteps_], rotation=45)
    ax.set_yticks(range(len(est.search_layers_)), est.search_layers_)
    ax.set_xlabel("timestep")
    ax.set_ylabel("layer")
    i = est.search_layers_.index(est.col_)
    j = list(est.search_timesteps_).index(est.cot_)
    ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", lw=2))
    ax.set_title(f"COL={est.col_}, COT={est.cot_}")
    ax.figure.colorbar(image, ax=ax, label=f"clusterability ({est.search_score})"
                       if isinstance(est.search_score, str) else "clusterability")
    return ax
