"""skdiec: Diffusion Embedded Clustering (DiEC) for scikit-learn users.

The public names are imported on first use (PEP 562, as SPEC 1 lazy loading
does), so that ``skdiec --help`` and the command line's argument errors
answer at once instead of after loading torch, diffusers and UMAP.
"""

import importlib
import typing

__version__ = "0.1.0"

# public name -> the module that defines it (a submodule is its own entry).
_SOURCES = {
    "CacheWarning": "._cache",
    "DiEC": "._estimator",
    "DiffusionEmbeddedClustering": "._estimator",
    "OutOfMemoryWarning": "._torch_utils",
    "SavedModelError": "._persistence",
    "datasets": ".datasets",
    "metrics": ".metrics",
    "plotting": ".plotting",
    "pretrain_unet": "._pretrain",
}

__all__ = [*_SOURCES, "__version__"]

if typing.TYPE_CHECKING:  # what static tools and IDEs read
    from . import datasets, metrics, plotting  # noqa: F401
    from ._cache import CacheWarning  # noqa: F401
    from ._estimator import DiEC, DiffusionEmbeddedClustering  # noqa: F401
    from ._persistence import SavedModelError  # noqa: F401
    from ._pretrain import pretrain_unet  # noqa: F401
    from ._torch_utils import OutOfMemoryWarning  # noqa: F401


def __getattr__(name):
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_SOURCES[name], __name__)
    value = module if module.__name__ == f"{__name__}.{name}" else getattr(module, name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(__all__)
