"""Eager against ``torch.compile``: seconds per pretraining step of the default U-Net.

    OMP_NUM_THREADS=1 python benchmarks/studies/compile_step.py SIZE eager|compile STEPS

Times STEPS optimiser steps on 64 random SIZE x SIZE images (the DDPM loss
of ``skdiec._backbone``'s default U-Net, AdamW) and prints the first step
(for ``compile``, the compilation) and the median of the steps after the
fifth.
"""

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from skdiec import _backbone  # noqa: E402


def main(size, mode, steps):
    size, steps = int(size), int(steps)
    torch.manual_seed(0)
    unet = _backbone.build_unet(1, (size, size), (32, 64, 64), layers_per_block=1, seed=0)
    scheduler = _backbone.make_scheduler()
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-3)
    X = torch.randn(64, 1, size, size)

    def loss_fn(x, noise, t):
        noisy = scheduler.add_noise(x, noise, t)
        return torch.nn.functional.mse_loss(unet(noisy, t).sample, noise)

    step = torch.compile(loss_fn) if mode == "compile" else loss_fn
    times = []
    for _ in range(steps):
        tic = time.perf_counter()
        loss = step(X, torch.randn_like(X), torch.randint(0, 300, (64,)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - tic)
    print(f"{mode} {size}x{size}: first step {times[0]:.1f} s, "
          f"median later {1000 * statistics.median(times[5:]):.0f} ms")


if __name__ == "__main__":
    main(*sys.argv[1:])
