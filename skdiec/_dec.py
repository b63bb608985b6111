"""DEC stage: self-training at fixed COL/COT with a denoising regulariser.

Soft assignments follow DEC (Xie et al., 2016): a Student-t kernel between an
embedded sample ``z_i`` and each centre ``mu_j``,
``q_ij ∝ (1 + ||z_i - mu_j||^2 / alpha) ** (-(alpha + 1) / 2)``; the target
``p_ij ∝ q_ij^2 / f_j`` with ``f_j = sum_i q_ij`` sharpens confident
assignments and is held fixed between refreshes. The loss is
``KL(P || Q) + denoising_weight * DDPM loss``: the second term (IDEC's idea,
with denoising in place of reconstruction) keeps the U-Net a working
diffusion model, so its features cannot collapse onto the centres.
"""

import warnings

import numpy as np
import torch
from torch import nn

from ._backbone import denoising_loss, draw_noise
from ._features import cell_features
from ._progress import progress
from ._torch_utils import adam_eps, backward_in_batches, map_batches, randint


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


def target_distribution(q):
    """DEC's sharpened target ``P`` from soft assignments ``Q``.

    Half-precision ``Q`` is computed in float32: its column sums overflow
    float16 beyond ~2e5 samples. The result is at least float32.
    """
    q = q.to(torch.promote_types(q.dtype, torch.float32))
    weight = q.pow(2) / q.sum(dim=0).clamp_min(torch.finfo(q.dtype).tiny)
    return weight / weight.sum(dim=1, keepdim=True)


def smoothed_onehot(labels, n_clusters, smoothing=0.1):
    """A target distribution held at a partition: one-hot, with ``smoothing``
    spread evenly over all clusters (so no cluster's log-probability is
    pushed to minus infinity)."""
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    p = torch.full((labels.shape[0], n_clusters), smoothing / n_clusters)
    p[torch.arange(labels.shape[0]), labels] += 1.0 - smoothing
    return p


def kl_divergence(p, q):
    """``KL(P || Q)`` averaged over samples; 0 * log 0 is taken as 0.

    Computed in at least float32, like :func:`target_distribution`.
    """
    dtype = torch.promote_types(torch.promote_types(p.dtype, q.dtype), torch.float32)
    p, q = p.to(dtype), q.to(dtype)
    eps = torch.finfo(dtype).tiny
    return (torch.xlogy(p, p) - p * torch.log(q.clamp_min(eps))).sum(dim=1).mean()


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

    def forward(self, f):
        return (f - self.mean) @ self.components.T


class Embedder:
    """The map from an image batch to its COL/COT embedding, with or without grad."""

    def __init__(self, unet, scheduler, head, col, cot, noise_bank, pooling):
        self.unet, self.scheduler, self.head = unet, scheduler, head
        self.col, self.cot = col, cot
        self.noise_bank, self.pooling = noise_bank, pooling

    def __call__(self, x0):
        feats = cell_features(self.unet, self.scheduler, x0, self.cot, [self.col],
                              self.noise_bank, self.pooling)[self.col]
        return self.head(feats)

    @torch.no_grad()
    def embed(self, X, batch_size, device):
        """Embedding of every row of the CPU tensor ``X``, as a CPU tensor."""
        step = max(1, batch_size // self.noise_bank.shape[0])
        # A fitted or loaded U-Net is already in eval mode and is left as it
        # is, so concurrent predictions share no state that changes; only a
        # U-Net in training (fine-tuning) is switched, and back.
        training = self.unet.training
        if training:
            self.unet.eval()
        try:
            out, _ = map_batches(lambda start, stop: self(X[start:stop].to(device)).float().cpu(),
                                 X.shape[0], step, "embedding")
        finally:
            if training:
                self.unet.train()
        return torch.cat(out)


def reseed_empty_clusters(Z, q, centers):
    """Move the centres that own no sample onto the least confident samples.

    Returns the indices of the clusters that were empty. Like k-means'
    relocation of empty clusters, this keeps every centre in use; the caller
    warns, since it means the partition is unstable.
    """
    labels = q.argmax(dim=1)
    counts = torch.bincount(labels, minlength=centers.shape[0])
    empty = torch.nonzero(counts == 0).flatten()
    if empty.numel():
        confidence = q.max(dim=1).values
        candidates = torch.argsort(confidence)[: empty.numel()]
        with torch.no_grad():
            centers[empty] = Z[candidates].to(centers.device, centers.dtype)
    return empty.tolist()


def fine_tune(embedder, X, centers, scheduler, *, alpha, max_iter, update_interval, tol,
              denoising_weight, learning_rate, batch_size, train_batch_size, generator, device,
              target=None, check_index=None, initial_embedding=None, verbose=0):
    """Train the U-Net and ``centers`` (a Parameter) together, in place.

    ``target`` (n_samples, n_clusters), if given, is the fixed target
    distribution ``P``; otherwise ``P`` is DEC's, refreshed from ``Q`` of all
    samples every ``update_interval`` steps. Either way, the labels are
    checked against ``tol`` at those refreshes: with a fixed target only
    the rows ``check_index`` (all rows when None) are embedded for that
    check, since nothing else needs the embedding. ``initial_embedding``,
    the embedding of those rows (of all rows without a fixed target) with
    the weights as they are, spares the first check its pass.

    Returns ``(n_iter, history)``: the optimiser steps taken and a list of
    dicts with the loss terms and the fraction of labels changed at each
    target refresh.

    A training batch that does not fit in GPU memory is split, and its
    gradient accumulated over the parts (:func:`~skdiec._torch_utils.
    backward_in_batches`): every step still sees ``train_batch_size``
    samples and the same noise, so the result differs from an unsplit run
    by float rounding only.
    """
    unet = embedder.unet
    n = X.shape[0]
    params = [p for p in unet.parameters() if p.requires_grad] + [centers]
    optimizer = torch.optim.Adam(params, lr=learning_rate, eps=adam_eps(params))
    batch = min(train_batch_size, n)
    micro_batch = batch  # smaller once a batch did not fit in GPU memory
    history, prev_labels, step = [], None, 0
    X_check = X if target is None or check_index is None else X[torch.as_tensor(check_index)]
    Z = initial_embedding
    bar = progress(None, verbose, total=max_iter, desc="DEC fine-tuning")
    while step < max_iter:
        if Z is None:
            Z = embedder.embed(X_check, batch_size, device)
        with torch.no_grad():
            q = soft_assignment(Z.to(device), centers, alpha).cpu()
            empty = reseed_empty_clusters(Z, q, centers)
            if empty:
                warnings.warn(
                    f"DEC fine-tuning: cluster(s) {empty} lost all their samples at step "
                    f"{step}; their centres were moved to the least confident samples.",
                    RuntimeWarning,
                )
                q = soft_assignment(Z.to(device), centers, alpha).cpu()
            p = target_distribution(q) if target is None else target
        labels = q.argmax(dim=1)
        changed = 1.0 if prev_labels is None else float((labels != prev_labels).float().mean())
        history.append({"step": step, "labels_changed": changed})
        if prev_labels is not None and changed < tol:
            break
        prev_labels, Z = labels, None

        unet.train()
        for _ in range(min(update_interval, max_iter - step)):
            idx = randint(n, (batch,), generator, "cpu")
            p_b = p[idx]
            if denoising_weight > 0:
                # Drawn for the whole batch, so that a split batch sees the same noise.
                eps, t = draw_noise((batch,) + tuple(X.shape[1:]), scheduler, generator, X.dtype)

            def batch_loss(start, stop):
                xb = X[idx[start:stop]].to(device)
                q_b = soft_assignment(embedder(xb), centers, alpha)
                kl = kl_divergence(p_b[start:stop].to(device), q_b)
                loss = kl
                if denoising_weight > 0:
                    den = denoising_loss(unet, xb, scheduler, eps[start:stop], t[start:stop])
                    loss = kl + denoising_weight * den
                return loss, kl

            (loss, kl), micro_batch = backward_in_batches(
                batch_loss, batch, micro_batch, optimizer, "DEC fine-tuning")
            optimizer.step()
            step += 1
            bar.update(1)
            if verbose:
                bar.set_postfix(kl=f"{kl.item():.4f}", loss=f"{loss.item():.4f}")
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"DEC fine-tuning produced a non-finite loss at step {step}; "
                    "try a smaller learning_rate."
                )
        history[-1]["loss"] = float(loss.item())
    bar.close()
    unet.eval()
    return step, history
