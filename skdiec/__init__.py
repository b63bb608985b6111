"""skdiec: Diffusion Embedded Clustering (DiEC) for scikit-learn users."""

from . import datasets, metrics, plotting
from ._cache import CacheWarning
from ._estimator import DiEC, DiffusionEmbeddedClustering
from ._persistence import SavedModelError
from ._pretrain import pretrain_unet
from ._torch_utils import OutOfMemoryWarning

__version__ = "0.1.0"

__all__ = ["CacheWarning", "DiEC", "DiffusionEmbeddedClustering", "OutOfMemoryWarning",
           "SavedModelError", "datasets", "metrics", "plotting", "pretrain_unet", "__version__"]
