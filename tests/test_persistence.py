"""save/load: a safetensors + JSON folder, read back without unpickling; pickles
that load without a GPU."""

import copy
from pathlib import Path
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from skdiec import DiEC

from .conftest import storage_locations

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
    folder = tmp_path / "model"
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == ["arrays.safetensors", "estimator.json", "scheduler/scheduler_config.json",
                     "unet/config.json", "unet/diffusion_pytorch_model.safetensors"]


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


@pytest.mark.parametrize("version", [1, 2, 4, 5])
def test_committed_fixture_still_loads_and_predicts_the_same(version):
    folder = FIXTURE.parent / f"diec_format{version}"
    expected = np.load(folder / "expected.npz")
    est = DiEC.load(folder)
    np.testing.assert_allclose(est.predict_proba(expected["X"]), expected["proba"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(est.predict(expected["X"]), expected["labels"])
    # Format 1 has no scheduler/ (the default schedule); format 2 saved a cosine one.
    schedule = est._model.scheduler.config.beta_schedule
    assert schedule == ("linear" if version == 1 else "squaredcos_cap_v2")
    # Saved before pretrain_batch_size: they pretrained with train_batch_size.
    assert est.pretrain_batch_size == est.train_batch_size == 64
    # Format 4 pools two cells; earlier formats cluster at COL/COT alone.
    assert est.cells_[0] == (est.col_, est.cot_)
    assert len(est.cells_) == est.n_cells == (2 if version >= 4 else 1)
    # Format 5 records the score the search used and the cells' agreement;
    # earlier formats used their search_score and did not record it.
    assert est.search_score_ == est.search_score
    assert np.isnan(est.search_agreement_) == (version < 5)


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


def test_folder_of_another_format_version_is_refused(tmp_path):
    import json
    import shutil

    folder = shutil.copytree(FIXTURE, tmp_path / "model")
    meta = json.loads((folder / "estimator.json").read_text())
    meta["format_version"] = 99
    (folder / "estimator.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="format version 99; this skdiec reads versions 1, 2"):
        DiEC.load(folder)


def test_fortran_ordered_arrays_survive(tmp_path, fitted, digits):
    # PCA's components_ are Fortran-ordered; the format must not scramble them.
    import copy

    import torch

    est = copy.deepcopy(fitted)
    comps = est._model.head.components.numpy()
    est._model.head.components = torch.from_numpy(np.asfortranarray(comps))
    est.save(tmp_path / "f")
    np.testing.assert_array_equal(DiEC.load(tmp_path / "f")._model.head.components.numpy(), comps)


# A model fitted on a GPU must pickle into CPU tensors only, so that it loads
# where there is no GPU. With no GPU here, devices are simulated: a module
# that reports CUDA weights, and the "meta" device for a stray tensor.

class FakeCudaModule(torch.nn.Module):
    """A module that reports its weights on a GPU until ``.cpu()`` is called."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(2))
        self.on_gpu = True

    def parameters(self, recurse=True):
        for p in super().parameters(recurse):
            yield SimpleNamespace(device=torch.device("cuda")) if self.on_gpu else p

    def cpu(self):
        self.on_gpu = False
        return self


def is_torch(value):
    return isinstance(value, (torch.Tensor, torch.nn.Module)) or hasattr(value, "add_noise")


def test_every_torch_object_of_a_fitted_model_is_moved_when_pickled(fitted):
    # The model's __getstate__ names the torch attributes it moves: a new one
    # must be added there, and the estimator holds none outside its model.
    assert not [k for k, v in vars(fitted).items() if is_torch(v)]
    torch_attrs = {k for k, v in vars(fitted._model).items() if is_torch(v)}
    assert torch_attrs == {"unet", "head", "noise_bank", "scheduler"}


def test_pickling_leaves_the_live_model_untouched(fitted):
    # __getstate__ used to edit the estimator's own __dict__ (the state that
    # object.__getstate__ returns), swapping its U-Net for a CPU copy.
    est = copy.deepcopy(fitted)
    before, before_model = dict(vars(est)), dict(vars(est._model))
    pickle.dumps(est)
    for now, then in ((vars(est), before), (vars(est._model), before_model)):
        assert now.keys() == then.keys()
        for key, value in now.items():
            assert value is then[key], key


def test_gpu_modules_are_pickled_from_cpu_copies(fitted):
    model = copy.deepcopy(fitted._model)
    model.unet, model.head = FakeCudaModule(), FakeCudaModule()
    state = model.__getstate__()
    for key in ("unet", "head"):
        assert state[key] is not getattr(model, key) and not state[key].on_gpu
        assert getattr(model, key).on_gpu  # the live model stays where it is


def test_scheduler_left_on_a_device_by_add_noise_is_not_pickled(fitted, digits):
    # diffusers' add_noise moves alphas_cumprod to the device of its input:
    # after a fit on CUDA it is a CUDA tensor, and the pickle used to carry it.
    est = copy.deepcopy(fitted)
    est._model.scheduler.alphas_cumprod = est._model.scheduler.alphas_cumprod.to("meta")
    data = pickle.dumps(est)
    locations = storage_locations(data)
    assert locations and set(locations) == {"cpu"}
    restored = pickle.loads(data)
    np.testing.assert_array_equal(restored.predict(digits[0]), fitted.predict(digits[0]))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_model_fitted_for_cuda_predicts_on_a_machine_without_it(fitted, digits):
    est = pickle.loads(pickle.dumps(copy.deepcopy(fitted).set_params(device="cuda")))
    with pytest.warns(RuntimeWarning, match="device='cuda' is not available here; using the CPU"):
        labels = est.predict(digits[0])
    np.testing.assert_array_equal(labels, fitted.labels_)


@pytest.mark.parametrize("device", ["tpu", "cuda:x"])
def test_a_device_that_is_no_device_is_an_error_at_predict_too(fitted, digits, device):
    # It fell back to the CPU with a warning, as a missing GPU does.
    est = copy.deepcopy(fitted).set_params(device=device)
    with pytest.raises(ValueError, match="device must be"):
        est.predict(digits[0])


def test_load_refuses_a_device_that_is_no_device(fitted, tmp_path):
    fitted.save(tmp_path / "model")
    with pytest.raises(ValueError, match="device must be"):
        DiEC.load(tmp_path / "model", device="tpu")


def test_a_pickle_of_the_earlier_layout_loads_into_one_model(fitted, digits):
    # Earlier pickles held the model's parts as separate attributes.
    model = fitted._model
    state = {k: v for k, v in fitted.__getstate__().items() if k != "_model"}
    state.update({"_layout": model.layout, "unet_": model.unet, "_scheduler": model.scheduler,
                  "_head": model.head, "_noise_bank": model.noise_bank, "col_": model.col,
                  "cot_": model.cot, "cluster_centers_": model.cluster_centers,
                  "n_components_": model.n_components})
    # ... and had no pretrain_batch_size: pretraining took train_batch_size.
    del state["pretrain_batch_size"]
    state["train_batch_size"] = 48
    est = DiEC.__new__(DiEC)
    est.__setstate__(state)
    assert not any(k in vars(est) for k in ("_layout", "unet_", "_head", "n_components_"))
    assert est.get_params()["pretrain_batch_size"] == 48
    np.testing.assert_array_equal(est.predict_proba(digits[0]), fitted.predict_proba(digits[0]))
