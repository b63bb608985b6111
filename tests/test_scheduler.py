"""The noise scheduler: given, read from a pipeline folder, cached, saved."""

import json

import numpy as np
import pytest
from diffusers import DDPMPipeline, DDPMScheduler

from skdiec import DiEC, SavedModelError

from .conftest import FAST
from .test_memory import _entries

COSINE = dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")


@pytest.fixture(scope="module")
def cosine_fit(digits):
    scheduler = DDPMScheduler(**COSINE)
    est = DiEC(n_clusters=3, scheduler=scheduler, random_state=0, **FAST).fit(digits[0])
    return est, scheduler


def test_a_given_scheduler_noises_every_phase(cosine_fit, fitted, digits):
    est, scheduler = cosine_fit
    model_scheduler = est._model.scheduler
    assert model_scheduler is not scheduler  # a copy: the caller's object is not used
    assert model_scheduler.config.beta_schedule == "squaredcos_cap_v2"
    # Another schedule, other noised images: the backbone and the embedding differ.
    assert not np.allclose(est.transform(digits[0]), fitted.transform(digits[0]))
    assert est.pretrain_loss_ != fitted.pretrain_loss_


def test_a_pipeline_folder_brings_its_scheduler(cosine_fit, digits, tmp_path):
    est, scheduler = cosine_fit
    DDPMPipeline(unet=est.unet_, scheduler=scheduler).save_pretrained(tmp_path / "pipe")
    from_unet = DiEC(n_clusters=3, unet=tmp_path / "pipe", random_state=0,
                     **dict(FAST, pretrain_epochs=0)).fit(digits[0])
    assert from_unet._model.scheduler.config.beta_schedule == "squaredcos_cap_v2"
    # The same schedule named by the folder: the very fit of the object.
    from_folder = DiEC(n_clusters=3, scheduler=tmp_path / "pipe", random_state=0,
                       **FAST).fit(digits[0])
    np.testing.assert_array_equal(from_folder.labels_, est.labels_)


def test_save_and_load_keep_the_scheduler(cosine_fit, digits, tmp_path):
    est, _ = cosine_fit
    folder = est.save(tmp_path / "m")
    assert (folder / "scheduler" / "scheduler_config.json").is_file()
    loaded = DiEC.load(folder)
    assert loaded._model.scheduler.config.beta_schedule == "squaredcos_cap_v2"
    assert loaded.scheduler is None  # the folder's scheduler/ is the model's
    np.testing.assert_array_equal(loaded.predict_proba(digits[0]), est.predict_proba(digits[0]))


def test_a_format_2_folder_without_its_scheduler_is_refused(fitted, tmp_path):
    import shutil

    folder = fitted.save(tmp_path / "m")
    shutil.rmtree(folder / "scheduler")
    with pytest.raises(SavedModelError, match="scheduler is missing"):
        DiEC.load(folder)


def test_a_scheduler_folder_naming_no_scheduler_class_is_refused(digits, tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "scheduler_config.json").write_text(json.dumps({"_class_name": "os"}))
    with pytest.raises(ValueError, match="names 'os', which is not a diffusers noise scheduler"):
        DiEC(n_clusters=3, scheduler=tmp_path / "s", **FAST).fit(digits[0])


def test_an_object_that_is_not_a_scheduler_is_refused(digits):
    class AddsNoise:
        def add_noise(self, x, eps, t):
            return x

    with pytest.raises(TypeError, match="scheduler must be a diffusers noise scheduler"):
        DiEC(n_clusters=3, scheduler=AddsNoise(), **FAST).fit(digits[0])


def test_another_schedule_is_another_cache_entry(digits, tmp_path):
    X, _ = digits
    for scheduler in (None, DDPMScheduler(**COSINE), None):
        DiEC(n_clusters=3, scheduler=scheduler, memory=tmp_path, random_state=0,
             **FAST).fit(X)
    assert len(_entries(tmp_path)) == 2
    assert len(_entries(tmp_path, "_start_entry")) == 2
