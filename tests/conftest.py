import os

# Tests never reach the network: the hub client fails at once instead of
# retrying for half a minute. Set before diffusers/huggingface_hub import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
from sklearn.datasets import load_digits

# A configuration that runs the whole method (pretraining, search with
# refinement, DEC with the denoising loss) in about a second.
FAST = dict(
    unet_channels=(8, 16),
    pretrain_epochs=1,
    timesteps=(10, 100),
    n_refine_timesteps=1,
    search_n_samples=60,
    n_noise_draws=2,
    n_components=4,
    max_iter=4,
    update_interval=2,
    batch_size=64,
    device="cpu",
)


@pytest.fixture(scope="session")
def digits():
    """A small slice of scikit-learn's bundled digits: 8x8 images, 3 classes."""
    data = load_digits(n_class=3)
    return data.images[:120].astype(np.float64), data.target[:120]


@pytest.fixture(scope="session")
def fitted(digits):
    from skdiec import DiEC

    X, _ = digits
    return DiEC(n_clusters=3, random_state=0, **FAST).fit(X)
