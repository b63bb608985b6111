"""Peak memory of one all-layer feature pass, joined at the end or streamed.

    python benchmarks/studies/feature_memory.py joined
    python benchmarks/studies/feature_memory.py streamed

Extracts every layer's "flatten" features of 2,000 random 28x28 images
(4 noise draws, t=50) with the U-Net ``unet_channels="auto"`` builds, as the
search does at each coarse timestep, and prints the features' size and the
process's peak resident memory before and after. ``joined`` is the code
before ``extract_features`` wrote each batch into its rows (every batch
kept, then concatenated); ``streamed`` is today's. Run each in its own
process: the peak is the process's.
"""

import resource
import sys
from pathlib import Path

import torch
from diffusers import DDPMScheduler

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from skdiec import _backbone, _features  # noqa: E402
from skdiec._torch_utils import map_batches  # noqa: E402


@torch.no_grad()
def joined(unet, scheduler, X, t, names, bank, pooling, batch_size, device):
    step = _features.images_per_forward(batch_size, bank, device)

    def run(start, stop):
        feats = _features.cell_features(unet, scheduler, X[start:stop], t, names, bank, pooling)
        return {n: feats[n].float().cpu() for n in names}

    chunks, _ = map_batches(run, X.shape[0], step, "feature extraction")
    return {n: torch.cat([c[n] for c in chunks]).numpy() for n in names}


def peak_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


if __name__ == "__main__":
    extract = joined if sys.argv[1] == "joined" else _features.extract_features
    unet = _backbone.build_unet(1, (28, 28), _backbone.auto_unet_channels(28), 1, 0).eval()
    X = torch.randn(2000, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    bank = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    before = peak_mb()
    feats = extract(unet, DDPMScheduler(), X, 50, list(_features.candidate_layers(unet)), bank,
                    "flatten", 256, "cpu")
    print(f"{sys.argv[1]}: features {sum(a.nbytes for a in feats.values()) / 2**20:.0f} MB, "
          f"peak RSS {before} MB before, {peak_mb()} MB after")
