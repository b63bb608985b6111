"""Checks that need a CUDA GPU; skipped wherever there is none.

They cover what a CPU cannot show: a model fitted on CUDA pickles and saves
into files that load and predict on a machine without a GPU, GPU results
agree with the CPU path within stated tolerances, and a real CUDA
out-of-memory error (provoked by capping the memory this process may use) is
caught and retried with smaller batches.

Tolerances: cuDNN convolutions run in TF32 by default (10-bit mantissa), so
GPU embeddings may differ from the CPU's by about 1e-3 relatively; we allow
1% of the embedding's scale, and 2% of the labels to change sides.
"""

import os
from pathlib import Path
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from skdiec import DiEC, OutOfMemoryWarning, _backbone, _features
from skdiec._torch_utils import make_generator, resolve_device

from .conftest import FAST, storage_locations

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fitted_cuda(digits):
    X, _ = digits
    return DiEC(n_clusters=3, random_state=0, **dict(FAST, device="cuda")).fit(X)


def on_cpu(est):
    """A CPU twin of ``est`` through a pickle round trip."""
    return pickle.loads(pickle.dumps(est)).set_params(device="cpu")


def test_auto_device_is_the_gpu_and_a_missing_index_is_named(digits):
    assert resolve_device("auto").type == "cuda"
    n = torch.cuda.device_count()
    with pytest.raises(ValueError, match=f"this machine has {n} CUDA device"):
        DiEC(n_clusters=3, **dict(FAST, device=f"cuda:{n}")).fit(digits[0])


def test_fit_on_cuda_keeps_the_model_on_the_gpu(fitted_cuda):
    assert next(fitted_cuda.unet_.parameters()).is_cuda
    assert fitted_cuda._model.noise_bank.is_cuda


def test_pickle_of_a_cuda_model_holds_only_cpu_tensors(fitted_cuda):
    data = pickle.dumps(fitted_cuda)
    locations = storage_locations(data)
    assert locations and set(locations) == {"cpu"}
    assert next(fitted_cuda.unet_.parameters()).is_cuda  # the live model stays


def test_cuda_model_loads_and_predicts_on_a_machine_without_a_gpu(fitted_cuda, digits,
                                                                  tmp_path):
    import joblib

    X, _ = digits
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(fitted_cuda))
    joblib.dump(fitted_cuda, tmp_path / "model.joblib")
    fitted_cuda.save(tmp_path / "folder")
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "proba.npy", fitted_cuda.predict_proba(X))
    script = textwrap.dedent("""
        import pickle, sys, warnings
        from pathlib import Path
        import joblib, numpy as np, torch
        from skdiec import DiEC

        assert not torch.cuda.is_available()
        d = Path(sys.argv[1])
        X, expected = np.load(d / "X.npy"), np.load(d / "proba.npy")
        models = [pickle.loads((d / "model.pkl").read_bytes()),
                  joblib.load(d / "model.joblib"), DiEC.load(d / "folder")]
        for est in models:
            with warnings.catch_warnings():
                # device='cuda' falls back to the CPU with a RuntimeWarning
                warnings.simplefilter("ignore", RuntimeWarning)
                proba = est.predict_proba(X)
            np.testing.assert_allclose(proba, expected, atol=1e-2)
            assert (proba.argmax(1) == expected.argmax(1)).mean() >= 0.98
        print("ok")
    """)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_gpu_and_cpu_predictions_agree_within_tolerance(fitted_cuda, digits):
    X, _ = digits
    cpu = on_cpu(fitted_cuda)
    Z_gpu, Z_cpu = fitted_cuda.transform(X), cpu.transform(X)
    np.testing.assert_allclose(Z_gpu, Z_cpu, rtol=0, atol=1e-2 * np.abs(Z_cpu).max())
    np.testing.assert_allclose(fitted_cuda.predict_proba(X), cpu.predict_proba(X), atol=1e-2)
    assert (fitted_cuda.predict(X) == cpu.predict(X)).mean() >= 0.98


def test_gpu_fit_is_close_to_the_cpu_fit(fitted_cuda, fitted):
    # Same seed, and every random number is drawn on the CPU: only float
    # arithmetic differs, which can still move a few samples across a
    # boundary and compound over training, hence a partition-level check.
    assert adjusted_rand_score(fitted.labels_, fitted_cuda.labels_) >= 0.8
    assert fitted_cuda.search_layers_ == fitted.search_layers_


def capped_memory(peak_bytes, factor=3):
    """Let this process use only ``factor * peak_bytes`` of GPU memory."""
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, factor * peak_bytes / total))


def uncap_memory():
    torch.cuda.set_per_process_memory_fraction(1.0)
    torch.cuda.empty_cache()


def big_images():
    X = torch.randn(64, 1, 64, 64, generator=make_generator(0))
    unet = _backbone.build_unet(1, (64, 64), (32, 64, 64), 1, seed=0).cuda().eval()
    return X, unet, _backbone.make_scheduler()


def test_real_out_of_memory_in_feature_extraction_is_retried():
    X, unet, scheduler = big_images()
    bank = torch.randn(4, 1, 64, 64, generator=make_generator(1)).cuda()

    def extract(images_per_batch):
        return _features.extract_features(unet, scheduler, X, 100, ["up.2"], bank, "avg",
                                          4 * images_per_batch, "cuda")["up.2"]

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    expected = extract(2)
    capped_memory(torch.cuda.max_memory_allocated())  # room for a few images, not 64
    try:
        with pytest.warns(OutOfMemoryWarning, match="feature extraction on a batch of 64"):
            got = extract(64)
    finally:
        uncap_memory()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-2 * np.abs(expected).max())


def test_real_out_of_memory_in_pretraining_is_retried_with_the_same_steps():
    X, unet, scheduler = big_images()
    state = {k: v.clone() for k, v in unet.state_dict().items()}

    def pretrain(batch_size):
        unet.load_state_dict(state)
        return _backbone.pretrain(unet, X, scheduler, epochs=1, batch_size=batch_size,
                                  learning_rate=1e-3, generator=make_generator(2),
                                  device="cuda")

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    pretrain(2)
    capped_memory(torch.cuda.max_memory_allocated())
    try:
        with pytest.warns(OutOfMemoryWarning, match="pretraining on a batch of 64"):
            got = pretrain(64)
    finally:
        uncap_memory()
    expected = pretrain(64)  # the same batches and noise, without the cap
    np.testing.assert_allclose(got, expected, rtol=1e-2)
