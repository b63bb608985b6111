"""Datasets for the benchmark scripts, by name, as (images, y), via skdiec.datasets."""

from pathlib import Path

from skdiec import datasets

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def load(name, shared=SHARED):
    if name == "digits":
        return datasets.load_digits_images(return_X_y=True)
    if name == "usps":
        return datasets.load_usps(Path(shared) / "usps", return_X_y=True)
    if name in ("mnist", "mnist_test"):
        subset = "test" if name == "mnist_test" else "all"
        return datasets.load_mnist(Path(shared) / "mnist", subset=subset, return_X_y=True)
    raise ValueError(f"unknown dataset {name!r}")
