"""Consensus between cells as a search score: does the cell whose partition
agrees most with the other cells' partitions cluster better than the size
entropy's pick?

    python benchmarks/studies/search_consensus.py dump DATASET SEEDS MEMORY_DIR OUT_DIR
    python benchmarks/studies/search_consensus.py score [--combined] OUT_DIR/*.npz
    python benchmarks/studies/search_consensus.py agreement OUT_DIR/*.npz

``dump`` reads each seed's kept backbone from ``MEMORY_DIR`` (a ``memory``
cache that ``run.py --reuse-backbone`` or ``suite.py`` filled), and on the
fit's own search subset and noise bank partitions every (layer, timestep)
cell of ``search_scores.TIMESTEPS`` as the search does (PCA to 32
dimensions, Ward). It writes one ``DATASET_seedS.npz`` per seed: every
cell's projected features and Ward labels, the subset's classes (only to
score) and the fitted estimator's cell.

``score`` prints, per file, the cell each rule picks with the search's own
rule (COL: the best mean over the coarse timesteps; COT: COL's best
timestep) and how well that cell clusters: the ACC of its Ward partition
and of UMAP + k-means (the start's method, run only on the cells some rule
picks). The rules:

- ``size_entropy``: today's default;
- ``consensus``: a cell's mean NMI with the Ward partitions of the other
  coarse cells (what the search holds after its coarse pass). A weak cell
  splits its classes along a style of its own, which no other cell shares,
  so it agrees with few; it assumes no size of cluster;
- ``entropy_then_consensus``: the ``consensus`` among the coarse cells
  whose size entropy is in the top half.

``score --combined`` adds three rules that combine the two scores, each
cell's rank among all cells by either (a fraction of 1):

- ``rank_sum``: the sum of its two ranks;
- ``lower_rank``: the lower of its two ranks;
- ``consensus_then_entropy``: the size entropy among the coarse cells
  whose consensus is in the top half.

``agreement`` prints, per file, how much the coarse cells agree with one
another: the mean adjusted mutual information (corrected for chance, which
is large with few images per cluster) and adjusted Rand index of every pair
of their Ward partitions, beside the cells the size entropy and the
consensus pick. Where lighting or another nuisance splits the images, the
cells may agree on it, or barely agree at all; this asks whether the
agreement tells such data apart.
"""

import sys
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parents[1])]

from search_scores import COARSE, TIMESTEPS, projected_cells, umap_kmeans  # noqa: E402
from skdiec import _graph, _search  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402


def dump(dataset, seeds, memory, out_dir):
    warnings.filterwarnings("ignore")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for seed in [int(s) for s in seeds.split(",")]:
        est, ys, k, projected = projected_cells(dataset, seed, memory)
        ward, features = {}, {}
        for name, t, Z in projected:
            ward[f"{name}@{t}"] = _search.partition(Z, k, "ward", 0)
            features[f"{name}@{t}"] = Z.astype(np.float32)
        np.savez(Path(out_dir) / f"{dataset}_seed{seed}.npz", y=ys,
                 fit_cell=f"{est.col_}@{int(est.cot_)}",
                 names=np.array(list(est.search_layers_)),
                 **{f"ward {c}": v for c, v in ward.items()},
                 **{f"features {c}": v for c, v in features.items()})


def load(path):
    data = np.load(path)
    names = list(data["names"])
    ward = {(n, t): data[f"ward {n}@{t}"] for n in names for t in TIMESTEPS}
    features = {(n, t): data[f"features {n}@{t}"] for n in names for t in TIMESTEPS}
    return names, ward, features, data["y"], str(data["fit_cell"])


def coarse_cells(names):
    """The (layer, timestep) cells of the coarse grid: what the search's
    coarse pass partitions before it refines COL's timesteps."""
    return [(n, t) for n in names for t in COARSE]


def scores(names, ward, combined=False):
    coarse = coarse_cells(names)
    entropy = {c: _search._size_entropy(None, labels, 0) for c, labels in ward.items()}

    def against(pool):
        # The search's own scoring: the pool's cells against one another
        # (each pair's NMI once), every other cell against the whole pool.
        within = _search.consensus_of_each({c: ward[c] for c in pool})
        return {c: within[c] if c in within else
                _search.consensus(ward[c], [ward[o] for o in pool]) for c in ward}

    def top_half(table):
        return sorted(coarse, key=table.get, reverse=True)[:len(coarse) // 2]

    consensus = against(coarse)
    top_consensus = against(top_half(entropy))
    rules = {"size_entropy": entropy, "consensus": consensus,
             "entropy_then_consensus": top_consensus}
    if combined:
        rank = {name: dict(zip(table, rankdata(list(table.values())) / len(table)))
                for name, table in (("entropy", entropy), ("consensus", consensus))}
        agreed = set(top_half(consensus))
        rules.update({
            "rank_sum": {c: rank["entropy"][c] + rank["consensus"][c] for c in ward},
            "lower_rank": {c: min(rank["entropy"][c], rank["consensus"][c]) for c in ward},
            # refined cells are COL's and stay in; coarse ones must agree
            "consensus_then_entropy": {c: entropy[c] if c in agreed or c not in coarse
                                       else -1.0 for c in ward}})
    return rules


def pick(names, table):
    col = max(names, key=lambda n: np.mean([table[(n, t)] for t in COARSE]))
    return col, max(TIMESTEPS, key=lambda t: table[(col, t)])


def score(paths, combined=False):
    summary = {}
    for path in paths:
        names, ward, features, y, fit_cell = load(path)
        k = int(np.unique(y).size)
        m = _graph.graph_neighbours(len(y), k)
        umap_acc = {}
        best = max(ward, key=lambda c: clustering_accuracy(y, ward[c]))
        print(f"{Path(path).stem}: fit's cell {fit_cell}; best Ward cell {best[0]}@{best[1]} "
              f"{clustering_accuracy(y, ward[best]):.3f}")
        for rule, table in scores(names, ward, combined).items():
            cell = pick(names, table)
            if cell not in umap_acc:
                umap_acc[cell] = clustering_accuracy(y, umap_kmeans(features[cell], k, m))
            summary.setdefault(rule, []).append(umap_acc[cell])
            print(f"  {rule:24s} picks {cell[0]}@{cell[1]}: Ward "
                  f"{clustering_accuracy(y, ward[cell]):.3f} UMAP {umap_acc[cell]:.3f}")
    print("mean UMAP ACC of the picked cell:")
    for rule, values in summary.items():
        print(f"  {rule:24s} {np.mean(values):.3f} over {len(values)}")


def agreement(paths):
    from sklearn.metrics import adjusted_rand_score

    for path in paths:
        names, ward, _, _, _ = load(path)
        coarse = coarse_cells(names)
        pairs = [(a, b) for i, a in enumerate(coarse) for b in coarse[i + 1:]]
        # search_score="auto"'s own measure
        ami = _search.agreement({c: ward[c] for c in coarse})
        ari = np.mean([adjusted_rand_score(ward[a], ward[b]) for a, b in pairs])
        rules = scores(names, ward)
        picks = {rule: pick(names, rules[rule]) for rule in ("size_entropy", "consensus")}
        print(f"{Path(path).stem}: mean AMI {ami:.3f}, mean ARI {ari:.3f} over {len(pairs)} "
              "pairs of coarse cells; picks: "
              + ", ".join(f"{rule} {c[0]}@{c[1]}" for rule, c in picks.items()), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(*sys.argv[2:6])
    elif sys.argv[1] == "agreement":
        agreement(sys.argv[2:])
    elif sys.argv[2] == "--combined":
        score(sys.argv[3:], combined=True)
    else:
        score(sys.argv[2:])
