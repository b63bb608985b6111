"""Render benchmark results (JSON lines) as Markdown tables and figures.

Usage::

    python benchmarks/render.py benchmarks/results/cost_digits.jsonl > tables.md
    python benchmarks/render.py benchmarks/results/suite.jsonl --tables

Lines written by ``benchmarks/run.py`` are rendered per dataset: the
command(s), device and versions that produced them, mean ± std over seeds of
ACC, NMI, ARI, fit time and peak memory per method, the per-seed DiEC and
ClustPy details, and a bar figure of ACC per method (PNG, to ``--figures``).
Lines from ``--quick`` runs are smoke tests of the harness, not benchmark
numbers: they are left out unless ``--include-quick`` is given, and then
marked as such. When a (dataset, method, seed) appears more than once, the
last line counts, so a later run of one method can be rendered beside an
earlier run of the others; ``--methods`` keeps only the methods named (the
commands of the lines rendered are listed above the table).

``--tables`` prints only one table per dataset and the machine it ran on,
as BENCHMARKS.md shows them.
"""

import argparse
from collections import defaultdict
import json
from pathlib import Path
import sys

import numpy as np

FIGURES = Path(__file__).resolve().parent / "figures"
ROOT = Path(__file__).resolve().parents[1]
# How the tables name run.py's methods.
METHOD_NAMES = {"diec": "DiEC", "kmeans": "k-means on pixels",
                "umap_kmeans": "UMAP + k-means on pixels", "clustpy_dec": "DEC (ClustPy)",
                "diec_silhouette": "DiEC, silhouette search",
                "diec_modularity": "DiEC, modularity search",
                "diec_consensus": "DiEC, consensus search",
                "diec_cells5": "DiEC, five cells pooled",
                "diec_search2000": "DiEC, search on 2,000 images"}


def mean_std(values, digits=3):
    """``"mean ± std"`` of ``values`` (population std, as over a few seeds).

    Parameters
    ----------
    values : sequence of float
    digits : int, default=3
        Decimals shown.

    Returns
    -------
    text : str
    """
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


# ------------------------------------------------------- benchmarks/run.py rows


def read_lines(paths):
    """The JSON lines of the results files ``paths``, in order.

    Parameters
    ----------
    paths : sequence of str or Path

    Returns
    -------
    rows : list of dict
    """
    rows = []
    for path in paths:
        with open(path) as fh:
            rows.extend(json.loads(line) for line in fh if line.strip())
    return rows


def latest_rows(rows):
    """Keep the last line of each (dataset, n_samples, quick, method, seed), in order.

    Parameters
    ----------
    rows : list of dict
        Lines of ``benchmarks/run.py``, oldest first.

    Returns
    -------
    rows : list of dict
    """
    last = {}
    for r in rows:
        key = (r["dataset"], r["n_samples"], r.get("quick", False), r["method"], r["seed"])
        last.pop(key, None)  # re-insert so that the order follows the latest run
        last[key] = r
    return list(last.values())


def _groups(rows):
    """Rows by (dataset, n_samples, quick), then by method, in order of appearance."""
    groups = defaultdict(lambda: defaultdict(list))
    for r in rows:
        groups[(r["dataset"], r["n_samples"], r.get("quick", False))][r["method"]].append(r)
    return groups


def _fit_time(rs):
    text = mean_std([r["fit_s"] for r in rs], 1)
    return text + " †" if any(r.get("backbone") == "reused" for r in rs) else text


def summary_table(rows, dataset_column=True):
    """Markdown table of mean ± std over seeds per dataset and method.

    Parameters
    ----------
    rows : list of dict
        Lines of ``benchmarks/run.py``.
    dataset_column : bool, default=True
        Name the dataset in each row (False: one dataset's table).

    Returns
    -------
    text : str
        ACC (Hungarian-matched), NMI, ARI, fit time and peak RSS (and peak
        CUDA memory when any line has it); a fit time marked † leaves out
        pretraining shared with ``diec``.
    """
    cuda = any("peak_cuda_mb" in r for r in rows)
    head = ["dataset"] * dataset_column + ["method", "seeds", "ACC", "NMI", "ARI",
                                           "fit time (s)", "peak RSS (MB)"]
    head += ["peak CUDA (MB)"] if cuda else []
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (dataset, n, quick), methods in _groups(rows).items():
        name = f"{dataset} (n={n}{', QUICK' if quick else ''})"
        for method, rs in methods.items():
            cells = [name] * dataset_column + [METHOD_NAMES.get(method, method), str(len(rs))]
            cells += [mean_std([r[key] for r in rs]) for key in ("acc", "nmi", "ari")]
            cells += [_fit_time(rs), mean_std([r["peak_rss_mb"] for r in rs], 0)]
            if cuda:
                values = [r["peak_cuda_mb"] for r in rs if "peak_cuda_mb" in r]
                cells.append(mean_std(values, 0) if values else "–")
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def _device(r):
    if r.get("device_kind") == "cuda":
        return f"{r['device']} (GPU)"
    cpus = r.get("threads", {}).get("os_cpu_count")
    return f"{r['device']}, {cpus} CPUs" if cpus else r["device"]


def _distinct(values):
    return list(dict.fromkeys(v for v in values if v is not None))


def _provenance(rs):
    versions = defaultdict(list)
    for r in rs:
        for name, version in r["versions"].items():
            if version and name != "numpy" and version not in versions[name]:
                versions[name].append(version)
    threads = _distinct(r.get("threads", {}).get("torch") for r in rs)
    commits = _distinct(
        (r["git_commit"] or "?")[:10] + (" (uncommitted changes)" if r["git_dirty"] else "")
        for r in rs)
    dates = sorted(r["date"][:10] for r in rs)
    return [
        "```bash", *_distinct(r["command"] for r in rs), "```", "",
        f"Device: {'; '.join(_distinct(_device(r) for r in rs))}"
        + (f"; torch threads: {', '.join(map(str, threads))}" if threads else "") + ".",
        "Versions: " + ", ".join(f"{name} {' / '.join(v)}" for name, v in versions.items()) + ".",
        f"Commit: {', '.join(commits)}; run {dates[0]}"
        + (f" to {dates[-1]}" if dates[-1] != dates[0] else "") + ".",
    ]


def _diec_details(rs):
    out = ["| method | seed | COL@COT | ACC before fine-tuning | ACC | "
           "pretrain / search / init / fine-tune / final embedding (s) | fine-tune steps | "
           "backbone | k-means on COL/COT: ACC |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rs:
        t = r["timings"]
        backbone = r["backbone"]
        if "shared_pretrain_s" in r:
            backbone += f" (pretraining {r['shared_pretrain_s']:.1f} s, not in fit time)"
        km = f"{r['acc_kmeans_features']:.3f}" if "acc_kmeans_features" in r else "–"
        out.append(
            f"| {r['method']} | {r['seed']} | {r['col']}@{r['cot']} | {r['acc_init']:.3f} | "
            f"{r['acc']:.3f} | {t['pretrain']:.1f} / {t['search']:.1f} / {t['init']:.1f} / "
            f"{t['fine_tune']:.1f}" + (f" / {t['embed']:.1f}" if "embed" in t else "")
            + f" | {r['n_iter']} | {backbone} | {km} |")
    hashes = defaultdict(set)
    for r in rs:
        hashes[r["seed"]].add(r.get("pretrained_sha256"))
    if all(None not in h for h in hashes.values()):  # every fit used a memory cache
        same = all(len(h) == 1 for h in hashes.values())
        out += ["", "Pretrained U-Net identical across the DiEC methods of each seed "
                f"(SHA-256 of the weights): {'yes' if same else 'no'}."]
    return out


def _clustpy_details(rs):
    out = ["| method | seed | ACC (`labels_`) | ACC (`dec_labels_`) | settings |",
           "|---|---|---|---|---|"]
    for r in rs:
        p = r["params"]
        settings = (f"clustpy {r['clustpy_version']}, {p['pretrain_epochs']} + "
                    f"{p['clustering_epochs']} epochs, batch {p['batch_size']}, "
                    f"embedding {p['embedding_size']}")
        out.append(f"| {r['method']} | {r['seed']} | {r['acc']:.3f} | {r['acc_dec']:.3f} | "
                   f"{settings} |")
    out += ["", f"ClustPy input: {rs[0]['preprocessing']}."]
    return out


def plot_acc(methods, path, title):
    """Bar chart of mean ACC per method with std error bars, saved as PNG.

    Parameters
    ----------
    methods : dict of str to list of dict
        Rows of one dataset by method, in the order the bars are drawn.
    path : path-like
        The PNG to write; its folder is created if needed.
    title : str

    Returns
    -------
    path : pathlib.Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(methods)
    acc = [np.array([r["acc"] for r in methods[m]]) for m in names]
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(names), 3.6))
    ax.bar(range(len(names)), [a.mean() for a in acc], yerr=[a.std() for a in acc],
           capsize=4, color=["C0" if m.startswith("diec") else "C7" for m in names])
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("ACC (Hungarian)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_search(row, path, title):
    """The search heat map of one ``diec`` line, saved as PNG.

    Draws with :func:`skdiec.plotting.plot_search_scores` from the line's
    ``search`` table, so the figure needs no refit.

    Parameters
    ----------
    row : dict
        A DiEC line of ``benchmarks/run.py`` (with ``search``, ``col``, ``cot``).
    path : path-like
    title : str

    Returns
    -------
    path : pathlib.Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skdiec import DiEC
    from skdiec.plotting import plot_search_scores

    layers = list(row["search"])
    timesteps = sorted({int(t) for cells in row["search"].values() for t in cells})
    scores = np.array([[np.nan if row["search"][layer].get(str(t)) is None
                        else row["search"][layer][str(t)] for t in timesteps]
                       for layer in layers])

    class SearchRecord(DiEC):
        """An estimator holding only what the plot reads: the line's search."""

        col_ = cot_ = cells_ = None  # plain attributes here, not the fitted model's

    est = SearchRecord(search_score=row["params"]["search_score"])
    # Lines written before n_cells name COL/COT alone.
    cells = [tuple(cell) for cell in row.get("cells", [[row["col"], row["cot"]]])]
    vars(est).update(search_scores_=scores, search_layers_=layers,
                     search_timesteps_=np.array(timesteps), col_=row["col"], cot_=row["cot"],
                     cells_=cells,
                     # Lines written before search_score="auto" ranked by their parameter.
                     search_score_=row.get("search_score_used", row["params"]["search_score"]))
    ax = plot_search_scores(est)
    ax.set_title(title, fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(ax.figure)
    return path


def _shown(path):
    try:
        return path.resolve().relative_to(ROOT)
    except ValueError:
        return path


def dataset_tables(rows):
    """One Markdown table per dataset (method, seeds, ACC, NMI, ARI, fit
    time, peak RSS: mean ± std over the seeds) and the machine it ran on.

    Parameters
    ----------
    rows : list of dict
        Lines of ``benchmarks/run.py`` (pass them through
        :func:`latest_rows` first); ``--quick`` lines are left out.

    Returns
    -------
    text : str
    """
    out = []
    for (dataset, n, quick), methods in _groups(rows).items():
        if quick:
            continue
        rs = [r for group in methods.values() for r in group]
        out += [f"### {dataset} ({n:,} images)", "", summary_table(rs, dataset_column=False),
                ""]
        torch_versions = _distinct(r["versions"].get("torch") for r in rs)
        threads = _distinct(r.get("threads", {}).get("torch") for r in rs)
        out.append(f"Machine: {'; '.join(_distinct(_device(r) for r in rs))}"
                   + (f", {'/'.join(map(str, threads))} torch threads" if threads else "")
                   + f"; torch {' / '.join(torch_versions)}."
                   + (" † Without pretraining: the fit read a kept backbone."
                      if any(r.get("backbone") == "reused" for r in rs) else ""))
        out.append("")
    return "\n".join(out)


def suite_table(rows, include_quick=False, also=()):
    """Markdown table of the suite's lines (the last line of each
    (dataset, method, seed) counts), one row per dataset.

    Parameters
    ----------
    rows : list of dict
        Lines of ``run.py``.
    include_quick : bool, default=False
        Keep the lines of ``--quick`` runs (harness tests, not numbers).
    also : sequence of str, default=()
        Other DiEC methods of ``run.py`` (variants of a default) to show
        beside DiEC, each as a column of its mean ACC / NMI.

    Returns
    -------
    text : str
    """
    from _data import SUITE

    rows = [r for r in latest_rows(rows) if include_quick or not r.get("quick")]
    by = {}
    for r in rows:
        by.setdefault(r["dataset"], {}).setdefault(r["method"], []).append(r)
    head = ["dataset (n)", "seeds", "k-means ACC / NMI", "UMAP + k-means ACC / NMI",
            "DiEC ACC / NMI", *(f"{METHOD_NAMES.get(m, m)} ACC / NMI" for m in also),
            "DiEC start ACC", "fine-tuning gain", "DiEC fit (s)", "DiEC ≥ UMAP + k-means"]
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
                 pair(umap_rs), pair(diec), *(pair(methods.get(m)) for m in also)]
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


def render_harness(rows, figures=None):
    """Markdown for ``benchmarks/run.py`` lines, one section per dataset.

    Parameters
    ----------
    rows : list of dict
        Lines of ``benchmarks/run.py``; pass them through
        :func:`latest_rows` first to drop superseded repeats.
    figures : path-like, default=None
        Folder for the ACC bar figures; None draws none.

    Returns
    -------
    text : str
    """
    out = []
    for (dataset, n, quick), methods in _groups(rows).items():
        rs = [r for group in methods.values() for r in group]
        quick_note = " — QUICK SMOKE TEST, not benchmark numbers" if quick else ""
        out.append(f"### {dataset} (n={n}){quick_note}")
        out += [""] + _provenance(rs) + ["", summary_table(rs)]
        if any(r.get("backbone") == "reused" for r in rs):
            out.append("\n† Fit time without the pretraining shared with `diec` of the same "
                       "seed, or kept by an earlier run and loaded (`--load-backbones`): its "
                       "U-Net and generator state were reused.")
        diec = [r for r in rs if "col" in r]
        if diec:
            out += [""] + _diec_details(diec)
        clustpy = [r for r in rs if "clustpy_version" in r]
        if clustpy:
            out += [""] + _clustpy_details(clustpy)
        if figures is not None:
            seeds = "/".join(map(str, sorted({len(g) for g in methods.values()})))
            title = (f"{dataset} (n={n}){', QUICK smoke test' if quick else ''}: ACC, "
                     f"mean ± std over {seeds} seed(s)\n"
                     + "; ".join(_distinct(_device(r) for r in rs)))
            stem = dataset + ("_quick" if quick else "")
            path = plot_acc(methods, Path(figures) / f"acc_{stem}.png", title)
            out += ["", f"![ACC per method on {dataset}]({_shown(path)})"]
            for r in sorted(methods.get("diec", []), key=lambda r: r["seed"])[:1]:
                title = (f"{dataset}, seed {r['seed']}: COL={r['col']}, COT={r['cot']}, "
                         f"ACC {r['acc']:.3f}")
                path = plot_search(r, Path(figures) / f"search_{stem}.png", title)
                out += ["", f"![Search heat map on {dataset}]({_shown(path)})"]
        out.append("")
    return "\n".join(out)


def main(argv=None):
    """Command line entry point; see the module docstring.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments (``sys.argv[1:]`` when None).
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="JSON-lines results files")
    parser.add_argument("--figures", default=str(FIGURES),
                        help="folder for the ACC bar figures of run.py results")
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--methods",
                        help="comma-separated methods to render (default: all in the files)")
    parser.add_argument("--include-quick", action="store_true",
                        help="also render --quick smoke-test lines (marked as such)")
    parser.add_argument("--tables", action="store_true",
                        help="only one table per dataset and its machine, as BENCHMARKS.md "
                             "shows them")
    args = parser.parse_args(argv)
    rows = read_lines(args.paths)
    harness = latest_rows([r for r in rows if "harness" in r])
    if args.methods:
        keep = args.methods.split(",")
        harness = [r for r in harness if r["method"] in keep]
        # Methods in the order asked, as the table and the figure draw them.
        harness.sort(key=lambda r: keep.index(r["method"]))
    quick = [r for r in harness if r.get("quick")]
    if quick and not args.include_quick:
        print(f"left out {len(quick)} --quick line(s): smoke tests, not benchmark numbers",
              file=sys.stderr)
        harness = [r for r in harness if not r.get("quick")]
    if args.tables:
        print(dataset_tables(harness))
        return
    if harness:
        print(render_harness(harness, None if args.no_figures else args.figures))


if __name__ == "__main__":
    main()
