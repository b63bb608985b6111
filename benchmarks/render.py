"""Render benchmark results (JSON lines) as Markdown tables.

Usage::

    python benchmarks/render.py benchmarks/results/core_digits.jsonl > table.md

Prints, per dataset and method, mean ± std over seeds of ACC, NMI, ARI and fit
time, then the per-seed DiEC details (COL/COT, ACC before fine-tuning, phase
timings, two-stage search against the full grid).
"""

import json
import sys
from collections import defaultdict

import numpy as np


def mean_std(values, digits=3):
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def render(rows):
    out = []
    groups = defaultdict(list)
    for r in rows:
        groups[(r["dataset"], r["method"])].append(r)
    out.append("| dataset | method | seeds | ACC | NMI | ARI | fit time (s) |")
    out.append("|---|---|---|---|---|---|---|")
    for (dataset, method), rs in groups.items():
        out.append(
            f"| {dataset} (n={rs[0]['n']}) | {method} | {len(rs)} | "
            f"{mean_std([r['acc'] for r in rs])} | {mean_std([r['nmi'] for r in rs])} | "
            f"{mean_std([r['ari'] for r in rs])} | {mean_std([r['fit_s'] for r in rs], 1)} |"
        )
    details = [r for r in rows if r["method"] == "diec_defaults"]
    if details:
        out.append("")
        out.append("| dataset | seed | COL | COT | ACC before fine-tuning | ACC after | "
                   "pretrain / search / init / fine-tune (s) | fine-tune steps | peak RSS (MB) |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for r in details:
            t = r["timings"]
            out.append(
                f"| {r['dataset']} | {r['seed']} | {r['col']} | {r['cot']} | "
                f"{r['acc_before_fine_tuning']:.3f} | {r['acc']:.3f} | "
                f"{t['pretrain']} / {t['search']} / {t['init']} / {t['fine_tune']} | "
                f"{r['n_iter']} | {r['peak_rss_mb']} |"
            )
    searches = [r for r in details if "search" in r]
    if searches:
        out.append("")
        out.append("| dataset | seed | two-stage: cells, s, cell | full grid: cells, s, cell | "
                   "same cell |")
        out.append("|---|---|---|---|---|")
        for r in searches:
            a, b = r["search"]["two_stage"], r["search"]["full_grid"]
            same = (a["col"], a["cot"]) == (b["col"], b["cot"])
            out.append(
                f"| {r['dataset']} | {r['seed']} | {a['cells']}, {a['seconds']}, "
                f"{a['col']}@{a['cot']} | {b['cells']}, {b['seconds']}, {b['col']}@{b['cot']} | "
                f"{'yes' if same else 'no'} |"
            )
    return "\n".join(out)


def main(paths):
    rows = []
    for path in paths:
        with open(path) as fh:
            rows.extend(json.loads(line) for line in fh if line.strip())
    print(render(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
