"""The start's time in a new process, with and without numba's disk cache.

    python benchmarks/studies/start_compile.py
    SKDIEC_NUMBA_CACHE=0 python benchmarks/studies/start_compile.py

Runs the start (``skdiec._init._umap_kmeans``) twice in one process on
digits' 64 pixel values, 10 clusters, and prints the seconds of each: the
first includes numba's compilation of UMAP's functions, or their loading
from the disk cache once an earlier process has filled it.
"""

from pathlib import Path
import sys
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sklearn.datasets import load_digits  # noqa: E402

from skdiec import _init  # noqa: E402


def main():
    X = load_digits().data.astype(np.float32)
    for run in range(2):
        tic = time.perf_counter()
        _init._umap_kmeans(X, 10, run)
        print(f"start {run}: {time.perf_counter() - tic:.2f} s", flush=True)


if __name__ == "__main__":
    main()
