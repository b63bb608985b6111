"""Plots of a fitted DiEC estimator (matplotlib is an optional dependency)."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["plot_cluster_samples", "plot_search_scores"]


def _pyplot(caller):
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(f"{caller} needs matplotlib: pip install 'skdiec[plot]'") from exc
    return plt


def plot_cluster_samples(est, X, *, n_per_cluster=8, proba=None, image_height=1.0):
    """Contact sheet: one row per cluster, its most confident members.

    Each row shows the ``n_per_cluster`` images of ``X`` with the highest
    soft assignment to that cluster (most confident first), in colour for
    colour images, each scaled as the model scales it (so that what is
    shown is what the model saw, before padding). A row is titled with the
    cluster's size in ``X``; a cluster with fewer members shows fewer.

    Parameters
    ----------
    est : DiffusionEmbeddedClustering
        A fitted estimator, fitted on images (not on a table).
    X : array-like of shape (n_samples, H, W), (n_samples, C, H, W), \
            (n_samples, H, W, C) or (n_samples, n_features)
        Images as the estimator takes them.
    n_per_cluster : int, default=8
        Images per row.
    proba : ndarray of shape (n_samples, n_clusters), default=None
        ``est.predict_proba(X)``, when already at hand; computed when None.
    image_height : float, default=1.0
        Height of a row in inches.

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skdiec import DiEC
    >>> from skdiec.plotting import plot_cluster_samples
    >>> from sklearn.datasets import load_digits
    >>> X = load_digits().images[:60]
    >>> est = DiEC(n_clusters=3, unet_channels=(8, 16), pretrain_epochs=1,
    ...            timesteps=(10, 100), max_iter=0, random_state=0).fit(X)
    >>> fig = plot_cluster_samples(est, X, n_per_cluster=5)
    >>> len(fig.axes)
    15
    """
    plt = _pyplot("plot_cluster_samples")
    check_is_fitted(est)
    if int(n_per_cluster) != n_per_cluster or n_per_cluster < 1:
        raise ValueError(f"n_per_cluster must be a positive int; got {n_per_cluster!r}.")
    n_per_cluster = int(n_per_cluster)
    layout = est._model.layout
    if layout.kind != "image":
        raise ValueError("plot_cluster_samples shows images; this estimator was fitted on a "
                         "table (rows that are not images).")
    X2d, _ = est._validate_input(X, reset=False)
    if proba is None:
        proba = est.predict_proba(X)
    proba = np.asarray(proba)
    if proba.shape != (X2d.shape[0], est.n_clusters):
        raise ValueError(f"proba has shape {proba.shape}; expected ({X2d.shape[0]}, "
                         f"{est.n_clusters}), est.predict_proba(X)'s.")
    labels = proba.argmax(axis=1)
    c, h, w = layout.image_shape
    n_rows = est.n_clusters
    fig, axes = plt.subplots(n_rows, n_per_cluster, squeeze=False,
                             figsize=(n_per_cluster * image_height * w / h + 1.2,
                                      n_rows * image_height + 0.3))
    for k in range(n_rows):
        members = np.flatnonzero(labels == k)
        best = members[np.argsort(-proba[members, k], kind="stable")][:n_per_cluster]
        # [-1, 1] as the model sees them, then to [0, 1] for imshow.
        shown = (layout.to_tensor(X2d[best]).numpy()[:, :, :h, :w] + 1) / 2
        for j, ax in enumerate(axes[k]):
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j < len(best):
                image = shown[j].transpose(1, 2, 0).clip(0, 1)
                if c == 1:
                    ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
                else:
                    ax.imshow(image[..., :3])
                ax.set_title(f"{proba[best[j], k]:.2f}", fontsize=7, pad=2)
        axes[k, 0].set_ylabel(f"{k}\n({members.size})", rotation=0, ha="right", va="center",
                              fontsize=9)
    fig.suptitle("Clusters (rows: cluster and size) and their most confident members",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_search_scores(est, *, ax=None, cmap="viridis"):
    """Heat map of the COL/COT search: layers x timesteps, COL/COT marked.

    Cells the two-stage search did not evaluate are left blank. COL/COT is
    boxed in red, and the cells pooled with it (``n_cells``) in dashed red.

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
    plt = _pyplot("plot_search_scores")
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
    # COL/COT in a red box; the cells pooled with it (n_cells) in dashed ones.
    for number, (layer, t) in enumerate(est.cells_):
        i = est.search_layers_.index(layer)
        j = list(est.search_timesteps_).index(t)
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red",
                                   lw=2 if number == 0 else 1.2,
                                   ls="-" if number == 0 else "--"))
    pooled = f" (+{len(est.cells_) - 1} pooled cells)" if len(est.cells_) > 1 else ""
    ax.set_title(f"COL={est.col_}, COT={est.cot_}{pooled}")
    # search_score_ is the score the cells were ranked by ("auto" resolved).
    ax.figure.colorbar(image, ax=ax, label=f"clusterability ({est.search_score_})"
                       if est.search_score_ != "callable" else "clusterability")
    return ax
