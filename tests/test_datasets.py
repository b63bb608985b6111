"""Loaders read the offline copies in ../shared/datasets; nothing is downloaded."""

import gzip
import io
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from skdiec import datasets

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/datasets not present")


def test_digits_images():
    bunch = datasets.load_digits_images()
    assert bunch.images.shape == (1797, 8, 8) and bunch.data.shape == (1797, 64)
    assert bunch.images.dtype == np.float32
    assert bunch.images.min() == 0 and bunch.images.max() == 1
    X, y = datasets.load_digits_images(return_X_y=True)
    assert X.shape == (1797, 8, 8) and set(np.unique(y)) == set(range(10))


@needs_shared
def test_usps_from_the_npz_folder():
    X, y = datasets.load_usps(SHARED / "usps", return_X_y=True)
    assert X.shape == (9298, 16, 16) and y.shape == (9298,)
    assert 0 <= X.min() and X.max() <= 1 and set(np.unique(y)) == set(range(10))
    # Per-class counts of the reference (zip.info.txt): 0 has 1553 images in all.
    assert np.bincount(y)[0] == 1553
    assert datasets.load_usps(SHARED / "usps", subset="test").images.shape == (2007, 16, 16)


@needs_shared
@pytest.mark.parametrize("subset,n", [("test", 10000), ("all", 70000)])
def test_mnist_from_the_idx_folder(subset, n):
    bunch = datasets.load_mnist(SHARED / "mnist", subset=subset)
    assert bunch.images.shape == (n, 28, 28) and bunch.target.shape == (n,)
    assert bunch.images.dtype == np.float32 and bunch.images.max() == 1.0
    if subset == "test":
        assert bunch.target[:5].tolist() == [7, 2, 1, 0, 4]


def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_reads_idx_files(tmp_path):
    rng = np.random.RandomState(0)
    for split, n in (("train", 5), ("t10k", 3)):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", rng.randint(0, 256, (n, 28, 28)))
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", rng.randint(0, 10, n))
    X, y = datasets.load_fashion_mnist(tmp_path, return_X_y=True)
    assert X.shape == (8, 28, 28) and y.shape == (8,)


@pytest.mark.parametrize("content,match", [
    (b"PK\x03\x04 cut short",
     r"usps\.npz could not be read as USPS \((BadZipFile|OSError|ValueError)"),
    ("no test split", r"usps\.npz could not be read as USPS \(KeyError"),
    ("15x15", r"usps\.npz could not be read as USPS \(ValueError: cannot reshape"),
])
def test_a_damaged_usps_file_says_which(tmp_path, content, match):
    if isinstance(content, bytes):
        (tmp_path / "usps.npz").write_bytes(content)
    else:
        side = 15 if content == "15x15" else 16
        arrays = {"X_train": np.zeros((4, side * side)), "y_train": np.zeros(4)}
        if content != "no test split":
            arrays.update(X_test=np.zeros((2, side * side)), y_test=np.zeros(2))
        np.savez(tmp_path / "usps.npz", **arrays)
    with pytest.raises(ValueError, match=match):
        datasets.load_usps(tmp_path)


@pytest.mark.parametrize("damage,match", [
    ("not gzip", "could not be read .*BadGzipFile.* damaged or partial"),
    ("cut gzip", "could not be read .*EOFError.* damaged or partial"),
    ("short data", r"holds 1500 bytes of data where its header announces 3 x 28 x 28"),
    ("fewer labels", r"holds 3 images but .*t10k-labels-idx1-ubyte.gz 2 labels"),
])
def test_damaged_idx_files_say_which_and_what(tmp_path, damage, match):
    # They failed with gzip's, numpy's reshape or no error at all.
    rng = np.random.RandomState(0)
    for split, n in (("train", 5), ("t10k", 3)):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", rng.randint(0, 256, (n, 28, 28)))
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", rng.randint(0, 10, n))
    images = tmp_path / "t10k-images-idx3-ubyte.gz"
    if damage == "not gzip":
        images.write_bytes(b"<html>an error page</html>")
    elif damage == "cut gzip":
        images.write_bytes(images.read_bytes()[:-30])
    elif damage == "short data":
        with gzip.open(images, "rb") as fh:
            data = fh.read()
        with gzip.open(images, "wb") as fh:
            fh.write(data[:16 + 1500])
    else:
        write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", rng.randint(0, 10, 2))
    with pytest.raises(ValueError, match=match):
        datasets.load_fashion_mnist(tmp_path, subset="test")


def test_usps_libsvm_layout(tmp_path):
    import bz2

    line = "3 " + " ".join(f"{i + 1}:{-1 + 2 * (i % 2)}" for i in range(256)) + "\n"
    for name in ("usps.bz2", "usps.t.bz2"):
        with bz2.open(tmp_path / name, "wt") as fh:
            fh.write(line * 2)
    X, y = datasets.load_usps(tmp_path, return_X_y=True)
    assert X.shape == (4, 16, 16) and y.tolist() == [2, 2, 2, 2]
    assert X[0, 0, :2].tolist() == [0.0, 1.0]


def test_missing_files_with_a_path_say_which_and_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing t10k-images-idx3-ubyte.gz.*"):
        datasets.load_mnist(tmp_path, subset="test")
    with pytest.raises(FileNotFoundError, match="usps.npz or usps.h5"):
        datasets.load_usps(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        datasets.load_mnist(tmp_path / "nope")


def test_offline_download_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("SKDIEC_DATA", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(datasets.urllib.request, "urlopen", offline)
    with pytest.raises(OSError, match=f"missing .* in {tmp_path}.*download failed"):
        datasets.load_mnist(subset="test")


def test_downloads_are_checksummed(tmp_path, monkeypatch):
    monkeypatch.setenv("SKDIEC_DATA", str(tmp_path))
    monkeypatch.setattr(datasets.urllib.request, "urlopen",
                        lambda url, timeout: io.BytesIO(b"not the real file"))
    with pytest.raises(OSError, match="MD5 .* does not match"):
        datasets.load_mnist(subset="test")
    assert not any((tmp_path / "mnist").glob("*.gz"))


def test_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("SKDIEC_DATA", str(tmp_path))
    assert datasets.get_data_home() == tmp_path
    monkeypatch.delenv("SKDIEC_DATA")
    assert datasets.get_data_home() == Path("~/skdiec_data").expanduser()


def test_bad_subset():
    with pytest.raises(ValueError, match="subset must be"):
        datasets.load_mnist("/tmp", subset="val")


# ------------------------------------------------------------------ CIFAR-10

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
               "ship", "truck"]


def write_cifar_batches(folder, n_per_batch=4):
    """CIFAR-10's python batches, in its own layout, with a few random images each."""
    import pickle

    folder.mkdir(parents=True)
    rng = np.random.RandomState(0)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.randint(0, 256, size=(n_per_batch, 3072)).astype(np.uint8)
        labels = list(rng.randint(0, 10, n_per_batch))
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": labels}, fh)
        written[name] = (data, labels)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [n.encode() for n in CIFAR_NAMES]}, fh)
    return written


@pytest.mark.parametrize("form", ["flat", "sub-folder", "archive"])
def test_cifar10_from_the_python_batches(tmp_path, form):
    import tarfile

    inner = tmp_path / "cifar-10-batches-py"
    written = write_cifar_batches(inner)
    if form == "flat":
        root = inner
    elif form == "sub-folder":
        root = tmp_path
    else:
        root = tmp_path / "archive"
        root.mkdir()
        with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
            tar.add(inner, arcname="cifar-10-batches-py")
    bunch = datasets.load_cifar10(root)
    assert bunch.images.shape == (24, 3, 32, 32) and bunch.images.dtype == np.uint8
    assert bunch.target_names == CIFAR_NAMES
    # Rows are channel planes (1024 red, 1024 green, 1024 blue), train first.
    np.testing.assert_array_equal(bunch.images[0, 1].ravel(),
                                  written["data_batch_1"][0][0, 1024:2048])
    np.testing.assert_array_equal(bunch.target[-4:], written["test_batch"][1])
    X, y = datasets.load_cifar10(root, subset="test", return_X_y=True)
    np.testing.assert_array_equal(X.reshape(4, -1), written["test_batch"][0])


@pytest.mark.parametrize("damage,match", [
    ("cut", r"test_batch is not one of CIFAR-10's python batches \((EOFError|UnpicklingError)"),
    ("no labels", r"test_batch is not one of CIFAR-10's python batches \(KeyError"),
    ("odd size", r"test_batch is not one of CIFAR-10's python batches \(ValueError"),
])
def test_damaged_cifar10_batches_say_which(tmp_path, damage, match):
    import pickle

    write_cifar_batches(tmp_path / "cifar-10-batches-py")
    batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    if damage == "cut":
        batch.write_bytes(batch.read_bytes()[:100])
    else:
        content = ({b"data": np.zeros((4, 3072), np.uint8)} if damage == "no labels"
                   else {b"data": np.zeros((4, 3000), np.uint8), b"labels": [0] * 4})
        batch.write_bytes(pickle.dumps(content))
    with pytest.raises(ValueError, match=match):
        datasets.load_cifar10(tmp_path, subset="test")


def test_cifar10_from_an_image_folder_copy(tmp_path):
    from PIL import Image

    for split, n in (("train", 2), ("test", 1)):
        for label, name in enumerate(CIFAR_NAMES[:3]):
            (tmp_path / split / name).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (32, 32), (label * 100, 0, 0)).save(
                    tmp_path / split / name / f"{i}.png")
    bunch = datasets.load_cifar10(tmp_path)
    assert bunch.images.shape == (9, 3, 32, 32)
    assert bunch.target.tolist() == [0, 0, 1, 1, 2, 2, 0, 1, 2]
    assert bunch.images[2, 0, 0, 0] == 100  # the red channel of a "automobile" image
    assert datasets.load_cifar10(tmp_path, subset="test").target_names == CIFAR_NAMES[:3]


def test_cifar10_missing_says_what_to_put_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz.*python batches"):
        datasets.load_cifar10(tmp_path)


@needs_shared
def test_cifar10_jpeg_copy_test_split():
    bunch = datasets.load_cifar10(SHARED / "cifar10-jpg", subset="test")
    assert bunch.images.shape == (10000, 3, 32, 32)
    assert np.bincount(bunch.target).tolist() == [1000] * 10
    assert bunch.target_names == CIFAR_NAMES
