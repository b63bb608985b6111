"""DiEC on a Dask cluster: a GridSearchCV through Dask's joblib backend,
blockwise prediction over a dask.array, and one ``memory`` cache filled by
two processes at once.

The cluster is a ``distributed.LocalCluster`` of two worker processes on
loopback. Its nanny starts each worker with ``OMP_NUM_THREADS=1``, so torch
runs one thread there; float rounding depends on the number of threads, so
the serial runs compared with the cluster's run on one thread too.
"""

import contextlib
import multiprocessing
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from skdiec import CacheWarning, DiEC
from skdiec._torch_utils import torch_threads_kept

from .conftest import FAST
from .test_memory import _entries as _cache_entries

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

GRID = {"alpha": [0.5, 1.0], "learning_rate": [1e-4, 1e-3]}


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as dask_client:
        yield dask_client


@contextlib.contextmanager
def _one_torch_thread():
    """torch on one thread inside the block, as on the cluster's workers."""
    with torch_threads_kept():
        torch.set_num_threads(1)
        yield


def test_workers_run_torch_on_the_threads_their_nanny_grants(client):
    assert set(client.run(torch.get_num_threads).values()) == {1}


def test_grid_search_on_dask_equals_the_serial_search(digits, client, tmp_path):
    import joblib
    from sklearn.model_selection import GridSearchCV, KFold

    X, _ = digits
    cv = KFold(2, shuffle=True, random_state=0)

    def search(memory):
        est = DiEC(n_clusters=3, random_state=0, memory=memory, **FAST)
        return GridSearchCV(est, GRID, cv=cv).fit(X)

    with _one_torch_thread():
        serial = search(None)
    with joblib.parallel_backend("dask"):
        # Both workers share one cache, as they would on shared storage.
        on_dask = search(tmp_path / "cache")
    assert on_dask.best_params_ == serial.best_params_
    for key in serial.cv_results_:
        if key.endswith("_test_score") or key in ("params", "rank_test_score"):
            np.testing.assert_array_equal(on_dask.cv_results_[key], serial.cv_results_[key],
                                          err_msg=key)
    with _one_torch_thread():
        np.testing.assert_array_equal(on_dask.predict(X), serial.predict(X))
    # One U-Net per split and one for the refit, whichever worker trained it.
    assert len(_cache_entries(tmp_path / "cache")) == 3


def test_blockwise_prediction_equals_predict(fitted, digits, client):
    X, _ = digits
    expected = fitted.predict(X)
    images = da.from_array(X, chunks=(X.shape[0] // 2, 8, 8))
    assert images.numblocks[0] == 2
    labels = images.map_blocks(fitted.predict, drop_axis=[1, 2], dtype=expected.dtype)
    np.testing.assert_array_equal(labels.compute(), expected)
    proba = images.map_blocks(fitted.predict_proba, drop_axis=[2],
                              chunks=(images.chunks[0], (fitted.n_clusters,)),
                              dtype=np.float64)
    np.testing.assert_allclose(proba.compute(), fitted.predict_proba(X), rtol=1e-6)


def test_parallel_post_fit_predicts_blockwise(fitted, digits, client):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, _ = digits
    rows = da.from_array(X.reshape(len(X), -1), chunks=(len(X) // 2, 64))
    est = wrappers.ParallelPostFit(fitted)
    np.testing.assert_array_equal(est.predict(rows).compute(), fitted.predict(X))


def _fit_at_barrier(barrier, location, X, queue):
    import warnings as w

    from skdiec import DiEC as Estimator

    barrier.wait()
    with w.catch_warnings(record=True) as caught:
        w.simplefilter("always")
        est = Estimator(n_clusters=3, random_state=0, memory=location, **FAST).fit(X)
    queue.put((est.labels_, [str(m.message) for m in caught
                             if issubclass(m.category, CacheWarning)]))


def test_two_processes_filling_one_entry_leave_one_valid_entry(digits, tmp_path):
    X, _ = digits
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_fit_at_barrier, args=(barrier, str(tmp_path), X, queue))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert results[0][1] == results[1][1] == []
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert len(_cache_entries(tmp_path)) == 1
    assert len(_cache_entries(tmp_path, "_start_entry")) == 1
    # The entry passes its check: a third fit reads it without a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        third = DiEC(n_clusters=3, random_state=0, memory=tmp_path, **FAST).fit(X)
    assert len(_cache_entries(tmp_path)) == 1
    assert third.timings_["pretrain"] < 1.0


def test_a_fitted_estimator_pickles_without_its_data(digits):
    """What travels to and from a worker: the U-Net, the centres and one
    label per training image, never the images or their features."""
    X, _ = digits
    small = DiEC(n_clusters=3, random_state=0, **FAST).fit(X[:60])
    large = DiEC(n_clusters=3, random_state=0, **FAST).fit(np.concatenate([X] * 4))
    extra = 4 * len(X) - 60
    images = extra * X[0].size * 4  # what the extra images weigh as float32
    # The model (U-Net, head, centres) does not grow with the images; its
    # head's size depends on the cell chosen, which may differ between fits.
    grown = len(pickle.dumps(large._model)) - len(pickle.dumps(small._model))
    assert grown < images / 4
    # Beside the model: labels_ and init_labels_, two int64 per image at most.
    rest = len(pickle.dumps(large)) - len(pickle.dumps(large._model))
    assert rest <= 16 * 4 * len(X) + 4096


def test_skdiec_needs_no_dask():
    code = ("import sys\n"
            "for name in ('dask', 'distributed', 'dask_ml'):\n"
            "    sys.modules[name] = None\n"
            "import skdiec, skdiec.datasets, skdiec.plotting\n"
            "from skdiec import DiEC\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
