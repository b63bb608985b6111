"""Seconds per pretraining step of the default digits U-Net, repeated, to see
how much this machine's speed varies between runs of the same code.

Usage: ``python benchmarks/exploration/pretrain_step_time.py [REPEATS]``; each
repeat times 60 steps of 64 images (a fresh U-Net each time), with the
default AdamW and with ``fused=True``.
"""
import functools
import sys
import time

import torch

from skdiec import _backbone
from skdiec._input import fit_layout, flatten_images
from skdiec._torch_utils import make_generator
from skdiec.datasets import load_digits_images

images, _ = load_digits_images(return_X_y=True)
# The estimator's own flattening, layout and scaling, as a default fit pretrains on.
X2d, image_shape = flatten_images(images)
LAYOUT = fit_layout(X2d, image_shape, 4)
X = LAYOUT.to_tensor(X2d)
ADAMW = torch.optim.AdamW


def seconds_per_step(fused, steps=60, batch=64):
    torch.optim.AdamW = functools.partial(ADAMW, fused=True) if fused else ADAMW
    try:
        unet = _backbone.build_unet(LAYOUT.image_shape[0], LAYOUT.padded_shape,
                                    (32, 64, 64), 1, 0)
        tic = time.perf_counter()
        _backbone.pretrain(unet, X[:batch * steps], _backbone.make_scheduler(), epochs=1,
                           batch_size=batch, learning_rate=2e-3, generator=make_generator(0),
                           device=torch.device("cpu"), max_timestep=300)
        return (time.perf_counter() - tic) / steps
    finally:
        torch.optim.AdamW = ADAMW


seconds_per_step(False, steps=40)  # warm-up
plain, fused = [], []
for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 6):
    plain.append(seconds_per_step(False))
    fused.append(seconds_per_step(True))
print("s/step AdamW      :", " ".join(f"{v:.3f}" for v in plain))
print("s/step AdamW fused:", " ".join(f"{v:.3f}" for v in fused))
