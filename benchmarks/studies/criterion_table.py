"""Which cell each search criterion picks, against the labels, per backbone.

Reads cell caches written by cache_cells.py (PCA-32 features of a 1,000-image
subset for every layer x timestep) and emulates the estimator's two-stage
search on the coarse grid (COL = best mean score over the coarse timesteps,
COT = COL's best timestep on the full cached grid). Prints one Markdown row
per cache: ACC of the Ward partition at the cell each criterion picks, the
best cell by labels, and the Spearman correlation of each score with ACC.

    python benchmarks/studies/criterion_table.py backbones/cells_d0.npz ...
"""
import sys
import warnings

import numpy as np
from scipy.stats import spearmanr
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import silhouette_score

from skdiec import _search
from skdiec.metrics import clustering_accuracy

warnings.filterwarnings("ignore")
COARSE = [1, 25, 50, 100, 200, 400, 700]
CRITERIA = {"silhouette": lambda Z, w: silhouette_score(Z, w),
            "size_entropy": lambda Z, w: _search.SCORERS["size_entropy"](Z, w, 0)}

print("| cache | best cell by labels (ACC) | " + " | ".join(
    f"{c}: pick (ACC), Spearman" for c in CRITERIA) + " |")
print("|---|---|" + "---|" * len(CRITERIA))
for path in sys.argv[1:]:
    D = np.load(path)
    y = D["y"]
    k = np.unique(y).size
    cells = [c for c in D.files if "@" in c]
    layers = list(dict.fromkeys(c.split("@")[0] for c in cells))
    acc, score = {}, {c: {} for c in CRITERIA}
    for cell in cells:
        Z = D[cell].astype(np.float64)
        w = AgglomerativeClustering(k).fit_predict(Z)
        acc[cell] = clustering_accuracy(y, w)
        for c, f in CRITERIA.items():
            score[c][cell] = f(Z, w)
    best = max(acc, key=acc.get)
    row = [path.rsplit("/", 1)[-1], f"{best} ({acc[best]:.3f})"]
    for c in CRITERIA:
        s = score[c]
        col = max(layers, key=lambda layer: np.mean([s[f"{layer}@{t}"] for t in COARSE]))
        cot = max((cell for cell in cells if cell.startswith(col + "@")), key=s.get)
        rho = spearmanr([acc[x] for x in cells], [s[x] for x in cells])[0]
        row.append(f"{cot} ({acc[cot]:.3f}), {rho:.2f}")
    print("| " + " | ".join(row) + " |", flush=True)
