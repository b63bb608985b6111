"""skdiec: Diffusion Embedded Clustering (DiEC) for scikit-learn users."""

from ._estimator import DiEC, DiffusionEmbeddedClustering

__version__ = "0.1.0"

__all__ = ["DiEC", "DiffusionEmbeddedClustering", "__version__"]
