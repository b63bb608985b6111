"""The fitted model: what prediction needs, declared once.

:class:`ClusteringModel` bundles the input layout, the U-Net and its noise
scheduler, the COL/COT cell, the noise bank, the projection head and the
cluster centres: it maps images to the clustering space
(:meth:`~ClusteringModel.embed`) and assigns them to the clusters
(:meth:`~ClusteringModel.soft_assign`). The estimator keeps one, fitted or
loaded, as ``_model``; pickling moves it to the CPU, and
:mod:`skdiec._persistence` writes and reads it with what the fit recorded
besides, :data:`FIT_RECORD`.
"""

import copy
from dataclasses import dataclass
import threading

import numpy as np
import torch
from torch import nn

from ._features import by_timestep, cell_features, images_per_forward
from ._progress import progress
from ._torch_utils import map_batches

# What a fit records besides the model (diagnostics and the training
# partition), by the way a saved folder stores it: arrays in
# arrays.safetensors, the rest in estimator.json. Fit, save and load all
# read this one list.
FIT_RECORD = {
    "labels_": "array",
    "init_labels_": "array",
    "search_scores_": "array",
    "search_timesteps_": "array",
    "search_layers_": "json",
    "search_score_": "json",
    "search_agreement_": "json",
    "n_iter_": "json",
    "pretrain_loss_": "json",
    "fine_tune_history_": "json",
    "timings_": "json",
}
# Serialises moving a model between devices, the one change of shared state
# on the prediction path (see ClusteringModel.embedder).
_DEVICE_MOVE_LOCK = threading.Lock()


def soft_assignment(z, centers, alpha):
    """Student-t soft assignment ``Q`` of the rows of ``z`` to ``centers``.

    Computed in float64 from explicit differences: squared distances stay
    finite for far-off points and half-precision features, and the gradient
    stays defined for a sample sitting exactly on a centre (where
    ``cdist``'s square root is not differentiable). Each row of ``Q``
    depends on its own row of ``z`` (and the centres) alone: a row far off,
    or a non-finite one (whose row of ``Q`` is NaN), changes no other row.
    The result has the dtype of ``z``, at least float32.
    """
    out_dtype = torch.promote_types(z.dtype, torch.float32)
    z, centers = z.double(), centers.double()
    diff = z[:, None, :] - centers[None, :, :]
    ratio = diff.pow(2).sum(dim=2) / alpha
    finite = torch.isfinite(ratio.detach()).all(dim=1, keepdim=True)
    if bool(finite.all()):
        # Normalising in log space avoids 0/0 when every kernel underflows.
        log_kernel = torch.log1p(ratio)
    else:
        # Float64 coordinates beyond ~1e154 overflow when squared. Such a
        # row is measured in units s of its own largest coordinate (or the
        # centres'): log1p(d / alpha) is log(s^2 / alpha) + log(alpha / s^2
        # + d'), and the first term, the same along the row, cancels in the
        # row's softmax. A scale shared by the batch would tie every row to
        # the most extreme one. Rows that do not overflow keep log1p. Each
        # branch is fed only finite values on the rows it does not serve
        # (differences zeroed, s = 1), so that torch.where, whose gradient
        # multiplies the unused branch's by zero, never meets 0 * inf.
        scale = torch.maximum(z.abs().amax(dim=1, keepdim=True), centers.abs().max()).detach()
        scale = torch.where(finite, torch.ones_like(scale), scale)
        scaled_diff = z[:, None, :] / scale[:, :, None] - centers[None, :, :] / scale[:, :, None]
        offset = (alpha / scale / scale).clamp_min(torch.finfo(torch.float64).tiny)
        scaled = torch.log(offset + scaled_diff.pow(2).sum(dim=2))
        kept_diff = torch.where(finite[:, :, None], diff, torch.zeros_like(diff))
        unscaled = torch.log1p(kept_diff.pow(2).sum(dim=2) / alpha)
        log_kernel = torch.where(finite, unscaled, scaled)
    return torch.softmax(-(alpha + 1.0) / 2.0 * log_kernel, dim=1).to(out_dtype)


class FeatureHead(nn.Module):
    """Fixed linear map from pooled U-Net features to the clustering space.

    ``z = (f - mean) @ components.T``: a PCA fitted once on COL/COT features.
    It keeps the space where distances are measured small (spatially
    flattened maps have thousands of dimensions) while staying
    differentiable, so the DEC loss reaches the U-Net through it.
    """

    def __init__(self, mean, components):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).contiguous())
        self.register_buffer(
            "components", torch.as_tensor(components, dtype=torch.float32).contiguous()
        )

    @classmethod
    def fit(cls, F, n_components, random_state):
        """The head of a PCA fitted on ``F`` (as the search fits it)."""
        from ._search import fit_projection

        projection = fit_projection(F, n_components, random_state)[1]
        return cls(projection.mean, projection.components)

    @property
    def n_components(self):
        return int(self.components.shape[0])

    @property
    def blocks(self):
        """The heads of each cell: this one alone."""
        return [self]

    def forward(self, f):
        return (f - self.mean) @ self.components.T


class PooledHead(nn.Module):
    """One :class:`FeatureHead` per cell of a pooled clustering space; the
    cells' projections side by side."""

    def __init__(self, blocks):
        super().__init__()
        self.parts = nn.ModuleList(blocks)

    @property
    def n_components(self):
        return sum(block.n_components for block in self.parts)

    @property
    def blocks(self):
        return list(self.parts)

    def forward(self, *features):
        return torch.cat([block(f) for block, f in zip(self.parts, features)], dim=1)


def make_head(blocks):
    """The head of a clustering space made of the cells of ``blocks``
    (:class:`FeatureHead` each, in the cells' order)."""
    return blocks[0] if len(blocks) == 1 else PooledHead(blocks)


class Embedder:
    """The map from an image batch to its embedding at COL/COT (and the
    ``extra_cells`` pooled with it), with or without grad."""

    def __init__(self, unet, scheduler, head, col, cot, noise_bank, pooling, extra_cells=()):
        self.unet, self.scheduler, self.head = unet, scheduler, head
        self.col, self.cot = col, cot
        self.noise_bank, self.pooling = noise_bank, pooling
        self.extra_cells = tuple(extra_cells)

    @property
    def cells(self):
        return [(self.col, self.cot), *self.extra_cells]

    def with_draws(self, rows):
        """This embedder reading only the rows ``rows`` of its noise bank."""
        return Embedder(self.unet, self.scheduler, self.head, self.col, self.cot,
                        self.noise_bank[rows], self.pooling, self.extra_cells)

    def __call__(self, x0, grad_timesteps=None):
        """The embedding of the image batch ``x0``. With grad enabled, only
        the forwards at ``grad_timesteps`` (all when None) record it; the
        other timesteps' features enter as constants."""
        feats = {}
        grad = torch.is_grad_enabled()
        for t, names in by_timestep(self.cells).items():
            with torch.set_grad_enabled(grad and (grad_timesteps is None or t in grad_timesteps)):
                for name, f in cell_features(self.unet, self.scheduler, x0, t, names,
                                             self.noise_bank, self.pooling).items():
                    feats[(name, t)] = f
        return self.head(*(feats[cell] for cell in self.cells))

    @torch.no_grad()
    def embed(self, X, batch_size, device, verbose=0, desc="embedding"):
        """Embedding of every row of the CPU tensor ``X``, as a CPU tensor
        (``verbose``: a progress bar over the images, named ``desc``)."""
        step = images_per_forward(batch_size, self.noise_bank, device)
        # A fitted or loaded U-Net is already in eval mode and is left as it
        # is, so concurrent predictions share no state that changes; only a
        # U-Net in training (fine-tuning) is switched, and back.
        training = self.unet.training
        if training:
            self.unet.eval()
        bar = progress(None, verbose, total=X.shape[0], desc=desc, unit="image")

        def embed_slice(start, stop):
            Z = self(X[start:stop].to(device)).float().cpu()
            bar.update(stop - start)
            return Z

        try:
            out, _ = map_batches(embed_slice, X.shape[0], step, "embedding")
        finally:
            bar.close()
            if training:
                self.unet.train()
        return torch.cat(out)


@dataclass(kw_only=True, eq=False)
class ClusteringModel:
    """DiEC's fitted inference state: images to clusters.

    Parameters
    ----------
    layout : skdiec._input.InputLayout
        How rows of ``X`` become scaled, padded image tensors.
    unet : diffusers.UNet2DModel
        The fine-tuned U-Net, in eval mode.
    scheduler : diffusers scheduler
        Its noise schedule (``add_noise`` noises the images at ``cot``).
    head : FeatureHead or PooledHead
        The projection of the cells' features to the clustering space.
    noise_bank : torch.Tensor
        The fixed noise draws every image is embedded with.
    col, cot : str, int
        The clustering-optimal layer and timestep.
    pooling : str or int
        How the layer's feature maps are pooled.
    cluster_centers : ndarray of shape (n_clusters, n_components)
        The centres, in the clustering space.
    alpha : float
        Degrees of freedom of the Student-t kernel of the soft assignments.
    extra_cells : tuple of (str, int)
        The cells pooled with COL/COT into the clustering space (the
        estimator's ``n_cells``), whose blocks follow COL/COT's in ``head``
        (a :class:`PooledHead`); empty for COL/COT alone.
    """

    layout: object
    unet: object
    scheduler: object
    head: nn.Module
    noise_bank: torch.Tensor
    col: str
    cot: int
    pooling: object
    cluster_centers: np.ndarray
    alpha: float
    extra_cells: tuple = ()

    @property
    def n_components(self):
        return self.head.n_components

    @property
    def cells(self):
        """The cells of the clustering space, COL/COT first."""
        return [(self.col, self.cot), *self.extra_cells]

    def images(self, X2d):
        """Flat rows, checked as in fit, as the U-Net's image tensor."""
        X_img = self.layout.to_tensor(X2d)
        _refuse_nonfinite_rows(X_img, "its values overflow float32 once scaled as in fit "
                                      "(they are far outside the range of the training images)")
        return X_img

    def embedder(self, device):
        """An :class:`Embedder` of this model on ``device``."""
        # Moving a module rewrites its parameters in place, under the feet of
        # any concurrent forward: only done when needed, and one at a time.
        for module in (self.unet, self.head):
            if not all(_on_device(t, device) for t in (*module.parameters(), *module.buffers())):
                with _DEVICE_MOVE_LOCK:
                    module.to(device)
        return Embedder(self.unet, self.scheduler, self.head, self.col, self.cot,
                        self.noise_bank.to(device), self.pooling, self.extra_cells)

    def embed(self, X_img, batch_size, device, verbose=0):
        """The clustering-space embedding of the image tensor ``X_img`` (CPU)."""
        Z = self.embedder(device).embed(X_img, batch_size, device, verbose)
        _refuse_nonfinite_rows(Z, "its embedding is not finite (the U-Net's features "
                                  "overflow: its values are far outside the range of the "
                                  "training images)")
        return Z

    def soft_assign(self, Z, cluster_centers=None):
        """Student-t soft assignments (float64 ndarray) of the embedding ``Z``."""
        if cluster_centers is None:
            cluster_centers = self.cluster_centers
        centers = torch.as_tensor(cluster_centers, dtype=torch.float32)
        return soft_assignment(Z.float(), centers, self.alpha).numpy().astype(np.float64)

    def __getstate__(self):
        # A copy: object.__getstate__ returns the instance's own __dict__,
        # and the replacements below must not reach the live model. Torch
        # objects are pickled from the CPU, so that a model fitted on a GPU
        # loads on a machine without one.
        state = dict(vars(self))
        for key in ("unet", "head"):
            module = state[key]
            if any(t.device.type != "cpu" for t in (*module.parameters(), *module.buffers())):
                state[key] = copy.deepcopy(module).cpu()
        state["noise_bank"] = state["noise_bank"].cpu()
        # diffusers' add_noise moves a scheduler's tensors to the device it
        # last ran on; the schedule is its config, so a fresh scheduler
        # built from it is the same one, on the CPU.
        state["scheduler"] = type(self.scheduler).from_config(self.scheduler.config)
        return state


def _on_device(tensor, device):
    # "cuda" (the current GPU) matches a tensor on "cuda:0".
    return tensor.device.type == device.type and device.index in (None, tensor.device.index)


def _refuse_nonfinite_rows(tensor, why):
    """Raise a ValueError naming the rows of ``tensor`` that are not all finite.

    Refused rather than predicted: a row's label is an argmax over its own
    probabilities, and NaN ones would quietly become cluster 0.
    """
    bad = ~torch.isfinite(tensor.reshape(tensor.shape[0], -1)).all(dim=1)
    if bool(bad.any()):
        rows = torch.nonzero(bad).flatten().tolist()
        more = f" (and {len(rows) - 5} more)" if len(rows) > 5 else ""
        raise ValueError(f"X row {rows[0]}: {why}. Rows refused: "
                         f"{rows[:5]}{more}.")
