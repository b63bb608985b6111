"""Fine-tuning that ends in its checked state closest to the start
(``skdiec._dec.KEEP_CLOSEST``) against one that ends where its steps run out.

    python benchmarks/studies/finetune_closest.py DATASET SEEDS MEMORY_DIR OUT.jsonl

The rule was measured and not adopted: the library of commit ``216257b``
(``git worktree add ../closest 216257b``) has ``_dec.KEEP_CLOSEST``, and
this script runs there; today's library has no such switch.

For each seed, two default fits read their backbone, search and start from
``MEMORY_DIR`` (a harness run's ``--backbone-dir``; a start cached under
other code is computed once and kept there), one with ``KEEP_CLOSEST``
off and one with it on, so that both fine-tune from the same start with
the same batches and noise. Appends one line per seed and rule: ACC and
NMI of the start and of ``labels_``, the steps taken, the step whose state
was kept, each check's agreement with the start and the seconds of
fine-tuning and of the final embedding. The labels only score.
"""

import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from skdiec import DiEC, _dec  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402
from sklearn.metrics import normalized_mutual_info_score  # noqa: E402


def main(dataset, seeds, memory, out):
    from _data import load_for_fit
    from _record import append

    if not hasattr(_dec, "KEEP_CLOSEST"):  # setting it here would change nothing
        sys.exit("finetune_closest.py needs the library of commit 216257b, where "
                 "skdiec._dec.KEEP_CLOSEST exists (see this script's docstring)")
    warnings.filterwarnings("ignore")
    X, y = load_for_fit(dataset)
    k = int(np.unique(y).size)
    for seed in [int(s) for s in seeds.split(",")]:
        for keep in (False, True):
            _dec.KEEP_CLOSEST = keep
            est = DiEC(n_clusters=k, random_state=seed, memory=memory).fit(X)
            history = est.fine_tune_history_
            append({"study": "finetune_closest", "dataset": dataset, "seed": seed,
                    "keep_closest": keep, "cell": f"{est.col_}@{est.cot_}",
                    "n_iter": int(est.n_iter_), "kept_step": history[-1].get("kept_step"),
                    "agreement": [(h["step"], round(h["target_agreement"], 4))
                                  for h in history],
                    "acc_init": round(float(clustering_accuracy(y, est.init_labels_)), 4),
                    "acc": round(float(clustering_accuracy(y, est.labels_)), 4),
                    "nmi_init": round(float(normalized_mutual_info_score(y, est.init_labels_)), 4),
                    "nmi": round(float(normalized_mutual_info_score(y, est.labels_)), 4),
                    "timings": {name: round(s, 1) for name, s in est.timings_.items()}}, out)


if __name__ == "__main__":
    main(*sys.argv[1:5])
