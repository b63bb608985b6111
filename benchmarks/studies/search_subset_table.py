"""Per-seed table of the Design notes' "The search's subset and
fine-tuning's length, end to end".

    python benchmarks/studies/search_subset_table.py

On the same kept backbones: the search on 1,000 images and one pass of
fine-tuning (the earlier defaults; ``search_modularity.jsonl``'s ``diec``
lines, LT-USPS's from ``suite.jsonl``), the search on 2,000 images with one
pass (``search_subset.jsonl``) and with fine-tuning until 98 % agreement
with the start (today's defaults for 10 clusters; ``search_auto.jsonl``).
"""

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results"
NAMES = {"digits": "digits", "usps": "USPS", "lt_usps": "LT-USPS", "mnist_test": "MNIST test"}


def lines(name, method, dataset=None):
    for line in (RESULTS / name).read_text().splitlines():
        row = json.loads(line)
        if row.get("method") == method and (dataset is None or row["dataset"] == dataset):
            yield (row["dataset"], row["seed"]), row


def cell(row):
    return f"{row['col']}@{row['cot']}"


def main():
    earlier = dict(lines("search_modularity.jsonl", "diec"))
    earlier.update(lines("suite.jsonl", "diec", "lt_usps"))
    one_pass = dict(lines("search_subset.jsonl", "diec_search2000"))
    today = dict(lines("search_auto.jsonl", "diec_search2000"))
    print("| dataset | seed | 1,000 images, one pass: cell, ACC | 2,000 images: cell, start "
          "| one pass | until 98 % agreement (steps) |")
    print("|---|---|---|---|---|---|")
    for key in sorted(set(today) | set(one_pass),
                      key=lambda k: (list(NAMES).index(k[0]), k[1])):
        row = today.get(key, one_pass.get(key))
        before = earlier.get(key)
        print(f"| {NAMES[key[0]]} | {key[1]} | "
              + (f"{cell(before)}, {before['acc']:.3f}" if before else "–")
              + f" | {cell(row)}, {row['acc_init']:.3f} | "
              + (f"{one_pass[key]['acc']:.3f}" if key in one_pass else "–")
              + (f" | {today[key]['acc']:.3f} ({today[key]['n_iter']}) |" if key in today
                 else " | not run |"))


if __name__ == "__main__":
    main()
