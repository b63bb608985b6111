"""The benchmark harness (benchmarks/run.py and render.py) runs end to end.

Only in --quick mode (300 digits, a tiny U-Net): this checks the harness's
lines and tables, not DiEC's numbers.
"""

import importlib.util
import json
import re
from pathlib import Path
import sys

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

COMMON_FIELDS = {
    "harness", "dataset", "n_samples", "quick", "command", "git_commit", "date", "method",
    "seed", "params", "acc", "nmi", "ari", "fit_s", "peak_rss_mb", "device", "versions",
    "labels_sha256",
}
DIEC_FIELDS = {"col", "cot", "acc_init", "nmi_init", "ari_init", "timings", "n_iter",
               "search", "backbone"}


def _module(name):
    path = BENCHMARKS / f"{name}.py"
    if not path.is_file():
        pytest.skip(f"{path} is not in this checkout")
    spec = importlib.util.spec_from_file_location(f"_benchmarks_{name.replace('/', '_')}",
                                                  path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as exc:
        pytest.skip(f"benchmarks/{name}.py does not import: {exc}")
    return module


@pytest.fixture(scope="module")
def quick_rows(tmp_path_factory):
    run = _module("run")
    out = tmp_path_factory.mktemp("bench") / "results.jsonl"
    saved = list(sys.path)
    try:
        # --param overrides --quick's update_interval=2 for DiEC alone.
        status = run.main(["--dataset", "digits", "--methods", "kmeans,diec", "--seeds", "0",
                           "--out", str(out), "--quick", "--param", "update_interval=3"])
    finally:
        sys.path[:] = saved  # run.main puts benchmarks/ first; keep it from other tests
    assert status == 0
    return out, [json.loads(line) for line in out.read_text().splitlines()]


def test_quick_run_writes_one_line_per_method_and_seed(quick_rows):
    _, rows = quick_rows
    assert [(r["method"], r["seed"]) for r in rows] == [("kmeans", 0), ("diec", 0)]
    for r in rows:
        assert COMMON_FIELDS <= set(r), COMMON_FIELDS - set(r)
        assert r["quick"] is True and r["dataset"] == "digits" and r["n_samples"] == 300
        assert all(0 <= r[key] <= 1 for key in ("acc", "nmi")) and -1 <= r["ari"] <= 1
        assert r["fit_s"] > 0 and r["peak_rss_mb"] > 0
        assert r["versions"]["torch"] and r["versions"]["scikit-learn"]
    kmeans, diec = rows
    assert kmeans["params"] == {"n_clusters": 10, "n_init": 10, "random_state": 0}
    assert DIEC_FIELDS <= set(diec), DIEC_FIELDS - set(diec)
    assert diec["params"]["random_state"] == 0 and diec["params"]["n_clusters"] == 10
    assert diec["params"]["update_interval"] == 3 and "--param update_interval=3" in diec["command"]
    assert set(diec["timings"]) == {"pretrain", "search", "init", "fine_tune", "embed"}
    assert diec["col"] in diec["search"] and diec["backbone"] == "own"
    # Each method ran in its own process: k-means does not carry DiEC's torch.
    assert kmeans["peak_rss_mb"] < diec["peak_rss_mb"]


def test_render_tables_and_figure(quick_rows, tmp_path, capsys):
    out, rows = quick_rows
    render = _module("render")
    text = render.render_harness(render.latest_rows(rows), figures=tmp_path)
    assert "QUICK SMOKE TEST" in text
    assert "| digits (n=300, QUICK) | k-means on pixels | 1 |" in text
    assert "| digits (n=300, QUICK) | DiEC | 1 |" in text
    assert "python benchmarks/run.py --dataset digits" in text
    assert (tmp_path / "acc_digits_quick.png").stat().st_size > 0
    # The search heat map is drawn from the diec line, without a refit.
    assert (tmp_path / "search_digits_quick.png").stat().st_size > 0
    assert "search_digits_quick.png" in text

    # Without --include-quick, quick lines never reach a benchmark table.
    render.main([str(out), "--no-figures"])
    captured = capsys.readouterr()
    assert "| DiEC |" not in captured.out and "| diec |" not in captured.out
    assert "left out 2 --quick line(s)" in captured.err

    # --methods renders only the methods named.
    render.main([str(out), "--no-figures", "--include-quick", "--methods", "kmeans"])
    captured = capsys.readouterr()
    assert "| digits (n=300, QUICK) | k-means on pixels | 1 |" in captured.out
    assert "DiEC" not in captured.out and "COL@COT" not in captured.out

    # --tables: one table per dataset and its machine; quick lines never count.
    assert render.dataset_tables(render.latest_rows(rows)) == ""
    tables = render.dataset_tables(render.latest_rows([dict(r, quick=False) for r in rows]))
    assert tables.startswith("### digits (300 images)\n\n| method | seeds | ACC |")
    assert "| k-means on pixels | 1 |" in tables and "| DiEC | 1 |" in tables
    assert "Machine: " in tables


def test_data_dir_and_bad_params_stop_the_run_before_any_fit(tmp_path):
    run = _module("run")
    out = tmp_path / "never.jsonl"
    saved = list(sys.path)
    try:
        with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "usps"))):
            run.main(["--dataset", "usps", "--methods", "kmeans", "--data-dir", str(tmp_path),
                      "--out", str(out)])
        with pytest.raises(SystemExit, match="max_iter"):
            run.main(["--dataset", "digits", "--methods", "diec", "--param", "max_iter=auto",
                      "--out", str(out)])
    finally:
        sys.path[:] = saved
    assert not out.exists()


def test_pretrain_budget_prints_the_passes_that_fit(capsys):
    # The GPU run sizes its pretraining with this probe: whole passes over
    # --n-samples within the budget, clipped to [--min-epochs, --max-epochs].
    budget = _module("gpu/pretrain_budget")
    common = ["--n-samples", "64", "--image-shape", "1,8,8", "--unet-channels", "8,16",
              "--batch-size", "8", "--probe-steps", "2", "--min-epochs", "3",
              "--max-epochs", "7", "--device", "cpu"]
    budget.main(common + ["--seconds", "0"])
    budget.main(common + ["--seconds", "1e6"])
    captured = capsys.readouterr()
    assert captured.out.split() == ["3", "7"]
    assert "pretraining step of 8 images, U-Net (8, 16)" in captured.err


def test_kept_backbones_reproduce_their_fits(tmp_path):
    # --reuse-backbone --backbone-dir keeps each seed's pretrained U-Net; a
    # later --load-backbones run fits DiEC on it without pretraining, and on
    # the CPU gets the same weights and the same labels. (One method only:
    # each fit is a fresh process that compiles UMAP's numba code again.)
    run = _module("run")
    kept, first, second = tmp_path / "kept", tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    saved = list(sys.path)
    try:
        assert run.main(["--dataset", "digits", "--methods", "diec",
                         "--seeds", "0", "--reuse-backbone", "--backbone-dir", str(kept),
                         "--out", str(first), "--quick", "--device", "cpu"]) == 0
        assert run.main(["--dataset", "digits", "--methods", "diec",
                         "--seeds", "0", "--load-backbones", "--backbone-dir", str(kept),
                         "--out", str(second), "--quick", "--device", "cpu"]) == 0
        with pytest.raises(SystemExit):
            run.main(["--dataset", "digits", "--methods", "diec", "--seeds", "1",
                      "--load-backbones", "--backbone-dir", str(kept),
                      "--out", str(second), "--quick"])
    finally:
        sys.path[:] = saved
    before = {r["method"]: r for r in map(json.loads, first.read_text().splitlines())}
    after = {r["method"]: r for r in map(json.loads, second.read_text().splitlines())}
    assert before["diec"]["backbone"] == "own, shared with the ablations"
    assert (kept / "backbone_digits_seed0.json").is_file()
    assert before["diec"]["pretrained_sha256"] is not None
    pretrain_s = before["diec"]["timings"]["pretrain"]
    loaded = after["diec"]
    assert loaded["backbone"] == "reused"
    assert loaded["pretrained_sha256"] == before["diec"]["pretrained_sha256"]
    assert loaded["labels_sha256"] == before["diec"]["labels_sha256"]
    assert loaded["timings"]["pretrain"] < pretrain_s
    assert 0 < loaded["shared_pretrain_s"] <= pretrain_s


def test_long_tailed_subsets_fall_ten_to_one_and_do_not_depend_on_a_run():
    data = _module("_data")
    sizes = data.long_tailed_sizes(10)
    assert sizes[0] == 700 and sizes[-1] == 70 and (np.diff(sizes) < 0).all()
    rng = np.random.RandomState(1)
    X, y = rng.rand(2000, 4, 4), np.repeat(np.arange(10), 200)
    Xs, ys = data.long_tailed(X, y, largest=100)
    assert np.bincount(ys).tolist() == data.long_tailed_sizes(10, largest=100).tolist()
    again = data.long_tailed(X, y, largest=100)
    assert np.array_equal(again[0], Xs) and np.array_equal(again[1], ys)
    # Each kept image is a row of X with its own label, in X's order.
    rows = [int(np.flatnonzero((X == image).all(axis=(1, 2)))[0]) for image in Xs]
    assert rows == sorted(rows) and np.array_equal(y[rows], ys)
    with pytest.raises(ValueError, match="class 0 has 200 images"):
        data.long_tailed(X, y, largest=300)


def test_study_parameters_are_literals_and_a_bad_pair_stops_naming_it():
    parse = _module("_params").parse
    assert parse(["n_cells=5", "search_score='consensus'", "learning_rate=1e-3"]) == {
        "n_cells": 5, "search_score": "consensus", "learning_rate": 1e-3}
    assert parse([]) == {}
    with pytest.raises(SystemExit, match="search_score: 'consensus' is not a Python literal"):
        parse(["search_score=consensus"])  # the shell ate the quotes
    with pytest.raises(SystemExit, match="expected NAME=VALUE, got 'n_cells'"):
        parse(["n_cells"])


def test_suite_table_compares_diec_with_umap_kmeans_per_dataset():
    render = _module("render")
    saved = list(sys.path)
    sys.path.insert(0, str(BENCHMARKS))
    try:
        def line(dataset, method, seed, acc, nmi, **extra):
            return dict(dataset=dataset, n_samples=100, method=method, seed=seed, acc=acc,
                        nmi=nmi, fit_s=10.0, **extra)

        rows = [line("yale", "umap_kmeans", 0, 0.60, 0.70),
                line("yale", "umap_kmeans", 1, 0.62, 0.70),
                line("yale", "diec", 0, 0.70, 0.60, acc_init=0.69),
                line("yale", "diec", 1, 0.72, 0.80, acc_init=0.75, backbone="reused"),
                line("digits", "diec", 0, 0.90, 0.85, acc_init=0.87),
                line("digits", "umap_kmeans", 0, 0.88, 0.84),
                line("digits", "umap_kmeans", 0, 0.95, 0.90, quick=True)]
        text = render.suite_table(rows)
    finally:
        sys.path[:] = saved
    lines = text.splitlines()
    # Suite order, not the order of the lines; a quick line never counts.
    assert lines[2].startswith("| digits (100) | 0 |")
    assert "yes (+0.020 ACC, +0.010 NMI; 1 seeds)" in lines[2]
    yale = lines[3]
    assert "| 0.610 / 0.700 | 0.710 / 0.700 | 0.720 | -0.010 | 10 † |" in yale
    assert "| 10 |" in lines[2] and "† Fit time without pretraining" in text
    assert "yes (+0.100 ACC, +0.000 NMI; 2 seeds)" in yale
    assert "Mean fine-tuning gain over the 2 datasets with DiEC lines: +0.010 ACC." in text


def test_suite_table_shows_a_variant_beside_diec():
    render = _module("render")
    saved = list(sys.path)
    sys.path.insert(0, str(BENCHMARKS))
    try:
        rows = [dict(dataset="yale", n_samples=100, method=method, seed=seed, acc=acc, nmi=0.5,
                     fit_s=10.0, acc_init=acc)
                for method, seed, acc in [("diec", 0, 0.70), ("diec", 1, 0.72),
                                          ("diec_consensus", 0, 0.60),
                                          ("diec_consensus", 1, 0.64)]]
        text = render.suite_table(rows, also=("diec_consensus",))
    finally:
        sys.path[:] = saved
    head, _, yale = text.splitlines()[:3]
    assert "| DiEC ACC / NMI | DiEC, consensus search ACC / NMI | DiEC start ACC |" in head
    # The variant's mean sits beside DiEC's; the start and the gain stay DiEC's.
    assert "| 0.710 / 0.500 | 0.620 / 0.500 | 0.710 | +0.000 |" in yale
