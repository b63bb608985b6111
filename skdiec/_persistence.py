"""Saving a fitted estimator to a folder that loads without unpickling.

Format (``FORMAT_VERSION`` 1), one folder:

- ``unet/``: the fitted U-Net, written by diffusers' ``save_pretrained``
  (``config.json`` and ``diffusion_pytorch_model.safetensors``);
- ``arrays.safetensors``: every fitted array (centres, search table, noise
  bank, projection, input scaling, labels), read by ``safetensors.numpy``;
- ``estimator.json``: the format version, the skdiec version, the
  constructor parameters and the fitted scalars and names.

Nothing in the folder is executable: loading reads JSON, safetensors and a
diffusers config, so a folder from an untrusted source cannot run code.
Pickle and joblib still work (see the estimator's ``__getstate__``) but, as
with any pickle, only for files you trust.
"""

import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

FORMAT_VERSION = 1

_ARRAYS = ("cluster_centers_", "search_scores_", "search_timesteps_", "labels_",
           "init_labels_")
_SCALARS = ("col_", "cot_", "n_components_", "n_iter_", "n_features_in_", "search_layers_",
            "pretrain_loss_", "fine_tune_history_", "timings_")


def save(est, path):
    from . import __version__

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    params = est.get_params(deep=False)
    if not isinstance(params["search_score"], str):
        raise ValueError("An estimator with a callable search_score cannot be saved to "
                         "this format (a callable is code); use pickle for it.")
    # The backbone is saved as the fitted U-Net; where it came from is not needed.
    params["unet"] = None
    # A cache is a concern of the machine that fits: a path is kept, a
    # Memory object by its folder.
    memory = params["memory"]
    if isinstance(memory, os.PathLike):
        memory = os.fspath(memory)
    elif memory is not None and not isinstance(memory, str):
        location = getattr(memory, "location", None)
        memory = os.fspath(location) if location is not None else None
    params["memory"] = memory
    if isinstance(params["device"], torch.device):
        params["device"] = str(params["device"])
    for key in ("timesteps", "unet_channels", "image_shape", "layers"):
        if isinstance(params[key], (tuple, list, np.ndarray)):
            params[key] = [int(v) if isinstance(v, (int, np.integer)) else v
                           for v in params[key]]
    if not isinstance(params["random_state"], (int, type(None))):
        params["random_state"] = None

    layout = est._layout
    arrays = {name: np.asarray(getattr(est, name)) for name in _ARRAYS}
    arrays.update({
        "head_mean": est._head.mean.detach().cpu().numpy(),
        "head_components": est._head.components.detach().cpu().numpy(),
        "noise_bank": est._noise_bank.detach().cpu().numpy(),
        "layout_offset": np.atleast_1d(layout.offset).astype(np.float64),
        "layout_scale": np.atleast_1d(layout.scale).astype(np.float64),
    })
    if hasattr(est, "feature_names_in_"):
        feature_names = [str(v) for v in est.feature_names_in_]
    else:
        feature_names = None
    meta = {
        "format_version": FORMAT_VERSION,
        "skdiec_version": __version__,
        "params": params,
        "fitted": {name: _jsonable(getattr(est, name)) for name in _SCALARS},
        "feature_names_in_": feature_names,
        "layout": {"kind": layout.kind, "image_shape": list(layout.image_shape),
                   "padded_shape": list(layout.padded_shape),
                   "scalar_scaling": np.ndim(layout.offset) == 0},
    }
    est.unet_.save_pretrained(path / "unet", safe_serialization=True)
    # safetensors writes an array's raw buffer: a Fortran-ordered one (PCA's
    # components_) would come back scrambled, so every array is made C-ordered.
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()},
              str(path / "arrays.safetensors"))
    (path / "estimator.json").write_text(json.dumps(meta, indent=1))
    return path


def load(cls, path, device="cpu"):
    from diffusers import UNet2DModel

    from ._backbone import make_scheduler
    from ._dec import FeatureHead
    from ._input import InputLayout

    path = Path(path)
    meta_file = path / "estimator.json"
    if not meta_file.is_file():
        raise FileNotFoundError(f"{path} holds no estimator.json: not a saved skdiec model.")
    meta = json.loads(meta_file.read_text())
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"{path}: saved in format version {version}; this skdiec reads "
                         f"version {FORMAT_VERSION}.")
    params = dict(meta["params"], device=device)
    for key in ("timesteps", "unet_channels", "image_shape"):
        if isinstance(params[key], list):
            params[key] = tuple(params[key])
    est = cls(**params)
    arrays = load_file(str(path / "arrays.safetensors"))
    for name in _ARRAYS:
        setattr(est, name, arrays[name])
    for name, value in meta["fitted"].items():
        setattr(est, name, value)
    if meta["feature_names_in_"] is not None:
        est.feature_names_in_ = np.asarray(meta["feature_names_in_"], dtype=object)
    lay = meta["layout"]
    offset, scale = arrays["layout_offset"], arrays["layout_scale"]
    if lay["scalar_scaling"]:
        offset, scale = np.array(offset[0]), np.array(scale[0])
    est._layout = InputLayout(lay["kind"], tuple(lay["image_shape"]),
                              tuple(lay["padded_shape"]), offset, scale)
    est._head = FeatureHead(arrays["head_mean"], arrays["head_components"])
    est._noise_bank = torch.from_numpy(arrays["noise_bank"])
    est._scheduler = make_scheduler()
    est.unet_ = UNet2DModel.from_pretrained(path / "unet", use_safetensors=True).eval()
    return est


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
