"""Pooling the search's best cells into one clustering space: does the start
cluster better than at COL/COT alone?

    python benchmarks/studies/pooled_cells.py DATASET SEEDS MEMORY_DIR [--out F] [--rules R,...]
    python benchmarks/studies/pooled_cells.py --render FILE.jsonl
    python benchmarks/studies/pooled_cells.py --render-fits METHOD FILE.jsonl ...

For each seed, ``DiEC(max_iter=0, memory=MEMORY_DIR)`` reads the backbone
that ``run.py --reuse-backbone`` or ``suite.py`` kept there (the script
stops if it would pretrain) and runs the search and start as a default fit
does: its ``init_labels_`` are today's start (rule ``col_cot``). Each other
rule rebuilds the clustering space from several cells:

- ``cells3``, ``cells5``: COL/COT and the 2 (4) best-scoring other cells of
  the coarse grid (the timesteps every layer was scored at);
- ``timesteps3``: COL at its 3 best-scoring timesteps, refined ones included.

Each cell's features (the fit's noise bank and pooling) are projected on
their own leading 32 principal components, fitted on the search's subset as
the search fits COL/COT's, and divided by the subset's root mean squared
norm, so that every cell weighs alike; the blocks are concatenated. All
images are embedded batch by batch, and the start's own method
(``_init.initial_partition``, UMAP + k-means chosen by modularity, with the
fit's start seed) partitions them. The classes only score: ACC and NMI of
each start, one JSON line per (seed, rule). ``--render`` prints them as a
Markdown table: per dataset and rule, the ACC of each seed, the mean ACC /
NMI and the mean gain in ACC over COL/COT alone on the same seeds.

``--render-fits`` compares whole fits instead: each ``run.py`` line of
METHOD (e.g. ``diec_cells5``, fitted with ``--load-backbones``) beside the
default fit (``diec``) that pretrained the same U-Net, matched by the
U-Net's SHA-256 in the files given. Per dataset: ACC per seed, mean ACC /
NMI, fine-tuning's mean gain over the start, the seconds after pretraining
(search, start, fine-tuning, final embedding; fine-tuning's in brackets)
and the largest peak RSS in MB, for both.
"""

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import normalized_mutual_info_score

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from _data import load_for_fit  # noqa: E402
from skdiec import DiEC, _features, _init, _search, _seeding  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402

N_COMPONENTS = 32
BATCH = 512


def rules(est):
    """The pooled cells of each rule, COL/COT first. ``cells3`` and
    ``cells5`` are the library's own rule (:func:`skdiec._search.best_cells`)
    on the timesteps every layer was scored at."""
    scores, steps = est.search_scores_, est.search_timesteps_
    result = _search.SearchResult(list(est.search_layers_), steps, scores, est.col_,
                                  int(est.cot_), 0, None, None)
    coarse = [int(t) for j, t in enumerate(steps) if np.isfinite(scores[:, j]).all()]
    row = list(est.search_layers_).index(est.col_)
    col_scores = {int(t): s for t, s in zip(steps, scores[row]) if np.isfinite(s)}
    best_t = sorted(col_scores, key=lambda t: -col_scores[t])
    return {"cells3": _search.best_cells(result, coarse, 3),
            "cells5": _search.best_cells(result, coarse, 5),
            "timesteps3": [(est.col_, t) for t in best_t[:3]]}


def pooled_space(est, images, subset, cells):
    """All images embedded in the pooled clustering space of ``cells``."""
    model = est._model
    blocks = {}
    for t, names in _features.by_timestep(cells).items():
        fit = _features.extract_features(model.unet, model.scheduler, images[subset], t, names,
                                         model.noise_bank, est.pooling, 256, "cpu")
        maps = {}
        for name in names:
            Zs, projection = _search.fit_projection(fit.pop(name), N_COMPONENTS, 0)
            maps[name] = (projection, np.sqrt((Zs ** 2).sum(axis=1).mean()))
        parts = {name: [] for name in names}
        for start in range(0, images.shape[0], BATCH):
            with torch.no_grad():
                feats = _features.cell_features(model.unet, model.scheduler,
                                                images[start:start + BATCH], t, names,
                                                model.noise_bank, est.pooling)
            for name in names:
                projection, rms = maps[name]
                F = feats[name].double().numpy()
                parts[name].append((F - projection.mean) @ projection.components.T / rms)
        for name in names:
            blocks[(name, t)] = np.vstack(parts[name])
    return np.hstack([blocks[cell] for cell in cells])


RULES = ("col_cot", "cells3", "cells5", "timesteps3")


def render(path):
    runs = {}
    for line in open(path):
        row = json.loads(line)
        runs.setdefault(row["dataset"], {}).setdefault(row["rule"], {})[row["seed"]] = row
    out = ["| dataset | " + " | ".join(RULES) + " |", "|---" * (len(RULES) + 1) + "|"]
    for dataset, by_rule in runs.items():
        base = by_rule.get("col_cot", {})
        cells = []
        for rule in RULES:
            rows = by_rule.get(rule, {})
            if not rows:
                cells.append("")
                continue
            text = (", ".join(f"{rows[s]['acc']:.3f}" for s in sorted(rows))
                    + f"; {np.mean([r['acc'] for r in rows.values()]):.3f}"
                    + f" / {np.mean([r['nmi'] for r in rows.values()]):.3f}")
            # Paired: over the seeds that ran both this rule and COL/COT alone.
            gain = [row["acc"] - base[s]["acc"] for s, row in rows.items() if s in base]
            if rule != "col_cot" and gain:
                text += f"; {np.mean(gain):+.3f}"
            cells.append(text)
        out.append(f"| {dataset} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def render_fits(method, paths):
    default, pooled = {}, {}
    for path in paths:
        for line in open(path):
            row = json.loads(line)
            if row.get("harness") != "run.py" or row.get("quick"):
                continue
            if row["method"] == "diec" and row.get("backbone", "").startswith("own"):
                default[row["pretrained_sha256"]] = row  # the latest fit on each U-Net
            elif row["method"] == method:
                pooled[(row["dataset"], row["seed"])] = row
    by_dataset = {}
    for (dataset, _), row in sorted(pooled.items()):
        base = default.get(row["pretrained_sha256"])
        if base is not None:
            by_dataset.setdefault(dataset, []).append((base, row))

    def summary(rows):
        later = [r["fit_s"] - r["timings"]["pretrain"] for r in rows]
        tune = [r["timings"]["fine_tune"] for r in rows]
        return (", ".join(f"{r['acc']:.3f}" for r in rows)
                + f"; {np.mean([r['acc'] for r in rows]):.3f}"
                + f" / {np.mean([r['nmi'] for r in rows]):.3f}"
                + f"; {np.mean([r['acc'] - r['acc_init'] for r in rows]):+.3f}"
                + f"; {min(later):.0f}-{max(later):.0f}"
                + f" ({min(tune):.0f}-{max(tune):.0f})"
                + f"; {max(r['peak_rss_mb'] for r in rows):.0f}")

    out = [f"| dataset | diec | {method} |", "|---|---|---|"]
    for dataset, pairs in by_dataset.items():
        out.append(f"| {dataset} | {summary([b for b, _ in pairs])} "
                   f"| {summary([p for _, p in pairs])} |")
    return "\n".join(out)


def main():
    if sys.argv[1:2] == ["--render"]:
        print(render(sys.argv[2]))
        return
    if sys.argv[1:2] == ["--render-fits"]:
        print(render_fits(sys.argv[2], sys.argv[3:]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("seeds")
    parser.add_argument("memory")
    parser.add_argument("--out")
    parser.add_argument("--rules", default=",".join(RULES[1:]),
                        help="the pooling rules to run, comma-separated (COL/COT alone is "
                             "the fit's own start, always reported)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    X, y = load_for_fit(args.dataset)
    k = int(np.unique(y).size)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    for seed in [int(s) for s in args.seeds.split(",")]:
        tic = time.perf_counter()
        est = DiEC(n_clusters=k, random_state=seed, max_iter=0, device="cpu",
                   memory=args.memory).fit(X)
        if est.timings_["pretrain"] > 30:
            sys.exit(f"{args.dataset} seed {seed}: no kept backbone in {args.memory} "
                     "(the fit pretrained)")
        fit_s = time.perf_counter() - tic
        subset_seed, _ = _seeding.ints(_seeding.phase_seeds(seed).search, 2)
        subset = _search.draw_subset(est.search_n_samples, len(X), k, subset_seed)
        images = est._model.layout.to_tensor(X.reshape(len(X), -1))
        init_seed = _seeding.int_seed(_seeding.phase_seeds(seed).init)
        rows = [("col_cot", [(est.col_, int(est.cot_))], est.init_labels_, fit_s)]
        for rule, cells in rules(est).items():
            if rule not in args.rules.split(","):
                continue
            tic = time.perf_counter()
            Z = pooled_space(est, images, subset, cells)
            labels, _ = _init.initial_partition(Z, k, "umap", np.random.RandomState(init_seed))
            rows.append((rule, cells, labels, time.perf_counter() - tic))
        for rule, cells, labels, seconds in rows:
            line = {"study": "pooled_cells", "dataset": args.dataset, "seed": seed,
                    "rule": rule, "cells": [f"{n}@{t}" for n, t in cells],
                    "acc": round(clustering_accuracy(y, labels), 4),
                    "nmi": round(normalized_mutual_info_score(y, labels), 4),
                    "seconds": round(seconds, 1), "git_commit": commit,
                    "command": " ".join(["python", "benchmarks/studies/pooled_cells.py"]
                                        + sys.argv[1:])}
            print(json.dumps(line), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
