"""A pretraining step with Adam's three CPU implementations.

    python benchmarks/studies/optimizer_step.py SIDE [SIDE ...]

For each image side, on the U-Net DiEC builds by default (one channel),
times a pretraining step of 64 images (noise, forward, backward, update)
and the update alone, with AdamW's default per-tensor loop, its
``foreach`` and its ``fused`` implementation (the one
``skdiec._torch_utils.make_adam`` picks), interleaved twice so that
drifts of the machine fall on all three; prints one JSON line per side and
implementation with the mean over both rounds.
"""

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from skdiec import _backbone  # noqa: E402

STEPS, WARMUP, BATCH = 40, 3, 64
IMPLEMENTATIONS = ("loop", "foreach", "fused")


def time_steps(side, implementation):
    unet = _backbone.build_unet(1, (side, side), _backbone.auto_unet_channels(side), 1, seed=0)
    options = {} if implementation == "loop" else {implementation: True}
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-3, weight_decay=0.0, **options)
    scheduler = _backbone.make_scheduler()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, 1, side, side, generator=generator)
    steps, updates = [], []
    for _ in range(STEPS):
        tic = time.perf_counter()
        eps, t = _backbone.draw_noise(x.shape, scheduler, generator, max_timestep=300)
        optimizer.zero_grad()
        _backbone.denoising_loss(unet, x, scheduler, eps, t).backward()
        before_update = time.perf_counter()
        optimizer.step()
        done = time.perf_counter()
        steps.append(done - tic)
        updates.append(done - before_update)
    return sum(steps[WARMUP:]) / (STEPS - WARMUP), sum(updates[WARMUP:]) / (STEPS - WARMUP)


def main(sides):
    for side in sides:
        runs = {name: [] for name in IMPLEMENTATIONS}
        for _ in range(2):
            for name in IMPLEMENTATIONS:
                runs[name].append(time_steps(side, name))
        for name, pairs in runs.items():
            print(json.dumps({
                "side": side, "implementation": name, "threads": torch.get_num_threads(),
                "step_s": round(sum(p[0] for p in pairs) / len(pairs), 4),
                "update_s": round(sum(p[1] for p in pairs) / len(pairs), 4),
                "torch": torch.__version__}))


if __name__ == "__main__":
    main([int(side) for side in sys.argv[1:]])
