"""Datasets for the benchmark scripts, by name, as (images, y).

The digit sets come through :mod:`skdiec.datasets`. The development suite
(``suite.py``) adds data that are not balanced digits:

- ``lt_usps``, ``lt_mnist_test``: long-tailed subsets of USPS and of the
  MNIST test split (see :func:`long_tailed`): class ``c`` keeps
  ``round(700 * 10 ** (-c / 9))`` images, from 700 for the digit 0 down to
  70 for the digit 9, drawn with a fixed seed (0) that no method's seed
  changes; 2,862 images each.
- ``yale``, ``pie``: the faces of ``faces32/`` (Yale: 15 identities x 11
  images; PIE: 10 x 170, under varying light), 32 x 32 grey in [0, 1].

Beside them, ``cifar10_test`` (CIFAR-10's test split, 10,000 images) and
``cifar10`` (train and test, 60,000, as clustering papers use it), both from
the JPEG copy ``cifar10-jpg/``. ``shared`` (``run.py --data-dir``) points
every loader at another copy of ``../shared/datasets/``, such as one
unpacked on a GPU machine (``benchmarks/gpu/``).
"""

from pathlib import Path

import numpy as np

from skdiec import datasets

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"

# The long-tailed subsets: the largest class's size, the ratio of the
# largest to the smallest, and the seed that draws their images.
LONG_TAIL_MAX = 700
LONG_TAIL_RATIO = 10
LONG_TAIL_SEED = 0

FACES = {"yale": "Yale_32x32.mat", "pie": "PIE_32x32.mat"}

CIFAR10 = {"cifar10_test": "test", "cifar10": "all"}

SUITE = ("digits", "usps", "mnist_test", "lt_usps", "lt_mnist_test", "yale", "pie")


def long_tailed_sizes(n_classes, largest=LONG_TAIL_MAX, ratio=LONG_TAIL_RATIO):
    """Per-class sizes falling geometrically from ``largest`` to ``largest / ratio``."""
    steps = np.arange(n_classes) / max(n_classes - 1, 1)
    return np.round(largest * float(ratio) ** -steps).astype(int)


def long_tailed_rows(y, largest=LONG_TAIL_MAX, ratio=LONG_TAIL_RATIO, seed=LONG_TAIL_SEED,
                     reverse=False, n_classes=None):
    """Rows of a long-tailed subset, sorted: the classes, in the order of
    their labels (or its reverse), keep :func:`long_tailed_sizes` rows each,
    drawn at random with ``seed``; with ``n_classes``, only that many
    classes, drawn first with the same seed."""
    rng = np.random.RandomState(seed)
    classes = np.unique(y)
    if n_classes is not None:
        classes = np.sort(rng.choice(classes, n_classes, replace=False))
    sizes = long_tailed_sizes(classes.size, largest, ratio)
    if reverse:
        sizes = sizes[::-1]
    keep = []
    for label, size in zip(classes, sizes):
        rows = np.flatnonzero(y == label)
        if rows.size < size:
            raise ValueError(f"class {label} has {rows.size} images; the long-tailed subset "
                             f"needs {size}")
        keep.append(rng.choice(rows, size, replace=False))
    return np.sort(np.concatenate(keep))


def long_tailed(X, y, largest=LONG_TAIL_MAX, ratio=LONG_TAIL_RATIO, seed=LONG_TAIL_SEED):
    """The subset of ``(X, y)`` at :func:`long_tailed_rows` (the original
    order of the rows is kept)."""
    keep = long_tailed_rows(y, largest, ratio, seed)
    return X[keep], y[keep]


def load_faces(name, shared=SHARED):
    """A face set of ``faces32/`` as (n, 32, 32) float32 in [0, 1] and labels 0..k-1."""
    from scipy.io import loadmat

    mat = loadmat(Path(shared) / "faces32" / FACES[name])
    # MATLAB stores each image column-major: transpose it to rows.
    images = mat["fea"].reshape(-1, 32, 32).transpose(0, 2, 1).astype(np.float32) / 255.0
    labels = np.unique(mat["gnd"].ravel(), return_inverse=True)[1]
    return images, labels.astype(np.int64)


def load(name, shared=SHARED):
    if name == "digits":
        return datasets.load_digits_images(return_X_y=True)
    if name == "usps":
        return datasets.load_usps(Path(shared) / "usps", return_X_y=True, download=False)
    if name in ("mnist", "mnist_test"):
        subset = "test" if name == "mnist_test" else "all"
        return datasets.load_mnist(Path(shared) / "mnist", subset=subset, return_X_y=True,
                                   download=False)
    if name.startswith("lt_"):
        return long_tailed(*load(name[len("lt_"):], shared))
    if name in FACES:
        return load_faces(name, shared)
    if name in CIFAR10:
        return datasets.load_cifar10(Path(shared) / "cifar10-jpg", subset=CIFAR10[name],
                                     return_X_y=True)
    known = SUITE + ("mnist", *CIFAR10)
    raise ValueError(f"unknown dataset {name!r}; known: {', '.join(known)}")


def load_for_fit(name, shared=SHARED):
    """``load(name)`` as ``run.py`` fits it: images as float32, labels as
    loaded. Studies that reuse its kept backbones load this way, since the
    ``memory`` cache is keyed on the very array a fit gets."""
    X, y = load(name, shared)
    return np.asarray(X, dtype=np.float32), np.asarray(y)
