"""A clustering space pooled from several cells (``n_cells``)."""

import numpy as np
import pytest
import torch

from skdiec import DiEC, _features, _model, _search

from .conftest import FAST, tiny_embedder


def _result(scores, layers=("down.0", "mid", "up.0"), timesteps=(1, 10, 20, 100)):
    scores = np.asarray(scores, dtype=float)
    best = np.unravel_index(np.nanargmax(scores), scores.shape)
    return _search.SearchResult(list(layers), np.asarray(timesteps), scores, layers[best[0]],
                                int(timesteps[best[1]]), int(np.isfinite(scores).sum()),
                                None, None, float("nan"), "size_entropy")


def test_best_cells_are_col_cot_then_the_best_other_coarse_cells():
    nan = np.nan
    # Timestep 20 is a refined one: scored on COL (mid) only.
    result = _result([[0.50, 0.70, nan, 0.60],
                      [0.80, 0.90, 0.95, 0.40],
                      [0.85, 0.10, nan, 0.70]])
    coarse = (1, 10, 100)
    assert _search.best_cells(result, coarse, 1) == [("mid", 20)]
    assert _search.best_cells(result, coarse, 4) == [("mid", 20), ("mid", 10), ("up.0", 1),
                                                     ("mid", 1)]
    # Never a refined cell other than COL/COT, never COL/COT twice, and no
    # more cells than the grid has.
    assert len(_search.best_cells(result, coarse, 50)) == 1 + 9
    # Ties go to the earlier layer, then the earlier timestep.
    tied = _result([[0.5, 0.5], [0.9, 0.5]], ("a", "b"), (1, 2))
    assert _search.best_cells(tied, (1, 2), 3) == [("b", 1), ("a", 1), ("a", 2)]


# Two cells read by one forward at t=50, one by another at t=10.
POOLED_CELLS = [("mid", 50), ("down.0", 50), ("mid", 10)]


def _pooled_embedder():
    """An embedder on the tiny U-Net pooling :data:`POOLED_CELLS` (3
    components each), their heads, and the images."""
    embedder, X = tiny_embedder()
    unet, scheduler, bank = embedder.unet, embedder.scheduler, embedder.noise_bank
    heads = [_model.FeatureHead.fit(_features.extract_features(
        unet, scheduler, X, t, [layer], bank, "flatten", 64, "cpu")[layer].astype(np.float64),
        3, 0) for layer, t in POOLED_CELLS]
    pooled = _model.Embedder(unet, scheduler, _model.make_head(heads), *POOLED_CELLS[0], bank,
                             "flatten", POOLED_CELLS[1:])
    return pooled, heads, X


def test_pooled_embedding_is_each_cells_embedding_side_by_side():
    pooled, heads, X = _pooled_embedder()
    unet, scheduler, bank = pooled.unet, pooled.scheduler, pooled.noise_bank

    def side_by_side(noise):
        return torch.cat([_model.Embedder(unet, scheduler, head, layer, t, noise,
                                          "flatten").embed(X, 64, "cpu")
                          for head, (layer, t) in zip(heads, POOLED_CELLS)], dim=1)

    Z = pooled.embed(X, 64, "cpu")
    assert Z.shape == (X.shape[0], 9)
    torch.testing.assert_close(Z, side_by_side(bank))
    # The noise draws a fine-tuning step reads are taken for every cell.
    torch.testing.assert_close(pooled.with_draws([1]).embed(X, 64, "cpu"),
                               side_by_side(bank[[1]]))


def test_embedding_records_grad_only_at_grad_timesteps():
    pooled, _, X = _pooled_embedder()
    unet, x = pooled.unet, X[:8]

    def grads(block, grad_timesteps):
        unet.zero_grad(set_to_none=True)
        Z = pooled(x, grad_timesteps)
        Z[:, block].pow(2).sum().backward()
        return [p.grad for p in unet.parameters() if p.grad is not None and p.grad.any()]

    with torch.no_grad():
        expected = pooled(x)
    torch.testing.assert_close(pooled(x, (50,)).detach(), expected)
    # Blocks 0-5 come from the forward at t=50 and carry grad; blocks 6-8
    # (mid at t=10) enter as a constant unless every timestep is trained.
    assert grads(slice(0, 3), (50,)) and grads(slice(3, 6), (50,))
    assert not grads(slice(6, 9), (50,))
    assert grads(slice(6, 9), None)
    unet.zero_grad(set_to_none=True)


@pytest.fixture(scope="module")
def pooled_fit(digits):
    X, _ = digits
    return DiEC(n_clusters=3, random_state=0, n_cells=3, **FAST).fit(X)


def test_fit_pools_cells_into_one_space(pooled_fit, fitted, digits):
    X, _ = digits
    est = pooled_fit
    assert est.cells_[0] == (est.col_, est.cot_) == (fitted.col_, fitted.cot_)
    assert len(est.cells_) == 3 and len(set(est.cells_)) == 3
    assert all(layer in est.search_layers_ for layer, _ in est.cells_)
    # Each cell is projected to n_components and scaled to unit RMS norm on
    # the search subset, so the blocks have comparable sizes.
    assert est.n_components_ == 3 * FAST["n_components"]
    Z = est.transform(X)
    assert Z.shape == (X.shape[0], est.n_components_)
    block_rms = [np.sqrt((Z[:, i:i + 4] ** 2).sum(axis=1).mean()) for i in (0, 4, 8)]
    assert max(block_rms) / min(block_rms) < 3
    np.testing.assert_array_equal(est.predict(X), est.labels_)


def test_pooled_fit_reproduces_and_round_trips(pooled_fit, digits, tmp_path):
    X, _ = digits
    again = DiEC(n_clusters=3, random_state=0, n_cells=3, **FAST).fit(X)
    np.testing.assert_array_equal(again.labels_, pooled_fit.labels_)
    np.testing.assert_array_equal(again.transform(X), pooled_fit.transform(X))
    pooled_fit.save(tmp_path / "m")
    loaded = DiEC.load(tmp_path / "m")
    assert loaded.cells_ == pooled_fit.cells_
    np.testing.assert_allclose(loaded.predict_proba(X), pooled_fit.predict_proba(X),
                               rtol=1e-5, atol=1e-6)


def test_changing_n_cells_after_fit_is_refused(pooled_fit, digits):
    from sklearn.base import clone

    X, _ = digits
    est = clone(pooled_fit)
    est.__dict__.update({k: v for k, v in vars(pooled_fit).items() if k.endswith("_")
                         or k.startswith("_")})
    est.set_params(n_cells=1)
    with pytest.raises(ValueError, match="n_cells"):
        est.predict(X)


def test_heat_map_boxes_every_pooled_cell(pooled_fit):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from skdiec.plotting import plot_search_scores

    ax = plot_search_scores(pooled_fit)
    corners = [box.get_xy() for box in ax.patches]
    assert corners == [(list(pooled_fit.search_timesteps_).index(t) - 0.5,
                        pooled_fit.search_layers_.index(layer) - 0.5)
                       for layer, t in pooled_fit.cells_]
    assert [box.get_linestyle() for box in ax.patches] == ["-", "--", "--"]
