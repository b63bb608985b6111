"""One independent seed per phase of a fit, from the ``random_state`` parameter.

A fit draws random numbers in five phases: the backbone (U-Net
initialisation and pretraining), the bank of noise draws, the search (its
subset, PCA and partitions), the start (UMAP, k-means) and fine-tuning.
Each phase gets its own child of one :class:`numpy.random.SeedSequence`
(NumPy's recommended way to seed independent streams), so what one phase
draws never shifts what the next one sees. That is what lets a fit given a
pretrained U-Net (``unet=`` or a ``memory`` cache hit) reproduce, bit for
bit, the later phases of the fit that pretrained it.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

PHASES = ("backbone", "noise", "search", "init", "fine_tune")

# Seeds handed to scikit-learn, UMAP and torch are drawn below this bound,
# which every one of them accepts.
_SEED_BOUND = np.iinfo(np.int32).max


@dataclass(frozen=True)
class PhaseSeeds:
    """The seed sequences of a fit's phases (see :data:`PHASES`)."""

    backbone: np.random.SeedSequence
    noise: np.random.SeedSequence
    search: np.random.SeedSequence
    init: np.random.SeedSequence
    fine_tune: np.random.SeedSequence


def phase_seeds(random_state):
    """Split ``random_state`` into one seed sequence per phase.

    An int ``s`` seeds ``SeedSequence(s)``, so a given int always gives the
    same phases. None or a :class:`~numpy.random.RandomState` instance
    gives up a few words of entropy (as scikit-learn estimators draw their
    seeds from it), so two fits with the same instance differ.
    """
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        entropy = int(random_state)
    else:
        words = check_random_state(random_state).randint(0, 2**32, size=4, dtype=np.uint64)
        entropy = [int(w) for w in words]
    children = np.random.SeedSequence(entropy).spawn(len(PHASES))
    return PhaseSeeds(*children)


def ints(seed_sequence, n):
    """``n`` independent int seeds in ``[0, 2**31 - 1)`` from ``seed_sequence``.

    Stateless: the same sequence gives the same ints on every call.
    """
    words = seed_sequence.generate_state(n, dtype=np.uint64)
    return [int(w % _SEED_BOUND) for w in words]


def int_seed(seed_sequence):
    """One int seed from ``seed_sequence`` (the first of :func:`ints`)."""
    return ints(seed_sequence, 1)[0]
