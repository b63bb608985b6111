"""Image-clustering benchmark datasets, read from local files.

Each loader reads the standard files from ``path`` when given. With no path it
looks in the data home (the ``SKDIEC_DATA`` environment variable, else
``~/skdiec_data``) and, when the files are not there, downloads them from
their official source, checking each file's MD5 sum. Offline, it fails with a
message that says which files to put where.

Every loader returns a :class:`~sklearn.utils.Bunch` with ``images``
``(n, H, W)`` as float32 in ``[0, 1]``, ``data`` (the images flattened),
``target`` and ``DESCR``, or ``(images, target)`` with ``return_X_y=True``.

:func:`load_cifar10` and :func:`load_image_folder` (your own folder of image
files) return colour images as uint8 ``(n, C, H, W)`` instead, which hold
them in a quarter of float32's memory.
"""

import gzip
import hashlib
import os
import pickle
import shutil
import urllib.request
import zipfile
import zlib
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ._progress import progress

__all__ = [
    "get_data_home",
    "load_cifar10",
    "load_digits_images",
    "load_fashion_mnist",
    "load_image_folder",
    "load_mnist",
    "load_usps",
]

_IDX_NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

_MNIST = {
    "name": "mnist",
    "url": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "md5": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "descr": "MNIST handwritten digits (LeCun, Cortes, Burges), 28x28, CC BY-SA 3.0.",
}

_FASHION = {
    "name": "fashion_mnist",
    "url": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "md5": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "descr": "Fashion-MNIST (Xiao, Rasul, Vollgraf, 2017), 28x28 greyscale, MIT licence.",
}

# USPS as LIBSVM files (values in [-1, 1]), the source torchvision uses too.
_USPS = {
    "name": "usps",
    "url": "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/",
    "md5": {"usps.bz2": "ec16c51db3855ca6c91edd34d0e9b197",
            "usps.t.bz2": "8ea070ee2aca1ac39742fdd1ef5ed118"},
    "descr": "USPS handwritten digits (Hull, 1994), 16x16, 7,291 train + 2,007 test.",
}


_CIFAR10 = {
    "name": "cifar10",
    "url": "https://www.cs.toronto.edu/~kriz/",
    "md5": {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
    "descr": "CIFAR-10 (Krizhevsky, 2009): 60,000 colour images of 32x32 in 10 classes, "
             "50,000 train + 10,000 test.",
}
_CIFAR10_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def get_data_home(data_home=None):
    """The folder datasets are looked for in and downloaded to.

    ``data_home`` if given, else the ``SKDIEC_DATA`` environment variable,
    else ``~/skdiec_data``.
    """
    if data_home is None:
        data_home = os.environ.get("SKDIEC_DATA", Path("~") / "skdiec_data")
    return Path(data_home).expanduser()


def load_digits_images(*, return_X_y=False):
    """scikit-learn's bundled 8x8 digits (1,797 images) as images in ``[0, 1]``.

    Always available: the data ships with scikit-learn.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    return _result(images, digits.target.astype(np.int64), return_X_y,
                   "scikit-learn's optical recognition of handwritten digits, 8x8, 17 grey "
                   "levels scaled to [0, 1].")


def load_mnist(path=None, *, subset="all", return_X_y=False, download=True):
    """MNIST: 70,000 images of 28x28 (``subset="all"``), or its train/test split.

    Parameters
    ----------
    path : str or path-like, default=None
        Folder holding the four idx ``.gz`` files. None uses the data home
        and downloads missing files when ``download`` is True.
    subset : {"all", "train", "test"}, default="all"
        Clustering papers use "all" (train and test together).
    return_X_y : bool, default=False
    download : bool, default=True
        Whether a missing file may be downloaded (only when ``path`` is None).
    """
    return _load_idx(_MNIST, path, subset, return_X_y, download)


def load_fashion_mnist(path=None, *, subset="all", return_X_y=False, download=True):
    """Fashion-MNIST: 70,000 images of 28x28; arguments as :func:`load_mnist`."""
    return _load_idx(_FASHION, path, subset, return_X_y, download)


def load_usps(path=None, *, subset="all", return_X_y=False, download=True):
    """USPS: 9,298 images of 16x16 (7,291 train + 2,007 test).

    ``path`` is a folder holding ``usps.npz`` (keys ``X_train``, ``y_train``,
    ``X_test``, ``y_test``, images in [0, 1]), the common ``usps.h5`` (groups
    ``train`` and ``test`` with ``data`` and ``target``; needs h5py), or the
    LIBSVM files ``usps.bz2`` and ``usps.t.bz2`` (the download source).
    """
    _check_subset(subset)
    folder = _folder(_USPS, path)
    if (folder / "usps.npz").is_file():
        files, read = [folder / "usps.npz"], _read_usps_npz
    elif (folder / "usps.h5").is_file():
        files, read = [folder / "usps.h5"], _read_usps_h5
    else:
        files = _ensure_files(_USPS, folder, list(_USPS["md5"]), path is None and download,
                              alternatives="usps.npz or usps.h5, or ")
        read = _read_usps_libsvm
    keep = ("train", "test") if subset == "all" else (subset,)
    try:
        parts = read(*files)
        images = np.concatenate([np.asarray(parts[s][0]).reshape(-1, 16, 16) for s in keep])
        target = np.concatenate([np.asarray(parts[s][1]).ravel() for s in keep])
        if len(images) != len(target):
            raise ValueError(f"{len(images)} images but {len(target)} labels")
    except (KeyError, ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"usps: {', '.join(str(f) for f in files)} could not be read as USPS "
                         f"({type(exc).__name__}: {exc}); see load_usps for the layouts it "
                         f"reads; {_DAMAGED}") from exc
    return _result(images.astype(np.float32), target.astype(np.int64), return_X_y,
                   _USPS["descr"])


def load_cifar10(path=None, *, subset="all", return_X_y=False, download=True, verbose=0):
    """CIFAR-10: 60,000 colour images of 32x32 in 10 classes (or its train/test split).

    ``path`` is a folder holding either of CIFAR-10's two common forms:

    - the official **python batches** (``data_batch_1`` ... ``data_batch_5``,
      ``test_batch`` and ``batches.meta``), directly, in a
      ``cifar-10-batches-py`` sub-folder, or still packed as
      ``cifar-10-python.tar.gz`` (unpacked beside it on first use). They
      are pickles, read with :mod:`pickle`: only use files you trust.
    - an **image-folder copy**: ``train/`` and ``test/``, each with one
      sub-folder of image files per class, read by
      :func:`load_image_folder` at 32x32. JPEG copies differ slightly in
      their pixels from the official arrays: report them as such.

    Parameters
    ----------
    path : str or path-like, default=None
        The folder. None uses the data home (:func:`get_data_home`) and
        downloads the official archive (163 MB, MD5-checked) when it is
        missing and ``download`` is True.
    subset : {"all", "train", "test"}, default="all"
        Clustering papers use "all" (train and test together) or "train".
    return_X_y : bool, default=False
        Return ``(images, target)`` instead of the Bunch.
    download : bool, default=True
        Whether a missing archive may be downloaded (only when ``path`` is
        None).
    verbose : int, default=0
        1 or more shows a progress bar while an image folder is read.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``images`` (uint8, ``(n, 3, 32, 32)``: train images first, then
        test), ``target`` (int64, 0-9), ``target_names`` (the 10 class
        names, "airplane" to "truck", in the order of the labels; the
        image-folder copy's sorted folder names are the same) and ``DESCR``.

    Raises
    ------
    FileNotFoundError
        ``path`` is not a folder, or holds neither form (offline, with no
        ``path``: the archive is missing and cannot be downloaded).
    """
    _check_subset(subset)
    folder = _folder(_CIFAR10, path)
    keep = ("train", "test") if subset == "all" else (subset,)
    if all((folder / s).is_dir() for s in keep):
        parts = [load_image_folder(folder / s, image_size=32, color=True, verbose=verbose)
                 for s in keep]
        names = parts[0].target_names
        if any(p.target_names != names for p in parts):
            raise ValueError(f"{folder}: the class folders of {' and '.join(keep)} differ.")
        images = np.concatenate([p.images for p in parts])
        target = np.concatenate([p.target for p in parts]).astype(np.int64)
        descr = _CIFAR10["descr"] + f" Image-folder copy read from {folder}."
    else:
        batches = _cifar10_batches(folder, path is None and download)
        names = _cifar10_unpickle(batches / "batches.meta",
                                  lambda meta: [n.decode() for n in meta[b"label_names"]])
        images, target = zip(*(_cifar10_unpickle(batches / name, _cifar10_batch)
                               for s in keep for name in _CIFAR10_BATCHES[s]))
        images, target = np.concatenate(images), np.concatenate(target)
        descr = _CIFAR10["descr"]
    if return_X_y:
        return images, target
    return Bunch(images=images, target=target, target_names=list(names), DESCR=descr)


def _cifar10_unpickle(path, read):
    """``read`` of the content of one of CIFAR-10's pickled files."""
    try:
        with open(path, "rb") as fh:
            return read(pickle.load(fh, encoding="bytes"))
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not one of CIFAR-10's python batches "
                         f"({type(exc).__name__}: {exc}): {_DAMAGED}") from exc


def _cifar10_batch(batch):
    """``(images, labels)`` of one unpickled batch."""
    images = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    return images, labels


def _cifar10_batches(folder, download):
    """The folder of CIFAR-10's python batches, unpacking the archive if needed."""
    needed = ["batches.meta"] + [b for names in _CIFAR10_BATCHES.values() for b in names]
    for candidate in (folder, folder / "cifar-10-batches-py"):
        if all((candidate / n).is_file() for n in needed):
            return candidate
    archive = "cifar-10-python.tar.gz"
    (tar_path,) = _ensure_files(
        _CIFAR10, folder, [archive], download,
        alternatives="the python batches (data_batch_1 ... test_batch, batches.meta), "
                     "train/ and test/ image folders, or ")
    import tarfile

    with tarfile.open(tar_path) as tar:
        members = [m for m in tar.getmembers()
                   if m.isfile() and m.name.startswith("cifar-10-batches-py/")
                   and Path(m.name).name in needed]
        tar.extractall(folder, members=members)
    return folder / "cifar-10-batches-py"


# --------------------------------------------------------------------- helpers

def _result(images, target, return_X_y, descr):
    if return_X_y:
        return images, target
    return Bunch(images=images, data=images.reshape(len(images), -1), target=target,
                 DESCR=descr)


def _check_subset(subset):
    if subset not in ("all", "train", "test"):
        raise ValueError(f"subset must be 'all', 'train' or 'test'; got {subset!r}.")


def _folder(spec, path):
    if path is not None:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"path={str(path)!r} is not a folder.")
        return folder
    return get_data_home() / spec["name"]


def _load_idx(spec, path, subset, return_X_y, download):
    _check_subset(subset)
    folder = _folder(spec, path)
    keep = ("train", "test") if subset == "all" else (subset,)
    names = [name for s in keep for name in _IDX_NAMES[s]]
    files = dict(zip(names, _ensure_files(spec, folder, names, path is None and download)))
    parts = [(_read_idx(files[_IDX_NAMES[s][0]]), _read_idx(files[_IDX_NAMES[s][1]]))
             for s in keep]
    for s, (images, target) in zip(keep, parts):
        if len(images) != len(target):
            raise ValueError(f"{spec['name']}: {files[_IDX_NAMES[s][0]]} holds {len(images)} "
                             f"images but {files[_IDX_NAMES[s][1]]} {len(target)} labels.")
    images = np.concatenate([images for images, _ in parts])
    target = np.concatenate([target for _, target in parts])
    return _result((images / 255.0).astype(np.float32), target.astype(np.int64), return_X_y,
                   spec["descr"])


def _ensure_files(spec, folder, names, download, alternatives=""):
    """Paths of ``names`` in ``folder``, downloading the missing ones if allowed."""
    missing = [n for n in names if not (folder / n).is_file()]
    if missing and download:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            for name in missing:
                _download(spec["url"] + name, folder / name, spec["md5"][name])
        except _ChecksumError:
            raise
        except OSError as exc:  # URLError is an OSError too
            raise OSError(_missing_message(spec, folder, missing, alternatives)
                          + f" The download failed: {exc}") from exc
        missing = []
    if missing:
        raise FileNotFoundError(_missing_message(spec, folder, missing, alternatives))
    return [folder / n for n in names]


def _missing_message(spec, folder, missing, alternatives):
    return (f"{spec['name']}: missing {', '.join(missing)} in {folder}. Put {alternatives}"
            f"these files there (from {spec['url']}), or pass path= a folder that "
            "holds them.")


# The end of every message about a dataset file that cannot be read.
_DAMAGED = "a damaged or partial file? Delete it and load again, or replace it."


class _ChecksumError(OSError):
    pass


def _download(url, dest, md5):
    tmp = dest.with_suffix(dest.suffix + ".part")
    with urllib.request.urlopen(url, timeout=30) as response, open(tmp, "wb") as fh:
        shutil.copyfileobj(response, fh)
    digest = _md5(tmp)
    if digest != md5:
        tmp.unlink()
        raise _ChecksumError(f"{url}: MD5 {digest} does not match the expected {md5}; "
                             "the file was not kept.")
    tmp.replace(dest)


def _md5(path):
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_idx(path):
    """Read an idx file (optionally gzipped): magic, dims, then uint8 data."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValueError(f"{path} could not be read ({type(exc).__name__}: {exc}): "
                         f"{_DAMAGED}") from exc
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an idx file of unsigned bytes.")
    ndim = data[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    if len(data) != header + int(np.prod(dims)):
        raise ValueError(f"{path} holds {max(len(data) - header, 0)} bytes of data where its "
                         f"header announces {' x '.join(map(str, dims))}: {_DAMAGED}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _read_usps_npz(path):
    with np.load(path) as f:
        return {s: (f[f"X_{s}"], f[f"y_{s}"]) for s in ("train", "test")}


def _read_usps_h5(path):
    try:
        import h5py
    except ImportError as exc:
        raise ImportError(f"Reading {path} needs h5py: pip install h5py") from exc
    with h5py.File(path, "r") as f:
        return {s: (f[s]["data"][:], f[s]["target"][:]) for s in ("train", "test")}


def _read_usps_libsvm(train, test):
    from sklearn.datasets import load_svmlight_file

    parts = {}
    for split, path in (("train", train), ("test", test)):
        X, y = load_svmlight_file(str(path), n_features=256)
        # LIBSVM's USPS holds grey levels in [-1, 1] and labels 1..10.
        parts[split] = (X.toarray() + 1.0) / 2.0, y.astype(np.int64) - 1
    return parts


# ---------------------------------------------------------------- image folders

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def load_image_folder(path, *, image_size=32, color=True, return_X_y=False, verbose=0):
    """Read a folder of image files (PNG, JPEG, ...) into memory, for clustering.

    Two layouts are read: **one sub-folder per class** (``path/cat/1.jpg``,
    ``path/dog/2.png``: the sub-folder names become ``target_names``, in
    sorted order, and ``target`` their index), or a **flat folder** of images
    (no labels: ``target`` and ``target_names`` are None). A folder that has
    both reads its sub-folders, and reports the images beside them as
    skipped; a folder inside a class folder is reported, not read. Links
    to folders and files are followed. Files are read in sorted order, so
    a folder gives the same arrays every time.

    Every image is turned as its EXIF orientation says (as photo viewers
    show it), converted (Pillow) to RGB (``color=True``; a grey image is
    repeated on the three channels, a transparent one laid on white) or to
    one grey channel, then resized, one rule for all: its shorter side is
    scaled to ``image_size`` (bicubic), and the centred ``image_size x
    image_size`` square is kept. A large JPEG is decoded at the smallest
    power-of-two reduction that keeps its shorter side at least
    ``image_size`` (Pillow's ``draft``), which spares decoding every pixel
    of a camera's photo. Images are stored as uint8, so memory is ``n x
    channels x image_size^2`` bytes. A folder with grey images of more than
    8 bits (16-bit PNG or TIFF, as microscopes and scientific cameras write
    them) is returned as uint16 instead, its 8-bit images multiplied by 257
    (white stays white), so that no level of 12- or 16-bit data is lost;
    DiEC scales each channel by its range over the images it is fitted on,
    so 12-bit data keep their contrast. Float images are read on 0-1 and
    32-bit integer images on 0-65535, both clipped. Images to predict on
    should be read from files of the same bit depth as those fitted on.

    A file that Pillow cannot read, or that has no image extension, is not
    fatal: it is listed in ``skipped`` with the reason, and a warning counts
    them.

    Parameters
    ----------
    path : str or path-like
        The folder.
    image_size : int, default=32
        Side of the square images returned.
    color : bool, default=True
        RGB (3 channels) or grey (1 channel).
    return_X_y : bool, default=False
        Return ``(images, target)`` instead of the Bunch.
    verbose : int, default=0
        1 or more shows a progress bar.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``images`` (uint8, or uint16 with deeper grey images; ``(n, C,
        image_size, image_size)``, channels first as DiEC and torch take
        them), ``target`` (int array or None),
        ``target_names`` (list of str or None), ``filenames`` (paths relative
        to ``path``, in the order of ``images``), ``skipped`` (list of
        ``(relative path, reason)``) and ``DESCR``.

    Raises
    ------
    FileNotFoundError
        ``path`` is not a folder.
    ValueError
        ``path`` holds no readable image, or ``image_size`` is below 1.
    ImportError
        Pillow is not installed (``pip install "skdiec[images]"``).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> from skdiec.datasets import load_image_folder
    >>> folder = Path(tempfile.mkdtemp())
    >>> for label in ("dark", "light"):
    ...     (folder / label).mkdir()
    ...     for i in range(3):
    ...         value = 40 if label == "dark" else 220
    ...         Image.new("RGB", (40, 30), (value,) * 3).save(folder / label / f"{i}.png")
    >>> photos = load_image_folder(folder, image_size=16)
    >>> photos.images.shape, photos.target_names, photos.target.tolist()
    ((6, 3, 16, 16), ['dark', 'light'], [0, 0, 0, 1, 1, 1])
    """
    import warnings

    try:
        from PIL import Image, ImageOps
    except ImportError as exc:  # pragma: no cover - Pillow comes with matplotlib
        raise ImportError("load_image_folder needs Pillow: pip install 'skdiec[images]'") from exc
    if int(image_size) != image_size or image_size < 1:
        raise ValueError(f"image_size must be a positive int; got {image_size!r}.")
    image_size = int(image_size)
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder.")

    files, skipped = _image_files(root)
    if not files:
        raise ValueError(f"{root} holds no image file (extensions {', '.join(IMAGE_EXTENSIONS)})"
                         + (f"; skipped: {skipped[:3]}" if skipped else "") + ".")
    classes = sorted({rel.parts[0] for rel in files if len(rel.parts) > 1})
    if classes:
        skipped += [(rel.as_posix(), "beside the class folders, not in one")
                    for rel in files if len(rel.parts) == 1]
        files = [rel for rel in files if len(rel.parts) > 1]
    channels = 3 if color else 1
    images = np.empty((len(files), channels, image_size, image_size), dtype=np.uint8)
    kept, deep = [], {}  # deep: row -> a deeper-than-8-bit image's uint16 square
    for rel in progress(files, verbose, desc=f"reading {root.name or root}", unit="image"):
        try:
            with Image.open(root / rel) as img:
                img.draft(img.mode, (image_size, image_size))  # a JPEG decodes smaller
                img.load()
                img = ImageOps.exif_transpose(img)
                if img.mode in _DEEP_MODES:
                    deep[len(kept)] = _square_deep(img, image_size, Image)
                else:
                    images[len(kept)] = _square(img, image_size, color, Image)
        except Exception as exc:  # Pillow raises many kinds of error for a bad file
            skipped.append((rel.as_posix(), f"not readable as an image ({type(exc).__name__})"))
            continue
        kept.append(rel)
    if not kept:
        raise ValueError(f"{root}: no image could be read; skipped: {skipped[:3]}.")
    if deep:
        images = images.astype(np.uint16) * 257
        images[list(deep)] = np.stack(list(deep.values()))[:, None]
    if skipped:
        warnings.warn(f"load_image_folder: skipped {len(skipped)} file(s) of {root} "
                      f"(see the result's skipped), e.g. {skipped[0][0]}: {skipped[0][1]}.",
                      UserWarning, stacklevel=2)
    images = images[:len(kept)]
    target = np.array([classes.index(rel.parts[0]) for rel in kept]) if classes else None
    if return_X_y:
        return images, target
    return Bunch(images=images, target=target, target_names=classes or None,
                 filenames=[rel.as_posix() for rel in kept], skipped=skipped,
                 DESCR=f"Images of {root}, {'RGB' if color else 'grey'}, "
                       f"{image_size}x{image_size}, uint8 (n, C, H, W).")


def _image_files(root):
    """Image files under ``root`` (relative, sorted) and the others, skipped.

    Files of ``root`` and of its sub-folders are read; a link is followed
    (class folders gathered by links are common), so a sub-folder inside a
    class folder is reported once, not entered: nothing deeper is read, and
    a link back up cannot loop.
    """
    files, skipped = [], []

    def visit(rel, depth):
        for entry in sorted(os.scandir(root / rel), key=lambda e: e.name):
            path = rel / entry.name
            if entry.name.startswith("."):
                continue  # hidden files and folders (.DS_Store, .ipynb_checkpoints)
            if entry.is_dir():
                if depth == 0:
                    visit(path, 1)
                else:
                    skipped.append((path.as_posix() + "/", "a folder inside a class folder"))
            elif not entry.is_file():
                skipped.append((path.as_posix(), "a broken link or not a regular file"))
            elif entry.name.lower().endswith(IMAGE_EXTENSIONS):
                files.append(path)
            else:
                skipped.append((path.as_posix(), "not an image extension"))

    visit(Path(), 0)  # names sorted at each level: the files come out in path order
    return files, skipped


# Pillow's modes of single-channel images deeper than 8 bits ("I" is also
# how Pillow before 10 opens a 16-bit PNG).
_DEEP_MODES = ("I", "F", "I;16", "I;16B", "I;16L", "I;16N")


def _square_deep(img, size, Image):
    """A deeper-than-8-bit grey ``img`` in the resizing rule of
    :func:`_square`, resized as floats, as a (size, size) uint16 array: a
    float image's 0-1 on 0-65535, any other's values as they are, clipped."""
    values = np.asarray(img, dtype=np.float32) * (65535.0 if img.mode == "F" else 1.0)
    square = np.asarray(_resize_and_crop(Image.fromarray(values), size, Image))
    return np.clip(np.rint(square), 0, 65535).astype(np.uint16)


def _resize_and_crop(img, size, Image):
    """The shorter side of ``img`` scaled to ``size`` (bicubic), and the
    centred ``size x size`` square kept."""
    w, h = img.size
    scale = size / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                     Image.Resampling.BICUBIC)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


def _square(img, size, color, Image):
    """``img`` in the library's one resizing rule, as a (C, size, size) array."""
    if img.mode in ("RGBA", "LA", "P") and (img.mode != "P" or "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    img = img.convert("RGB" if color else "L")
    array = np.asarray(_resize_and_crop(img, size, Image), dtype=np.uint8)
    return array.transpose(2, 0, 1) if color else array[None]
