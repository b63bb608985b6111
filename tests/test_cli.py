"""The command line on a tiny folder of generated PNG and JPEG files."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from skdiec._cli import main

PIL = pytest.importorskip("PIL.Image")

# A reduced fit: the whole method, in seconds.
FAST_PARAMS = ["--param", "unet_channels=(8, 16)", "--param", "pretrain_epochs=1",
               "--param", "timesteps=(10, 100)", "--param", "n_refine_timesteps=0",
               "--param", "search_n_samples=60", "--param", "n_noise_draws=2",
               "--param", "n_components=4", "--param", "max_iter=2"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A flat folder: 12 red-ish and 12 blue-ish images of mixed sizes, saved as
    PNG and JPEG, one of them grey and one RGBA, a corrupt file and a text file."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.RandomState(0)
    for i in range(24):
        size = (20 + 3 * (i % 5), 16 + 2 * (i % 7))
        pixels = rng.randint(0, 70, size=(size[1], size[0], 3)).astype(np.uint8)
        pixels[..., 0 if i < 12 else 2] += 150
        img = PIL.fromarray(pixels)
        if i == 5:
            img = img.convert("L")
        if i == 16:
            img = img.convert("RGBA")
        img.save(folder / f"img{i:02d}.{'jpg' if i % 2 else 'png'}")
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    (folder / "notes.txt").write_text("not an image")
    return folder


def run(args, capsys):
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_cluster_then_predict(photos, tmp_path, capsys):
    out, model = tmp_path / "clusters.csv", tmp_path / "model"
    status, _, err = run(["cluster", photos, "--n-clusters", 2, "--out", out,
                          "--save-model", model, "--image-size", 16, "--seed", 0, "--quiet",
                          *FAST_PARAMS], capsys)
    assert status == 0, err
    assert "skipped 2 file(s)" in err  # the corrupt file and the text file
    rows = read_csv(out)
    assert [r["path"] for r in rows] == [str(photos / f"img{i:02d}.{'jpg' if i % 2 else 'png'}")
                                         for i in range(24)]
    assert {r["cluster"] for r in rows} <= {"0", "1"}
    assert all(0 < float(r["confidence"]) <= 1 for r in rows)
    assert out.with_suffix(".png").stat().st_size > 1000  # the contact sheet

    new = tmp_path / "new.csv"
    status, _, err = run(["predict", model, photos, "--out", new, "--quiet", "--no-sheet"],
                         capsys)
    assert status == 0, err
    # cluster writes the fit's own embedding's assignments: the saved model's, exactly
    assert [(r["cluster"], r["confidence"]) for r in read_csv(new)] == [
        (r["cluster"], r["confidence"]) for r in rows]
    assert not new.with_suffix(".png").exists() and "warning" not in err

    if not torch.cuda.is_available():  # a warning is one line, without Python's source line
        status, _, err = run(["predict", model, photos, "--out", new, "--quiet", "--no-sheet",
                              "--device", "cuda"], capsys)
        assert status == 0, err
        assert err.strip().splitlines()[-1] == ("skdiec: warning: device='cuda' is not "
                                                "available here; using the CPU.")
    status, _, err = run(["predict", model, photos, "--out", new, "--device", "tpu"], capsys)
    assert status == 2 and "device must be" in err and "skipped" not in err  # before reading

    # 16-bit files, read as uint16, against a model fitted on 8-bit ones: a warning.
    deep = tmp_path / "deep"
    deep.mkdir()
    for i in range(3):
        PIL.fromarray(np.full((20, 20), 20000 * i + 1000, dtype=np.uint16)).save(deep / f"{i}.png")
    status, _, err = run(["predict", model, deep, "--out", new, "--quiet", "--no-sheet"], capsys)
    assert status == 0, err
    assert "skdiec: warning: the images given reach" in err and "another bit depth" in err


def test_file_names_that_are_not_utf8_or_need_quoting(tmp_path, capsys):
    # A Latin-1 name failed the CSV after the fit, which was lost; a comma,
    # quotes or a line break in a name must survive the CSV.
    folder = tmp_path / "photos"
    folder.mkdir()
    names = [b"caf\xe9.png", b'a,b "c".png', b"new\nline.png", b"plain.png"]
    for i, name in enumerate(names):
        PIL.new("RGB", (12, 12), (40 * i, 0, 200 - 40 * i)).save(folder / "x.png")
        try:
            (folder / "x.png").rename(folder / os.fsdecode(name))
        except OSError:  # a file system that refuses such names (macOS, Windows)
            pytest.skip(f"this file system refuses the name {name!r}")
    out, model = tmp_path / "clusters.csv", tmp_path / "model"
    status, _, err = run(["cluster", folder, "--n-clusters", 2, "--out", out, "--seed", 0,
                          "--save-model", model, "--quiet", "--no-sheet", *FAST_PARAMS],
                         capsys)
    assert status == 0, err
    with open(out, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        paths = [row["path"] for row in csv.DictReader(fh)]
    assert sorted(os.fsencode(p) for p in paths) == sorted(
        os.fsencode(folder / os.fsdecode(name)) for name in names)
    assert all(os.path.exists(p) for p in paths)


@pytest.mark.parametrize("args,message", [
    (["cluster", "{missing}", "--n-clusters", "2"], "is not a folder"),
    (["cluster", "{empty}", "--n-clusters", "2"], "holds no image file"),
    (["cluster", "{photos}", "--n-clusters", "30"], "--n-clusters 30 is more than the 24 image"),
    (["cluster", "{photos}", "--n-clusters", "2", "--param", "max_iter=-1"],
     "max_iter"),
    (["cluster", "{photos}", "--n-clusters", "2", "--param", "colour=1"],
     "--param colour: not a DiEC parameter"),
    (["cluster", "{photos}", "--n-clusters", "2", "--param", "max_iter"], "expected NAME=VALUE"),
    (["cluster", "{photos}", "--n-clusters", "2", "--param", "random_state=3"], "use --seed"),
    (["predict", "{missing}", "{photos}"], "not a saved skdiec model"),
    (["cluster", "{photos}", "--n-clusters", "2", "--out", "{empty}"], "is a folder"),
    (["cluster", "{photos}", "--n-clusters", "2", "--save-model", "{photos}"],
     "which a saved model does not"),
    # Outputs that would have failed, or overwritten one another, after the fit:
    (["cluster", "{photos}", "--n-clusters", "2", "--out", "{tmp}/x.png"],
     "is where the contact sheet goes"),
    (["cluster", "{photos}", "--n-clusters", "2", "--out", "{tmp}/sheet.csv"],
     "the contact sheet {tmp}/sheet.png is a folder"),
    (["cluster", "{photos}", "--n-clusters", "2", "--save-model", "{tmp}/x.csv"],
     "--out {tmp}/x.csv lies in --save-model {tmp}/x.csv"),
    (["cluster", "{photos}", "--n-clusters", "2", "--save-model", "{tmp}/m", "--out",
      "{tmp}/m/../m/x.csv"], "lies in --save-model"),
    (["predict", "{missing}", "{photos}", "--out", "{tmp}/x.png"],
     "is where the contact sheet goes"),
])
def test_mistakes_are_one_line_and_exit_2(photos, tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "sheet.png").mkdir()
    paths = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "photos": photos,
             "tmp": tmp_path}
    args = [a.format(**paths) for a in args] + ["--quiet"]
    message = message.format(**paths)
    if "--out" not in args:
        args += ["--out", str(tmp_path / "x.csv")]
    status, out, err = run(args, capsys)
    assert status == 2
    lines = err.strip().splitlines()
    assert lines[-1].startswith(f"skdiec {args[0]}: error:") and message in lines[-1]
    assert "Traceback" not in err and not (tmp_path / "x.csv").exists()


def test_help_names_every_option_and_the_version():
    import skdiec

    result = subprocess.run([sys.executable, "-m", "skdiec", "cluster", "--help"],
                            capture_output=True, text=True, check=True)
    for option in ("--n-clusters", "--out", "--save-model", "--image-size", "--seed",
                   "--device", "--param", "--grey", "--no-sheet", "--quiet"):
        assert option in result.stdout
    result = subprocess.run([sys.executable, "-m", "skdiec", "--help"],
                            capture_output=True, text=True, check=True)
    assert "cluster" in result.stdout and "predict" in result.stdout
    result = subprocess.run([sys.executable, "-m", "skdiec", "--version"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"skdiec {skdiec.__version__}"


def test_help_and_argument_errors_answer_without_loading_torch():
    # They took seconds when importing skdiec loaded torch, diffusers and UMAP.
    code = ("import sys\n"
            "from skdiec._cli import main\n"
            "for argv in (['--help'], ['--version'], ['cluster', '--help'],\n"
            "             ['cluster', 'photos']):\n"
            "    try:\n"
            "        main(argv)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "print(sorted({'torch', 'diffusers', 'umap'} & set(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_console_script_is_the_command_line():
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="skdiec")
    assert script.load() is main


@pytest.mark.parametrize("option", ["--n-clusters", "--image-size", "--n-per-cluster"])
def test_counts_below_one_stop_before_the_folder_is_read(option, photos, tmp_path, capsys):
    # --n-per-cluster 0 failed at the contact sheet, after the whole fit.
    args = ["cluster", str(photos), "--n-clusters", "2", option, "0", "--quiet",
            "--out", str(tmp_path / "x.csv")]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"argument {option}: expected a positive integer" in err
    assert "Traceback" not in err and not (tmp_path / "x.csv").exists()


def test_a_bad_parameter_stops_before_the_folder_is_read(tmp_path, capsys, monkeypatch):
    from skdiec import _cli

    monkeypatch.setattr(_cli, "_read_folder", lambda *a: pytest.fail("the folder was read"))
    status, _, err = run(["cluster", tmp_path, "--n-clusters", 2, "--quiet", "--param",
                          "max_iter=-1", "--out", tmp_path / "x.csv"], capsys)
    assert status == 2 and "max_iter" in err


def test_a_missing_argument_is_argparse_exit_2():
    result = subprocess.run([sys.executable, "-m", "skdiec", "cluster", "photos"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "--n-clusters" in result.stderr
    assert "Traceback" not in result.stderr
