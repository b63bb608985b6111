"""The command line: cluster a folder of photos, assign new ones, or run the demo.

``python -m skdiec cluster PHOTOS/ --n-clusters 12 --out clusters.csv`` (or the
``skdiec`` console script) reads the folder with
:func:`~skdiec.datasets.load_image_folder`, fits DiEC, and writes one CSV row
per image (path, cluster, confidence) and a contact sheet beside it.
``skdiec predict MODEL/ NEW_PHOTOS/`` assigns new images with a model saved
by ``--save-model``. A user's mistake (a bad path, an empty folder, a bad
parameter) ends in one line on stderr and exit code 2, never a traceback.
"""

import argparse
import ast
import csv
import inspect
import os
from pathlib import Path
import sys
import time
import warnings

USAGE_ERROR = 2


class UsageError(Exception):
    """A mistake of the user's: reported in one line, exit code 2."""


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command != "demo":
        args.verbose = 0 if args.quiet else 1
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.run(args)
    except KeyboardInterrupt:
        print("skdiec: interrupted", file=sys.stderr)
        return 130
    except (UsageError, ValueError, TypeError, OSError) as exc:
        # What the loaders, the estimator's validation and the saved-model
        # checks raise for bad input; SavedModelError is a ValueError.
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"skdiec {args.command}: error: {message}", file=sys.stderr)
        return USAGE_ERROR


# ----------------------------------------------------------------- commands

def cluster(args):
    import torch

    from ._estimator import DiffusionEmbeddedClustering

    params = _estimator_params(args.param)
    params.update(n_clusters=args.n_clusters, random_state=args.seed, device=args.device,
                  verbose=args.verbose)
    out = Path(args.out)
    # Every output is checked before the fit, not after an hour of it.
    _check_outputs(args, out)
    est = DiffusionEmbeddedClustering(**params)
    est._validate_params()  # before reading a folder that may take minutes
    photos = _read_folder(args.folder, args.image_size, not args.grey, args.verbose)
    n_images = len(photos.images)
    if args.n_clusters > n_images:
        raise UsageError(f"--n-clusters {args.n_clusters} is more than the {n_images} "
                         f"image(s) read from {args.folder}.")
    _say(args, f"clustering {n_images} images of {args.folder} into {args.n_clusters} clusters")
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        Z = est.fit_transform(photos.images)  # the fit's own embedding: no second pass
    _say(args, f"fitted in {time.perf_counter() - tic:.0f} s (COL {est.col_}, COT {est.cot_})")
    if args.save_model:  # first: what cost the fit is kept if an output fails
        est.save(args.save_model)
        _say(args, f"saved the model to {args.save_model}")
    _write_outputs(args, est, photos, out, est._model.soft_assign(torch.from_numpy(Z)))
    return 0


def predict(args):
    from ._estimator import DiffusionEmbeddedClustering

    out = Path(args.out)
    _check_outputs(args, out)
    est = DiffusionEmbeddedClustering.load(args.model, device=args.device)
    est.set_params(verbose=args.verbose)
    channels, height, width = est._model.layout.image_shape
    if est._model.layout.kind != "image" or height != width or channels not in (1, 3):
        raise UsageError(f"{args.model} was not fitted on square grey or RGB images, as the "
                         "command line reads them: use the Python API.")
    photos = _read_folder(args.folder, height, channels == 3, args.verbose)
    _say(args, f"assigning {len(photos.images)} images to {est.n_clusters} clusters")
    _write_outputs(args, est, photos, out)
    return 0


def demo(args):
    from sklearn.datasets import load_digits
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from ._estimator import DiffusionEmbeddedClustering
    from .metrics import clustering_accuracy

    digits = load_digits()
    X, y = digits.images, digits.target
    print(f"digits: {X.shape[0]} images of {X.shape[1]}x{X.shape[2]}, 10 classes")
    est = DiffusionEmbeddedClustering(n_clusters=10, random_state=args.seed, device=args.device,
                                      verbose=args.verbose)
    tic = time.perf_counter()
    labels = est.fit_predict(X)
    elapsed = time.perf_counter() - tic
    print(f"COL  {est.col_}")
    print(f"COT  {est.cot_}")
    print(f"ACC  {clustering_accuracy(y, labels):.4f}")
    print(f"NMI  {normalized_mutual_info_score(y, labels):.4f}")
    print(f"ARI  {adjusted_rand_score(y, labels):.4f}")
    print(f"ACC before fine-tuning ({est.init} start at COL/COT)  "
          f"{clustering_accuracy(y, est.init_labels_):.4f}")
    print(f"time {elapsed:.1f} s  (" + ", ".join(
        f"{k} {v:.1f} s" for k, v in est.timings_.items()) + ")")
    return 0


# ------------------------------------------------------------------ helpers

def _read_folder(folder, image_size, color, verbose):
    from .datasets import load_image_folder

    with warnings.catch_warnings(record=True):
        # The skipped files are reported below, one line, not as a warning.
        warnings.simplefilter("always")
        photos = load_image_folder(folder, image_size=image_size, color=color, verbose=verbose)
    if photos.skipped:
        first, why = photos.skipped[0]
        print(f"skdiec: skipped {len(photos.skipped)} file(s) of {folder} "
              f"(e.g. {first}: {why})", file=sys.stderr)
    return photos


def _write_outputs(args, est, photos, out, proba=None):
    """The CSV, the agreement with the class folders (if any) and the sheet
    (``proba``: ``est.predict_proba(photos.images)``, when already known)."""
    if proba is None:
        proba = est.predict_proba(photos.images)
    _write_results(out, args.folder, photos.filenames, proba)
    _say(args, f"wrote {out}")
    if photos.target is not None:
        _report_agreement(args, photos, proba.argmax(axis=1))
    if not args.no_sheet:
        _write_sheet(args, est, photos.images, proba, out.with_suffix(".png"))


def _write_results(out, folder, filenames, proba):
    out.parent.mkdir(parents=True, exist_ok=True)
    # surrogateescape: a file name that is not UTF-8 (a Latin-1 name from an
    # old camera or archive) is written back as the bytes it has on disk.
    with open(out, "w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "cluster", "confidence"])
        for name, p in zip(filenames, proba):
            writer.writerow([str(Path(folder) / name), int(p.argmax()), f"{p.max():.4f}"])


def _write_sheet(args, est, images, proba, path):
    try:
        import matplotlib
    except ImportError:
        print("skdiec: no contact sheet: it needs matplotlib (pip install "
              "'skdiec[plot]'), or pass --no-sheet", file=sys.stderr)
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import plot_cluster_samples

    fig = plot_cluster_samples(est, images, n_per_cluster=args.n_per_cluster, proba=proba)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    _say(args, f"wrote {path}")


def _report_agreement(args, photos, labels):
    from sklearn.metrics import normalized_mutual_info_score

    from .metrics import clustering_accuracy

    acc = clustering_accuracy(photos.target, labels)
    nmi = normalized_mutual_info_score(photos.target, labels)
    _say(args, f"agreement with the {len(photos.target_names)} class folders: "
               f"ACC {acc:.4f}, NMI {nmi:.4f}")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """A warning as one line, without the source line Python adds: people
    at a command line read it, not the code that raised it."""
    print(f"skdiec: warning: {' '.join(str(message).split())}", file=sys.stderr)


def _say(args, message):
    if not args.quiet:
        print(message, file=sys.stderr)


def _check_outputs(args, out):
    """Refuse outputs that would fail, or overwrite one another, after the fit:
    the CSV ``out``, the contact sheet beside it and the ``--save-model``
    folder (which a save replaces whole)."""
    files = [(out, "--out")]
    if not args.no_sheet:
        sheet = out.with_suffix(".png")
        if sheet == out:
            raise UsageError(f"--out {out} is where the contact sheet goes (the CSV's name "
                             "with .png): give the CSV another suffix, or pass --no-sheet.")
        files.append((sheet, "the contact sheet"))
    for path, what in files:
        if path.is_dir():
            raise UsageError(f"{what} {path} is a folder, not a file to write.")
    if out.parent.exists() and not out.parent.is_dir():
        raise UsageError(f"{out.parent} is not a folder: cannot write {out}.")
    model = getattr(args, "save_model", None)
    if model:
        from ._persistence import _check_replaceable

        _check_replaceable(Path(model).absolute())  # the folder as save will write it
        model = Path(os.path.abspath(model))  # abspath: "a/../m" is "m", links stay links
        for path, what in files:
            path_abs = Path(os.path.abspath(path))
            if path_abs == model or model in path_abs.parents:
                raise UsageError(f"{what} {path} lies in --save-model {args.save_model}, "
                                 "which saving the model replaces whole: write it elsewhere.")


def _estimator_params(pairs):
    """``NAME=VALUE`` strings as estimator parameters; values are Python
    literals (``50``, ``1e-3``, ``(32, 64)``, ``None``) or plain strings."""
    from ._estimator import DiffusionEmbeddedClustering

    known = set(inspect.signature(DiffusionEmbeddedClustering).parameters)
    reserved = {"n_clusters": "--n-clusters", "random_state": "--seed", "device": "--device",
                "verbose": "--quiet/--verbose"}
    params = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise UsageError(f"--param {pair!r}: expected NAME=VALUE, e.g. max_iter=50.")
        if name in reserved:
            raise UsageError(f"--param {name}: use {reserved[name]} instead.")
        if name not in known:
            raise UsageError(f"--param {name}: not a DiEC parameter; see "
                             "'python -m skdiec cluster --help'.")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        params[name] = value
    return params


def _positive_int(text):
    """argparse's type of a count: an int of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _parser():
    parser = argparse.ArgumentParser(
        prog="skdiec",
        description="Diffusion Embedded Clustering of image folders. Run "
                    "'skdiec COMMAND --help' for a command's options.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"skdiec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p):
        p.add_argument("--device", default="auto",
                       help="where the U-Net runs: auto (a GPU when there is one), cpu, "
                            "cuda or cuda:N (default: auto)")
        p.add_argument("--no-sheet", action="store_true",
                       help="do not write the contact sheet (a PNG beside the CSV, one row "
                            "per cluster of its most confident images)")
        p.add_argument("--n-per-cluster", type=_positive_int, default=8, metavar="N",
                       help="images per cluster on the contact sheet (default: 8)")
        p.add_argument("--quiet", action="store_true",
                       help="no progress bars or messages, only errors")

    p = sub.add_parser(
        "cluster", help="cluster a folder of images; write a CSV and a contact sheet",
        description="Cluster the images of FOLDER (PNG, JPEG, ...; a flat folder, or one "
                    "sub-folder per class, whose names are then only used to report the "
                    "agreement). Every image is converted to RGB (or grey with --grey), its "
                    "shorter side scaled to --image-size and the centred square kept. Writes "
                    "one CSV row per image (path, cluster, confidence: the soft assignment "
                    "to its cluster) and the contact sheet beside it (same name, .png).")
    p.add_argument("folder", help="the folder of images")
    p.add_argument("--n-clusters", type=_positive_int, required=True, metavar="K",
                   help="number of clusters (at most the number of images)")
    p.add_argument("--out", default="clusters.csv",
                   help="CSV file to write (default: clusters.csv)")
    p.add_argument("--save-model", metavar="DIR",
                   help="also save the fitted model to DIR, for 'skdiec predict'")
    p.add_argument("--image-size", type=_positive_int, default=32, metavar="S",
                   help="side of the square the images are resized to (default: 32; a fit "
                        "costs about the square of it)")
    p.add_argument("--grey", action="store_true", help="read the images as grey, not RGB")
    p.add_argument("--seed", type=int, default=0,
                   help="random_state: the same seed gives the same clusters on a CPU "
                        "(default: 0)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="any other DiEC parameter, as a Python literal, e.g. --param "
                        "max_iter=50 --param 'unet_channels=(32, 64)'; repeat for more")
    common(p)
    p.set_defaults(run=cluster)

    p = sub.add_parser(
        "predict", help="assign the images of a folder with a saved model",
        description="Assign the images of FOLDER to the clusters of a model saved by "
                    "'skdiec cluster --save-model' (or DiEC.save); they are read at the "
                    "model's image size and colour.")
    p.add_argument("model", help="the saved model's folder")
    p.add_argument("folder", help="the folder of images to assign")
    p.add_argument("--out", default="predictions.csv",
                   help="CSV file to write (default: predictions.csv)")
    common(p)
    p.set_defaults(run=predict)

    p = sub.add_parser("demo", help="DiEC with its defaults on scikit-learn's digits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--verbose", type=int, default=0)
    p.set_defaults(run=demo, quiet=False)
    return parser
