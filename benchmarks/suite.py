"""The development suite: DiEC beside k-means and UMAP + k-means on pixels,
on balanced digits, long-tailed digits and faces, several seeds.

A default of DiEC changes only if it helps on the suite as a whole and hurts
none of its members by more than noise. The datasets are those of
``_data.SUITE`` (``_data.py`` says how the long-tailed subsets are drawn);
every (dataset, method, seed) is one line appended to ``--out`` by
``run.py``, so a run can be split by dataset and seed across sessions into
one file. DiEC's backbones are kept in ``--backbone-dir`` (one per dataset
and seed), so that a later variant of the later phases
(``run.py --load-backbones``) needs no pretraining.

Usage::

    python benchmarks/suite.py --seeds 0,1,2 --out benchmarks/results/suite.jsonl
    python benchmarks/suite.py --datasets yale,lt_usps --seeds 0 \\
        --out benchmarks/results/suite.jsonl
    python benchmarks/suite.py --render benchmarks/results/suite.jsonl

The rendered table shows, per dataset, mean ACC and NMI over the seeds of
each method, DiEC's start (``acc_init``: its labels before fine-tuning) and
fine-tuning's gain (ACC of ``labels_`` minus ACC of ``init_labels_``), DiEC's
fit time, and whether DiEC is at or above UMAP + k-means.
"""

import argparse
from pathlib import Path
import sys

import numpy as np

HERE = Path(__file__).resolve().parent
METHODS = ("kmeans", "umap_kmeans", "diec")


def suite_table(rows, include_quick=False):
    """Markdown table of the suite's lines (the last line of each
    (dataset, method, seed) counts), one row per dataset.

    Parameters
    ----------
    rows : list of dict
        Lines of ``run.py``.
    include_quick : bool, default=False
        Keep the lines of ``--quick`` runs (harness tests, not numbers).

    Returns
    -------
    text : str
    """
    from _data import SUITE
    from render import latest_rows

    rows = [r for r in latest_rows(rows) if include_quick or not r.get("quick")]
    by = {}
    for r in rows:
        by.setdefault(r["dataset"], {}).setdefault(r["method"], []).append(r)
    head = ["dataset (n)", "seeds", "k-means ACC / NMI", "UMAP + k-means ACC / NMI",
            "DiEC ACC / NMI", "DiEC start ACC", "fine-tuning gain", "DiEC fit (s)",
            "DiEC ≥ UMAP + k-means"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    order = [d for d in SUITE if d in by] + sorted(set(by) - set(SUITE))

    def pair(rs):
        if not rs:
            return "–"
        return (f"{np.mean([r['acc'] for r in rs]):.3f} / "
                f"{np.mean([r['nmi'] for r in rs]):.3f}")

    gains, marked = [], False
    for dataset in order:
        methods = by[dataset]
        diec = methods.get("diec", [])
        umap_rs = methods.get("umap_kmeans", [])
        n = next(iter(methods.values()))[0]["n_samples"]
        seeds = sorted({r["seed"] for rs in methods.values() for r in rs})
        cells = [f"{dataset} ({n})", ",".join(map(str, seeds)), pair(methods.get("kmeans")),
                 pair(umap_rs), pair(diec)]
        if diec:
            gain = np.mean([r["acc"] - r["acc_init"] for r in diec])
            gains.append(gain)
            reused = any(r.get("backbone") == "reused" for r in diec)
            cells += [f"{np.mean([r['acc_init'] for r in diec]):.3f}", f"{gain:+.3f}",
                      f"{np.mean([r['fit_s'] for r in diec]):.0f}" + (" †" if reused else "")]
            marked = marked or reused
        else:
            cells += ["–", "–", "–"]
        if diec and umap_rs:
            common = sorted({r["seed"] for r in diec} & {r["seed"] for r in umap_rs})
            d = [r for r in diec if r["seed"] in common]
            u = [r for r in umap_rs if r["seed"] in common]
            ahead = [np.mean([r[key] for r in d]) - np.mean([r[key] for r in u])
                     for key in ("acc", "nmi")]
            verdict = "yes" if min(ahead) >= 0 else "no"
            cells.append(f"{verdict} ({ahead[0]:+.3f} ACC, {ahead[1]:+.3f} NMI; "
                         f"{len(common)} seeds)")
        else:
            cells.append("–")
        out.append("| " + " | ".join(cells) + " |")
    if marked:
        out.append("")
        out.append("† Fit time without pretraining: the backbone was read from "
                   "`--backbone-dir`.")
    if gains:
        out.append("")
        out.append(f"Mean fine-tuning gain over the {len(gains)} datasets with DiEC lines: "
                   f"{np.mean(gains):+.3f} ACC.")
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", help="comma-separated (default: the whole suite)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated run.py methods (diec runs first)")
    parser.add_argument("--out", help="JSON-lines file the results are appended to")
    parser.add_argument("--backbone-dir", default=str(HERE.parent / "backbones" / "suite"),
                        help="where DiEC's pretrained U-Nets are kept (default: backbones/suite, "
                             "ignored by git)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings to test the command; not benchmark numbers")
    parser.add_argument("--render", nargs="+", metavar="FILE",
                        help="print the suite table of these results files and exit")
    args = parser.parse_args(argv)
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    from _data import SUITE
    from render import read_lines
    import run

    if args.render:
        print(suite_table(read_lines(args.render)))
        return 0
    if not args.out:
        parser.error("--out is required (or --render)")
    datasets = args.datasets.split(",") if args.datasets else list(SUITE)
    unknown = sorted(set(datasets) - set(SUITE))
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; the suite is {', '.join(SUITE)}")
    status = 0
    for dataset in datasets:
        print(f"\n=== {dataset} ===", flush=True)
        argv_run = ["--dataset", dataset, "--methods", args.methods, "--seeds", args.seeds,
                    "--out", args.out]
        if "diec" in args.methods.split(","):
            argv_run += ["--reuse-backbone", "--backbone-dir", args.backbone_dir]
        if args.quick:
            argv_run.append("--quick")
        status |= run.main(argv_run)
    rows = read_lines([args.out])
    print()
    print(suite_table([r for r in rows if r.get("quick", False) == args.quick],
                      include_quick=args.quick))
    return status


if __name__ == "__main__":
    sys.exit(main())
