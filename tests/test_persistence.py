"""save/load: a safetensors + JSON folder, read back without unpickling."""

from pathlib import Path

import numpy as np
import pytest

from skdiec import DiEC

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "diec_format1"


def test_round_trip_gives_identical_predictions(fitted, digits, tmp_path):
    X, _ = digits
    fitted.save(tmp_path / "model")
    loaded = DiEC.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))
    assert loaded.get_params()["unet"] is None
    for name in ("col_", "cot_", "n_features_in_", "search_layers_", "n_iter_"):
        assert getattr(loaded, name) == getattr(fitted, name)
    np.testing.assert_array_equal(loaded.search_scores_, fitted.search_scores_)
    np.testing.assert_array_equal(loaded.labels_, fitted.labels_)


def test_saved_weights_are_safetensors_only(fitted, tmp_path):
    fitted.save(tmp_path / "model")
    files = sorted(p.name for p in (tmp_path / "model").rglob("*") if p.is_file())
    assert files == ["arrays.safetensors", "config.json",
                     "diffusion_pytorch_model.safetensors", "estimator.json"]


def test_rows_with_feature_names_round_trip(tmp_path):
    pd = pytest.importorskip("pandas")
    from sklearn.datasets import make_blobs

    from .conftest import FAST

    X, _ = make_blobs(40, n_features=3, centers=2, random_state=0)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    est = DiEC(n_clusters=2, random_state=0, **FAST).fit(df)
    est.save(tmp_path / "m")
    loaded = DiEC.load(tmp_path / "m")
    assert list(loaded.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_array_equal(loaded.predict(df), est.predict(df))


def test_committed_fixture_still_loads_and_predicts_the_same():
    expected = np.load(FIXTURE / "expected.npz")
    est = DiEC.load(FIXTURE)
    np.testing.assert_allclose(est.predict_proba(expected["X"]), expected["proba"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(est.predict(expected["X"]), expected["labels"])


def test_unfitted_callable_and_missing(tmp_path, fitted):
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        DiEC().save(tmp_path / "x")
    est = clone(fitted).set_params(search_score=lambda F, k, r: 0.0)
    est.__dict__.update({k: v for k, v in vars(fitted).items() if k.endswith("_")
                         or k.startswith("_")})
    with pytest.raises(ValueError, match="callable search_score cannot be saved"):
        est.save(tmp_path / "y")
    with pytest.raises(FileNotFoundError, match="not a saved skdiec model"):
        DiEC.load(tmp_path)


def test_fortran_ordered_arrays_survive(tmp_path, fitted, digits):
    # PCA's components_ are Fortran-ordered; the format must not scramble them.
    import copy

    import torch

    est = copy.deepcopy(fitted)
    comps = est._head.components.numpy()
    est._head.components = torch.from_numpy(np.asfortranarray(comps))
    est.save(tmp_path / "f")
    np.testing.assert_array_equal(DiEC.load(tmp_path / "f")._head.components.numpy(), comps)
