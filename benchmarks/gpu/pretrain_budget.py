"""How many pretraining passes over N images fit in a time budget on a device.

    python benchmarks/gpu/pretrain_budget.py --n-samples 60000 --image-shape 3,32,32 \
        --unet-channels 64,128,256 --batch-size 256 --seconds 180 --device cuda

Times :func:`skdiec.pretrain_unet` on random images: one pass of
``--probe-steps`` steps to warm the device up (cuDNN picks its kernels on
the first steps), then one timed pass of as many. Prints the whole passes
over ``--n-samples`` images that fit in ``--seconds`` (within
``--min-epochs`` and ``--max-epochs``) as one integer on stdout, and the
measurement on stderr, so that a GPU run can size its pretraining to the
card it finds rather than to a guess.
"""

import argparse
import math
from pathlib import Path
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _ints(text):
    return tuple(int(v) for v in text.split(","))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-samples", type=int, required=True)
    parser.add_argument("--image-shape", type=_ints, default=(3, 32, 32), help="C,H,W")
    parser.add_argument("--unet-channels", type=_ints, required=True)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--probe-steps", type=int, default=20)
    parser.add_argument("--min-epochs", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from skdiec import pretrain_unet

    def sync():
        if torch.device(args.device).type == "cuda":
            torch.cuda.synchronize()

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (args.probe_steps * args.batch_size, *args.image_shape),
                     dtype=np.uint8)
    settings = dict(unet_channels=args.unet_channels, epochs=1, batch_size=args.batch_size,
                    device=args.device, random_state=0)
    pretrain_unet(X, **settings)
    sync()
    tic = time.perf_counter()
    pretrain_unet(X, **settings)
    sync()
    step_s = (time.perf_counter() - tic) / args.probe_steps
    pass_s = step_s * math.ceil(args.n_samples / args.batch_size)
    epochs = int(np.clip(args.seconds // pass_s, args.min_epochs, args.max_epochs))
    print(f"pretraining step of {args.batch_size} images, U-Net {args.unet_channels}: "
          f"{step_s * 1000:.1f} ms; a pass over {args.n_samples}: {pass_s:.1f} s; "
          f"{epochs} passes in {args.seconds:.0f} s budget", file=sys.stderr, flush=True)
    print(epochs)


if __name__ == "__main__":
    main()
