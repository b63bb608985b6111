"""The start's UMAP layouts side by side (``n_jobs``): the same fit, in less time?

    python benchmarks/studies/start_jobs.py DATASET SEEDS MEMORY_DIR OUT.jsonl [N_JOBS ...]

For each seed, fits DiEC with its defaults on a kept backbone once per
``n_jobs`` (``None`` and ``2`` unless given), each fit in a new Python
process, so that the first parallel start pays for starting its worker
processes as a user's fit does. Each fit reads the pretrained U-Net from a
copy of ``MEMORY_DIR`` holding only the pretrained U-Nets, so the search,
the start and fine-tuning all run. Appends one line per fit to
``OUT.jsonl``: the seconds of every phase, ACC and the SHA-256 of the
labels (equal across ``n_jobs`` if the fits are the same).
"""

import ast
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]


def fit(dataset, seed, memory, n_jobs):
    """One fit in this process; returns its results line."""
    import numpy as np
    import torch

    import _data
    from skdiec import DiEC
    from skdiec.metrics import clustering_accuracy

    X, y = _data.load(dataset)
    est = DiEC(n_clusters=int(np.unique(y).size), random_state=seed, memory=memory,
               n_jobs=n_jobs)
    tic = time.perf_counter()
    est.fit(X)
    return {"study": "start_jobs", "dataset": dataset, "seed": seed, "n_jobs": n_jobs,
            "fit_s": round(time.perf_counter() - tic, 2),
            "timings": {k: round(v, 2) for k, v in est.timings_.items()},
            "cell": f"{est.col_}@{est.cot_}",
            "acc": round(float(clustering_accuracy(y, est.labels_)), 4),
            "init_acc": round(float(clustering_accuracy(y, est.init_labels_)), 4),
            "labels_sha256": hashlib.sha256(np.ascontiguousarray(est.labels_)).hexdigest(),
            "torch_threads": torch.get_num_threads()}


def main(dataset, seeds, memory_dir, out, jobs):
    from _record import append

    for seed in [int(s) for s in seeds.split(",")]:
        for n_jobs in jobs:
            with tempfile.TemporaryDirectory() as tmp:
                # Only the pretrained U-Nets: the search and start run again.
                src = Path(memory_dir) / "joblib" / "skdiec" / "_cache" / "_pretrain_entry"
                shutil.copytree(src, Path(tmp) / "joblib" / "skdiec" / "_cache" / src.name)
                line = subprocess.run(
                    [sys.executable, __file__, "--fit", dataset, str(seed), tmp, repr(n_jobs)],
                    check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            append(json.loads(line), out)


if __name__ == "__main__":
    if sys.argv[1] == "--fit":
        dataset, seed, memory, n_jobs = sys.argv[2:6]
        print(json.dumps(fit(dataset, int(seed), memory, ast.literal_eval(n_jobs))))
    else:
        jobs = [ast.literal_eval(j) for j in sys.argv[5:]] or [None, 2]
        main(*sys.argv[1:5], jobs)
