"""Backbone stage: the U-Net a fit clusters with, pretrained here or given.

:func:`pretrain_unet` is the public face of this stage: it pretrains a U-Net
once, and the model it returns can be handed to any number of
:class:`~skdiec.DiffusionEmbeddedClustering` fits (``unet=``). The
estimator's own ``fit`` runs the same :func:`fit_backbone`, so both give the
same weights for the same images, settings and ``random_state``.
"""

from dataclasses import dataclass
import math
from numbers import Integral, Real
import os
import time

import numpy as np
import torch
from sklearn.utils._param_validation import (HasMethods, Interval, Options, StrOptions,
                                             validate_params)
from sklearn.utils.validation import check_array

from . import _backbone, _cache, _input, _seeding
from ._torch_utils import resolve_device


# Shared with the estimator, whose parameters of these kinds carry a
# "pretrain_" prefix where this module's do not.
UNET_CONSTRAINT = [None, str, os.PathLike, HasMethods(["save_pretrained", "forward"])]
SCHEDULER_CONSTRAINT = [None, str, os.PathLike, HasMethods(["add_noise"])]
MEMORY_CONSTRAINT = [None, str, os.PathLike, HasMethods(["cache"])]
DEVICE_CONSTRAINT = [str, torch.device]
EPOCHS_CONSTRAINT = [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})]
LEARNING_RATE_CONSTRAINT = [Interval(Real, 0, None, closed="neither")]
MAX_TIMESTEP_CONSTRAINT = [Interval(Integral, 1, _backbone.NUM_TRAIN_TIMESTEPS, closed="both")]
BATCH_SIZE_CONSTRAINT = [Interval(Integral, 1, None, closed="left")]
UNET_CHANNELS_CONSTRAINT = [tuple, list, StrOptions({"auto"})]
CHANNEL_AXIS_CONSTRAINT = [StrOptions({"auto"}), Options(Integral, {1, -1})]


@dataclass
class Backbone:
    """What the backbone stage hands to the rest of a fit."""

    unet: torch.nn.Module  # on the fit's device, in eval mode
    layout: _input.InputLayout
    images: torch.Tensor  # the scaled, padded image tensor of X, on the CPU
    pretrain_loss: list
    from_cache: bool
    seconds: float


def fit_backbone(unet, X2d, image_shape, scheduler, *, unet_channels, epochs, learning_rate,
                 max_timestep, batch_size, seed, memory, device, verbose):
    """Load or build the U-Net, lay out ``X2d`` for it, and pretrain it with
    the noise ``scheduler`` (a diffusers scheduler).

    Parameters mirror the estimator's (``unet``, ``unet_channels``,
    ``pretrain_*``, ``pretrain_batch_size`` as ``batch_size``, ``memory``);
    ``seed`` is the backbone's :class:`numpy.random.SeedSequence`.
    ``epochs="auto"`` means :func:`~skdiec._backbone.auto_pretrain_epochs`
    for a U-Net built here and none for a given one.
    """
    tic = time.perf_counter()
    init_seed, train_seed = _seeding.ints(seed, 2)
    model = _backbone.load_unet(unet)
    if model is None:
        multiple = _backbone.built_downsampling_factor(unet_channels)
    else:
        multiple = _backbone.downsampling_factor(model)
    layout = _input.fit_layout(X2d, image_shape, multiple)
    if model is None:
        model = _backbone.build_unet(layout.image_shape[0], layout.padded_shape,
                                     unet_channels, layers_per_block=1, seed=init_seed)
        if epochs == "auto":
            epochs = _backbone.auto_pretrain_epochs(X2d.shape[0], batch_size)
    else:
        _backbone.check_unet_fits(model, layout.image_shape)
        init_seed = None  # a given U-Net: the cache knows it by its weights
        if epochs == "auto":
            epochs = 0
    images = layout.to_tensor(X2d)
    loss, from_cache = [], False
    if epochs > 0:
        model, loss, from_cache = _cache.pretrain(
            model, images, scheduler, init_seed=init_seed, epochs=epochs,
            learning_rate=learning_rate, max_timestep=max_timestep, batch_size=batch_size,
            seed=train_seed, memory=memory, device=device, verbose=verbose)
    model = model.to(device).eval()
    return Backbone(model, layout, images, loss, from_cache, time.perf_counter() - tic)


@validate_params(
    {
        "X": ["array-like"],
        "image_shape": [None, tuple, list],
        "channel_axis": CHANNEL_AXIS_CONSTRAINT,
        "unet": UNET_CONSTRAINT,
        "scheduler": SCHEDULER_CONSTRAINT,
        "unet_channels": UNET_CHANNELS_CONSTRAINT,
        "epochs": EPOCHS_CONSTRAINT,
        "learning_rate": LEARNING_RATE_CONSTRAINT,
        "max_timestep": MAX_TIMESTEP_CONSTRAINT,
        "batch_size": BATCH_SIZE_CONSTRAINT,
        "memory": MEMORY_CONSTRAINT,
        "device": DEVICE_CONSTRAINT,
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def pretrain_unet(X, *, image_shape=None, channel_axis="auto", unet=None, scheduler=None,
                  unet_channels="auto",
                  epochs="auto", learning_rate=2e-3, max_timestep=300, batch_size=64,
                  memory=None, device="auto", random_state=None, verbose=0):
    """Pretrain a diffusion U-Net on images, once, for any number of DiEC fits.

    The U-Net is trained with the DDPM noise-prediction loss, exactly as
    :class:`~skdiec.DiffusionEmbeddedClustering` pretrains its own when
    ``unet`` is None: with the same images and ``random_state`` (and the
    estimator's ``pretrain_*`` parameters at these values) it
    returns the very weights that ``fit`` would pretrain. Passing it as
    ``DiEC(unet=...)`` then skips pretraining, and the fit reproduces bit for
    bit (on a CPU) the later phases of a fit that pretrained its own.

    The result is a plain diffusers :class:`~diffusers.UNet2DModel`: save it
    with ``save_pretrained``, share it, load it with ``from_pretrained``. It
    records how it was pretrained in its config, so that a fit given it
    searches only the noise levels it was trained on.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), (n_samples, H, W), \
            (n_samples, C, H, W) or (n_samples, H, W, C)
        Training images, as for :meth:`DiffusionEmbeddedClustering.fit`.

    image_shape : tuple of int, default=None
        ``(H, W)`` or ``(C, H, W)`` of the rows of a 2-D ``X`` (see the
        estimator's parameter of that name).

    channel_axis : {"auto", 1, -1}, default="auto"
        Where a 4-D ``X`` holds its channels (see the estimator's parameter
        of that name).

    unet : None, str, os.PathLike or diffusers.UNet2DModel, default=None
        A U-Net to pretrain further (copied, never changed), or None to build
        a small convolutional one (self-attention only in its bottleneck) sized
        to the images.

    scheduler : None, str, os.PathLike or diffusers scheduler, default=None
        The noise schedule of the DDPM loss (see the estimator's parameter of
        that name); pass the same one to the fits that use the U-Net.

    unet_channels : "auto" or tuple of int, default="auto"
        Block widths of the U-Net built when ``unet`` is None ("auto": see
        the estimator's parameter of that name).

    epochs : int or "auto", default="auto"
        Epochs of pretraining. "auto", for a U-Net built here: ten passes
        over the images, within 1000 to 2000 optimiser steps (whole
        passes, at least one and at most 100); none for a given one.

    learning_rate : float, default=2e-3
        Peak learning rate of AdamW (one-cycle schedule).

    max_timestep : int, default=300
        Timesteps are drawn uniformly on ``[0, max_timestep)``.

    batch_size : int, default=64
        Images per optimiser step (the estimator's ``pretrain_batch_size``).

    memory : None, str, os.PathLike or joblib.Memory, default=None
        Cache of pretrained U-Nets (see the estimator's ``memory``).

    device : "auto", "cpu", "cuda", "cuda:N" or torch.device, default="auto"
        Where to train; the model is returned there.

    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and the pretraining; an int gives the
        backbone of ``DiEC(random_state=...)`` with the same int.

    verbose : int, default=0
        1 or more shows a progress bar.

    Returns
    -------
    unet : diffusers.UNet2DModel
        The pretrained U-Net, in eval mode, on ``device``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdiec import DiEC, pretrain_unet
    >>> X = load_digits().images[:100]
    >>> unet = pretrain_unet(X, unet_channels=(8, 16), epochs=1, random_state=0)
    >>> est = DiEC(n_clusters=3, unet=unet, timesteps=(50,), n_refine_timesteps=0,
    ...            max_iter=2, random_state=0).fit(X)
    >>> est.pretrain_loss_
    []
    """
    X2d, shape = _check_images(X, image_shape, channel_axis)
    backbone = fit_backbone(
        unet, X2d, shape, _backbone.load_scheduler(scheduler, unet),
        unet_channels=check_unet_channels(unet_channels, shape, X2d.shape[1]), epochs=epochs,
        learning_rate=learning_rate, max_timestep=max_timestep, batch_size=batch_size,
        seed=_seeding.phase_seeds(random_state).backbone, memory=memory,
        device=resolve_device(device), verbose=verbose)
    return backbone.unet


def _check_images(X, image_shape, channel_axis):
    with _input.errors_name_x():
        X = check_array(X, allow_nd=np.ndim(X) > 2, dtype=_input.float_dtypes(X),
                        ensure_min_samples=1, input_name="X")
    if X.ndim > 2:
        return _input.flatten_images(X, channel_axis=channel_axis)
    return _input.flatten_images(X, image_shape)


def check_unet_channels(channels, image_shape=None, n_features=None):
    """``unet_channels`` as a tuple of ints, or a ValueError naming it.

    "auto" is resolved by :func:`~skdiec._backbone.auto_unet_channels` for
    images of ``image_shape`` (a table of ``n_features`` columns is laid out
    on a small square grid); with neither given, "auto" is only accepted.
    """
    if isinstance(channels, str):
        if channels != "auto":
            raise ValueError(f"unet_channels must be 'auto' or a non-empty sequence of "
                             f"positive ints; got {channels!r}.")
        if image_shape is not None:
            return _backbone.auto_unet_channels(max(image_shape[1:]))
        if n_features is not None:
            return _backbone.auto_unet_channels(math.ceil(math.sqrt(n_features)))
        return channels
    if len(channels) < 1 or not all(
        isinstance(c, (Integral, np.integer)) and c >= 1 for c in channels
    ):
        raise ValueError(
            f"unet_channels must be 'auto' or a non-empty sequence of positive ints; "
            f"got {channels!r}."
        )
    return tuple(int(c) for c in channels)
