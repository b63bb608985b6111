"""Rules for choosing between the UMAP start's candidates, on kept backbones.

Two steps, so that the slow one (the fit up to the start, and UMAP) runs
once per backbone and the rules can be compared on the cache:

    python benchmarks/studies/start_choice.py dump DATASET BACKBONE SEED OUT.npz
    python benchmarks/studies/start_choice.py score OUT.npz [OUT.npz ...]

``dump`` fits DiEC with ``max_iter=0`` on the backbone (as
``start_candidates.py``; a BACKBONE that does not exist yet is pretrained
and saved there), and keeps the clustering space ``Z = transform(X)``, the
labels, and the estimator's own candidates (``skdiec._init._umap_candidates``)
at UMAP seeds 0, 1 and 2. ``score`` computes label-free criteria of every
candidate in ``Z`` (the silhouette, the start's former rule; modularity on
the 15- and 30-nearest-neighbour graphs; mean ARI to the other candidates,
UMAP seeds pooled) and prints, per backbone and UMAP seed, the ACC each
rule's choice among the neighbourhood sizes reaches. The labels only score.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from sklearn.metrics import adjusted_rand_score  # noqa: E402

from skdiec import _graph, _init  # noqa: E402
from start_candidates import silhouette  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402

UMAP_SEEDS = (0, 1, 2)


def dump(dataset, backbone, seed, out):
    from _data import load
    from run import _PretrainHook
    from skdiec import DiEC

    X, y = load(dataset)
    X = np.asarray(X, dtype=np.float32)
    k = int(np.unique(y).size)
    mode = "load" if Path(backbone).exists() else "save"
    est = DiEC(n_clusters=k, random_state=seed, max_iter=0, device="cpu")
    tic = time.perf_counter()
    with _PretrainHook(mode=mode, path=backbone):
        est.fit(X)
    print(f"{dataset} seed {seed}: fit ({mode}) {time.perf_counter() - tic:.0f} s, "
          f"cell {est.col_}@{int(est.cot_)}", flush=True)
    Z = est.transform(X).astype(np.float64)
    sizes, seeds, cands = [], [], []
    for umap_seed in UMAP_SEEDS:
        for n_neighbors, labels in _init._umap_candidates(Z, k, umap_seed):
            sizes.append(n_neighbors)
            seeds.append(umap_seed)
            cands.append(labels)
    np.savez_compressed(out, Z=Z, y=y, init_labels=est.init_labels_, sizes=sizes,
                        umap_seeds=seeds, candidates=np.array(cands),
                        cell=f"{est.col_}@{int(est.cot_)}", dataset=dataset, seed=seed)


def score(paths):
    rules = ("silhouette", "modularity15", "modularity30", "consensus_ari")
    picks = {r: [] for r in rules}
    for path in paths:
        d = np.load(path)
        Z, y, cands = d["Z"], d["y"], d["candidates"]
        sizes, useeds = d["sizes"], d["umap_seeds"]
        idx = _graph.nearest(Z, 31)[1]
        graphs = {k: _graph.knn_graph(idx[:, 1:k + 1]) for k in (15, 30)}
        rows = []
        for j, labels in enumerate(cands):
            others = [adjusted_rand_score(labels, c) for i, c in enumerate(cands) if i != j]
            rows.append(dict(
                n_neighbors=int(sizes[j]), umap_seed=int(useeds[j]),
                acc=clustering_accuracy(y, labels),
                silhouette=silhouette(Z, labels, int(useeds[j])),
                modularity15=_graph.modularity(graphs[15], labels),
                modularity30=_graph.modularity(graphs[30], labels),
                consensus_ari=float(np.mean(others))))
        name = f"{d['dataset']} s{int(d['seed'])} {d['cell']}"
        for r in rows:
            print(json.dumps(dict(backbone=name, **{k: round(v, 4) if isinstance(v, float)
                                                    else v for k, v in r.items()})))
        for umap_seed in UMAP_SEEDS:
            group = [r for r in rows if r["umap_seed"] == umap_seed]
            for rule in rules:
                picks[rule].append(max(group, key=lambda r: r[rule])["acc"])
        print(f"# {name}: ACC of each rule's pick per UMAP seed "
              + ", ".join(f"{rule} {[round(a, 3) for a in picks[rule][-len(UMAP_SEEDS):]]}"
                          for rule in rules), flush=True)
    for rule in rules:
        accs = np.array(picks[rule])
        print(f"## {rule}: mean ACC of the pick {accs.mean():.4f}, worst {accs.min():.4f}")


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        score(sys.argv[2:])
