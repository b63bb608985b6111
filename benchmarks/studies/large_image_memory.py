"""Peak memory of a reduced fit on large colour images, against batch_size.

48 random uint8 colour images of SIDE x SIDE, the default U-Net for that size
("auto"), one pretraining epoch, two timesteps, two fine-tuning steps, with
``batch_size = pretrain_batch_size = train_batch_size = BATCH``; prints the
U-Net's widths, the chosen layer, the time, the peak resident memory and the phase times.

    python benchmarks/studies/large_image_memory.py 128 16
    python benchmarks/studies/large_image_memory.py 128 4
"""

import resource
import sys
import time

import numpy as np

from skdiec import DiEC

side, batch = int(sys.argv[1]), int(sys.argv[2])
X = np.random.RandomState(0).randint(0, 256, size=(48, side, side, 3)).astype(np.uint8)
tic = time.time()
est = DiEC(n_clusters=3, pretrain_epochs=1, timesteps=(10, 100), n_refine_timesteps=0,
           search_n_samples=48, max_iter=2, batch_size=batch, pretrain_batch_size=batch,
           train_batch_size=batch,
           random_state=0).fit(X)
print(side, batch, est.unet_.config.block_out_channels, est.col_, f"{time.time() - tic:.0f} s",
      f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB",
      {k: round(v, 1) for k, v in est.timings_.items()})
