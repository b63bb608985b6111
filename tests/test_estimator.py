import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score, make_scorer
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skdiec import DiEC, DiffusionEmbeddedClustering
from skdiec import _backbone

from .conftest import FAST


def test_alias():
    assert DiEC is DiffusionEmbeddedClustering


def test_fitted_attributes(fitted, digits):
    X, _ = digits
    est = fitted
    assert est.labels_.shape == (len(X),) and est.labels_.dtype.kind == "i"
    assert set(np.unique(est.labels_)) <= {0, 1, 2}
    assert est.cluster_centers_.shape == (3, est.n_components_)
    assert est.col_ in est.search_layers_
    assert est.search_layers_ == ["down.0", "down.1", "mid", "up.0", "up.1"]
    j = list(est.search_timesteps_).index(est.cot_)
    i = est.search_layers_.index(est.col_)
    assert est.search_scores_[i, j] == np.nanmax(est.search_scores_[i])
    # coarse columns are full; refinement columns only on COL
    for j, t in enumerate(est.search_timesteps_):
        if t in (10, 100):
            assert not np.isnan(est.search_scores_[:, j]).any()
    assert est.n_features_in_ == 64
    assert 0 < est.n_iter_ <= FAST["max_iter"]
    assert len(est.pretrain_loss_) == 1
    assert est.init_labels_.shape == (len(X),)
    assert isinstance(est.unet_, torch.nn.Module)


def test_labels_equal_predict_and_batches_do_not_matter(fitted, digits):
    X, _ = digits
    np.testing.assert_array_equal(fitted.predict(X), fitted.labels_)
    np.testing.assert_array_equal(fitted.predict(X[:7]), fitted.labels_[:7])
    small = clone(fitted).set_params(batch_size=4)
    small.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")
                           or k.startswith("_")})
    np.testing.assert_allclose(small.transform(X[:10]), fitted.transform(X[:10]),
                               rtol=1e-4, atol=1e-5)


def test_predict_proba_and_transform(fitted, digits):
    X, _ = digits
    Q = fitted.predict_proba(X[:20])
    assert Q.shape == (20, 3)
    np.testing.assert_allclose(Q.sum(axis=1), 1, rtol=1e-6)
    Z = fitted.transform(X[:20])
    assert Z.shape == (20, fitted.n_components_) and Z.dtype == np.float64
    np.testing.assert_array_equal(Q.argmax(axis=1), fitted.predict(X[:20]))
    names = fitted.get_feature_names_out()
    assert list(names) == [f"diffusionembeddedclustering{i}" for i in range(4)]


def test_flat_rows_and_images_give_the_same_model(digits):
    X, _ = digits
    a = DiEC(n_clusters=3, random_state=1, **FAST).fit(X)
    b = DiEC(n_clusters=3, random_state=1, **FAST).fit(X.reshape(len(X), -1))
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.predict(X[:5]), b.predict(X[:5].reshape(5, -1)))


def test_same_seed_same_result_and_global_rng_untouched(digits):
    X, _ = digits
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    a = DiEC(n_clusters=3, random_state=3, **FAST).fit(X)
    b = DiEC(n_clusters=3, random_state=3, **FAST).fit(X)
    assert torch.equal(torch_state, torch.get_rng_state())
    assert np.array_equal(np_state[1], np.random.get_state()[1])
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert (a.col_, a.cot_) == (b.col_, b.cot_)


def test_pickle_and_joblib_round_trip(fitted, digits, tmp_path):
    X, _ = digits
    expected = fitted.predict_proba(X)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), expected)
    joblib.dump(fitted, tmp_path / "est.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "est.joblib").predict_proba(X), expected)


def test_user_unet_is_used_and_not_mutated(digits, tmp_path):
    X, _ = digits
    # Another seed and width than any U-Net the fit would build: a fit that
    # ignored it could not end with its weights.
    unet = _backbone.build_unet(1, (8, 8), (8, 24), layers_per_block=1, seed=123)
    as_given = DiEC(n_clusters=3, unet=unet, random_state=0,
                    **dict(FAST, pretrain_epochs=0, max_iter=0)).fit(X)
    for (name, p), q in zip(unet.state_dict().items(), as_given.unet_.state_dict().values()):
        assert torch.equal(p, q), name
    before = [p.detach().clone() for p in unet.parameters()]
    params = dict(FAST, pretrain_epochs=1)
    est = DiEC(n_clusters=3, unet=unet, random_state=0, **params).fit(X)
    assert est.unet_ is not unet
    for p, q in zip(before, unet.parameters()):
        assert torch.equal(p, q)
    # The same model from a save_pretrained folder gives the same fit.
    unet.save_pretrained(tmp_path / "unet")
    est2 = DiEC(n_clusters=3, unet=str(tmp_path / "unet"), random_state=0, **params).fit(X)
    np.testing.assert_array_equal(est.labels_, est2.labels_)


def test_given_unet_skips_pretraining_by_default(digits):
    X, _ = digits
    unet = _backbone.build_unet(1, (8, 8), (8, 16), layers_per_block=1, seed=0)
    params = {k: v for k, v in FAST.items() if k != "pretrain_epochs"}
    est = DiEC(n_clusters=3, unet=unet, random_state=0, **params).fit(X)
    assert est.pretrain_loss_ == []


def test_fine_tuned_unet_stays_a_denoiser(fitted, digits):
    # Fine-tuning keeps the DDPM loss in its objective, so the fitted U-Net
    # denoises the data better than the pretrained U-Net it started from (the
    # same fit without fine-tuning: each phase has its own seed), and better
    # than predicting zero noise (a loss of 1): the model stays generative.
    X, _ = digits
    pretrained = clone(fitted).set_params(max_iter=0).fit(X)

    def ddpm_loss(est):
        gen = torch.Generator().manual_seed(0)
        X_img = est._model.layout.to_tensor(X.reshape(len(X), -1))
        eps, t = _backbone.draw_noise(X_img.shape, est._model.scheduler, gen)
        with torch.no_grad():
            return _backbone.denoising_loss(est.unet_, X_img, est._model.scheduler, eps,
                                            t).item()

    assert ddpm_loss(fitted) < min(1.0, ddpm_loss(pretrained))


def test_in_pipeline_and_grid_search(digits):
    X, y = digits
    pipe = make_pipeline(FunctionTransformer(lambda a: a / 16.0), DiEC(random_state=0, **FAST))
    pipe.set_params(diffusionembeddedclustering__n_clusters=3)
    labels = pipe.fit_predict(X.reshape(len(X), -1))
    assert labels.shape == (len(X),)

    # Unsupervised: each split is scored by DiEC.score (the silhouette) of a
    # clone fitted on the other half, exactly as by hand.
    grid = {"n_clusters": [2, 3]}
    X2 = X.reshape(len(X), -1)
    unsupervised = GridSearchCV(DiEC(random_state=0, **FAST), grid, cv=2).fit(X2)
    train, test = next(KFold(2).split(X2))
    by_hand = DiEC(n_clusters=3, random_state=0, **FAST).fit(X2[train]).score(X2[test])
    assert unsupervised.cv_results_["split0_test_score"][1] == pytest.approx(by_hand)
    # Supervised on three classes of digits: three clusters agree with them
    # better than two.
    supervised = GridSearchCV(DiEC(random_state=0, **FAST), grid, cv=2,
                              scoring=make_scorer(adjusted_rand_score)).fit(X2, y)
    assert supervised.best_params_ == {"n_clusters": 3}


def test_score_is_the_silhouette_of_the_prediction(fitted, digits):
    from sklearn.metrics import silhouette_score

    X, _ = digits
    expected = silhouette_score(fitted.transform(X), fitted.predict(X))
    assert fitted.score(X) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("max_iter", [FAST["max_iter"], 0], ids=["fine-tuned", "the start's"])
def test_fit_transform_is_fit_then_transform_without_a_second_pass(digits, monkeypatch,
                                                                   max_iter):
    from skdiec import _model

    X, _ = digits
    params = dict(FAST, max_iter=max_iter)
    expected = DiEC(n_clusters=3, random_state=0, **params).fit(X).transform(X)
    # transform's pass (ClusteringModel.embed) is never made: the fit's is returned.
    monkeypatch.setattr(_model.ClusteringModel, "embed",
                        lambda *a, **k: pytest.fail("X was embedded a second time"))
    est = DiEC(n_clusters=3, random_state=0, **params)
    Z = est.fit_transform(X)
    assert Z.dtype == np.float64 and Z.shape == (len(X), est.n_components_)
    np.testing.assert_array_equal(Z, expected)
    np.testing.assert_array_equal(est._model.soft_assign(torch.from_numpy(Z)).argmax(axis=1),
                                  est.labels_)


def test_verbose_zero_is_silent(digits, capsys):
    X, _ = digits
    est = DiEC(n_clusters=3, random_state=0, **FAST).fit(X)
    est.predict(X)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_verbose_shows_progress_with_loss(digits, capsys):
    X, _ = digits
    est = DiEC(n_clusters=3, random_state=0, verbose=1, **FAST).fit(X)
    err = capsys.readouterr().err
    assert "pretrain U-Net" in err and "search" in err and "DEC fine-tuning" in err
    assert "loss=" in err
    # Every phase that passes over all the images, the start's UMAP layouts
    # too (a minute or more on 10,000 images), has its bar.
    assert f"start: embedding at {est.col_}@{est.cot_}" in err and f"/{len(X)} " in err
    assert "start: UMAP layouts" in err and "embedding at the fine-tuned cell" in err
    est.predict(X)
    assert "embedding" in capsys.readouterr().err


def test_tabular_input_goes_through_the_unet():
    from sklearn.datasets import make_blobs

    X, y = make_blobs(90, n_features=5, centers=3, random_state=0)
    est = DiEC(n_clusters=3, random_state=0, **FAST).fit(X)
    assert est._model.layout.kind == "table" and est._model.layout.image_shape == (1, 3, 3)
    assert adjusted_rand_score(y, est.labels_) > 0.5


def test_multichannel_images(digits):
    X, _ = digits
    X3 = np.stack([X, X[:, ::-1], X.transpose(0, 2, 1)], axis=1)  # (n, 3, 8, 8)
    est = DiEC(n_clusters=3, random_state=0, **FAST).fit(X3)
    assert est.unet_.config.in_channels == 3 and est.n_features_in_ == 192
    assert est.predict(X3[:4]).shape == (4,)


def test_image_shape_for_rows(digits):
    X, _ = digits
    rows = X[:, :, :6].reshape(len(X), -1)  # 8x6 images as 48-value rows
    est = DiEC(n_clusters=3, image_shape=(8, 6), random_state=0, **FAST).fit(rows)
    assert est._model.layout.image_shape == (1, 8, 6) and est._model.layout.padded_shape == (8, 6)
    np.testing.assert_array_equal(est.predict(rows), est.labels_)
    np.testing.assert_array_equal(est.predict(X[:, :, :6]), est.labels_)


def test_named_layers_and_single_cell(digits):
    X, _ = digits
    params = dict(FAST, timesteps=[40], n_refine_timesteps=0)
    est = DiEC(n_clusters=3, layers=["mid"], random_state=0, **params).fit(X)
    assert (est.col_, est.cot_) == ("mid", 40)
    assert est.search_scores_.shape == (1, 1)


def test_search_stays_below_the_pretrained_timesteps(digits):
    X, _ = digits
    params = dict(FAST, timesteps=[10, 60, 500], n_refine_timesteps=3)
    est = DiEC(n_clusters=3, pretrain_max_timestep=80, random_state=0, **params).fit(X)
    assert est.search_timesteps_.max() < 80 and 500 not in est.search_timesteps_
    with pytest.raises(ValueError, match="no value below 80"):
        DiEC(n_clusters=3, pretrain_max_timestep=80, **dict(FAST, timesteps=[100])).fit(X)
    # The U-Net records the noise levels it was pretrained on, so a fit given
    # it, which does not pretrain, still searches below them only ...
    given = DiEC(n_clusters=3, unet=est.unet_, random_state=0,
                 **dict(params, pretrain_epochs="auto")).fit(X)
    assert given.search_timesteps_.max() < 80
    # ... while a U-Net that skdiec did not pretrain is searched on the whole grid.
    from skdiec import _backbone

    plain = _backbone.build_unet(1, (8, 8), FAST["unet_channels"], 1, seed=0)
    other = DiEC(n_clusters=3, unet=plain, random_state=0,
                 **dict(params, pretrain_epochs="auto")).fit(X)
    assert 500 in other.search_timesteps_


def test_no_fine_tuning_keeps_the_initial_centres(digits):
    X, _ = digits
    est = DiEC(n_clusters=3, random_state=0, **dict(FAST, max_iter=0)).fit(X)
    assert est.n_iter_ == 0
    # labels_ is predict's assignment to the centroids of the initial partition.
    Z = est.transform(X)
    centroids = np.stack([Z[est.init_labels_ == k].mean(axis=0) for k in range(3)])
    np.testing.assert_allclose(est.cluster_centers_, centroids, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(est.labels_, est.predict(X))
    # Ward's partition is already one by nearest centre.
    ward = DiEC(n_clusters=3, random_state=0, init="ward", **dict(FAST, max_iter=0)).fit(X)
    np.testing.assert_array_equal(ward.labels_, ward.init_labels_)


@pytest.mark.parametrize("train_batch_size, steps", [(64, 30), (2, 60), (1, 100)],
                         ids=["2 steps a pass: 30", "60 steps a pass", "120: 100"])
def test_auto_fine_tuning_with_dec_target_takes_one_pass_within_30_to_100_steps(
    digits, train_batch_size, steps
):
    X, _ = digits  # 120 images
    est = DiEC(n_clusters=3, random_state=0, fine_tune_target="dec", **dict(
        FAST, max_iter="auto", tol=0.0, train_batch_size=train_batch_size)).fit(X)
    assert est.n_iter_ == steps


def test_auto_fine_tuning_with_held_target_runs_until_the_start_is_reproduced(digits):
    from skdiec import _dec

    X, _ = digits
    est = DiEC(n_clusters=3, random_state=0, **dict(FAST, max_iter="auto", tol=0.0)).fit(X)
    history = est.fine_tune_history_
    one_pass = _dec.auto_steps(len(X), 64)  # 30: the floor
    # tol=0 never stops it: the last check is the first after one pass where
    # the start is reproduced, long before the steps run out.
    assert all(h["target_agreement"] < _dec.REPRODUCED
               for h in history[1:-1] if h["step"] >= one_pass)
    assert history[-1]["target_agreement"] >= _dec.REPRODUCED
    assert one_pass <= est.n_iter_ < _dec.HELD_MAX_STEPS
    assert est.n_iter_ == history[-1]["step"] == FAST["update_interval"] * (len(history) - 1)
    # labels_ are still the fitted model's own
    np.testing.assert_array_equal(est.predict(X), est.labels_)


def _held_steps_that_run_out(monkeypatch, steps=6):
    """The held target's steps run out before the start is reproduced."""
    from skdiec import _dec

    monkeypatch.setattr(_dec, "HELD_MAX_STEPS", steps)
    monkeypatch.setattr(_dec, "REPRODUCED", 1.01)


@pytest.mark.filterwarnings("ignore:DEC fine-tuning:RuntimeWarning")
def test_auto_fine_tuning_that_ends_further_from_the_start_keeps_the_state_before_it(
    digits, monkeypatch
):
    X, _ = digits
    _held_steps_that_run_out(monkeypatch)
    # A learning rate far too high scrambles the U-Net's features.
    est = DiEC(n_clusters=3, random_state=0, **dict(
        FAST, max_iter="auto", tol=0.0, learning_rate=0.5)).fit(X)
    history = est.fine_tune_history_
    assert est.n_iter_ == 6 and history[-1]["step"] == 6
    assert history[-1]["target_agreement"] < history[0]["target_agreement"]
    assert history[-1]["reverted"] is True
    unfitted = DiEC(n_clusters=3, random_state=0, **dict(FAST, max_iter=0)).fit(X)
    np.testing.assert_array_equal(est.labels_, unfitted.labels_)
    np.testing.assert_array_equal(est.cluster_centers_, unfitted.cluster_centers_)
    for kept, before in zip(est.unet_.parameters(), unfitted.unet_.parameters()):
        torch.testing.assert_close(kept, before, rtol=0, atol=0)
    np.testing.assert_array_equal(est.predict(X), est.labels_)


@pytest.mark.filterwarnings("ignore:DEC fine-tuning:RuntimeWarning")
@pytest.mark.parametrize("learning_rate", [1e-3, 0.5])
def test_auto_fine_tuning_checks_where_its_steps_ran_out(digits, monkeypatch, learning_rate):
    X, _ = digits
    _held_steps_that_run_out(monkeypatch)
    est = DiEC(n_clusters=3, random_state=0, **dict(
        FAST, max_iter="auto", tol=0.0, learning_rate=learning_rate)).fit(X)
    first, last = est.fine_tune_history_[0], est.fine_tune_history_[-1]
    assert last["step"] == est.n_iter_ == 6
    assert last.get("reverted", False) == (
        last["target_agreement"] < first["target_agreement"])
    np.testing.assert_array_equal(est.predict(X), est.labels_)


@pytest.mark.filterwarnings("ignore:DEC fine-tuning:RuntimeWarning")
def test_explicit_max_iter_keeps_where_its_steps_ran_out(digits, monkeypatch):
    X, _ = digits
    _held_steps_that_run_out(monkeypatch)
    est = DiEC(n_clusters=3, random_state=0, **dict(
        FAST, max_iter=6, tol=0.0, learning_rate=0.5)).fit(X)
    assert not any(h.get("reverted") for h in est.fine_tune_history_)
    assert est.fine_tune_history_[-1]["step"] < 6  # no check after the last step


def test_explicit_max_iter_ignores_the_agreement(digits):
    X, _ = digits
    est = DiEC(n_clusters=3, random_state=0, **dict(FAST, max_iter=8, tol=0.0)).fit(X)
    assert est.n_iter_ == 8 and "target_agreement" in est.fine_tune_history_[-1]


@pytest.mark.parametrize("n_samples, batch_size, epochs", [
    (1797, 64, 35),   # digits: 29 steps an epoch, 1,015 steps (the floor in steps)
    (6400, 64, 10),   # 100 steps an epoch: the floor and the passes meet
    (9298, 64, 10),   # USPS: 146 steps an epoch, 1,460 steps (the passes)
    (10000, 64, 10),  # the MNIST test split: 1,570 steps
    (20000, 64, 6),   # 313 steps an epoch: 1,878 steps (the ceiling)
    (70000, 64, 1),   # MNIST: 1,094 steps an epoch, one pass
    (200000, 64, 1),  # 3,125 steps an epoch: at least one pass
    (100, 64, 100),   # 2 steps an epoch: at most 100 passes
])
def test_auto_pretraining_length(n_samples, batch_size, epochs):
    from skdiec._backbone import auto_pretrain_epochs

    assert auto_pretrain_epochs(n_samples, batch_size) == epochs


def test_a_unet_with_attention_blocks_clusters_at_them(digits, tmp_path):
    # Hub checkpoints (google/ddpm-*) have attention blocks, which the built
    # U-Net does not: the feature hooks, fine-tuning and saving must take them.
    from diffusers import UNet2DModel

    X, _ = digits
    unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16),
                       layers_per_block=1, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=8,
                       attention_head_dim=8)
    est = DiEC(n_clusters=3, unet=unet, layers=["down.1", "up.0"], pretrain_epochs=1,
               timesteps=(10, 100), n_refine_timesteps=0, max_iter=4, random_state=0).fit(X)
    assert est.col_ in ("down.1", "up.0") and est.n_iter_ == 4
    assert any("attentions" in name for name, _ in est.unet_.named_modules())
    assert not all(torch.equal(a, b) for a, b in zip(est.unet_.state_dict().values(),
                                                     unet.state_dict().values()))
    np.testing.assert_array_equal(est.predict(X), est.labels_)
    np.testing.assert_array_equal(DiEC.load(est.save(tmp_path / "m")).predict(X), est.labels_)
