"""Small torch helpers shared by the stages: devices and private RNGs."""

from contextlib import contextmanager
import re

import numpy as np
import torch

_CUDA_NAME = re.compile(r"^cuda(:\d+)?$")


def resolve_device(device):
    """Turn the ``device`` parameter into a :class:`torch.device`.

    ``"auto"`` picks the first CUDA device when one is usable, else the CPU.
    Asking for CUDA on a machine without it is an error, never a silent
    fallback, so that a user who asked for a GPU knows they did not get one.
    """
    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif isinstance(device, str) and (device == "cpu" or _CUDA_NAME.match(device)):
        dev = torch.device(device)
    else:
        raise ValueError(
            "device must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device; "
            f"got {device!r}."
        )
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} asks for CUDA, but torch.cuda.is_available() "
                "is False on this machine (no GPU, or a CPU-only build of torch). "
                "Use device='cpu' or device='auto'."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r}: this machine has {torch.cuda.device_count()} "
                "CUDA device(s)."
            )
    elif dev.type != "cpu":
        raise ValueError(f"device={device!r}: only CPU and CUDA devices are supported.")
    return dev


def torch_seed(random_state):
    """Draw a torch seed from a :class:`numpy.random.RandomState`."""
    return int(random_state.randint(np.iinfo(np.int32).max))


def make_generator(seed):
    """A CPU generator: random numbers are drawn on the CPU and then moved, so
    the same seed gives the same numbers whatever the device."""
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    return gen


@contextmanager
def isolated_torch_rng(seed):
    """Run a block with torch's global RNG seeded, then restore its state.

    Needed where torch draws from its global RNG with no way to pass a
    generator (module initialisation): the caller's RNG state is left as it
    was.
    """
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def adam_eps(params, default=1e-8):
    """Adam's ``eps`` for ``params``: ``default``, unless it rounds to zero in
    their dtype (float16), where a zero second moment would then divide 0 by 0."""
    smallest = max(torch.finfo(p.dtype).tiny for p in params)
    return max(default, smallest)


def randn(shape, generator, device, dtype=torch.float32):
    return torch.randn(shape, generator=generator, dtype=dtype).to(device)


def randint(high, size, generator, device):
    return torch.randint(0, high, size, generator=generator).to(device)
