"""skdiec: Diffusion Embedded Clustering (DiEC) for scikit-learn users."""

from . import datasets, metrics, plotting
from ._estimator import DiEC, DiffusionEmbeddedClustering
from ._torch_utils import OutOfMemoryWarning

__version__ = "0.1.0"

__all__ = ["DiEC", "DiffusionEmbeddedClustering", "OutOfMemoryWarning", "datasets", "metrics",
           "plotting", "__version__"]
