"""Time of a feature pass per image against the images forwarded at once.

    python benchmarks/studies/forward_batch.py OUT.jsonl

Forwards random images through the U-Net that ``unet_channels="auto"``
builds (grey up to 32 pixels, colour at 64), without gradients, in batches
of several sizes, three times in turn, and appends one line per image side:
microseconds per image for each batch size. On a CPU a pass is fastest while
its activations stay in cache; ``skdiec._features.CPU_FORWARD_PIXELS``
bounds the pixels a feature pass forwards at once.
"""

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from skdiec._backbone import auto_unet_channels, build_unet  # noqa: E402

SIZES = {8: (256, 512, 1024), 16: (64, 128, 256), 28: (24, 40, 64, 256),
         32: (16, 32, 64, 256), 64: (4, 8, 16, 32)}


def time_side(side, batches, repeats=3):
    channels = 3 if side >= 64 else 1
    unet = build_unet(channels, (side, side), auto_unet_channels(side), 1, 0).eval()
    times = {b: [] for b in batches}
    with torch.no_grad():
        for _ in range(repeats):
            for b in batches:
                x, t = torch.randn(b, channels, side, side), torch.full((b,), 50)
                unet(x, t)  # warm-up
                n = max(2, (1024 if side < 64 else 128) // b)
                tic = time.perf_counter()
                for _ in range(n):
                    unet(x, t)
                times[b].append(round((time.perf_counter() - tic) / (n * b) * 1e6))
    return {"side": side, "channels": channels, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "us_per_image": times}


if __name__ == "__main__":
    out = Path(sys.argv[1])
    for side, batches in SIZES.items():
        line = time_side(side, batches)
        line["command"] = "python benchmarks/studies/forward_batch.py " + " ".join(sys.argv[1:])
        print(json.dumps(line), flush=True)
        with out.open("a") as f:
            f.write(json.dumps(line) + "\n")
