"""Backbone stage: build, load or copy a diffusers ``UNet2DModel`` and
its noise scheduler, and pretrain the U-Net.

The default noise schedule is diffusers' :class:`~diffusers.DDPMScheduler`
with 1000 training steps, the schedule DDPM checkpoints are trained with;
its ``add_noise`` gives ``x_t = sqrt(abar_t) x + sqrt(1 - abar_t) eps``. A
pipeline folder's own ``scheduler/``, or any diffusers scheduler given, is
used instead.
"""

import copy
import hashlib
import inspect
import json
import math
import os
import warnings

import numpy as np
# diffusers 0.25 (at least) calls safetensors.torch after a bare "import
# safetensors", which only works once something has imported the submodule.
import safetensors.torch  # noqa: F401
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel

from ._torch_utils import backward_in_batches, isolated_torch_rng, make_adam, randint, randn
from ._progress import progress

NUM_TRAIN_TIMESTEPS = 1000

# pretrain_epochs="auto": AUTO_PRETRAIN_PASSES passes over the images,
# within [AUTO_PRETRAIN_STEPS, AUTO_PRETRAIN_MAX_STEPS] optimiser steps.
# At least 1,000 steps keeps a default fit on digits short on a 2-core CPU
# (1,500 gave 0.5-0.8 points more ACC there, at 50 % more pretraining
# time). On the MNIST test split 1,000 steps saw each image 7 times, and
# the search then picked weak cells; 10 passes (1,570 steps) raised the
# start and the fit on every seed, while USPS, under search_score="auto",
# held (Design notes, "Pretraining"). The ceiling keeps large sets from
# paying for 10 passes: at most twice the floor.
AUTO_PRETRAIN_STEPS = 1000
AUTO_PRETRAIN_PASSES = 10
AUTO_PRETRAIN_MAX_STEPS = 2000
# Share of pretraining's steps over which the learning rate rises to its peak.
WARMUP_SHARE = 0.05

# A U-Net pretrained by skdiec records how in its diffusers config, under a
# private key: diffusers keeps keys that start with "_" through
# ``save_pretrained``, ``from_pretrained`` and ``from_config`` without
# passing them to the constructor (as it does ``_class_name``).
PRETRAINING_KEY = "_skdiec_pretraining"


def make_scheduler():
    """The default noise schedule: DDPM's, with 1000 training steps."""
    return DDPMScheduler(num_train_timesteps=NUM_TRAIN_TIMESTEPS)


def load_scheduler(scheduler, unet=None):
    """A private noise scheduler from the ``scheduler`` parameter.

    None: the ``scheduler/`` a diffusers pipeline folder given as ``unet``
    holds, else :func:`make_scheduler`. A folder (a scheduler's
    ``save_pretrained``, or a pipeline folder holding one) is read from
    disk; a scheduler object is copied from its config, so that fitting
    never touches the caller's object.
    """
    if scheduler is None:
        folder = _pipeline_scheduler(unet)
        return make_scheduler() if folder is None else read_scheduler(folder, "unet")
    if isinstance(scheduler, (str, os.PathLike)):
        folder = _pipeline_scheduler(scheduler) or os.fspath(scheduler)
        return read_scheduler(folder, "scheduler")
    if not (callable(getattr(scheduler, "add_noise", None))
            and hasattr(scheduler, "config") and hasattr(type(scheduler), "from_config")):
        raise TypeError("scheduler must be a diffusers noise scheduler (with add_noise and a "
                        "config) or a folder written by its save_pretrained; got a "
                        f"{type(scheduler).__module__}.{type(scheduler).__qualname__}.")
    return type(scheduler).from_config(scheduler.config)


def _pipeline_scheduler(path):
    """The ``scheduler/`` folder of the pipeline folder ``path``, or None."""
    if not isinstance(path, (str, os.PathLike)):
        return None
    folder = os.path.join(os.fspath(path), "scheduler")
    return folder if os.path.isfile(os.path.join(folder, "scheduler_config.json")) else None


def read_scheduler(folder, param):
    import diffusers

    try:
        with open(os.path.join(folder, "scheduler_config.json")) as f:
            name = json.load(f)["_class_name"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{param}: {folder} holds no readable scheduler_config.json naming "
                         f"a diffusers scheduler class ({type(exc).__name__}: {exc}).") from exc
    cls = getattr(diffusers, str(name), None)
    if not (isinstance(cls, type) and callable(getattr(cls, "add_noise", None))):
        raise ValueError(f"{param}: {folder} names {name!r}, which is not a diffusers noise "
                         "scheduler with add_noise.")
    return cls.from_config(cls.load_config(folder))


def scheduler_key(scheduler):
    """The noise schedule in a form that hashes the same in every process:
    the class and the public config (private keys hold paths and lists in
    set order)."""
    config = {name: list(value) if isinstance(value, tuple) else value
              for name, value in scheduler.config.items() if not name.startswith("_")}
    return {"class": type(scheduler).__name__, "config": config}


def n_train_timesteps(scheduler):
    return int(scheduler.config.num_train_timesteps)


def timestep_bound(scheduler, max_timestep=None):
    """Timesteps ``[0, bound)`` drawn for the DDPM loss: ``max_timestep``
    (all of the scheduler's steps when None), never past the scheduler's."""
    n_steps = n_train_timesteps(scheduler)
    return min(int(max_timestep or n_steps), n_steps)


def build_unet(in_channels, sample_size, block_out_channels, layers_per_block, seed):
    """A small ``UNet2DModel`` for ``in_channels`` images.

    Convolutional blocks keep the model cheap on a CPU; the only
    self-attention is diffusers' default one in the bottleneck, where the
    map is smallest (2x2 for 8-pixel images, 8x8 at 32). One down-sampling
    per block after the first gives ``len(block_out_channels) - 1``
    halvings (:func:`built_downsampling_factor`), which
    :func:`downsampling_factor` reports of the built model.
    """
    channels = tuple(int(c) for c in block_out_channels)
    # GroupNorm needs a group count that divides every block's width.
    common = math.gcd(*channels)
    groups = max(g for g in range(1, 9) if common % g == 0)
    n_blocks = len(channels)
    with isolated_torch_rng(seed):
        return UNet2DModel(
            sample_size=tuple(int(s) for s in sample_size),
            in_channels=in_channels,
            out_channels=in_channels,
            block_out_channels=channels,
            layers_per_block=layers_per_block,
            down_block_types=("DownBlock2D",) * n_blocks,
            up_block_types=("UpBlock2D",) * n_blocks,
            norm_num_groups=groups,
        )


def built_downsampling_factor(block_out_channels):
    """How many times a U-Net :func:`build_unet` builds with these block
    widths halves its input: the multiple image sides are padded to."""
    return 2 ** (len(block_out_channels) - 1)


# unet_channels="auto": the widths for images up to BASE_SIDE pixels a side,
# and the width of each block added per doubling of the side beyond it.
BASE_CHANNELS = (32, 64, 64)
BASE_SIDE = 32
ADDED_BLOCK_CHANNELS = 128


def auto_unet_channels(side):
    """Block widths of the U-Net built for images ``side`` pixels a side.

    Up to 32 pixels: ``(32, 64, 64)``, two halvings, an 8x8 bottleneck at
    32. One block of 128 channels is added per doubling beyond that
    (64: four blocks; 96 and 128: five), so that the bottleneck stays at
    most 8x8 and its receptive field covers the image, as at 32; the added
    blocks run at an eighth of the side or less and cost little beside the
    full-resolution first block.
    """
    extra = max(0, math.ceil(math.log2(max(int(side), 1) / BASE_SIDE)))
    return BASE_CHANNELS + (ADDED_BLOCK_CHANNELS,) * extra


def auto_pretrain_epochs(n_samples, batch_size):
    """Whole epochs for ``pretrain_epochs="auto"``: ``AUTO_PRETRAIN_PASSES``,
    within ``[AUTO_PRETRAIN_STEPS, AUTO_PRETRAIN_MAX_STEPS]`` optimiser steps
    of ``batch_size`` images; at least one and at most 100 (a tiny data set
    is not trained for thousands of epochs).

    The floor in steps sets the cost of small sets (digits: 35 passes), the
    passes that of sets of 6,400 to 12,800 images at batches of 64 (USPS
    and the MNIST test split: 10), and the ceiling that of larger ones, which are
    seen fewer times (MNIST's 70,000 images once), so that pretraining
    grows with the number of images only up to twice the floor.
    """
    steps_per_epoch = math.ceil(n_samples / batch_size)
    fewest = math.ceil(AUTO_PRETRAIN_STEPS / steps_per_epoch)
    most = max(1, AUTO_PRETRAIN_MAX_STEPS // steps_per_epoch)
    return int(np.clip(max(fewest, min(AUTO_PRETRAIN_PASSES, most)), 1, 100))


def trained_max_timestep(unet):
    """The timesteps ``[0, t)`` the U-Net was pretrained on.

    A U-Net pretrained by skdiec says so in its config (see
    :data:`PRETRAINING_KEY`); any other is taken to know the whole
    schedule, as DDPM checkpoints do.
    """
    record = unet.config.get(PRETRAINING_KEY) or {}
    return int(record.get("max_timestep", NUM_TRAIN_TIMESTEPS))


def state_sha256(state):
    """SHA-256 of a state dict (names and raw bytes, in name order).

    ``state`` maps names to torch tensors or numpy arrays; equal weights give
    equal digests on any device.
    """
    digest = hashlib.sha256()
    for name in sorted(state):
        value = state[name]
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        value = np.ascontiguousarray(value)
        digest.update(name.encode())
        digest.update(str(value.dtype).encode())
        digest.update(str(value.shape).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def source_sha256(*modules):
    """SHA-256 of the source files of ``modules``: a cache key part for
    results whose code changes between releases (a development checkout
    keeps one version string across many changes of the start's rules)."""
    digest = hashlib.sha256()
    for module in modules:
        with open(inspect.getsourcefile(module), "rb") as fh:
            digest.update(fh.read())
    return digest.hexdigest()


def load_unet(unet):
    """Return a private ``UNet2DModel`` from the ``unet`` parameter, or None.

    A folder saved with ``save_pretrained`` (or a saved pipeline holding a
    ``unet`` sub-folder) is loaded from disk; any other string is read as a
    Hugging Face hub id, which needs a network connection. A model instance
    is deep-copied so that fitting never changes the caller's object.

    The model is returned in float32: DiEC trains it, and training in float16
    without loss scaling underflows (see :func:`skdiec._torch_utils.adam_eps`);
    the input images are float32 too.
    """
    unet = _read_unet(unet)
    return None if unet is None else unet.float()


# Explicit, so that diffusers does not print advice about ``accelerate``
# (which its default, low_cpu_mem_usage=True, needs) at every load.
_LOAD_KWARGS = {"low_cpu_mem_usage": False}


def _read_unet(unet):
    if unet is None:
        return None
    if isinstance(unet, UNet2DModel):
        return copy.deepcopy(unet)
    if not isinstance(unet, (str, os.PathLike)):
        raise TypeError(
            "unet must be a diffusers UNet2DModel, a folder written by its save_pretrained "
            f"(or a pipeline folder holding one in unet/), or a hub id; got a "
            f"{type(unet).__module__}.{type(unet).__qualname__}."
        )
    path = os.fspath(unet)
    if os.path.isdir(path):
        subfolder = None
        if not os.path.isfile(os.path.join(path, "config.json")) and os.path.isfile(
            os.path.join(path, "unet", "config.json")
        ):
            subfolder = "unet"
        try:
            return UNet2DModel.from_pretrained(path, subfolder=subfolder, **_LOAD_KWARGS)
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(
                f"unet={unet!r}: could not load a UNet2DModel from this folder "
                f"(expected config.json and weights written by save_pretrained): {exc}"
            ) from exc
    try:
        return UNet2DModel.from_pretrained(path, **_LOAD_KWARGS)
    except Exception as exc:  # the hub client raises many kinds of error
        raise ValueError(
            f"unet={unet!r} is not a local folder, and loading it as a Hugging "
            "Face hub id failed. Offline, save the model with "
            "UNet2DModel.save_pretrained(folder) on a machine with internet "
            f"access and pass that folder. Cause: {type(exc).__name__}: {exc}"
        ) from exc


def downsampling_factor(unet):
    """How many times the U-Net halves its input: H and W must divide by it."""
    n = sum(1 for block in unet.down_blocks if getattr(block, "downsamplers", None))
    return 2**n


def check_unet_fits(unet, image_shape):
    """Raise a clear error when ``unet`` cannot take images of ``image_shape``."""
    channels = image_shape[0]
    in_ch, out_ch = unet.config.in_channels, unet.config.out_channels
    if in_ch != channels:
        raise ValueError(
            f"unet expects {in_ch} input channel(s), but X holds images with "
            f"{channels} channel(s) (image shape {tuple(image_shape)})."
        )
    if out_ch != in_ch:
        raise ValueError(
            f"unet has {in_ch} input and {out_ch} output channels; a DDPM "
            "noise-prediction U-Net must output as many channels as it takes."
        )
    if unet.config.get("class_embed_type") is not None or unet.config.get(
            "num_class_embeds") is not None:
        raise ValueError("unet is class-conditional (its config sets class_embed_type or "
                         "num_class_embeds): its forward needs class labels, which "
                         "clustering does not have; DiEC needs an unconditional UNet2DModel.")


def draw_noise(shape, scheduler, generator, dtype=torch.float32, max_timestep=None):
    """Noise ``eps`` of ``shape`` and one timestep per sample, uniform on
    ``[0, max_timestep)`` (all of the scheduler's steps by default), for
    :func:`denoising_loss`, drawn on the CPU."""
    eps = randn(shape, generator, "cpu", dtype)
    t = randint(timestep_bound(scheduler, max_timestep), (shape[0],), generator, "cpu")
    return eps, t


def denoising_loss(unet, x0, scheduler, eps, t):
    """DDPM noise-prediction loss on ``x0`` noised with ``eps`` at timesteps ``t``."""
    eps, t = eps.to(x0.device), t.to(x0.device)
    x_t = scheduler.add_noise(x0, eps, t)
    return F.mse_loss(unet(x_t, t).sample, eps)


def pretrain(unet, X, scheduler, *, epochs, batch_size, learning_rate, generator,
             device, max_timestep=None, verbose=0):
    """Train ``unet`` in place on the image tensor ``X`` with the DDPM loss.

    Timesteps are drawn uniformly on ``[0, max_timestep)`` (all steps when
    None).

    Returns the mean loss of each epoch. Batches are drawn on the CPU and
    moved to ``device`` one at a time, so memory is bounded by ``batch_size``;
    a batch that does not fit in GPU memory is split and its gradient
    accumulated (:func:`~skdiec._torch_utils.backward_in_batches`).
    """
    if epochs <= 0:
        return []
    unet.train()
    params = list(unet.parameters())
    optimizer = make_adam(params, learning_rate, decoupled=True)
    n = X.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = epochs * steps_per_epoch
    # OneCycleLR divides by its warm-up's length in steps less one, zero for
    # a schedule of exactly 1 / WARMUP_SHARE steps: that one gets no warm-up,
    # as every shorter schedule does.
    warmup = WARMUP_SHARE if not math.isclose(WARMUP_SHARE * total_steps, 1) else 0.5 / total_steps
    # A cosine decay lets a short schedule end on small steps, which gives
    # smoother features than stopping at the peak learning rate.
    lr_schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=learning_rate, total_steps=total_steps, pct_start=warmup,
    )
    history = []
    micro_batch = batch_size  # smaller once a batch did not fit in GPU memory
    bar = progress(range(epochs), verbose, desc="pretrain U-Net")
    for _ in bar:
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            eps, t = draw_noise((idx.shape[0],) + tuple(X.shape[1:]), scheduler, generator,
                                X.dtype, max_timestep)

            def batch_loss(lo, hi):
                xb = X[idx[lo:hi]].to(device)
                return (denoising_loss(unet, xb, scheduler, eps[lo:hi], t[lo:hi]),)

            (loss,), micro_batch = backward_in_batches(
                batch_loss, idx.shape[0], micro_batch, optimizer, "pretraining")
            optimizer.step()
            lr_schedule.step()
            total += loss.item() * idx.shape[0]
        history.append(total / n)
        if verbose:
            bar.set_postfix(loss=f"{history[-1]:.4f}")
    unet.eval()
    if not np.isfinite(history[-1]):
        warnings.warn("U-Net pretraining diverged (non-finite loss); "
                      "try a smaller pretrain_learning_rate.", RuntimeWarning)
    # Later fits search only the noise levels it was trained on.
    unet.register_to_config(**{PRETRAINING_KEY: {
        "max_timestep": timestep_bound(scheduler, max_timestep),
        "epochs": int(epochs), "batch_size": int(batch_size),
        "learning_rate": float(learning_rate),
    }})
    return history
