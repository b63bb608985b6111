"""Search and start: from a U-Net to COL/COT and the partition fine-tuning starts from.

This part of a fit depends on the U-Net, the images, the search and start
parameters and their seeds, but not on anything fine-tuning does
(``alpha``, ``learning_rate``, ``max_iter``, ``denoising_weight``, ...). So
with ``memory`` it is cached like the pretrained U-Net, keyed on the
U-Net's weights (:func:`cached_find_start`) and on the source of the
modules that compute it (a changed search or start rule is another key,
also in a development checkout whose version string has not moved): a model
selection over the fine-tuning parameters searches once per split of the
data.
"""

from dataclasses import dataclass
import sys
import time

import numpy as np
import torch

from . import _backbone, _cache, _features, _init, _model, _search
from ._torch_utils import make_generator

# The modules whose code decides a search and start (keyed in the cache),
# this one included.
_START_CODE = (_backbone, _features, _init, _model, _search, sys.modules[__name__])


@dataclass
class Start:
    """Everything fine-tuning needs from the search and the start."""

    noise_bank: torch.Tensor  # (n_noise_draws, C, H, W), on the CPU
    search: _search.SearchResult
    subset: np.ndarray  # rows the search scored cells on, sorted
    cells: list  # [(layer, t)] of the clustering space, COL/COT first
    head: torch.nn.Module  # their features to the clustering space
    embedding: torch.Tensor  # (n_samples, k): all images at the cells, CPU, float32
    labels: np.ndarray  # the initial partition
    centers: np.ndarray  # its centres in the clustering space
    search_s: float
    init_s: float


def find_start(unet, images, scheduler, *, n_clusters, layers, timesteps, n_refine,
               search_n_samples, score, init, n_noise_draws, pooling, n_components,
               n_cells, batch_size, max_timestep, noise_seed, subset_seed, search_seed,
               init_seed, device, verbose, n_jobs=None):
    """Draw the noise bank, search COL/COT on a subset, embed all images there
    (noised by ``scheduler``; with ``n_cells`` > 1, at the best cells pooled)
    and partition them (see the estimator's parameters of these names)."""
    tic = time.perf_counter()
    n_samples = images.shape[0]
    noise_bank = torch.randn((n_noise_draws,) + tuple(images.shape[1:]),
                             generator=make_generator(noise_seed))
    subset = _search.draw_subset(search_n_samples, n_samples, n_clusters, subset_seed)
    result = _search.search(
        unet, scheduler, images[subset], layers=layers, timesteps=timesteps,
        n_refine=n_refine, n_clusters=n_clusters, score=score, n_components=n_components,
        noise_bank=noise_bank.to(device), pooling=pooling, batch_size=batch_size,
        device=device, random_state=search_seed, max_timestep=max_timestep, verbose=verbose,
    )
    search_s = time.perf_counter() - tic

    tic = time.perf_counter()
    cells = _search.best_cells(result, timesteps, n_cells)
    if len(cells) == 1:
        head = _model.FeatureHead(result.projection_mean, result.projection_components)
    else:
        head = pooled_head(unet, scheduler, images[subset], cells, noise_bank.to(device),
                           pooling=pooling, n_components=n_components, batch_size=batch_size,
                           random_state=search_seed, device=device)
    embedder = _model.Embedder(unet, scheduler, head.to(device), *cells[0],
                               noise_bank.to(device), pooling, cells[1:])
    Z = embedder.embed(images, batch_size, device, verbose,
                       desc=f"start: embedding at {cells[0][0]}@{cells[0][1]}")
    labels, centers = _init.initial_partition(Z.numpy().astype(np.float64), n_clusters, init,
                                              np.random.RandomState(init_seed), n_jobs,
                                              verbose)
    return Start(noise_bank, result, subset, cells, head.cpu(), Z, labels, centers, search_s,
                 time.perf_counter() - tic)


def pooled_head(unet, scheduler, images, cells, noise_bank, *, pooling, n_components,
                batch_size, random_state, device):
    """The head of a clustering space pooled from ``cells``: each cell's
    features of ``images`` (the search's subset) projected on their leading
    ``n_components`` principal components, as the search projects a cell,
    and divided by the projection's root mean squared norm on ``images``.

    The division makes every cell weigh alike in the distances that UMAP,
    k-means and the soft assignments measure, whatever the scale of its
    layer's activations at its noise level.
    """
    blocks = {}
    for t, names in _features.by_timestep(cells).items():
        feats = _features.extract_features(unet, scheduler, images, t, names, noise_bank,
                                           pooling, batch_size, device)
        for name in names:
            Z, projection = _search.fit_projection(feats.pop(name), n_components, random_state)
            rms = max(float(np.sqrt((Z.astype(np.float64) ** 2).sum(axis=1).mean())), 1e-12)
            blocks[(name, t)] = _model.FeatureHead(projection.mean, projection.components / rms)
    return _model.make_head([blocks[cell] for cell in cells])


def _start_entry(unet, images, scheduler, key, *, device, verbose, n_jobs=None, **params):
    """:func:`find_start` on the image array ``images``, as a cacheable value.

    ``key`` only takes part in the cache key: it names the U-Net (the hash of
    its weights), the noise schedule, the device type and the library
    versions. ``n_jobs`` does not: the start does not depend on it.
    """
    _cache.count_call()
    start = find_start(unet, torch.from_numpy(images), scheduler, device=device,
                       verbose=verbose, n_jobs=n_jobs, **params)
    return {"start": start, "sha256": _digest(start)}


def _digest(start):
    """SHA-256 of a start's arrays, to check a cached one when it is read."""
    arrays = {"noise_bank": start.noise_bank, "embedding": start.embedding,
              "labels": start.labels, "centers": start.centers, "subset": start.subset,
              "scores": start.search.scores,
              "projection_mean": start.search.projection_mean,
              "projection_components": start.search.projection_components,
              "cells": np.array([f"{name}@{t}" for name, t in start.cells])}
    arrays.update({f"head.{key}": value for key, value in start.head.state_dict().items()})
    return _backbone.state_sha256(arrays)


def cached_find_start(memory, unet, images, scheduler, **params):
    """:func:`find_start` through ``memory`` (see :mod:`skdiec._cache`).

    Returns ``(start, from_cache)``. Not cached (``from_cache`` False)
    without a ``memory`` location, or with a callable ``score``, which has
    no stable hash.
    """
    memory = _cache.as_memory(memory)
    if getattr(memory, "location", None) is None or callable(params["score"]):
        return find_start(unet, images, scheduler, **params), False
    key = _cache.cache_key(params["device"],
                           unet_sha256=_backbone.state_sha256(unet.state_dict()),
                           scheduler=_backbone.scheduler_key(scheduler),
                           code_sha256=_backbone.source_sha256(*_START_CODE))
    tic = time.perf_counter()
    entry, from_cache = _cache.cached_call(
        memory, _start_entry, (unet, images.numpy(), scheduler, key), params,
        ignore=["unet", "scheduler", "device", "verbose", "n_jobs"], what="search and start",
        problem=lambda entry: _entry_problem(entry, images.shape[0], params["n_clusters"]))
    start = entry["start"]
    if from_cache:  # the time it took here: reading, not searching
        start.search_s, start.init_s = time.perf_counter() - tic, 0.0
    return start, from_cache


def _entry_problem(entry, n_samples, n_clusters):
    try:
        start = entry["start"]
        if _digest(start) != entry["sha256"]:
            return "its arrays do not match their stored SHA-256"
        if start.embedding.shape[0] != n_samples or start.centers.shape[0] != n_clusters:
            return "its shapes do not match the data"
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        return f"it is malformed ({type(exc).__name__}: {exc})"
    return None
