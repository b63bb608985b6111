"""The ``memory`` cache of pretrained U-Nets.

Pretraining is the costliest phase of a fit and depends only on the images,
the starting U-Net, the pretraining settings and the backbone's seed, so it
is cached the way scikit-learn caches transformers in
``Pipeline(memory=...)``: with :class:`joblib.Memory`, keyed by a hash of
everything the result depends on.

- **Key.** The scaled image tensor itself, the starting U-Net (its config and
  initialisation seed, or the SHA-256 of its weights when it was given), the
  noise scheduler's class and config, the pretraining settings and seed,
  the device type (CPU and GPU kernels round differently) and the versions
  of skdiec, torch and diffusers. A changed
  image, setting or library version is another key: never a stale entry.
- **Entry.** The config, the weights as numpy arrays, the loss history and
  the SHA-256 of the weights. joblib writes an entry to a temporary file and
  renames it, so a crash cannot leave a half-written one in place.
- **Check.** A loaded entry's weights are hashed again and compared with the
  stored digest, and its config with the expected architecture. An entry
  that fails (bit rot, a file overwritten by hand) is rebuilt with a
  :class:`CacheWarning`; one that cannot be read at all is rebuilt by joblib.
"""

import copy
import os
import threading
import warnings

import numpy as np
import torch
from diffusers import UNet2DModel
from sklearn.utils.validation import check_memory

from . import _backbone
from ._torch_utils import isolated_torch_rng, make_generator


class CacheWarning(UserWarning):
    """A ``memory`` cache entry failed its check and was rebuilt."""


# Counts this thread's computed entries, to tell a cache hit from a computed
# one (joblib recomputes an unreadable entry without saying so to the caller).
_calls = threading.local()


def count_call():
    """Called by every cached function when it computes."""
    _calls.n = call_count() + 1


def call_count():
    return getattr(_calls, "n", 0)


def as_memory(memory):
    """The ``memory`` parameter as a :class:`joblib.Memory` (``location`` None
    for None: nothing is cached)."""
    if isinstance(memory, os.PathLike):
        memory = os.fspath(memory)
    if isinstance(memory, str) and os.path.exists(memory) and not os.path.isdir(memory):
        # joblib would only fail on its first write, naming its own sub-folder.
        raise ValueError(f"memory={memory!r} is a file, not a folder to cache in.")
    return check_memory(memory)


def warn_rebuild(what, problem):
    warnings.warn(f"memory: the cached {what} is unusable ({problem}); computing it again "
                  "and replacing it.", CacheWarning, stacklevel=3)


def library_versions():
    import diffusers

    from . import __version__

    return {"skdiec": __version__, "torch": torch.__version__,
            "diffusers": diffusers.__version__}


def cached_call(memory, func, args, kwargs, *, ignore, problem, what):
    """``func(*args, **kwargs)`` through the joblib ``memory``, checked.

    ``ignore`` names the arguments left out of the cache key; ``problem``
    (entry -> str or None) says why a read entry cannot be used, in which
    case it is computed again, replaced and a :class:`CacheWarning` names
    ``what``. Returns ``(entry, from_cache)``. ``func`` must call
    :func:`count_call` when it computes.
    """
    cached = memory.cache(func, ignore=ignore)
    calls_before = call_count()
    entry = cached(*args, **kwargs)
    reason = problem(entry)
    if reason is not None:
        warn_rebuild(what, reason)
        entry, _ = cached.call(*args, **kwargs)
    return entry, call_count() == calls_before


def cache_key(device, **parts):
    """The parts of a cache key every entry has: device type (CPU and GPU
    kernels round differently) and library versions, with ``parts``."""
    return dict(parts, device_type=torch.device(device).type, versions=library_versions())


def _train(unet, images, scheduler, *, epochs, learning_rate, max_timestep, batch_size, seed,
           device, verbose):
    """Pretrain ``unet`` in place on the image tensor ``images``; its losses."""
    return _backbone.pretrain(
        unet, images, scheduler, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, generator=make_generator(seed),
        max_timestep=max_timestep, device=device, verbose=verbose)


def _pretrain_entry(unet, images, scheduler, key, *, epochs, learning_rate, max_timestep,
                    batch_size, seed, device, verbose):
    """Pretrain a copy of ``unet`` on the image array ``images``; the
    cacheable result.

    ``key`` only takes part in the cache key (``unet``, ``scheduler``,
    ``device`` and ``verbose`` do not): it names the starting U-Net, the
    noise schedule, the device type and the library versions.
    """
    count_call()
    unet = copy.deepcopy(unet).to(device)
    loss = _train(unet, torch.from_numpy(images), scheduler, epochs=epochs,
                  learning_rate=learning_rate, max_timestep=max_timestep,
                  batch_size=batch_size, seed=seed, device=device, verbose=verbose)
    state = {name: t.detach().cpu().numpy() for name, t in unet.state_dict().items()}
    return {"config": dict(unet.config), "state": state, "loss": loss,
            "sha256": _backbone.state_sha256(state)}


def _entry_problem(entry, expected_config):
    """Why a loaded cache entry cannot be used, or None when it can."""
    try:
        if _backbone.state_sha256(entry["state"]) != entry["sha256"]:
            return "its weights do not match their stored SHA-256"
        config = entry["config"]
        for name in ("block_out_channels", "in_channels", "out_channels", "sample_size",
                     "down_block_types", "up_block_types", "layers_per_block"):
            if _as_list(config.get(name)) != _as_list(expected_config.get(name)):
                return f"its config's {name} differs from the U-Net being pretrained"
        if not np.all([np.isfinite(v).all() for v in entry["state"].values()
                       if np.issubdtype(np.asarray(v).dtype, np.floating)]):
            return "its weights are not finite"
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        return f"it is malformed ({type(exc).__name__}: {exc})"
    return None


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def _config_key(config):
    """The architecture part of a diffusers config, in a form that hashes the
    same in every process: private keys (``_use_default_values`` is a list in
    set order, ``_name_or_path`` a path) are left out, and tuples, which
    come back from JSON as lists, are lists."""
    key = {name: _as_list(value) for name, value in config.items() if not name.startswith("_")}
    if _backbone.PRETRAINING_KEY in config:  # a given U-Net pretrained by skdiec before
        key["pretraining"] = dict(config[_backbone.PRETRAINING_KEY])
    return key


def _unet_from_entry(entry, device):
    # The constructor initialises weights from torch's global RNG, which a
    # fit must leave as it found it; the weights are replaced at once.
    with isolated_torch_rng(0):
        unet = UNet2DModel.from_config(entry["config"])
    # Copies: a Memory with mmap_mode gives read-only arrays.
    unet.load_state_dict({name: torch.tensor(np.array(v)) for name, v in entry["state"].items()})
    return unet.to(device).eval()


def pretrain(unet, images, scheduler, *, init_seed, epochs, learning_rate, max_timestep,
             batch_size, seed, memory, device, verbose):
    """Pretrain ``unet`` on the image tensor ``images`` with the noise
    ``scheduler``, through ``memory``.

    Returns ``(unet, loss, from_cache)``: the pretrained U-Net on ``device``
    and its loss history, and whether it came from the cache. ``init_seed``
    is the seed ``unet`` was initialised with, or None for a given U-Net,
    which the cache then knows by the hash of its weights. With ``memory``
    None (or a ``Memory`` without a location) nothing is cached and ``unet``
    is trained in place; otherwise it is not changed.
    """
    kwargs = dict(epochs=epochs, learning_rate=learning_rate, max_timestep=max_timestep,
                  batch_size=batch_size, seed=seed, device=device, verbose=verbose)
    memory = as_memory(memory)
    if getattr(memory, "location", None) is None:
        unet = unet.to(device)
        return unet, _train(unet, images, scheduler, **kwargs), False
    if init_seed is None:
        init = {"weights_sha256": _backbone.state_sha256(unet.state_dict())}
    else:
        init = {"init_seed": init_seed}
    key = cache_key(device, unet_config=_config_key(unet.config), init=init,
                    scheduler=_backbone.scheduler_key(scheduler))
    entry, from_cache = cached_call(
        memory, _pretrain_entry, (unet, images.numpy(), scheduler, key), kwargs,
        ignore=["unet", "scheduler", "device", "verbose"], what="pretrained U-Net",
        problem=lambda entry: _entry_problem(entry, unet.config))
    return _unet_from_entry(entry, device), entry["loss"], from_cache
