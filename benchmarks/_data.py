"""Datasets for the benchmark scripts, by name, as (X images, y)."""

from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def load(name, shared=SHARED):
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        return d.images.astype(np.float32), d.target
    if name == "usps":
        with np.load(Path(shared) / "usps" / "usps.npz") as f:
            X = np.concatenate([f["X_train"], f["X_test"]])
            y = np.concatenate([f["y_train"], f["y_test"]])
        return X.astype(np.float32), y.astype(int)
    if name in ("mnist", "mnist_test"):
        import gzip

        def idx(path):
            with gzip.open(path, "rb") as fh:
                data = fh.read()
            ndim = data[3]
            dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)

        root = Path(shared) / "mnist"
        parts = ["t10k"] if name == "mnist_test" else ["train", "t10k"]
        X = np.concatenate([idx(root / f"{p}-images-idx3-ubyte.gz") for p in parts])
        y = np.concatenate([idx(root / f"{p}-labels-idx1-ubyte.gz") for p in parts])
        return X.astype(np.float32), y.astype(int)
    raise ValueError(f"unknown dataset {name!r}")
