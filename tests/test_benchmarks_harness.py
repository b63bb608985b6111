"""The benchmark harness (benchmarks/run.py and render.py) runs end to end.

Only in --quick mode (300 digits, a tiny U-Net): this checks the harness's
lines and tables, not DiEC's numbers.
"""

import importlib.util
import json
from pathlib import Path
import sys

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
    spec = importlib.util.spec_from_file_location(f"_benchmarks_{name}", path)
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
        status = run.main(["--dataset", "digits", "--methods", "kmeans,diec", "--seeds", "0",
                           "--out", str(out), "--quick"])
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
    assert set(diec["timings"]) == {"pretrain", "search", "init", "fine_tune", "embed"}
    assert diec["col"] in diec["search"] and diec["backbone"] == "own"
    # Each method ran in its own process: k-means does not carry DiEC's torch.
    assert kmeans["peak_rss_mb"] < diec["peak_rss_mb"]


def test_render_tables_and_figure(quick_rows, tmp_path, capsys):
    out, rows = quick_rows
    render = _module("render")
    text = render.render_harness(render.latest_rows(rows), figures=tmp_path)
    assert "QUICK SMOKE TEST" in text
    assert "| digits (n=300, QUICK) | kmeans | 1 |" in text
    assert "| digits (n=300, QUICK) | diec | 1 |" in text
    assert "python benchmarks/run.py --dataset digits" in text
    assert (tmp_path / "acc_digits_quick.png").stat().st_size > 0
    # The search heat map is drawn from the diec line, without a refit.
    assert (tmp_path / "search_digits_quick.png").stat().st_size > 0
    assert "search_digits_quick.png" in text

    # Without --include-quick, quick lines never reach a benchmark table.
    render.main([str(out), "--no-figures"])
    captured = capsys.readouterr()
    assert "| diec |" not in captured.out
    assert "left out 2 --quick line(s)" in captured.err

    # --methods renders only the methods named.
    render.main([str(out), "--no-figures", "--include-quick", "--methods", "kmeans"])
    captured = capsys.readouterr()
    assert "| digits (n=300, QUICK) | kmeans | 1 |" in captured.out
    assert "| diec |" not in captured.out and "COL@COT" not in captured.out


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
