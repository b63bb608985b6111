"""Cost of the default U-Net ("auto") at 32, 64, 96 and 128 pixels, colour.

For each side: the blocks built, the parameter count, the seconds of one
pretraining step (64 images, forward and backward, after one warm-up step)
and of one feature pass over 64 images at every layer (4 noise draws), and the
features a sample gives per layer under the default "flatten" pooling.

    python benchmarks/studies/image_size_cost.py 32 64 96 128
"""

import sys
import time

import torch

from skdiec import _backbone, _features
from skdiec._torch_utils import make_generator


def main(sides):
    scheduler = _backbone.make_scheduler()
    print("| side | blocks (widths) | parameters | pretraining step, 64 images | "
          "feature pass, 64 images x 4 draws | features per sample (largest layer) |")
    print("|---|---|---|---|---|---|")
    for side in sides:
        channels = _backbone.auto_unet_channels(side)
        unet = _backbone.build_unet(3, (side, side), channels, 1, seed=0)
        x0 = torch.rand((64, 3, side, side), generator=make_generator(0)) * 2 - 1
        opt = torch.optim.AdamW(unet.parameters(), lr=1e-4)
        times = []
        for _ in range(3):
            tic = time.perf_counter()
            eps = torch.randn_like(x0)
            t = torch.randint(0, 300, (64,))
            loss = _backbone.denoising_loss(unet, x0, scheduler, eps, t)
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - tic)
        unet.eval()
        bank = torch.randn((4, 3, side, side), generator=make_generator(1))
        names = list(_features.candidate_layers(unet))
        tic = time.perf_counter()
        with torch.no_grad():
            feats = _features.cell_features(unet, scheduler, x0, 50, names, bank, "flatten")
        pass_s = time.perf_counter() - tic
        largest = max(f.shape[1] for f in feats.values())
        n_params = sum(p.numel() for p in unet.parameters())
        print(f"| {side} | {len(channels)} {channels} | {n_params / 1e6:.2f} M | "
              f"{min(times[1:]):.2f} s | {pass_s:.2f} s | {largest:,} |", flush=True)


if __name__ == "__main__":
    main([int(s) for s in sys.argv[1:]] or [32, 64, 96, 128])
