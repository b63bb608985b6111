"""The DiEC estimator: orchestrates input, backbone, search, DEC and prediction."""

from numbers import Integral, Real
import time
import warnings

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_score
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import (_backbone, _dec, _features, _init, _input, _model, _persistence, _pretrain,
               _search, _seeding, _start)
from ._torch_utils import make_generator, parse_device, resolve_device

_VALIDATION_ATTRS = ("n_features_in_", "feature_names_in_")
# score() measures the silhouette on at most this many samples (a fixed
# random subset), so that it costs O(n) like the embedding it needs.
SCORE_SAMPLE_SIZE = 2000
# Parameters the fitted state is read through: changed after fit, they would
# be silently ignored or break prediction, so predict/transform/save refuse
# until the model is refitted. Every other parameter only matters for a new
# fit (or, like batch_size and device, does not change the results).
FIT_DEPENDENT_PARAMS = ("n_clusters", "image_shape", "unet_channels", "layers", "timesteps",
                        "n_noise_draws", "pooling", "n_components", "n_cells", "alpha")


class DiffusionEmbeddedClustering(
    ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator
):
    """Diffusion Embedded Clustering (DiEC).

    Clusters images with the internal representations of a denoising
    diffusion U-Net. A diffusers :class:`~diffusers.UNet2DModel` (given, or
    built small and pretrained on ``X`` with the DDPM loss) holds one
    representation per (layer, noise timestep) cell. DiEC searches that grid
    without labels for the Clustering-Optimal Layer (COL) and Timestep
    (COT), then fine-tunes the U-Net and the cluster centres at COL/COT with
    DEC's self-training loss ``KL(P || Q)`` plus a DDPM denoising loss that
    keeps the model generative.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters.

    unet : None, str, os.PathLike or diffusers.UNet2DModel, default=None
        The diffusion backbone. None builds a small convolutional U-Net sized
        to the images (``unet_channels``) and pretrains it on ``X``. A path
        is a folder written by ``UNet2DModel.save_pretrained`` (or a saved
        pipeline with a ``unet`` sub-folder); any other string is read as a
        Hugging Face hub id and needs a network connection. A model instance
        is deep-copied and never changed. The U-Net must be unconditional,
        and its input channels must match the images. It runs and is
        trained in float32: a float16 or bfloat16 model is converted.

    scheduler : None, str, os.PathLike or diffusers scheduler, default=None
        The noise schedule that noises images for pretraining, the search,
        fine-tuning and prediction: any diffusers scheduler with
        ``add_noise`` (copied from its config), or a folder written by its
        ``save_pretrained`` (or a pipeline folder holding a ``scheduler``
        sub-folder). None: the ``scheduler`` sub-folder of a pipeline
        folder given as ``unet``, else diffusers' ``DDPMScheduler`` with
        1000 steps, the schedule of DDPM checkpoints. The fitted model keeps
        its schedule, and :meth:`save` writes it beside the U-Net.

    image_shape : tuple of int, default=None
        ``(H, W)`` or ``(C, H, W)`` of rows of a 2-D ``X``. When None, rows
        of ``d = s * s`` values (``s >= 3``) are read as one-channel ``s x s``
        images, and any other table is laid out on a zero-padded square grid.
        Ignored for 3-D ``(n, H, W)`` and 4-D input.

    channel_axis : {"auto", 1, -1}, default="auto"
        Where a 4-D ``X`` holds its channels: 1 for ``(n, C, H, W)`` (torch's
        order), -1 for ``(n, H, W, C)`` (Pillow's and matplotlib's). "auto"
        reads channels-last when the last axis has at most 4 entries and
        axis 1 more, channels-first otherwise; only channels-last images at
        most 4 pixels wide need -1. Each channel is scaled to ``[-1, 1]``
        on its own. ``fit``, ``predict`` and ``transform`` apply the same
        rule, so a model fitted on one order predicts the other.

    unet_channels : "auto" or tuple of int, default="auto"
        Widths of the blocks of the U-Net built when ``unet`` is None. Each
        block after the first halves the image size; images are padded to a
        multiple of ``2 ** (len(unet_channels) - 1)``, and to at least twice
        it, so that the smallest map is at least 2x2. "auto" is
        ``(32, 64, 64)`` for images up to 32 pixels a side (an 8x8
        bottleneck at 32), with one block of 128 channels added per
        doubling of the side beyond 32 (64 pixels: 4 blocks; 96 and 128:
        5), which keeps the bottleneck at most 8x8.

    pretrain_epochs : int or "auto", default="auto"
        Epochs of DDPM pretraining on ``X``. "auto" means 0 for a given U-Net,
        and for one built here ten passes over ``X``, within 1000 to 2000
        optimiser steps of ``pretrain_batch_size`` images (whole passes, at
        least one and at most 100): small sets are seen more often than ten
        times, sets beyond about 12,800 images fewer.

    pretrain_learning_rate : float, default=2e-3
        Peak learning rate of AdamW (one-cycle schedule) in pretraining.

    pretrain_max_timestep : int, default=300
        Pretraining draws DDPM timesteps uniformly on
        ``[0, pretrain_max_timestep)``, and the search then only considers
        timesteps below it (a U-Net has nothing to say about noise levels it
        never trained on). 300 spends a short pretraining on the low-noise
        steps where the clustering features are; 1000 (all of the
        scheduler's steps) trains a full DDPM that can also generate. Not
        used for a given U-Net unless ``pretrain_epochs`` asks for
        pretraining. Fine-tuning's denoising loss always uses all steps.

    pretrain_batch_size : int, default=64
        Images per optimiser step in pretraining (at most ``batch_size``: a
        larger value is lowered to it, with a warning). With
        ``pretrain_epochs="auto"`` small sets keep their number of steps, so
        a smaller batch pretrains on fewer images, for less: 32 costs about
        60 % of 64's time, and clustered digits as well but USPS worse; a
        larger batch with the same epochs (fewer steps) clustered digits
        worse (Design notes, "Pretraining").

    train_batch_size : int, default=64
        Images per optimiser step in fine-tuning (at most ``batch_size``: a
        larger value is lowered to it, with a warning). Small batches keep
        each fine-tuning step cheap.

    memory : None, str, os.PathLike or joblib.Memory, default=None
        Cache of pretrained U-Nets, as in ``Pipeline(memory=...)``: a
        :class:`joblib.Memory` or the path of its folder. A fit whose
        images, U-Net, pretraining parameters (``unet_channels``,
        ``pretrain_*``), ``random_state``, device type
        and library versions match an earlier one loads that fit's
        pretrained U-Net instead of pretraining, and is otherwise the same
        fit: a second fit, a search over later-stage parameters or a sweep
        over seeds on the same images pretrain once per seed. The search and
        the start are cached too, keyed on the U-Net's weights and their own
        parameters, so that a change of fine-tuning parameters only
        fine-tunes again. Entries are written atomically and checked when
        read (a damaged one is rebuilt with a
        :class:`~skdiec.CacheWarning`). None caches nothing. See also
        :func:`~skdiec.pretrain_unet`.

    layers : "all" or list of str, default="all"
        Candidate layers for the search, by name: ``"down.i"`` (output of
        down block i), ``"mid"`` (bottleneck) and ``"up.i"`` (output of up
        block i before its up-sampler).

    timesteps : array-like of int, default=(1, 25, 50, 100, 200, 400, 700)
        Coarse timestep grid in ``[0, 1000)`` on which every layer is scored:
        only its values below the timesteps the U-Net was trained on, and
        below the scheduler's number of steps. A U-Net built here is trained
        on ``[0, pretrain_max_timestep)``, so by default 400 and 700 are
        dropped; they are searched for a given U-Net trained on all 1000
        steps (a hub checkpoint), whose features at high noise may still
        cluster.

    n_refine_timesteps : int, default=4
        Timesteps added on COL, evenly spaced between the neighbours of its
        best coarse timestep: at least this many where that interval has
        room (one more when the best is the last coarse timestep, whose
        interval then ends at a new one). 0 keeps the coarse grid.

    search_n_samples : int or "auto", default="auto"
        Size of the random subset the search scores cells on (all samples if
        fewer); at least ``n_clusters``. The PCA of the clustering space is
        fitted on it too.
        "auto": 200 images per cluster, at least 1000 and at most 2000.

    search_score : {"size_entropy", "consensus", "auto", "modularity", \
            "silhouette", "spectral_silhouette", "calinski_harabasz", \
            "davies_bouldin"} or callable, \
            default="auto"
        Clusterability of a cell, measured on the cell's features projected
        to ``n_components`` (the clustering space it would give): the named
        index of their partition by Ward linkage, or a callable
        ``score(Z, n_clusters, random_state) -> float`` given them (higher
        is better). "size_entropy" is the entropy of the partition's
        cluster sizes over its maximum (1 for equal sizes): a cell that
        blurs classes together forces a partition into ``n_clusters`` to
        merge some and split others, which makes the sizes uneven. It
        assumes clusters of roughly equal size, as DEC's target distribution
        does (on long-tailed data "silhouette" did no better: see the user
        guide).
        "modularity" is Newman's modularity of the partition on the cell's
        k-nearest-neighbour graph (the measure the start chooses by): it
        assumes no cluster size.
        "consensus" is the mean NMI of the cell's partition with those of
        the other cells of the coarse grid: a cell that sees the classes
        agrees with the many that see them too, where a weak cell splits
        them along a style of its own; it assumes no cluster size either
        (see the user guide for when to prefer it).
        "auto" is the consensus where the coarse cells' partitions agree
        (``search_agreement_`` at least 0.7), the size entropy where they
        agree less: the partition most of them share need not be the
        classes' (on faces under varying light it is the lighting's); and
        the modularity where they share hardly any partition (below 0.4,
        as on natural photos), since there nearly every cell's partition
        has even sizes and the size entropy cannot tell the cells apart.
        ``search_score_`` says which was used; the user guide says how each
        fared on which data.
        "spectral_silhouette" measures the silhouette in a spectral embedding
        of the k-nearest-neighbour graph.

    init : {"umap", "ward", "kmeans"}, default="umap"
        How the initial partition at COL/COT, where fine-tuning starts, is
        found: k-means in a UMAP embedding of the clustering space (the
        k-nearest-neighbour manifold of the features; N2D's recipe; at 15, 30
        and 50 neighbours, the partition with the best modularity on the
        15-nearest-neighbour graph of the clustering space wins; every
        neighbourhood is capped at half the mean cluster size
        ``n_samples / (2 * n_clusters)``, at least 3), Ward
        linkage (deterministic; on at most 5000 samples, a random subset
        beyond that, whose centroids label the rest) or k-means (10
        restarts). The initial centres are the centroids of the partition.
        The search is not affected: it partitions every cell with Ward.
        The user guide compares the three on the benchmark sets.

    fine_tune_target : {"init", "dec"}, default="init"
        Target distribution ``P`` of the KL(P||Q) fine-tuning loss. "init"
        holds it at the initial partition (one-hot, smoothed by 0.1) for
        the whole of fine-tuning: the U-Net and the centres learn to
        reproduce a partition that, from UMAP, centroids alone do not
        express. "dec" is DEC's self-training target, ``Q`` sharpened and
        refreshed every ``update_interval`` steps.

    n_noise_draws : int, default=4
        Size of the fixed bank of noise images ``eps``. Features are averaged
        over the bank, which is shared by all samples so that results do not
        depend on the batch. Each fine-tuning step's KL term reads one draw
        of the bank, chosen at random, which costs a quarter of the four
        (see the Design notes, "Fine-tuning").

    pooling : {"flatten", "avg", "max", "avgmax"} or int, default="flatten"
        How a layer's ``(C, h, w)`` map becomes a vector: kept whole
        ("flatten"; a map wider than 32 positions, from images above 32
        pixels, is average pooled to 32x32 first, which bounds a sample's
        features to ``C * 1024`` values), global average or max pooled,
        both concatenated, or average pooled to an ``int x int`` grid.

    n_components : int, default=32
        Dimension of the clustering space: features are projected on their
        leading principal components (fitted at COL/COT on the search subset)
        before clustering, in the search and in fine-tuning. With
        ``n_cells`` above 1, the dimension of each cell's block.

    n_cells : int, default=1
        Cells whose features make the clustering space: COL/COT alone, or
        COL/COT and the ``n_cells - 1`` best-scoring other cells of the
        coarse grid (``cells_``). Each cell's features are projected on
        their own ``n_components`` principal components, scaled to a root
        mean squared norm of 1 on the search subset so that every cell
        weighs alike, and the blocks are concatenated. Every embedding then
        costs one forward per distinct timestep among the cells, and
        fine-tuning trains through all of them. The user guide's section
        on the search says when pooling helps.

    alpha : float, default=1.0
        Degrees of freedom of the Student-t kernel of the soft assignments.

    max_iter : int or "auto", default="auto"
        Maximum number of optimiser steps of DEC fine-tuning; 0 skips it and
        keeps the initial centres (see ``init``). "auto": one pass over the
        images (``ceil(n_samples / train_batch_size)`` steps), at least 30
        and at most 100; with the target held at the start
        (``fine_tune_target="init"``), then on until the centres' partition
        of the checked rows (up to 1000 of the search's subset) agrees with
        the start's on 98 % of them, checked every ``update_interval``
        steps, at most 300 steps in all. Fine-tuning then teaches the
        start's partition, which takes one pass on some cells and several
        on others (the documentation's Design notes). Where the 300 steps
        end with a partition that agrees with the start less than the
        start's centres did before fine-tuning, the fit keeps the U-Net and
        centres from before it, as with ``max_iter=0``.

    update_interval : int, default=30
        Steps between refreshes of the target distribution ``P`` (with
        ``fine_tune_target="dec"``) and between checks of convergence.

    tol : float, default=1e-3
        Fine-tuning stops when fewer than this fraction of labels change
        between two checks.

    denoising_weight : float, default=1.0
        Weight of the DDPM noise-prediction loss (at uniformly drawn
        timesteps, on the whole U-Net, computed on the first quarter of each
        fine-tuning batch) added to the KL loss. ``0`` drops it,
        and fine-tuning can then collapse (measured on the MNIST test split:
        the user guide's section on fine-tuning).

    learning_rate : float, default=1e-3
        Adam learning rate of fine-tuning (U-Net weights and centres). With
        the target held at the start it must be high enough for ``max_iter``
        steps to teach the start's partition (the measurement behind 1e-3 is
        in the user guide's section on fine-tuning).

    batch_size : int, default=256
        Bound on the images per forward pass in every phase. With
        ``n_noise_draws`` draws, feature extraction runs
        ``batch_size // n_noise_draws`` images at a time (on a CPU fewer for
        images above 8x8, which run faster in smaller passes). A batch that runs
        out of GPU memory is halved and retried (training batches are split
        and their gradients accumulated, which leaves the result unchanged
        up to float rounding), with a :class:`~skdiec.OutOfMemoryWarning`.

    device : "auto", "cpu", "cuda", "cuda:N" or torch.device, default="auto"
        Where the U-Net runs; "auto" takes CUDA when available.

    n_jobs : int, default=None
        Jobs that lay out the UMAP embeddings of ``init="umap"`` side by side
        (joblib; ``None`` means 1 unless in a :func:`joblib.parallel_config`
        context, ``-1`` all processors). UMAP lays out on one core, so on a
        machine with idle cores the start takes less time; the start, and so
        the fit, do not depend on ``n_jobs``. Pretraining, the search and
        fine-tuning use torch's threads (:func:`torch.set_num_threads`).

    random_state : int, RandomState instance or None, default=None
        Seeds the U-Net initialisation, noise, subsets, k-means, PCA and
        batches: one independent stream per phase (backbone, noise bank,
        search, start, fine-tuning; ``numpy.random.SeedSequence`` children),
        so that a fit given the U-Net that :func:`~skdiec.pretrain_unet`
        pretrained with the same int repeats the later phases of the fit
        that pretrained its own. An int gives identical results on the CPU;
        torch's and numpy's global RNG states are never changed.

    verbose : int, default=0
        0 is silent; 1 or more shows a progress bar for every pass over the
        images (pretraining and fine-tuning with their running loss, the
        search, the start's embedding and UMAP layouts, the final embedding,
        and ``predict``'s and ``transform``'s) and prints the phases' times at
        the end of the fit; 2 or more leaves the bars on screen.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample (equal to ``predict(X)``).

    cluster_centers_ : ndarray of shape (n_clusters, ``n_components_``)
        Centres in the clustering space (see :meth:`transform`).

    col_ : str
        The Clustering-Optimal Layer.

    cells_ : list of (str, int)
        The (layer, timestep) cells whose features make the clustering
        space (``n_cells``), COL/COT first.

    cot_ : int
        The Clustering-Optimal Timestep.

    search_scores_ : ndarray of shape (n_layers, n_timesteps)
        Clusterability of each scored cell, NaN where not evaluated; rows
        follow ``search_layers_``, columns ``search_timesteps_``.

    search_layers_ : list of str
        Names of the rows of ``search_scores_``.

    search_timesteps_ : ndarray of int
        Timesteps of the columns of ``search_scores_``.

    search_score_ : str
        The score the cells were ranked by: ``search_score``, with "auto"
        resolved ("callable" for a callable).

    search_agreement_ : float
        How much the coarse grid's cells agree: the mean adjusted mutual
        information between the Ward partitions of every pair of them (1
        where all give one partition, about 0 for unrelated ones; NaN with
        fewer than two partitions). ``search_score="auto"`` chooses by it.

    init_labels_ : ndarray of shape (n_samples,)
        Labels of the initial partition at COL/COT (by ``init``), before
        fine-tuning. With ``max_iter=0``, ``labels_`` assigns each sample to
        the nearest centroid of this partition instead, as ``predict``
        does; for Ward the two are the same.

    unet_ : diffusers.UNet2DModel
        The fine-tuned U-Net (it remains a working DDPM noise predictor).

    n_components_ : int
        Dimension of the clustering space.

    n_iter_ : int
        Optimiser steps taken in fine-tuning.

    pretrain_loss_ : list of float
        Mean DDPM loss of each pretraining epoch.

    fine_tune_history_ : list of dict
        Per check (every ``update_interval`` steps): the step, the fraction
        of labels changed, the last loss and, with the target held at the
        start, the share of checked samples that have the start's label
        (``"target_agreement"``). Under ``max_iter="auto"`` a last entry
        checks the state where the steps ran out; ``"reverted": True`` there
        says that the fit kept the state before fine-tuning instead.

    timings_ : dict
        Seconds spent in each phase of ``fit``: ``"pretrain"`` (building,
        loading or pretraining the U-Net, or reading it from ``memory``),
        ``"search"``, ``"init"`` (embedding all of ``X`` and finding the
        start), ``"fine_tune"`` and ``"embed"`` (the final embedding that
        gives ``labels_``). ``verbose=1`` prints them at the end of the fit.

    n_features_in_ : int
        Number of values per sample seen in ``fit`` (``C * H * W`` for images).

    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names of ``X``, when it had string column names.

    See Also
    --------
    sklearn.cluster.KMeans : Clustering on the raw features.

    Notes
    -----
    The method follows "DiEC: Diffusion Embedded Clustering" (2025). Where
    the paper leaves details open (pooling, projection, clusterability
    measure, schedules), the defaults here were chosen by the measurements
    in the project's BENCHMARKS.md.

    The fitted state is read through ``n_clusters``, ``image_shape``,
    ``unet_channels``, ``layers``, ``timesteps``, ``n_noise_draws``,
    ``pooling``, ``n_components`` and ``alpha``: changed with
    ``set_params`` after fit, they make ``predict``, ``transform``,
    ``score`` and ``save`` raise a ``ValueError`` naming the parameter until
    the estimator is refitted. The other parameters only matter for a new
    fit (``unet``, ``memory``, ``pretrain_*``, ``search_*``, ``init``,
    ``max_iter``, ``learning_rate``, ...) or do not change results
    (``batch_size``, ``device``, ``verbose``) and can be changed freely.

    Prediction is thread-safe: concurrent ``predict``, ``predict_proba``,
    ``transform`` and ``score`` calls on one fitted estimator give the
    results of the same calls made one after the other.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdiec import DiEC
    >>> X = load_digits().data[:100]
    >>> est = DiEC(n_clusters=3, unet_channels=(8, 16), pretrain_epochs=1,
    ...            timesteps=(50,), n_refine_timesteps=0, max_iter=2,
    ...            random_state=0).fit(X)
    >>> est.labels_.shape
    (100,)
    >>> est.col_ in est.search_layers_
    True
    """

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "unet": _pretrain.UNET_CONSTRAINT,
        "scheduler": _pretrain.SCHEDULER_CONSTRAINT,
        "image_shape": [None, tuple, list],
        "channel_axis": _pretrain.CHANNEL_AXIS_CONSTRAINT,
        "unet_channels": _pretrain.UNET_CHANNELS_CONSTRAINT,
        "pretrain_epochs": _pretrain.EPOCHS_CONSTRAINT,
        "pretrain_learning_rate": _pretrain.LEARNING_RATE_CONSTRAINT,
        "pretrain_max_timestep": _pretrain.MAX_TIMESTEP_CONSTRAINT,
        "pretrain_batch_size": _pretrain.BATCH_SIZE_CONSTRAINT,
        "train_batch_size": _pretrain.BATCH_SIZE_CONSTRAINT,
        "memory": _pretrain.MEMORY_CONSTRAINT,
        "layers": [StrOptions({"all"}), list, tuple],
        "timesteps": ["array-like"],
        "n_refine_timesteps": [Interval(Integral, 0, None, closed="left")],
        "search_n_samples": [Interval(Integral, 2, None, closed="left"), StrOptions({"auto"})],
        "search_score": [StrOptions(set(_search.SCORERS) | {_search.CONSENSUS, _search.AUTO}),
                         callable],
        "init": [StrOptions(set(_init.METHODS))],
        "fine_tune_target": [StrOptions({"init", "dec"})],
        "n_noise_draws": [Interval(Integral, 1, None, closed="left")],
        "pooling": [
            StrOptions(set(_features.POOLINGS)),
            Interval(Integral, 1, None, closed="left"),
        ],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "n_cells": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "update_interval": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, 1, closed="both")],
        "denoising_weight": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": _pretrain.DEVICE_CONSTRAINT,
        # joblib's n_jobs: any int but 0, which means nothing there.
        "n_jobs": [Interval(Integral, None, -1, closed="right"),
                   Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        unet=None,
        scheduler=None,
        image_shape=None,
        channel_axis="auto",
        unet_channels="auto",
        pretrain_epochs="auto",
        pretrain_learning_rate=2e-3,
        pretrain_max_timestep=300,
        pretrain_batch_size=64,
        train_batch_size=64,
        memory=None,
        layers="all",
        timesteps=(1, 25, 50, 100, 200, 400, 700),
        n_refine_timesteps=4,
        search_n_samples="auto",
        search_score="auto",
        init="umap",
        fine_tune_target="init",
        n_noise_draws=4,
        pooling="flatten",
        n_components=32,
        n_cells=1,
        alpha=1.0,
        max_iter="auto",
        update_interval=30,
        tol=1e-3,
        denoising_weight=1.0,
        learning_rate=1e-3,
        batch_size=256,
        device="auto",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.unet = unet
        self.scheduler = scheduler
        self.image_shape = image_shape
        self.channel_axis = channel_axis
        self.unet_channels = unet_channels
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_learning_rate = pretrain_learning_rate
        self.pretrain_max_timestep = pretrain_max_timestep
        self.pretrain_batch_size = pretrain_batch_size
        self.train_batch_size = train_batch_size
        self.memory = memory
        self.layers = layers
        self.timesteps = timesteps
        self.n_refine_timesteps = n_refine_timesteps
        self.search_n_samples = search_n_samples
        self.search_score = search_score
        self.init = init
        self.fine_tune_target = fine_tune_target
        self.n_noise_draws = n_noise_draws
        self.pooling = pooling
        self.n_components = n_components
        self.n_cells = n_cells
        self.alpha = alpha
        self.max_iter = max_iter
        self.update_interval = update_interval
        self.tol = tol
        self.denoising_weight = denoising_weight
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Pretrain (if needed), search COL/COT and fine-tune on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W), \
                (n_samples, C, H, W) or (n_samples, H, W, C)
            Training images (or rows of a table): finite numbers, at least 2
            samples, any float or integer dtype (uint8 photos are held as
            float32). Dense only: sparse matrices raise a ``TypeError``.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self._fit_restoring(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit on ``X`` and return its embedding in the clustering space.

        The same as ``fit(X).transform(X)``, without embedding ``X`` a second
        time: the fit has embedded it to compute ``labels_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W), \
                (n_samples, C, H, W) or (n_samples, H, W, C)
            Training images, as :meth:`fit` takes them.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        Z : ndarray of shape (n_samples, ``n_components_``)
        """
        return self._fit_restoring(X).numpy().astype(np.float64)

    def _fit_restoring(self, X):
        """:meth:`_fit`, leaving the estimator as it was if the fit fails."""
        # validate_data sets n_features_in_ (and feature_names_in_) at once;
        # a fit that fails later, or is interrupted, must not leave them
        # changed, or an unfitted estimator would look fitted.
        saved = {k: vars(self)[k] for k in _VALIDATION_ATTRS if k in vars(self)}
        try:
            return self._fit(X)
        except BaseException:
            for key in _VALIDATION_ATTRS:
                vars(self).pop(key, None)
            vars(self).update(saved)
            raise

    def _fit(self, X):
        """Fit on ``X``; returns its embedding (a CPU tensor), which sets ``labels_``."""
        X2d, image_shape = self._validate_input(X, reset=True)
        n_samples = X2d.shape[0]
        if n_samples < self.n_clusters:
            raise ValueError(
                f"n_samples={n_samples} should be >= n_clusters={self.n_clusters}."
            )
        if self.search_n_samples != "auto" and self.search_n_samples < self.n_clusters:
            raise ValueError(
                f"search_n_samples={self.search_n_samples} should be >= "
                f"n_clusters={self.n_clusters}: the search partitions its subset into "
                "n_clusters clusters."
            )
        n_distinct = _input.count_distinct_rows(X2d, stop_at=self.n_clusters)
        if n_distinct < self.n_clusters:
            warnings.warn(
                f"X has only {n_distinct} distinct sample(s), fewer than "
                f"n_clusters={self.n_clusters}: some clusters will stay empty.",
                ConvergenceWarning,
            )
        timesteps = self._check_timesteps()
        channels = _pretrain.check_unet_channels(self.unet_channels, image_shape, X2d.shape[1])
        pretrain_batch = self._step_batch("pretrain_batch_size")
        train_batch = self._step_batch("train_batch_size")
        device = resolve_device(self.device)
        seeds = _seeding.phase_seeds(self.random_state)
        timings = {}

        # Everything is built in local variables and stored on self only at
        # the end, so a failed fit leaves a fitted estimator as it was.
        scheduler = _backbone.load_scheduler(self.scheduler, self.unet)
        backbone = _pretrain.fit_backbone(
            self.unet, X2d, image_shape, scheduler, unet_channels=channels,
            epochs=self.pretrain_epochs, learning_rate=self.pretrain_learning_rate,
            max_timestep=self.pretrain_max_timestep, batch_size=pretrain_batch,
            seed=seeds.backbone, memory=self.memory, device=device, verbose=self.verbose,
        )
        unet, X_img = backbone.unet, backbone.images
        timings["pretrain"] = backbone.seconds
        layer_names = self._check_layers(unet)
        max_timestep = min(_backbone.trained_max_timestep(unet),
                           _backbone.n_train_timesteps(scheduler))
        timesteps = [t for t in timesteps if t < max_timestep]
        if not timesteps:
            raise ValueError(
                f"timesteps={self.timesteps!r} has no value below {max_timestep}, the "
                "timesteps the U-Net was pretrained on (pretrain_max_timestep) and the "
                "scheduler has: the search would only see noise levels the U-Net does "
                "not know."
            )

        subset_seed, search_seed = _seeding.ints(seeds.search, 2)
        start, start_from_cache = _start.cached_find_start(
            self.memory, unet, X_img, scheduler, n_clusters=self.n_clusters, layers=layer_names,
            timesteps=timesteps, n_refine=self.n_refine_timesteps,
            search_n_samples=self.search_n_samples, score=self.search_score, init=self.init,
            n_noise_draws=self.n_noise_draws, pooling=self.pooling,
            n_components=self.n_components, n_cells=self.n_cells, batch_size=self.batch_size,
            max_timestep=max_timestep, noise_seed=_seeding.int_seed(seeds.noise),
            subset_seed=subset_seed, search_seed=search_seed,
            init_seed=_seeding.int_seed(seeds.init), device=device, verbose=self.verbose,
            n_jobs=self.n_jobs,
        )
        result, subset, Z = start.search, start.subset, start.embedding
        init_labels, init_centers = start.labels, start.centers
        noise_bank = start.noise_bank.to(device)
        head = start.head.to(device)
        embedder = _model.Embedder(unet, scheduler, head, *start.cells[0], noise_bank,
                                   self.pooling, start.cells[1:])
        timings["search"], timings["init"] = start.search_s, start.init_s
        tic = time.perf_counter()
        # "init" holds DEC's target at the initial partition, so that the
        # U-Net learns to reproduce it (UMAP's partition is not one that
        # centroids alone can express: see ``fine_tune_target``). Only the
        # convergence check then embeds during fine-tuning, on rows of the
        # search's subset; DEC's own target needs all of X at every refresh.
        target, check = None, None
        if self.fine_tune_target == "init":
            target = _dec.smoothed_onehot(init_labels, self.n_clusters)
            check = _dec.check_rows(subset)
        centers = torch.nn.Parameter(
            torch.as_tensor(init_centers, dtype=torch.float32, device=device)
        )
        timings["init"] += time.perf_counter() - tic

        tic = time.perf_counter()
        n_iter, history = 0, []
        max_iter, min_agreement, min_steps = self.max_iter, None, 0
        if max_iter == "auto":
            max_iter = min_steps = _dec.auto_steps(n_samples, train_batch)
            if target is not None:  # then on until the start is reproduced
                max_iter, min_agreement = _dec.HELD_MAX_STEPS, _dec.REPRODUCED
        if max_iter > 0:
            n_iter, history = _dec.fine_tune(
                embedder, X_img, centers, scheduler, alpha=self.alpha,
                max_iter=max_iter, update_interval=self.update_interval,
                tol=self.tol, denoising_weight=self.denoising_weight, target=target,
                check_index=check, initial_embedding=Z if check is None else Z[check],
                min_agreement=min_agreement, min_steps=min_steps,
                keep_start=min_agreement is not None, learning_rate=self.learning_rate,
                batch_size=self.batch_size, train_batch_size=train_batch,
                generator=make_generator(_seeding.int_seed(seeds.fine_tune)),
                device=device, verbose=self.verbose,
            )
        timings["fine_tune"] = time.perf_counter() - tic
        model = _model.ClusteringModel(
            layout=backbone.layout, unet=unet, scheduler=scheduler, head=head,
            noise_bank=noise_bank, col=result.col, cot=result.cot, pooling=self.pooling,
            cluster_centers=centers.detach().cpu().numpy().astype(np.float64), alpha=self.alpha,
            extra_cells=tuple(start.cells[1:]))

        tic = time.perf_counter()
        if n_iter > 0 and not history[-1].get("reverted"):  # the weights moved: embed again
            Z = embedder.embed(X_img, self.batch_size, device, self.verbose,
                               desc="embedding at the fine-tuned cell")
        labels = model.soft_assign(Z).argmax(axis=1)
        timings["embed"] = time.perf_counter() - tic
        if self.verbose:
            print("DiEC fit: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
                  + f" (total {sum(timings.values()):.1f} s"
                  + (", pretrained U-Net from memory" if backbone.from_cache else "")
                  + (", search and start from memory" if start_from_cache else "") + ")")

        self._set_fitted(model, {
            "labels_": labels,
            "init_labels_": init_labels,
            "search_scores_": result.scores,
            "search_timesteps_": result.timesteps,
            "search_layers_": result.layers,
            "search_score_": result.score,
            "search_agreement_": result.agreement,
            "n_iter_": n_iter,
            "pretrain_loss_": backbone.pretrain_loss,
            "fine_tune_history_": history,
            "timings_": timings,
        })
        return Z

    def _set_fitted(self, model, record):
        """Store the fitted state: the model and what the fit recorded
        (:data:`skdiec._model.FIT_RECORD`), as fit and load both make it."""
        if set(record) != set(_model.FIT_RECORD):
            raise RuntimeError(f"fitted state {sorted(record)} is not {sorted(_model.FIT_RECORD)}")
        # One dict update stores the whole fitted state: a KeyboardInterrupt
        # is delivered between bytecodes, so it cannot land half-way through
        # and leave attributes of two different fits side by side.
        vars(self).update(record, _model=model, _fitted_params=self._dependent_params())

    # -------------------------------------------------------------- predict

    unet_ = property(lambda self: self._model.unet,
                     doc="The fine-tuned U-Net (``diffusers.UNet2DModel``).")
    col_ = property(lambda self: self._model.col, doc="The clustering-optimal layer.")
    cot_ = property(lambda self: self._model.cot, doc="The clustering-optimal timestep.")
    cells_ = property(lambda self: self._model.cells,
                      doc="The (layer, timestep) cells of the clustering space, COL/COT first.")
    cluster_centers_ = property(lambda self: self._model.cluster_centers,
                                doc="The cluster centres in the clustering space.")
    n_components_ = property(lambda self: self._model.n_components,
                             doc="The dimension of the clustering space.")

    def transform(self, X):
        """Embed ``X`` in the clustering space (COL/COT features, projected).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W), \
                (n_samples, C, H, W) or (n_samples, H, W, C)

        Returns
        -------
        Z : ndarray of shape (n_samples, ``n_components_``)
        """
        return self._embed(self._images(X)).numpy().astype(np.float64)

    def predict_proba(self, X):
        """Student-t soft assignments of ``X`` to the clusters.

        Returns
        -------
        Q : ndarray of shape (n_samples, n_clusters)
            Rows sum to 1.
        """
        Z = self._embed(self._images(X))  # checks that the estimator is fitted
        return self._model.soft_assign(Z)

    def predict(self, X):
        """Cluster of each sample of ``X``: the most probable one.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self.predict_proba(X).argmax(axis=1)

    def score(self, X, y=None):
        """Silhouette of the predicted partition of ``X`` in the clustering space.

        Higher is better, so that model selection (e.g. ``GridSearchCV``)
        works without labels. Beyond 2,000 samples it is measured on a fixed
        random subset of 2,000 (the same one for every estimator given the
        same ``X``), so that its cost grows linearly with ``X``, like the
        embedding, not with its square. A partition with a single cluster,
        or with one cluster per sample, scores -1, the silhouette's minimum.

        Parameters
        ----------
        X : array-like
            Images as in :meth:`fit`.
        y : Ignored

        Returns
        -------
        score : float
        """
        X_img = self._images(X)
        Z = self._embed(X_img)
        labels = self._model.soft_assign(Z).argmax(axis=1)
        Z = Z.numpy()
        if labels.size > SCORE_SAMPLE_SIZE:
            # A fixed seed: candidates of a model selection are compared on
            # the same samples.
            rows = np.random.RandomState(0).choice(labels.size, SCORE_SAMPLE_SIZE,
                                                   replace=False)
            Z, labels = Z[rows], labels[rows]
        n_labels = np.unique(labels).size
        if n_labels < 2 or n_labels >= labels.size:
            return -1.0
        return float(silhouette_score(Z, labels))

    # ---------------------------------------------------------- persistence

    def save(self, path):
        """Save the fitted estimator to the folder ``path``.

        The U-Net is written with ``save_pretrained`` (safetensors), the
        fitted arrays to ``arrays.safetensors`` and everything else to
        ``estimator.json``; :meth:`load` reads it back without unpickling
        anything, so a saved folder cannot run code. The folder is written
        beside ``path`` and renamed into place, replacing a previous save as
        a whole: a save that fails leaves ``path`` as it was. A folder
        holding other files is refused rather than replaced.

        Parameters
        ----------
        path : str or path-like
            The folder to write.

        Returns
        -------
        path : pathlib.Path
        """
        check_is_fitted(self)
        return _persistence.save(self, path)

    @classmethod
    def load(cls, path, device="cpu"):
        """Load an estimator written by :meth:`save`.

        Parameters
        ----------
        path : str or path-like
            The folder given to :meth:`save`.
        device : str or torch.device, default="cpu"
            Stored as the loaded estimator's ``device`` parameter: where it
            will predict. A CUDA device this machine lacks predicts on the
            CPU, with a warning.

        Returns
        -------
        estimator : DiffusionEmbeddedClustering
            Fitted; its predictions equal those of the saved estimator.

        Raises
        ------
        FileNotFoundError
            ``path`` holds no ``estimator.json``.
        ValueError
            ``device`` is not a CPU or CUDA device.
        SavedModelError
            A ``ValueError``: the folder is not a consistent saved model (a
            parameter, fitted field or array of the wrong type, shape or
            value, a U-Net whose config does not match its weights, files
            of different saves). The message names the file and the field;
            the user guide lists every check.
        """
        return _persistence.load(cls, path, device)

    # ------------------------------------------------------------- helpers

    def _validate_input(self, X, reset):
        """Check ``X`` and return it as flat float rows with its image shape.

        The image shape comes from a 3-D or 4-D ``X`` itself, else (in fit)
        from the ``image_shape`` parameter; None means "let the layout decide".
        """
        shape = getattr(X, "shape", None)
        if shape is None and isinstance(X, (list, tuple)):
            shape = np.shape(X)  # converts a list once; the checks below reuse it
        ndim = None if shape is None else len(shape)
        nd_shape = None
        min_samples = 2 if reset else 1
        dtype = _input.float_dtypes(X)
        with _input.errors_name_x():
            if ndim is not None and ndim > 2:
                X = check_array(X, allow_nd=True, dtype=dtype, input_name="X",
                                ensure_min_samples=min_samples)
                X, nd_shape = _input.flatten_images(X, channel_axis=self.channel_axis)
            if not reset and (nd_shape is not None
                              or (ndim == 2 and self._model.layout.kind == "image")):
                # Before the rows' count of features, which says less of images.
                _input.check_image_shape(shape, nd_shape, self._model.layout.image_shape)
            X = validate_data(self, X, reset=reset, dtype=dtype,
                              ensure_min_samples=min_samples)
        if reset and nd_shape is None:
            return _input.flatten_images(X, self.image_shape)
        return X, nd_shape

    def _images(self, X):
        check_is_fitted(self)
        self._check_unchanged_since_fit()
        X2d, _ = self._validate_input(X, reset=False)
        _input.check_value_range(self._model.layout, X2d)
        return self._model.images(X2d)

    def _dependent_params(self):
        params = self.get_params(deep=False)
        return {name: _persistence.jsonable(params[name]) for name in FIT_DEPENDENT_PARAMS}

    def _check_unchanged_since_fit(self):
        """Refuse to use a fitted state that no longer matches the parameters.

        Models pickled before this check existed carry no fit-time values
        and are not checked.
        """
        fitted = getattr(self, "_fitted_params", None)
        if fitted is None:
            return
        now = self._dependent_params()
        changed = [name for name in FIT_DEPENDENT_PARAMS if now[name] != fitted.get(name)]
        if changed:
            detail = ", ".join(f"{name} from {fitted.get(name)!r} to {now[name]!r}"
                               for name in changed)
            raise ValueError(
                f"{', '.join(changed)} changed since fit ({detail}); the fitted model "
                "depends on it: set it back, or fit again."
            )

    def _device(self):
        # A device that is no device at all ('tpu', 'cuda:x') is the error
        # it was in fit; a model fitted on a GPU and loaded where there is
        # none still predicts, as skorch does, on the CPU.
        device = parse_device(self.device)
        try:
            return resolve_device(device)
        except ValueError:
            warnings.warn(f"device={self.device!r} is not available here; using the CPU.",
                          RuntimeWarning)
            return torch.device("cpu")

    def _embed(self, X_img):
        return self._model.embed(X_img, self.batch_size, self._device(), self.verbose)

    def _check_timesteps(self):
        t = np.asarray(self.timesteps)
        if t.ndim != 1 or t.size == 0 or not np.issubdtype(t.dtype, np.number) or np.any(
            (t != np.round(t)) | (t < 0) | (t >= _backbone.NUM_TRAIN_TIMESTEPS)
        ):
            raise ValueError(
                "timesteps must be a non-empty 1-D sequence of integers in "
                f"[0, {_backbone.NUM_TRAIN_TIMESTEPS}); got {self.timesteps!r}."
            )
        return sorted({int(v) for v in t})

    def _step_batch(self, name):
        """The images per optimiser step that the parameter ``name`` asks for,
        lowered to ``batch_size`` (with a warning) if above it."""
        value = getattr(self, name)
        if value <= self.batch_size:
            return value
        warnings.warn(
            f"{name}={value} is above batch_size={self.batch_size}, the most images a "
            f"forward pass takes: its steps use {self.batch_size} images. Raise batch_size "
            f"to train on more per step.", UserWarning)
        return self.batch_size

    def _check_layers(self, unet):
        names = list(_features.candidate_layers(unet))
        if isinstance(self.layers, str):
            return names
        layers = list(self.layers)
        if not layers:
            raise ValueError("layers must name at least one layer, or be 'all'.")
        _features.check_layer_names(unet, layers)
        return [n for n in names if n in layers]

    @property
    def _n_features_out(self):
        return self.n_components_

    def __setstate__(self, state):
        # Earlier pickles kept the model's parts as separate attributes;
        # they load into the one model object.
        if "_layout" in state:
            state = dict(state)
            state["_model"] = _model.ClusteringModel(
                layout=state.pop("_layout"), unet=state.pop("unet_"),
                scheduler=state.pop("_scheduler"), head=state.pop("_head"),
                noise_bank=state.pop("_noise_bank"), col=state.pop("col_"),
                cot=state.pop("cot_"), pooling=state["pooling"],
                cluster_centers=state.pop("cluster_centers_"), alpha=state["alpha"])
            state.pop("n_components_", None)
        # Parameters added since: the values those estimators were fitted with.
        missing = _persistence.params_added_since(state)
        super().__setstate__({**missing, **state})

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


DiEC = DiffusionEmbeddedClustering
