"""Where a fit's time goes: FLOPs and seconds of its unit operations.

For each image size, on the U-Net DiEC builds by default (one channel), this
measures with ``torch.utils.flop_counter.FlopCounterMode`` and the clock:

- a pretraining step (``train_batch_size=64`` images, forward, backward and
  AdamW's update);
- a fine-tuning step at the deepest cell (``up.0``, the one that costs most;
  the KL loss on ``n_noise_draws=4`` noised copies of each image plus the
  denoising loss);
- the embedding of 1,000 images at that cell (4 noise draws each);

and, once, the machine's matrix-multiply peak (float32, 2048 x 2048). From
these and the step counts of a default fit it writes the cost of a default
fit, split into a fixed part and a part per 1,000 images. Appends one JSON
line per size to ``--out`` and prints a Markdown table.

Usage::

    python benchmarks/cost.py --sizes 8,16,28,32,64 --out benchmarks/results/cost.jsonl
"""

import argparse
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

from skdiec import DiEC, _backbone, _dec, _features  # noqa: E402

DEFAULTS = DiEC().get_params()
BATCH = DEFAULTS["train_batch_size"]
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
    padded = math.ceil(size / 4) * 4
    unet = _backbone.build_unet(1, (padded, padded), DEFAULTS["unet_channels"], 1, seed=0)
    scheduler = _backbone.make_scheduler()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((BATCH, 1, padded, padded), generator=gen)
    bank = torch.randn((DRAWS, 1, padded, padded), generator=gen)
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-4)

    def pretrain_step():
        eps, t = _backbone.draw_noise(x.shape, scheduler, gen, max_timestep=300)
        opt.zero_grad()
        _backbone.denoising_loss(unet, x, scheduler, eps, t).backward()
        opt.step()

    F = _features.extract_features(unet, scheduler, x, CELL[1], [CELL[0]], bank, "flatten",
                                   256, "cpu")[CELL[0]]
    head = _dec.FeatureHead.fit(F, min(32, BATCH - 1), 0)
    embedder = _dec.Embedder(unet, scheduler, head, CELL[0], CELL[1], bank, "flatten")
    centers = torch.nn.Parameter(torch.randn(10, head.components.shape[0], generator=gen))
    p = _dec.smoothed_onehot(np.arange(BATCH) % 10, 10)
    ft_opt = torch.optim.Adam(list(unet.parameters()) + [centers], lr=1e-4)

    def fine_tune_step():
        eps, t = _backbone.draw_noise(x.shape, scheduler, gen)
        ft_opt.zero_grad()
        q = _dec.soft_assignment(embedder(x), centers, 1.0)
        loss = _dec.kl_divergence(p, q) + _backbone.denoising_loss(unet, x, scheduler, eps, t)
        loss.backward()
        ft_opt.step()

    x1000 = torch.randn((1000, 1, padded, padded), generator=gen)

    def embed_1000():
        embedder.embed(x1000, 256, "cpu")

    unet.train()
    out = {"size": size, "padded": padded,
           "pretrain_step_gflop": _flops(pretrain_step) / 1e9,
           "pretrain_step_s": _timed(pretrain_step, reps),
           "fine_tune_step_gflop": _flops(fine_tune_step) / 1e9,
           "fine_tune_step_s": _timed(fine_tune_step, reps)}
    unet.eval()
    out["embed_1000_gflop"] = _flops(embed_1000) / 1e9
    out["embed_1000_s"] = _timed(embed_1000, max(1, reps // 3))
    return out


def fit_cost(row, n_images):
    """Seconds of a default fit on ``n_images`` images, from the unit costs:
    pretraining ("auto" steps), 300 fine-tuning steps, and the passes over the
    images (the start's and the final embedding; the search and the
    convergence checks embed at most 1,000 images each)."""
    epochs = _backbone.auto_pretrain_epochs(n_images, BATCH)
    steps = epochs * math.ceil(n_images / BATCH)
    per_1000 = row["embed_1000_s"]
    n_search = len([t for t in DEFAULTS["timesteps"] if t < 300]) + 1  # forwards, ~full
    check = min(n_images, 1000) / 1000 * per_1000 * DEFAULTS["max_iter"] / 30
    return {
        "pretrain_s": steps * row["pretrain_step_s"],
        "fine_tune_s": DEFAULTS["max_iter"] * row["fine_tune_step_s"] + check,
        "search_forward_s": n_search * min(n_images, 1000) / 1000 * per_1000,
        "embed_s": 2 * n_images / 1000 * per_1000,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="8,16,28,32,64")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", help="JSON-lines file the results are appended to")
    args = parser.parse_args(argv)
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
    print("| image | pretraining step: GFLOP, s, GFLOP/s (% of peak) | fine-tuning step at "
          "up.0: GFLOP, s | embedding 1,000 images: s |")
    print("|---|---|---|---|")
    for r in rows:
        rate = r["pretrain_step_gflop"] / r["pretrain_step_s"]
        print(f"| {r['size']}x{r['size']} | {r['pretrain_step_gflop']:.1f}, "
              f"{r['pretrain_step_s']:.3f}, {rate:.0f} ({100 * rate / peak:.0f} %) | "
              f"{r['fine_tune_step_gflop']:.1f}, {r['fine_tune_step_s']:.3f} | "
              f"{r['embed_1000_s']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
