"""Where a fit's time goes: FLOPs and seconds of its unit operations.

For each image size, on the U-Net DiEC builds by default (one channel; its
blocks by ``unet_channels="auto"``), this
measures with ``torch.utils.flop_counter.FlopCounterMode`` and the clock:

- a pretraining step (``pretrain_batch_size=64`` images, forward, backward
  and AdamW's update, fused as in the library);
- a fine-tuning step at the deepest cell (``up.0``, the one that costs most;
  the KL loss on ``_dec.FINE_TUNE_DRAWS`` noised copies of each image plus
  the denoising loss on the first quarter of the batch, as the library
  does, and on all ``n_noise_draws=4`` copies and all of the batch, as
  before);
- the embedding of 1,000 images at that cell (4 noise draws each);

and, once, the machine's matrix-multiply peak (float32, 2048 x 2048). From
these unit costs and the operations a default fit runs (pretraining and
fine-tuning steps, passes over the images: :func:`fit_operations`), before
this project's cost work and today, it estimates the U-Net's FLOPs and time
of a default fit on 1,000 and 10,000 images. Appends one JSON line per size
to ``--out`` and prints Markdown tables; ``--render FILE`` prints the tables
of an earlier run without measuring.

Usage::

    python benchmarks/cost.py --sizes 8,16,28,32,64 --out benchmarks/results/cost.jsonl
    python benchmarks/cost.py --render benchmarks/results/cost.jsonl
"""

import argparse
import functools
import json
import math
from pathlib import Path
import platform
import sys
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skdiec import DiEC, _backbone, _dec, _features, _model, _search, _torch_utils  # noqa: E402

DEFAULTS = DiEC().get_params()
# Pretraining and fine-tuning steps both take 64 images by default.
BATCH = DEFAULTS["pretrain_batch_size"]
assert BATCH == DEFAULTS["train_batch_size"], "cost.py assumes one batch size for both"
DRAWS = DEFAULTS["n_noise_draws"]
CELL = ("up.0", 50)


def matmul_peak(n=2048, reps=10):
    """float32 GFLOP/s of an n x n matrix product with torch's threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    tic = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - tic) / 1e9


def _timed(fn, reps):
    fn()  # warm-up: first calls allocate and pick kernels
    times = []
    for _ in range(reps):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return float(np.median(times))


def _flops(fn):
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def unit_costs(size, reps):
    channels = _backbone.auto_unet_channels(size)  # unet_channels="auto"
    factor = _backbone.built_downsampling_factor(channels)
    padded = math.ceil(size / factor) * factor
    unet = _backbone.build_unet(1, (padded, padded), channels, 1, seed=0)
    scheduler = _backbone.make_scheduler()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((BATCH, 1, padded, padded), generator=gen)
    bank = torch.randn((DRAWS, 1, padded, padded), generator=gen)
    opt = _torch_utils.make_adam(list(unet.parameters()), 1e-4, decoupled=True)

    def pretrain_step():
        eps, t = _backbone.draw_noise(x.shape, scheduler, gen, max_timestep=300)
        opt.zero_grad()
        _backbone.denoising_loss(unet, x, scheduler, eps, t).backward()
        opt.step()

    F = _features.extract_features(unet, scheduler, x, CELL[1], [CELL[0]], bank, "flatten",
                                   256, "cpu")[CELL[0]]
    head = _model.FeatureHead.fit(F, min(32, BATCH - 1), 0)
    embedder = _model.Embedder(unet, scheduler, head, CELL[0], CELL[1], bank, "flatten")
    centers = torch.nn.Parameter(torch.randn(10, head.components.shape[0], generator=gen))
    p = _dec.smoothed_onehot(np.arange(BATCH) % 10, 10)
    ft_opt = _torch_utils.make_adam(list(unet.parameters()) + [centers], 1e-4)

    def fine_tune_step(n_denoised, step_embedder):
        eps, t = _backbone.draw_noise((n_denoised,) + x.shape[1:], scheduler, gen)
        ft_opt.zero_grad()
        q = _dec.soft_assignment(step_embedder(x), centers, 1.0)
        loss = _dec.kl_divergence(p, q) + _backbone.denoising_loss(unet, x[:n_denoised],
                                                                   scheduler, eps, t)
        loss.backward()
        ft_opt.step()

    # Today a step reads FINE_TUNE_DRAWS of the bank and denoises a quarter
    # of its batch; before, all draws and all of the batch.
    today = functools.partial(fine_tune_step, _dec.denoised_rows(BATCH),
                              embedder.with_draws(torch.arange(_dec.step_draws(DRAWS))))
    before = functools.partial(fine_tune_step, BATCH, embedder)

    x1000 = torch.randn((1000, 1, padded, padded), generator=gen)

    def embed_1000():
        embedder.embed(x1000, 256, "cpu")

    unet.train()
    out = {"size": size, "padded": padded,
           "pretrain_step_gflop": _flops(pretrain_step) / 1e9,
           "pretrain_step_s": _timed(pretrain_step, reps),
           "fine_tune_step_gflop": _flops(today) / 1e9,
           "fine_tune_step_s": _timed(today, reps),
           "fine_tune_step_before_gflop": _flops(before) / 1e9,
           "fine_tune_step_before_s": _timed(before, reps)}
    unet.eval()
    out["embed_1000_gflop"] = _flops(embed_1000) / 1e9
    out["embed_1000_s"] = _timed(embed_1000, max(1, reps // 3))
    return out


# The operations of a default fit on n images (10 clusters), before this
# project's cost work (commit d68ea4f) and today: pretraining steps ("auto"),
# fine-tuning steps, and passes over images at the cell, counted in images.
def fit_operations(n, version, fine_tune_steps=None):
    """``(pretraining steps, fine-tuning steps, images embedded)``.

    Today fine-tuning runs one pass, then on until it reproduces the start,
    at most ``_dec.HELD_MAX_STEPS`` steps: ``fine_tune_steps`` (one pass
    when None) says how many.
    """
    spe = math.ceil(n / BATCH)
    if version == "before":
        # at least 10 epochs and 1,000 steps, with no ceiling
        pretrain = int(np.clip(math.ceil(1000 / spe), 10, 100)) * spe
        sub = min(n, 1000)
        search = 9 * sub  # 5 coarse (all layers) and 4 refining forwards on the subset
        # the subset again at COL/COT, the start's pass, 10 refreshes of all
        # of X in 300 steps (the first one repeating the start's), the final pass
        passes = search + sub + n + 10 * n + n
        return pretrain, 300, passes
    pretrain = _backbone.auto_pretrain_epochs(n, BATCH) * spe
    sub = _search.subset_size("auto", n, 10)
    steps = fine_tune_steps or _dec.auto_steps(n, BATCH)
    # the search, the start's pass over all of X, a check on at most
    # CHECK_MAX_ROWS rows every update_interval steps, the final pass
    checks = steps // DEFAULTS["update_interval"] * min(sub, _dec.CHECK_MAX_ROWS)
    return pretrain, steps, 9 * sub + n + checks + n


def fit_estimate(row, n, version, fine_tune_steps=None):
    """(TFLOP, seconds) of a default fit on ``n`` images of ``row``'s size,
    from the unit costs measured in ``row`` and :func:`fit_operations`, with
    COL at up.0 (the costliest cell): what the U-Net computes, not UMAP,
    PCA or Ward."""
    pretrain, fine_tune, passes = fit_operations(n, version, fine_tune_steps)
    # Before, fine-tuning steps denoised their whole batch.
    step = "fine_tune_step_before" if version == "before" else "fine_tune_step"
    flops = (pretrain * row["pretrain_step_gflop"] + fine_tune * row[f"{step}_gflop"]
             + passes / 1000 * row["embed_1000_gflop"])
    seconds = (pretrain * row["pretrain_step_s"] + fine_tune * row[f"{step}_s"]
               + passes / 1000 * row["embed_1000_s"])
    return flops / 1000, seconds


def render(rows):
    peak = rows[0]["matmul_peak_gflops"]
    print(f"Matrix-multiply peak: {peak:.0f} GFLOP/s ({rows[0]['threads']} threads).\n")
    print("| image | pretraining step: GFLOP, s, GFLOP/s (% of peak) | fine-tuning step at "
          "up.0: GFLOP, s, GFLOP/s | embedding 1,000 images at up.0: GFLOP, s |")
    print("|---|---|---|---|")
    for r in rows:
        rate = r["pretrain_step_gflop"] / r["pretrain_step_s"]
        ft_rate = r["fine_tune_step_gflop"] / r["fine_tune_step_s"]
        print(f"| {r['size']}x{r['size']} | {r['pretrain_step_gflop']:.1f}, "
              f"{r['pretrain_step_s']:.3f}, {rate:.0f} ({100 * rate / peak:.0f} %) | "
              f"{r['fine_tune_step_gflop']:.1f}, {r['fine_tune_step_s']:.3f}, {ft_rate:.0f} | "
              f"{r['embed_1000_gflop']:.0f}, {r['embed_1000_s']:.2f} |")
    print("\n| image | n | U-Net TFLOP of a default fit: before / today | its seconds at "
          "the measured rates: before / today |")
    print("|---|---|---|---|")
    for r in rows:
        for n in (1000, 10000):
            f0, s0 = fit_estimate(r, n, "before")
            (f1, s1), (f2, s2) = (fit_estimate(r, n, "today", steps)
                                  for steps in (None, _dec.HELD_MAX_STEPS))
            print(f"| {r['size']}x{r['size']} | {n:,} | {f0:.0f} / {f1:.0f}-{f2:.0f} | "
                  f"{s0:.0f} / {s1:.0f}-{s2:.0f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="8,16,28,32,64")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", help="JSON-lines file the results are appended to")
    parser.add_argument("--render", help="only print the tables of this results file")
    args = parser.parse_args(argv)
    if args.render:
        render([json.loads(line) for line in Path(args.render).read_text().splitlines()])
        return 0
    peak = matmul_peak()
    print(f"matmul peak: {peak:.1f} GFLOP/s ({torch.get_num_threads()} threads)", flush=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        row = unit_costs(size, args.reps if size < 64 else 2)
        row.update(matmul_peak_gflops=round(peak, 1), threads=torch.get_num_threads(),
                   torch=torch.__version__, cpu=platform.processor() or platform.machine(),
                   date=time.strftime("%Y-%m-%d"))
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")
    print()
    render(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
