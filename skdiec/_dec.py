"""DEC training: self-training at fixed COL/COT with a denoising regulariser.

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

from ._backbone import denoising_loss, draw_noise
# FeatureHead is imported here too because pickles of earlier versions name
# it skdiec._dec.FeatureHead.
from ._model import FeatureHead, soft_assignment  # noqa: F401
from ._progress import progress
from ._torch_utils import backward_in_batches, make_adam, randint


# max_iter="auto" with DEC's own target: about one pass over the images,
# within these bounds (Design notes, "Fine-tuning").
AUTO_MIN_STEPS, AUTO_MAX_STEPS = 30, 100
# max_iter="auto" with the target held at the start: fine-tuning teaches the
# U-Net and the centres the start's partition, and goes on until the check
# rows' labels agree with the start's on REPRODUCED of them, at most
# HELD_MAX_STEPS steps. One pass reproduced the start on cells deep in the
# U-Net, but on encoder cells (down.0, down.1), whose features only a few
# layers shape, it left the centres' partition 0.02-0.04 ACC below the
# start; there ACC came back towards the start's as the agreement rose to
# 0.98 (120 steps on digits seed 0) and 0.99 (210). On USPS the agreement
# stayed below 0.99 for 300 steps, three times one pass, without gaining
# ACC. So: one pass, the earlier rule (never shorter than it), then on to
# 0.98 (Design notes, "Fine-tuning").
REPRODUCED = 0.98
HELD_MAX_STEPS = 300
# The denoising term only has to keep the U-Net a denoiser, and its gradient
# needs no full batch: each fine-tuning step computes it on the first
# DENOISING_SHARE of its batch, at the full weight. A quarter made a step a
# third cheaper on digits and USPS and moved ACC within the noise of the
# seeds (Design notes, "Fine-tuning").
DENOISING_SHARE = 0.25
# Draws of the noise bank each fine-tuning step's KL term reads, chosen at
# random each step (None: all of them, as every embedding averages). Each
# draw is one more forward and backward of the batch through the U-Net up
# to COL: one draw costs a quarter of the default four. On kept backbones of
# digits, USPS, the MNIST test split, LT-USPS and Yale, from the same
# starts, one draw left ACC within the noise of the seeds and cut
# fine-tuning's time by half to three quarters; the draws changing from
# step to step also vary the noise, as pretraining does (Design notes,
# "Fine-tuning").
FINE_TUNE_DRAWS = 1
# With cells pooled from several timesteps (n_cells > 1), the forwards whose
# features each fine-tuning step back-propagates: "all" of them, or "cot",
# COL/COT's alone (the other timesteps' features then enter the step as
# constants). "cot" made fine-tuning cheaper and lighter in memory, for an
# ACC within the noise of the seeds but lower on four of six members of the
# suite, digits most, where one seed no longer reached the held agreement
# within the step cap and so took longer; the option n_cells > 1 is chosen
# for accuracy (Design notes, "The clustering space: pooling the best cells").
POOLED_GRAD = "all"
# The largest random translation, in pixels, of the images each fine-tuning
# step's KL term reads (0: none; the denoising term reads them as they are).
# With the target held at the start, it asks the U-Net for the start's
# partition in a form that a small shift does not change, which rows near a
# border of that partition need not keep. It is a switch for the studies,
# off by default: it moved the suite's members both ways, and the agreement
# with the start it leaves stays below what ends max_iter="auto" early
# (Design notes, "Fine-tuning").
FINE_TUNE_SHIFT = 0
# Whether fine-tuning also trains the clustering space's linear head (the
# PCA of the cells' features, ``components``) beside the U-Net and the
# centres, from the PCA it starts as. A switch for the studies, off by
# default: on digits, USPS, LT-USPS and Yale it lost a little less ACC
# and a little more NMI than the default, within the noise of the seeds,
# and gained nothing over the start (Design notes, "Fine-tuning").
FINE_TUNE_HEAD = False


def random_shift(x, max_shift, generator):
    """Each image of ``x`` (n, C, H, W) moved by its own random whole-pixel
    offset of at most ``max_shift`` along each axis, its edge pixels
    repeated into the gap; ``x`` itself where ``max_shift`` is 0."""
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (max_shift,) * 4, mode="replicate")
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator)
    return torch.stack([padded[i, :, a:a + h, b:b + w]
                        for i, (a, b) in enumerate(offsets.tolist())])


def step_draws(n_bank):
    """Draws of a bank of ``n_bank`` that each fine-tuning step's KL term
    reads: ``FINE_TUNE_DRAWS``, at most the whole bank (None: all)."""
    return n_bank if FINE_TUNE_DRAWS is None else min(FINE_TUNE_DRAWS, n_bank)


def denoised_rows(batch):
    """Rows of a fine-tuning batch of ``batch`` images that the denoising
    loss is computed on: ``DENOISING_SHARE`` of them, at least two, since
    GroupNorm in training refuses a single image whose feature maps have
    shrunk to 1x1 (tiny images)."""
    return min(batch, max(2, round(batch * DENOISING_SHARE)))


def auto_steps(n_samples, batch_size):
    """``max_iter="auto"`` with DEC's target: the optimiser steps of one pass
    over ``n_samples`` images in batches of ``batch_size``, within
    ``[AUTO_MIN_STEPS, AUTO_MAX_STEPS]``."""
    return int(np.clip(-(-n_samples // batch_size), AUTO_MIN_STEPS, AUTO_MAX_STEPS))


# With the target held, the convergence check counts changed labels on at
# most this many rows of the search's subset (evenly spaced): enough to see a
# change of tol=1e-3 in one row, and a larger search_n_samples does not make
# every check dearer.
CHECK_MAX_ROWS = 1000


def check_rows(rows):
    """At most ``CHECK_MAX_ROWS`` of the sorted ``rows``, evenly spaced."""
    return rows[::-(-len(rows) // CHECK_MAX_ROWS)]


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
              target=None, check_index=None, initial_embedding=None, min_agreement=None,
              min_steps=0, keep_start=False, verbose=0):
    """Train the U-Net and ``centers`` (a Parameter) together, in place.

    ``target`` (n_samples, n_clusters), if given, is the fixed target
    distribution ``P``; otherwise ``P`` is DEC's, refreshed from ``Q`` of all
    samples every ``update_interval`` steps. Either way, the labels are
    checked against ``tol`` at those refreshes: with a fixed target only
    the rows ``check_index`` (all rows when None) are embedded for that
    check, since nothing else needs the embedding. ``initial_embedding``,
    the embedding of those rows (of all rows without a fixed target) with
    the weights as they are, spares the first check its pass. With a fixed
    target and ``min_agreement``, fine-tuning also stops at a check after
    ``min_steps`` steps where that share of the checked rows have the
    target's label. With a fixed target and ``keep_start``, where the steps
    run out before such a stop, the last state is checked too, and if its
    partition agrees with the target less than the state before fine-tuning
    did, the U-Net and ``centers`` are put back as they were before it (the
    last history entry then has ``"reverted": True``).

    Returns ``(n_iter, history)``: the optimiser steps taken and a list of
    dicts with the loss terms and the fraction of labels changed at each
    target refresh (and, with a fixed target, the share of checked rows
    that have its label).

    A training batch that does not fit in GPU memory is split, and its
    gradient accumulated over the parts (:func:`~skdiec._torch_utils.
    backward_in_batches`): every step still sees ``train_batch_size``
    samples and the same noise, so the result differs from an unsplit run
    by float rounding only.
    """
    unet = embedder.unet
    n = X.shape[0]
    # The head's components stay buffers (saved and moved as before); they
    # only require gradients while fine-tuning trains them, in place, as it
    # trains the U-Net.
    head_params = ([block.components.requires_grad_() for block in embedder.head.blocks]
                   if FINE_TUNE_HEAD else [])
    params = [p for p in unet.parameters() if p.requires_grad] + [centers] + head_params
    optimizer = make_adam(params, learning_rate)
    batch = min(train_batch_size, n)
    micro_batch = batch  # smaller once a batch did not fit in GPU memory
    n_denoised = denoised_rows(batch)
    n_bank = embedder.noise_bank.shape[0]
    n_step_draws = step_draws(n_bank)
    grad_timesteps = None if POOLED_GRAD == "all" else (embedder.cot,)
    history, prev_labels, step = [], None, 0
    X_check = X if target is None or check_index is None else X[torch.as_tensor(check_index)]
    target_labels = None
    if target is not None:
        target_labels = (target if check_index is None
                         else target[torch.as_tensor(check_index)]).argmax(dim=1)
    Z = initial_embedding
    before = None
    if keep_start and target is not None and max_iter > 0:
        before = ({name: value.detach().clone() for name, value in unet.state_dict().items()},
                  centers.detach().clone(), [p.detach().clone() for p in head_params])
    bar = progress(None, verbose, total=max_iter, desc="DEC fine-tuning")
    try:
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
            if target_labels is not None:
                history[-1]["target_agreement"] = float((labels == target_labels).float().mean())
            if prev_labels is not None and (
                    changed < tol or (min_agreement is not None and step >= min_steps
                                      and history[-1]["target_agreement"] >= min_agreement)):
                break
            prev_labels, Z = labels, None

            unet.train()
            for _ in range(min(update_interval, max_iter - step)):
                idx = randint(n, (batch,), generator, "cpu")
                p_b = p[idx]
                step_embedder = embedder
                if n_step_draws < n_bank:
                    rows = torch.randperm(n_bank, generator=generator)[:n_step_draws]
                    step_embedder = embedder.with_draws(rows.to(embedder.noise_bank.device))
                if denoising_weight > 0:
                    # Drawn for the whole batch, so that a split batch sees the same noise.
                    eps, t = draw_noise((n_denoised,) + tuple(X.shape[1:]), scheduler, generator,
                                        X.dtype)

                x_batch = X[idx]
                x_kl = random_shift(x_batch, FINE_TUNE_SHIFT, generator)

                def batch_loss(start, stop):
                    xb = x_batch[start:stop].to(device)
                    x_in = xb if x_kl is x_batch else x_kl[start:stop].to(device)
                    q_b = soft_assignment(step_embedder(x_in, grad_timesteps), centers, alpha)
                    kl = kl_divergence(p_b[start:stop].to(device), q_b)
                    loss = kl
                    if denoising_weight > 0 and start < n_denoised:
                        # This slice's denoised rows, weighted so that the slices of
                        # a split batch add up to the mean over all denoised rows.
                        end = min(stop, n_denoised)
                        den = denoising_loss(unet, xb[:end - start], scheduler, eps[start:end],
                                             t[start:end])
                        den = den * ((end - start) * batch / (n_denoised * (stop - start)))
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
    finally:
        # Also where a step raised: the U-Net leaves in eval mode and the head's
        # components as buffers again, whether or not fine-tuning finished.
        bar.close()
        unet.eval()
        for components in head_params:
            components.requires_grad_(False)
    if before is not None and step == max_iter:  # the steps ran out: no check stopped them
        _keep_start_if_closer(embedder, X_check, centers, alpha, target_labels, prev_labels,
                              history, step, before, batch_size, device)
    return step, history


def _keep_start_if_closer(embedder, X_check, centers, alpha, target_labels, prev_labels,
                          history, step, before, batch_size, device):
    """Check the state where the steps ran out, and put back the state
    ``before`` fine-tuning (U-Net weights, centres) if its partition agrees
    with the target less than that one's did (``history[0]``)."""
    Z = embedder.embed(X_check, batch_size, device)
    with torch.no_grad():
        labels = soft_assignment(Z.to(device), centers, alpha).cpu().argmax(dim=1)
    agreement = float((labels == target_labels).float().mean())
    history.append({"step": step, "labels_changed": float((labels != prev_labels).float().mean()),
                    "target_agreement": agreement})
    if agreement < history[0]["target_agreement"]:
        weights, start_centers, start_head = before
        embedder.unet.load_state_dict(weights)
        with torch.no_grad():
            centers.copy_(start_centers)
            for block, components in zip(embedder.head.blocks, start_head):
                block.components.copy_(components)
        history[-1]["reverted"] = True
