import os

# Tests never reach the network: the hub client fails at once instead of
# retrying for half a minute. Set before diffusers/huggingface_hub import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

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


def tiny_embedder(dtype=None):
    """A DEC embedder on an untrained tiny U-Net, and 40 digits as an image tensor.

    ``dtype`` (a torch dtype, float32 by default) is that of the U-Net,
    the images and the noise bank.
    """
    import torch

    from skdiec import _backbone, _features, _model
    from skdiec._torch_utils import make_generator

    dtype = dtype or torch.float32
    X = torch.tensor(load_digits(n_class=3).images[:40] / 8.0 - 1, dtype=dtype)[:, None]
    unet = _backbone.build_unet(1, (8, 8), (8, 16), 1, seed=0).eval()
    if dtype != torch.float32:  # diffusers warns about any cast
        unet = unet.to(dtype)
    scheduler = _backbone.make_scheduler()
    bank = torch.randn((2, 1, 8, 8), generator=make_generator(0)).to(dtype)
    F = _features.extract_features(unet, scheduler, X, 50, ["mid"], bank, "flatten", 64, "cpu")
    head = _model.FeatureHead.fit(F["mid"].astype(np.float64), 4, 0)
    return _model.Embedder(unet, scheduler, head, "mid", 50, bank, "flatten"), X


def fine_tune_tiny(embedder, X, max_iter):
    """A few steps of DEC fine-tuning of :func:`tiny_embedder`'s model, in place,
    from centres on its first three samples. Returns ``(n_iter, centers, history)``."""
    import torch

    from skdiec import _dec
    from skdiec._torch_utils import make_generator

    centers = torch.nn.Parameter(embedder.embed(X, 64, "cpu")[:3].clone())
    n_iter, history = _dec.fine_tune(
        embedder, X, centers, embedder.scheduler, alpha=1.0, max_iter=max_iter,
        update_interval=2, tol=0.0, denoising_weight=1.0, learning_rate=1e-3, batch_size=64,
        train_batch_size=16, generator=make_generator(1), device="cpu",
    )
    return n_iter, centers.detach(), history


def storage_locations(data):
    """The device tag of every tensor storage in the pickle bytes ``data``.

    Pickled tensors carry their storage as a small ``torch.save`` archive
    whose location tag ("cpu", "cuda:0", ...) decides where it loads;
    reading the tags needs no GPU.
    """
    import io
    import pickle

    import torch

    locations = []

    class Recorder(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("torch.storage", "_load_from_bytes"):
                def load(payload):
                    return torch.load(io.BytesIO(payload), weights_only=False,
                                      map_location=lambda s, loc: locations.append(loc) or s)
                return load
            return super().find_class(module, name)

    Recorder(io.BytesIO(data)).load()
    return locations
