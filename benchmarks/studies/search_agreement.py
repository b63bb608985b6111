"""``search_score="auto"`` on data its threshold was not read from: does the
cells' agreement tell where the consensus picks better cells than the size
entropy?

    python benchmarks/studies/search_agreement.py fit SET SEEDS OUT.jsonl
    python benchmarks/studies/search_agreement.py render OUT.jsonl
    python benchmarks/studies/search_agreement.py suite RESULTS.jsonl [...]

The threshold of ``search_score="auto"`` (the consensus where the coarse
cells' mean AMI is at least 0.7) was read off the development suite. The
sets here are not the suite's (see :data:`HELD_OUT`): long-tailed subsets
drawn with other sizes, another class order and another seed, and subsets of
PIE with fewer identities or fewer images each. Each is clustered with the
kept U-Net that the suite's default run pretrained on all the images of its
set (read from that run's ``memory``
through :func:`skdiec.pretrain_unet`, as a user would bring a pretrained
U-Net; nothing is pretrained here).

``fit`` runs, per seed, one default DiEC fit with ``search_score=
"size_entropy"`` and one with ``"consensus"`` on the same U-Net, and
appends a line per fit: the agreement both record (``search_agreement_``),
the cell, ACC and NMI of the fit and of its start, and the seconds.
``render`` prints, per set and seed, both fits, the score ``"auto"`` picks
by the agreement, and how far the fit it picks is from each.

``suite`` prints the development suite under ``"auto"`` from ``run.py``'s
lines: per dataset the agreement and the score used per seed, the ACC per
seed and the mean ACC / NMI, beside the size entropy's (``diec`` lines
written before ``"auto"``, which carry no ``search_score_used``), the
consensus's (``diec_consensus``) and UMAP + k-means on pixels. The last
line of each (dataset, method, seed) counts.
"""

import copy
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

# name: (suite set whose images and kept U-Nets it uses, the folder of those
# U-Nets, the subset: the largest class's size, largest / smallest, whether
# the sizes fall from the last label to the first, the seed of the draw,
# and optionally how many classes, drawn with that seed, it keeps)
HELD_OUT = {
    "lt_pie": ("pie", "backbones/suite", (170, 10, False, 1)),
    "pie_5_identities": ("pie", "backbones/suite", (170, 1, False, 1, 5)),
    "pie_85_each": ("pie", "backbones/suite", (85, 1, False, 1)),
    "lt_digits_rev": ("digits", "backbones/digits_s012", (170, 10, True, 1)),
    "lt20_usps_rev": ("usps", "backbones/usps_s012", (700, 20, True, 1)),
    "lt20_mnist_test_rev": ("mnist_test", "backbones/mnist_s012", (800, 20, True, 1)),
}
SCORES = ("size_entropy", "consensus")


def fit(name, seeds, out):
    from sklearn.metrics import normalized_mutual_info_score as nmi

    from _data import load_for_fit, long_tailed_rows
    from _record import append
    from skdiec import DiEC, pretrain_unet
    from skdiec.metrics import clustering_accuracy as acc

    warnings.filterwarnings("ignore")
    source, memory, rule = HELD_OUT[name]
    X, y = load_for_fit(source)
    largest, ratio, reverse, draw_seed, *n_classes = rule
    rows = long_tailed_rows(y, largest, ratio, draw_seed, reverse, *n_classes)
    k = int(np.unique(y[rows]).size)
    for seed in seeds:
        tic = time.perf_counter()
        unet = pretrain_unet(X, memory=memory, random_state=seed)
        read_s = time.perf_counter() - tic
        for score in SCORES:
            tic = time.perf_counter()
            est = DiEC(n_clusters=k, random_state=seed, unet=copy.deepcopy(unet),
                       search_score=score).fit(X[rows])
            fit_s = time.perf_counter() - tic
            ys = y[rows]
            append({"study": "search_agreement", "set": name, "source": source,
                    "subset_rule": rule, "n_samples": int(rows.size), "seed": seed,
                    "search_score": score, "agreement": round(est.search_agreement_, 4),
                    "col": est.col_, "cot": int(est.cot_),
                    "acc": round(acc(ys, est.labels_), 4), "nmi": round(nmi(ys, est.labels_), 4),
                    "acc_init": round(acc(ys, est.init_labels_), 4),
                    "nmi_init": round(nmi(ys, est.init_labels_), 4),
                    "fit_s": round(fit_s, 1), "unet_read_s": round(read_s, 1),
                    "timings": {key: round(v, 1) for key, v in est.timings_.items()}}, out)


def render(paths):
    from skdiec import _search

    fits = {}
    for path in paths:
        for text in open(path):
            r = json.loads(text)
            if r.get("study") == "search_agreement":
                fits[(r["set"], r["seed"], r["search_score"])] = r
    print("| held-out set | images | seed | agreement | size entropy: cell, start, ACC "
          "| consensus: cell, start, ACC | auto picks | auto minus size entropy "
          "| auto minus consensus |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (name, seed, _) in sorted(k for k in fits if k[2] == SCORES[0]):
        se, co = fits[(name, seed, SCORES[0])], fits.get((name, seed, SCORES[1]))
        if co is None:
            continue
        picked = _search.resolve_score("auto", se["agreement"])
        auto = co if picked == "consensus" else se
        cells = [f"{r['col']}@{r['cot']}, {r['acc_init']:.3f}, {r['acc']:.3f}" for r in (se, co)]
        print(f"| {name} | {se['n_samples']} | {seed} | {se['agreement']:.3f} | {cells[0]} "
              f"| {cells[1]} | {picked} | {auto['acc'] - se['acc']:+.3f} "
              f"| {auto['acc'] - co['acc']:+.3f} |")


def suite(paths):
    from _data import SUITE

    lines = {}  # (dataset, rule, seed) -> line
    for path in paths:
        for text in open(path):
            r = json.loads(text)
            if r.get("quick") or "method" not in r:
                continue
            rule = {"diec_consensus": "consensus", "umap_kmeans": "umap_kmeans",
                    "diec_size_entropy": "size_entropy"}.get(r["method"])
            if r["method"] == "diec":
                rule = "auto" if "search_score_used" in r else "size_entropy"
            if rule:
                lines[(r["dataset"], rule, r["seed"])] = r

    def mean(dataset, rule, seeds):
        rows = [lines[(dataset, rule, s)] for s in seeds if (dataset, rule, s) in lines]
        if len(rows) < len(seeds):
            return "–"
        return f"{np.mean([r['acc'] for r in rows]):.3f} / {np.mean([r['nmi'] for r in rows]):.3f}"

    print("| dataset | agreement per seed | score used | ACC per seed | mean ACC / NMI "
          "| size entropy | consensus | UMAP + k-means on pixels |")
    print("|---|---|---|---|---|---|---|---|")
    for dataset in SUITE:
        auto = sorted((k[2], r) for k, r in lines.items() if k[:2] == (dataset, "auto"))
        if not auto:
            continue
        seeds = [seed for seed, _ in auto]
        rows = [r for _, r in auto]
        used = ", ".join(r["search_score_used"].replace("size_entropy", "size entropy")
                         for r in rows)
        agreements = ", ".join(f"{r['search_agreement']:.3f}" for r in rows)
        accs = ", ".join(f"{r['acc']:.3f}" for r in rows)
        print(f"| {dataset} | {agreements} | {used} | {accs} "
              f"| {mean(dataset, 'auto', seeds)} | {mean(dataset, 'size_entropy', seeds)} "
              f"| {mean(dataset, 'consensus', seeds)} | {mean(dataset, 'umap_kmeans', seeds)} |")


if __name__ == "__main__":
    if sys.argv[1] == "fit":
        fit(sys.argv[2], [int(s) for s in sys.argv[3].split(",")], sys.argv[4])
    elif sys.argv[1] == "suite":
        suite(sys.argv[2:])
    else:
        render(sys.argv[2:])
