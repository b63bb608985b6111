"""Feature stage: the representation of images at one (layer, timestep) cell.

A cell's features are the activations of one U-Net layer when the model is
shown the noised input ``x_t = sqrt(abar_t) x + sqrt(1 - abar_t) eps``,
pooled over space and averaged over a fixed bank of noise draws ``eps``.
The bank is shared by every sample, so a sample's features do not depend on
which other samples are in its batch, and two calls give the same result.

Activations are read with forward hooks; a forward stops as soon as the
deepest requested layer has run (:class:`_StopForward`), which makes a
single-layer forward as cheap as the network up to that layer.

Hooks live on the shared U-Net while a call runs, so a hook also fires for
any other thread's forward through the same model. Each hook therefore acts
only for the call that registered it (a token in a ``threading.local``):
concurrent ``predict`` calls on one fitted estimator neither read nor stop
each other's forward passes, and need no lock. Adding and removing a hook
is a single dict operation, and ``torch.nn.Module`` iterates over a snapshot
of its hooks, so registering them while another thread runs is safe.
"""

import threading

import numpy as np
import torch
import torch.nn.functional as F

from ._torch_utils import map_batches

POOLINGS = ("avg", "max", "avgmax", "flatten")
# "flatten" keeps a map whole up to this side; a larger one (a full-resolution
# layer of images above 32 pixels) is average-pooled to it first, so that a
# sample's features stay at most C * 32 * 32 values whatever the image size.
MAX_FLATTEN_SIDE = 32


# On a CPU a forward pass runs fastest while its activations stay in cache:
# per image, forwarding 256 noised images at once (64 images x 4 draws, what
# batch_size=256 allows) took 1.6 times as long as 40 at 28x28 and twice as
# long as 32 at 32x32, and the same at 8x8 (Design notes, "Cost"). So on the
# CPU a feature pass forwards at most this many pixels at once; a GPU takes
# whatever batch_size allows.
CPU_FORWARD_PIXELS = 2 ** 15


def images_per_forward(batch_size, noise_bank, device):
    """Images per forward pass of a feature pass: each image goes through once
    per draw of ``noise_bank``, ``batch_size`` noised images in all, and on a
    CPU at most :data:`CPU_FORWARD_PIXELS` pixels."""
    n_draws, pixels = noise_bank.shape[0], noise_bank.shape[-2] * noise_bank.shape[-1]
    n_images = batch_size // n_draws
    if torch.device(device).type == "cpu":
        n_images = min(n_images, CPU_FORWARD_PIXELS // (n_draws * pixels))
    return max(1, n_images)


class _StopForward(Exception):
    """Raised by a hook to end a forward pass once every wanted layer ran."""


# The call whose hooks may act in this thread (None outside layer_activations).
_active = threading.local()


def candidate_layers(unet):
    """The layers DiEC may cluster on, by stable name, in forward order.

    ``"down.i"`` is the output of down block ``i`` (after its down-sampler,
    if any), ``"mid"`` the bottleneck, and ``"up.i"`` the output of up block
    ``i`` taken *before* its up-sampler, from its last resnet.
    """
    layers = {f"down.{i}": block for i, block in enumerate(unet.down_blocks)}
    if unet.mid_block is not None:
        layers["mid"] = unet.mid_block
    for i, block in enumerate(unet.up_blocks):
        layers[f"up.{i}"] = block.resnets[-1]
    return layers


def check_layer_names(unet, names):
    known = candidate_layers(unet)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"layers={list(names)!r}: unknown layer name(s) {unknown}; this U-Net "
            f"offers {list(known)}."
        )


def layer_activations(unet, x_t, t, names):
    """Run ``unet`` on ``x_t`` at timesteps ``t`` and return the maps of ``names``.

    Returns a dict ``name -> tensor (n, C, h, w)``. The forward pass stops
    after the last of ``names`` in forward order, so the layers after it cost
    nothing; the result equals what the same hooks see in a full forward.
    """
    modules = candidate_layers(unet)
    wanted = set(names)
    maps = {}
    token = object()

    def make_hook(name):
        def hook(module, inputs, output):
            if getattr(_active, "token", None) is not token:
                return  # another thread's (or another call's) forward
            # Down blocks return (hidden_states, residuals).
            maps[name] = output[0] if isinstance(output, tuple) else output
            if len(maps) == len(wanted):
                raise _StopForward
        return hook

    outer = getattr(_active, "token", None)
    handles = [modules[name].register_forward_hook(make_hook(name)) for name in wanted]
    _active.token = token
    try:
        unet(x_t, t)
    except _StopForward:
        pass
    finally:
        _active.token = outer
        for handle in handles:
            handle.remove()
    return maps


def pool(maps, pooling):
    """Pool a batch of maps ``(n, C, h, w)`` to vectors ``(n, D)``."""
    if pooling == "avg":
        return maps.mean(dim=(2, 3))
    if pooling == "max":
        return maps.amax(dim=(2, 3))
    if pooling == "avgmax":
        return torch.cat([maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))], dim=1)
    if pooling == "flatten":
        h, w = maps.shape[2:]
        if max(h, w) > MAX_FLATTEN_SIDE:
            maps = F.adaptive_avg_pool2d(maps, (min(h, MAX_FLATTEN_SIDE), min(w, MAX_FLATTEN_SIDE)))
        return maps.flatten(1)
    if isinstance(pooling, (int, np.integer)):
        return F.adaptive_avg_pool2d(maps, int(pooling)).flatten(1)
    raise ValueError(f"pooling={pooling!r}: expected one of {POOLINGS} or an int grid size.")


def cell_features(unet, scheduler, x0, t, names, noise_bank, pooling):
    """Pooled, noise-averaged features of the batch ``x0`` at timestep ``t``.

    Differentiable with respect to the U-Net's weights when called with
    grad enabled (fine-tuning uses it so). ``noise_bank`` has shape
    ``(n_draws, C, H, W)``; draw ``k`` is added to every sample alike.

    Returns a dict ``name -> tensor (n, D)``.
    """
    n = x0.shape[0]
    n_draws = noise_bank.shape[0]
    # All draws go through in one batch: one forward instead of n_draws.
    x_rep = x0.repeat(n_draws, 1, 1, 1)
    eps = noise_bank.repeat_interleave(n, dim=0)
    t_vec = torch.full((n * n_draws,), int(t), device=x0.device, dtype=torch.long)
    x_t = scheduler.add_noise(x_rep, eps, t_vec)
    maps = layer_activations(unet, x_t, t_vec, names)
    return {
        name: pool(m, pooling).reshape(n_draws, n, -1).mean(dim=0)
        for name, m in maps.items()
    }


def by_timestep(cells):
    """The layers of the (layer, timestep) ``cells`` grouped by timestep, in
    the cells' order: one forward per timestep reads all of its layers."""
    layers = {}
    for name, t in cells:
        layers.setdefault(t, []).append(name)
    return layers


@torch.no_grad()
def extract_features(unet, scheduler, X, t, names, noise_bank, pooling, batch_size,
                     device):
    """Features of every row of the image tensor ``X`` at ``t``, batch by batch.

    Returns a dict ``name -> ndarray (n, D)`` of float32; only the layers in
    ``names`` are held. Each batch is written into its rows of the result as
    it comes, so the features are held once, not once in batches and again
    joined (the search holds every layer's features of its subset).
    Batches that do not fit in GPU memory are split
    (:func:`~skdiec._torch_utils.map_batches`); features do not depend on
    the batch.
    """
    step = images_per_forward(batch_size, noise_bank, device)
    features = {}

    def run(start, stop):
        feats = cell_features(unet, scheduler, X[start:stop].to(device), t, names, noise_bank,
                              pooling)
        for name in names:
            rows = feats.pop(name).float().cpu().numpy()
            if name not in features:
                features[name] = np.empty((X.shape[0], rows.shape[1]), dtype=np.float32)
            features[name][start:stop] = rows

    map_batches(run, X.shape[0], step, "feature extraction")
    return features
