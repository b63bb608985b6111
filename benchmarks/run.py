"""Benchmark harness: DiEC, its ablations and the alternatives, side by side.

Runs the chosen methods on one dataset for each seed, each (method, seed) in
a fresh Python process so that its peak memory is its own, appends one JSON
line per (method, seed) to ``--out`` and prints mean ± std per method.

Usage::

    python benchmarks/run.py --dataset digits --seeds 0,1,2 \
        --out benchmarks/results/digits.jsonl
    python benchmarks/run.py --dataset digits --methods kmeans,diec --seeds 0 \
        --out /tmp/smoke.jsonl --quick

Methods (``--methods``, comma-separated; default all):

- ``diec``: ``DiEC(n_clusters=k, random_state=seed)``, everything else at its
  default.
- ``diec_no_finetune``: the same with ``max_iter=0``: labels are the
  nearest-centre assignment of the projected COL/COT features to the
  centroids of the estimator's start (``acc_init``... scores the start
  itself, ``init_labels_``: k-means in a UMAP embedding). The line also
  scores k-means (``n_init=10``) on the same features
  (``acc_kmeans_features``...).
- ``diec_mid``: ``layers=["mid"]``: the search runs on the bottleneck alone,
  so COL is "mid" and COT is mid's best timestep under the same criterion
  (coarse grid, then refinement), not ``diec``'s COT.
- ``diec_no_denoising``: ``denoising_weight=0``.
- ``diec_dec_target``: ``fine_tune_target="dec"``: DEC's self-training target
  (``Q`` sharpened, refreshed) from the same UMAP start, instead of holding
  the target at the start's partition.
- ``diec_ward``: ``init="ward", fine_tune_target="dec"``: the defaults before
  the UMAP start (Ward start, DEC's target).
- ``diec_silhouette``: ``search_score="silhouette"``, which the user guide
  suggests for clusters of very unequal size.
- ``diec_modularity``: ``search_score="modularity"``: the search judges a
  cell by the modularity of its Ward partition on the cell's kNN graph,
  which assumes no cluster size.
- ``diec_consensus``: ``search_score="consensus"``: the search judges a
  cell by the mean NMI of its Ward partition with the other coarse cells'
  partitions, which assumes no cluster size.
- ``diec_cells5``: ``n_cells=5``: the clustering space pools COL/COT with
  the 4 best-scoring other cells of the coarse grid.
- ``diec_search2000``: ``search_n_samples=2000``: the search scores cells
  on twice the default subset.
- ``diec_draws2``, ``diec_draws1``: ``n_noise_draws=2`` or ``1``: every
  feature pass (search, start, fine-tuning, prediction) averages over two
  noise draws, or reads one, instead of four.
- ``kmeans``: scikit-learn ``KMeans(n_clusters=k, n_init=10)`` on pixels.
- ``umap_kmeans``: N2D's recipe on pixels, what a user would try first:
  ``umap.UMAP(n_neighbors=15, min_dist=0.0, n_components=min(k, 10))``
  (umap-learn's default neighbourhood and its own neighbour search), then
  ``KMeans(n_clusters=k, n_init=10)`` in that embedding.
- ``clustpy_dec``, ``clustpy_idec``: ClustPy's ``DEC`` and ``IDEC`` with their
  defaults (``n_clusters``, ``random_state`` and ``device`` given), on
  flattened pixels z-normalised with the dataset's global mean and standard
  deviation (ClustPy's ``ZNormalizer`` default, as in its examples). Their
  ``labels_`` (k-means on the final embedding) are the headline; ``acc_dec``
  scores DEC's own assignments (``dec_labels_``). Skipped, with the reason
  printed, where ``clustpy.deep`` does not import (``--clustpy-python`` may
  name another interpreter for them).

``--reuse-backbone`` pretrains once per seed: every DiEC method of the run
gets ``memory=`` a folder (``--backbone-dir``, else a temporary one), ``diec``
runs first and pretrains, and the DiEC ablations of that seed find its U-Net
in the cache. Since each phase of a fit has its own seed, an ablation is
then the fit it would be from scratch, bit for bit on a CPU with a fixed
number of threads. A line records whether its fit pretrained (``backbone``)
and, with a cache, the SHA-256 of the pretrained weights
(``pretrained_sha256``) and of the labels (``labels_sha256``); a reused
backbone's pretraining time, which ``fit_s`` leaves out, is
``shared_pretrain_s``. ``backbone_<dataset>_seed<seed>.json`` beside the
cache records that time and digest.

``--load-backbones`` (with ``--backbone-dir``) goes one step further: every
DiEC method, ``diec`` included, reads the backbone an earlier run with
``--reuse-backbone --backbone-dir`` kept there, so that the ablations of an
expensive dataset need no pretraining at all. Its ``diec`` lines should
match the earlier run's ``pretrained_sha256`` and ``labels_sha256``.

``--param NAME=VALUE`` (repeatable; values are Python literals, as in the
studies: ``--param "unet_channels=(64, 128, 256)"``) sets an estimator
parameter of every DiEC method of the run, over the method's own and
``--quick``'s; the line's ``params`` records what each fit ran with.
``--data-dir`` reads the datasets from another copy of
``../shared/datasets/`` (``benchmarks/gpu/`` unpacks one on a GPU machine).

``--quick`` shrinks everything (300 samples, a tiny U-Net, 2 epochs) to test
the harness only: its lines carry ``"quick": true`` and ``render.py`` leaves
them out of benchmark tables.
"""

import argparse
import datetime
import hashlib
from importlib import metadata
import json
import os
from pathlib import Path
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

QUICK_N_SAMPLES = 300
QUICK_DIEC = dict(unet_channels=(8, 16), pretrain_epochs=2, timesteps=(50, 200),
                  n_refine_timesteps=1, n_noise_draws=2, max_iter=5, update_interval=2)
QUICK_CLUSTPY = dict(pretrain_epochs=2, clustering_epochs=2)

# Parameters of each DiEC method on top of n_clusters, random_state and device.
DIEC_METHODS = {
    "diec": {},
    "diec_no_finetune": {"max_iter": 0},
    "diec_mid": {"layers": ["mid"]},
    "diec_no_denoising": {"denoising_weight": 0.0},
    "diec_dec_target": {"fine_tune_target": "dec"},
    "diec_ward": {"init": "ward", "fine_tune_target": "dec"},
    "diec_silhouette": {"search_score": "silhouette"},
    "diec_modularity": {"search_score": "modularity"},
    "diec_consensus": {"search_score": "consensus"},
    "diec_size_entropy": {"search_score": "size_entropy"},
    "diec_cells5": {"n_cells": 5},
    "diec_search2000": {"search_n_samples": 2000},
    "diec_draws2": {"n_noise_draws": 2},
    "diec_draws1": {"n_noise_draws": 1},
}
CLUSTPY_METHODS = {"clustpy_dec": "DEC", "clustpy_idec": "IDEC"}
PIXEL_METHODS = ("kmeans", "umap_kmeans")
METHODS = [*DIEC_METHODS, *PIXEL_METHODS, *CLUSTPY_METHODS]
CLUSTPY_PREPROCESSING = "flattened pixels, (X - X.mean()) / X.std() over the whole dataset"


# ----------------------------------------------------------------- child side


def _maxrss_mb():
    """Peak resident memory of this process so far, in MiB.

    VmHWM, where Linux has it: ru_maxrss of a child started by fork and exec
    keeps the parent's resident size at the fork, which would charge the
    harness's own memory to every method.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    scale = 2**20 if sys.platform == "darwin" else 1024
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale, 1)


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions(extra=()):
    versions = {}
    for dist in ("torch", "scikit-learn", "diffusers", "numpy", *extra):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def _jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return getattr(value, "__name__", None) or str(value)


def _torch_device(device):
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _cache_entries(memory_dir):
    """Number of pretrained U-Nets in the ``memory`` folder."""
    if memory_dir is None:
        return 0
    return sum(1 for _ in Path(memory_dir).glob("joblib/**/_pretrain_entry/*/output.pkl"))


def _weights_sha256(unet):
    import hashlib

    state = {k: v.detach().cpu().numpy() for k, v in unet.state_dict().items()}
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].tobytes())
    return digest.hexdigest()


def _run_pixels(method, X, k, seed, quick, device, backbone, diec_params):
    from sklearn.cluster import KMeans

    params = kmeans_params = {"n_clusters": k, "n_init": 10, "random_state": seed}
    reducer = None
    if method == "umap_kmeans":
        import umap  # numba compiles on import: not part of the fit's time

        umap_params = {"n_neighbors": 15, "min_dist": 0.0, "n_components": min(k, 10),
                       "random_state": seed}
        reducer = umap.UMAP(**umap_params)
        params = {"umap": umap_params, "kmeans": kmeans_params}
    X2 = X.reshape(len(X), -1)
    rss_before = _maxrss_mb()
    tic = time.perf_counter()
    if reducer is not None:
        X2 = reducer.fit_transform(X2)
    labels = KMeans(**kmeans_params).fit_predict(X2)
    return {"labels": labels, "fit_s": time.perf_counter() - tic, "params": params,
            "rss_before_fit_mb": rss_before, "torch_device": None}


def _run_diec(method, X, k, seed, quick, device, backbone, diec_params):
    from sklearn.cluster import KMeans

    from skdiec import DiEC, pretrain_unet

    params = {**(QUICK_DIEC if quick else {}), **DIEC_METHODS[method], **diec_params}
    # Backbones are shared through DiEC's own memory cache: the first fit of
    # a seed pretrains and fills it, later ones (ablations, --load-backbones
    # runs) read the same U-Net and repeat the later phases of that fit.
    memory = backbone["path"] if backbone else None
    est = DiEC(n_clusters=k, random_state=seed, device=device, memory=memory, **params)
    rss_before = _maxrss_mb()
    entries_before = _cache_entries(memory)
    tic = time.perf_counter()
    est.fit(X)
    fit_s = time.perf_counter() - tic
    pretrained_here = memory is None or _cache_entries(memory) > entries_before
    sha256 = None
    if memory is not None:
        p = est.get_params()
        # A cache hit: the pretrained (not fine-tuned) weights, to show that
        # every method of a seed clustered with the same backbone.
        unet = pretrain_unet(X, unet_channels=p["unet_channels"], epochs=p["pretrain_epochs"],
                             learning_rate=p["pretrain_learning_rate"],
                             max_timestep=p["pretrain_max_timestep"],
                             batch_size=min(p["pretrain_batch_size"], p["batch_size"]),
                             memory=memory, device=device, random_state=seed)
        sha256 = _weights_sha256(unet)
    extra = {"init": est.init_labels_}
    out = {
        "labels": est.labels_, "fit_s": fit_s, "rss_before_fit_mb": rss_before,
        "params": {k_: v for k_, v in est.get_params().items() if k_ not in ("unet", "memory")},
        "torch_device": str(next(est.unet_.parameters()).device),
        "col": est.col_, "cot": int(est.cot_),
        "search_score_used": est.search_score_,
        "search_agreement": round(float(est.search_agreement_), 4),
        "cells": [[layer, int(t)] for layer, t in est.cells_],
        "n_iter": int(est.n_iter_), "pretrain_epochs_run": len(est.pretrain_loss_),
        "timings": {key: round(v, 2) for key, v in est.timings_.items()},
        "pretrained_here": pretrained_here,
        "pretrained_sha256": sha256,
        "search": {layer: {int(t): (None if np.isnan(v) else round(float(v), 4))
                           for t, v in zip(est.search_timesteps_, row)}
                   for layer, row in zip(est.search_layers_, est.search_scores_)},
    }
    if method == "diec_no_finetune":
        out["labels_equal_init_labels"] = bool(np.array_equal(est.labels_, est.init_labels_))
        Z = est.transform(X)
        extra["kmeans_features"] = KMeans(k, n_init=10, random_state=seed).fit_predict(Z)
    out["extra_labels"] = extra
    return out


def _run_clustpy(method, X, k, seed, quick, device, backbone, diec_params):
    try:
        import clustpy
        from clustpy import deep
    except Exception as exc:  # a mismatched torchvision raises RuntimeError, not ImportError
        return {"skipped": f"clustpy.deep does not import in {sys.executable}: "
                           f"{type(exc).__name__}: {exc} (it needs clustpy and a torchvision "
                           "built for this torch; see benchmarks/README.md)"}
    cls = getattr(deep, CLUSTPY_METHODS[method])
    X2 = X.reshape(len(X), -1).astype(np.float32)
    X2 = (X2 - X2.mean()) / X2.std()
    est = cls(n_clusters=k, random_state=seed, device=_torch_device(device),
              **(QUICK_CLUSTPY if quick else {}))
    rss_before = _maxrss_mb()
    tic = time.perf_counter()
    est.fit(X2)
    fit_s = time.perf_counter() - tic
    return {"labels": est.labels_, "fit_s": fit_s, "rss_before_fit_mb": rss_before,
            "params": est.get_params(), "preprocessing": CLUSTPY_PREPROCESSING,
            "clustpy_version": clustpy.__version__, "extra_labels": {"dec": est.dec_labels_},
            "torch_device": str(_torch_device(device))}


def _runner(method):
    if method in DIEC_METHODS:
        return _run_diec
    if method in CLUSTPY_METHODS:
        return _run_clustpy
    return _run_pixels


def run_single(spec_path):
    """Run one (method, seed) as described by the JSON file ``spec_path``.

    This is the child side of :func:`main`: it writes the labels (scored by
    the parent), fit time, peak memory and the environment to
    ``spec["result"]``.
    """
    spec = json.loads(Path(spec_path).read_text())
    # The checkout's skdiec, not whichever one is installed.
    sys.path.insert(0, str(ROOT))
    X = np.load(spec["data"])
    runner = _runner(spec["method"])
    out = runner(spec["method"], X, spec["n_clusters"], spec["seed"], spec["quick"],
                 spec["device"], spec["backbone"], spec["diec_params"])
    if "skipped" not in out:
        out["peak_rss_mb"] = _maxrss_mb()
        torch = sys.modules.get("torch")
        threads = {"os_cpu_count": os.cpu_count(),
                   "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}
        if torch is not None:
            threads["torch"] = torch.get_num_threads()
        out["threads"] = threads
        used = out.pop("torch_device")
        out["device_kind"] = "cuda" if used and used.startswith("cuda") else "cpu"
        if out["device_kind"] == "cuda":
            used = torch.device(used)
            out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(used) / 2**20, 1)
            out["device"] = torch.cuda.get_device_name(used)
        else:
            out["device"] = _cpu_model()
        extra = ("clustpy", "torchvision") if spec["method"] in CLUSTPY_METHODS else ()
        out["versions"] = _versions(extra)
        out["python"] = platform.python_version()
        out["labels"] = np.asarray(out["labels"]).tolist()
        out["extra_labels"] = {name: np.asarray(v).tolist()
                               for name, v in out.get("extra_labels", {}).items()}
    Path(spec["result"]).write_text(json.dumps(_jsonable(out)))


# ---------------------------------------------------------------- parent side


def _git(*args):
    try:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _scores(y, labels):
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from skdiec.metrics import clustering_accuracy

    return {"acc": round(clustering_accuracy(y, labels), 4),
            "nmi": round(normalized_mutual_info_score(y, labels), 4),
            "ari": round(adjusted_rand_score(y, labels), 4)}


def _spawn(python, spec, folder):
    """Run one (method, seed) in a fresh process; its result dict, or None on failure."""
    tag = f"{spec['method']}_seed{spec['seed']}"
    spec = dict(spec, result=str(folder / f"{tag}.result.json"))
    spec_path = folder / f"{tag}.spec.json"
    spec_path.write_text(json.dumps(spec))
    proc = subprocess.run([python, str(Path(__file__).resolve()), "--single", str(spec_path)])
    result = Path(spec["result"])
    if proc.returncode != 0 or not result.exists():
        print(f"FAILED: {spec['method']} seed {spec['seed']} (exit code {proc.returncode})",
              file=sys.stderr, flush=True)
        return None
    return json.loads(result.read_text())


def _backbone_record(folder, dataset, seed):
    """The file that says a seed's backbone is in the ``memory`` folder
    ``folder``, with its pretraining time and weights' SHA-256."""
    return Path(folder) / f"backbone_{dataset}_seed{seed}.json"


def _row(common, method, seed, y, res, backbone, shared_pretrain_s):
    """One results line from a child's result: scores first, then the details."""
    labels = np.asarray(res.pop("labels"), dtype=np.int64)
    row = {**common, "method": method, "seed": seed, **_scores(y, labels),
           "fit_s": round(res.pop("fit_s"), 2), "peak_rss_mb": res.pop("peak_rss_mb")}
    if "peak_cuda_mb" in res:
        row["peak_cuda_mb"] = res.pop("peak_cuda_mb")
    row["device"] = res.pop("device")
    # Tells identical partitions apart from equal scores (e.g. a reused
    # backbone against pretraining from scratch) without storing the labels.
    row["labels_sha256"] = hashlib.sha256(labels.tobytes()).hexdigest()
    for name, extra in res.pop("extra_labels", {}).items():
        row.update({f"{key}_{name}": v for key, v in _scores(y, extra).items()})
    if method in DIEC_METHODS:
        own = res.pop("pretrained_here")
        if backbone is None:
            row["backbone"] = "own"
        elif own:
            row["backbone"] = "own, shared with the ablations"
        else:
            row["backbone"] = "reused"
        if shared_pretrain_s is not None:
            row["shared_pretrain_s"] = round(shared_pretrain_s, 2)
    row.update(res)
    return row


def _load_data(name, quick, data_dir=None):
    from _data import SHARED, load_for_fit

    X, y = load_for_fit(name, data_dir or SHARED)
    if quick and len(X) > QUICK_N_SAMPLES:
        # One fixed subset for every method and seed of the run.
        keep = np.sort(np.random.RandomState(0).choice(len(X), QUICK_N_SAMPLES, replace=False))
        X, y = X[keep], y[keep]
    return X, y


def main(argv=None):
    """Command line entry point; see the module docstring.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments (``sys.argv[1:]`` when None).

    Returns
    -------
    status : int
        0 if every (method, seed) ran or was skipped for a stated reason, 1
        if any failed.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="digits",
                        help="digits, usps, mnist_test, mnist, lt_usps, lt_mnist_test, yale, "
                             "pie, cifar10_test or cifar10 "
                             "(see benchmarks/_data.py)")
    parser.add_argument("--data-dir",
                        help="the folder of datasets (default: ../shared/datasets beside "
                             "the checkout)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated, from {', '.join(METHODS)}")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", help="JSON-lines file the results are appended to")
    parser.add_argument("--device", default="auto",
                        help="for DiEC and ClustPy: auto, cpu, cuda or cuda:N")
    parser.add_argument("--reuse-backbone", action="store_true",
                        help="DiEC ablations reuse the pretraining of diec with the same seed")
    parser.add_argument("--clustpy-python", default=sys.executable,
                        help="interpreter for the clustpy_* methods")
    parser.add_argument("--backbone-dir",
                        help="with --reuse-backbone: keep the pretrained U-Nets here (DiEC's "
                             "memory cache, and backbone_<dataset>_seed<seed>.json) instead of "
                             "a temporary folder")
    parser.add_argument("--load-backbones", action="store_true",
                        help="with --backbone-dir: every DiEC method, diec included, loads the "
                             "backbone an earlier --reuse-backbone run kept there instead of "
                             "pretraining")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="an estimator parameter of every DiEC method, its value a "
                             "Python literal (repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings to test the harness; not benchmark numbers")
    parser.add_argument("--single", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.single:
        run_single(args.single)
        return 0
    # The checkout's skdiec and the benchmark modules, also when imported.
    for path in (str(HERE), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    if not args.out:
        parser.error("--out is required")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {METHODS}")
    if args.load_backbones and not args.backbone_dir:
        parser.error("--load-backbones needs --backbone-dir, the folder the backbones were "
                     "kept in")
    if args.reuse_backbone and not args.load_backbones:
        if "diec" not in methods:
            parser.error("--reuse-backbone needs diec among the methods: it pretrains")
        # The ablations need diec's backbone, so diec runs first in each seed.
        methods = ["diec"] + [m for m in methods if m != "diec"]
    seeds = [int(s) for s in args.seeds.split(",")]
    from _params import parse

    diec_params = parse(args.param)
    if args.load_backbones:
        paths = [_backbone_record(args.backbone_dir, args.dataset, seed) for seed in seeds]
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            parser.error(f"--load-backbones: no kept backbone {', '.join(missing)}; keep them "
                         "with a run of --reuse-backbone --backbone-dir first")

    X, y = _load_data(args.dataset, args.quick, args.data_dir)
    n_clusters = int(np.unique(y).size)
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", ".",
                 ":!benchmarks/results", ":!benchmarks/figures")
    common = {
        "harness": "run.py", "dataset": args.dataset, "n_samples": len(X),
        "quick": args.quick,
        "command": shlex.join(["python", "benchmarks/run.py",
                               *(sys.argv[1:] if argv is None else argv)]),
        "git_commit": _git("rev-parse", "HEAD"), "git_dirty": bool(dirty),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.backbone_dir and not args.load_backbones:
        Path(args.backbone_dir).mkdir(parents=True, exist_ok=True)
    rows, failed, skipped = [], 0, {}
    with tempfile.TemporaryDirectory(prefix="skdiec-bench-") as tmp:
        folder = Path(tmp)
        np.save(folder / "X.npy", X)
        for seed in seeds:
            shared_pretrain_s = None
            for method in methods:
                if method in skipped:
                    continue
                backbone = None
                memory_dir = str(args.backbone_dir or folder)
                record = _backbone_record(memory_dir, args.dataset, seed)
                if args.load_backbones and method in DIEC_METHODS:
                    backbone = {"mode": "load", "path": memory_dir}
                    shared_pretrain_s = json.loads(record.read_text()).get("pretrain_s")
                elif args.reuse_backbone and method in DIEC_METHODS:
                    if method == "diec":
                        backbone = {"mode": "save", "path": memory_dir}
                    elif shared_pretrain_s is not None:
                        backbone = {"mode": "load", "path": memory_dir}
                    else:
                        print(f"{method} seed {seed}: no backbone from diec, pretraining "
                              "from scratch", file=sys.stderr, flush=True)
                spec = {"method": method, "seed": seed, "data": str(folder / "X.npy"),
                        "n_clusters": n_clusters, "quick": args.quick,
                        "device": args.device, "backbone": backbone,
                        "diec_params": diec_params}
                python = args.clustpy_python if method in CLUSTPY_METHODS else sys.executable
                date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
                res = _spawn(python, spec, folder)
                if res is None:
                    failed += 1
                    continue
                if "skipped" in res:
                    skipped[method] = res["skipped"]
                    print(f"SKIPPED {method} (all seeds): {res['skipped']}", file=sys.stderr,
                          flush=True)
                    continue
                if backbone is not None and backbone["mode"] == "save":
                    shared_pretrain_s = res["timings"]["pretrain"]
                    record.write_text(json.dumps({"pretrain_s": shared_pretrain_s,
                                                  "pretrained_sha256": res["pretrained_sha256"]}))
                reused = backbone is not None and not res["pretrained_here"]
                row = _row(dict(common, date=date), method, seed, y, res, backbone,
                           shared_pretrain_s if reused else None)
                rows.append(row)
                with open(out, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
                print(f"{method} seed {seed}: ACC {row['acc']:.4f} NMI {row['nmi']:.4f} "
                      f"ARI {row['ari']:.4f} fit {row['fit_s']:.1f} s "
                      f"peak RSS {row['peak_rss_mb']:.0f} MB", flush=True)

    from render import summary_table

    if rows:
        print()
        print(summary_table(rows))
    for method, reason in skipped.items():
        print(f"\nskipped {method}: {reason}")
    print(f"\nappended {len(rows)} line(s) to {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
