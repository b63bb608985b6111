"""Render sweep results (benchmarks/sweep.py output) as a Markdown table.

Usage::

    python benchmarks/render_sweep.py benchmarks/results/sweep3_digits_h100.jsonl

With ``--oracle`` it also prints, for configs that have it, the labelled
k-means ACC of every (layer, timestep) cell next to the unsupervised choice.
"""

import argparse
import json


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--oracle", action="store_true")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for p in args.paths for line in open(p) if line.strip()]
    print("| config | seed | COL@COT | ACC before fine-tuning | ACC | NMI | fit (s) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['seed']} | {r['col']}@{r['cot']} | {r['acc_init']:.3f} | "
              f"{r['acc']:.3f} | {r['nmi']:.3f} | {r['fit_s']} |")
    if args.oracle:
        for r in rows:
            if "oracle" not in r:
                continue
            best = max(((acc, layer, t) for layer, row in r["oracle"].items()
                        for t, acc in row.items()))
            chosen = r["oracle"].get(r["col"], {}).get(str(r["cot"]), "not in this grid")
            print(f"\n{r['config']} seed {r['seed']}: best cell by labels {best[1]}@{best[2]} "
                  f"(k-means ACC {best[0]:.3f}); search chose {r['col']}@{r['cot']} "
                  f"(k-means ACC {chosen})")
            layers = list(r["oracle"])
            ts = sorted({int(t) for row in r["oracle"].values() for t in row})
            print("\n| layer | " + " | ".join(f"t={t}" for t in ts) + " |")
            print("|---|" + "---|" * len(ts))
            for layer in layers:
                print(f"| {layer} | " + " | ".join(
                    f"{r['oracle'][layer].get(str(t), float('nan')):.3f}" for t in ts) + " |")


if __name__ == "__main__":
    main()
