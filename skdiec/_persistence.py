"""Saving a fitted estimator to a folder that loads without unpickling.

Format (``FORMAT_VERSION`` 5), one folder:

- ``unet/``: the fitted U-Net, written by diffusers' ``save_pretrained``
  (``config.json`` and ``diffusion_pytorch_model.safetensors``);
- ``scheduler/``: its noise scheduler, by its ``save_pretrained``
  (``scheduler_config.json``), new in format 2: format-1 folders, which
  have none, load with the default DDPM schedule they were fitted with;
- ``arrays.safetensors``: every fitted array (centres, search table, noise
  bank, projection, input scaling, labels), read by ``safetensors.numpy``;
  the input scaling has one value per channel of an image from format 3
  on (``layout.scaling``), one for the whole image before; from format 4
  on, a clustering space pooled from several cells (``fitted.cells_``)
  has one projection per cell, the first as ``head_mean`` and
  ``head_components`` and cell ``i`` as ``head_mean.i`` and
  ``head_components.i``;
- ``estimator.json``: the format version, the skdiec version, the
  constructor parameters, the fitted scalars and names, and (optional:
  absent in the first format-1 folders) ``checksums``, the SHA-256 of every
  other file of the folder and of this file's own content. The fitted
  ``search_score_`` and ``search_agreement_`` are new in format 5: earlier
  folders load with the ``search_score`` they were fitted with and an
  agreement of NaN (not recorded).

Nothing in the folder is executable: loading reads JSON, safetensors and a
diffusers config, so a folder from an untrusted source cannot run code.
Pickle and joblib still work (see the estimator's ``__getstate__``) but, as
with any pickle, only for files you trust.

A save is written to a hidden sibling folder and renamed into place, so a
save that fails leaves the previous folder as it was. A load checks every
field against the others and against the U-Net before it returns, and
refuses anything else with a :class:`SavedModelError` naming the file and
the field.
"""

import hashlib
import json
from numbers import Integral, Real
import os
from pathlib import Path
import secrets
import shutil

import numpy as np
import torch

from ._model import FIT_RECORD

FORMAT_VERSION = 5
READABLE_VERSIONS = (1, 2, 3, 4, 5)

# Format 1's names: the estimator's fitted attributes (the model's and the
# fit's record, :data:`skdiec._model.FIT_RECORD`) and the model's other parts.
_ARRAYS = ("cluster_centers_",) + tuple(n for n, kind in FIT_RECORD.items() if kind == "array")
# Fitted fields added since format 1, by the format that added them.
_SCALARS_ADDED = {"cells_": 4, "search_score_": 5, "search_agreement_": 5}
_SCALARS = ("col_", "cot_", "n_components_", "n_features_in_") + tuple(
    n for n, kind in FIT_RECORD.items() if kind == "json" and n not in _SCALARS_ADDED)
_OTHER_ARRAYS = ("head_mean", "head_components", "noise_bank", "layout_offset", "layout_scale")
_META_KEYS = {"format_version", "skdiec_version", "params", "fitted", "feature_names_in_",
              "layout"}
# Parameters added after the first folders of format 1 were written: absent
# there, they take the value that describes how those models were fitted
# (pretraining on all timesteps, DEC's own target, no cache; None for
# pretrain_batch_size: see params_added_since). Any other parameter missing
# is an error, never a silent default.
_ADDED_PARAMS = {"pretrain_max_timestep": 1000, "fine_tune_target": "dec", "memory": None,
                 "scheduler": None, "channel_axis": "auto", "pretrain_batch_size": None,
                 "n_cells": 1, "n_jobs": None}

# What a save writes: only a folder holding nothing else is replaced by a save.
_ENTRIES = {"unet", "scheduler", "arrays.safetensors", "estimator.json"}


def params_added_since(params):
    """The parameters missing from ``params`` (an estimator's saved or
    pickled parameters) that later versions added, with the values that
    describe how it was fitted: before ``pretrain_batch_size``, pretraining
    took ``train_batch_size`` images per step."""
    missing = {k: v for k, v in _ADDED_PARAMS.items() if k not in params}
    if "pretrain_batch_size" in missing:
        missing["pretrain_batch_size"] = params.get("train_batch_size", 64)
    return missing


class SavedModelError(ValueError):
    """A folder given to :meth:`~skdiec.DiffusionEmbeddedClustering.load` is
    not a consistent saved model: the message names the file and the field.

    A subclass of ``ValueError``.
    """


def jsonable(value):
    """``value`` with numpy scalars and arrays (recursively) made JSON types.

    Tuples become lists, as JSON has no tuples; the loader turns the
    parameters that the estimator keeps as tuples back into tuples.
    """
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


# ------------------------------------------------------------------- save

def save(est, path):
    from safetensors.numpy import save_file

    given = Path(path)
    # Absolute (links not resolved: a link at the path is replaced, not
    # followed), so that "." or "sub/.." still has a parent and a name.
    path = Path(os.path.abspath(given))
    # The parameters must be those the fitted state was made with: they are
    # what load rebuilds the estimator from.
    est._check_unchanged_since_fit()
    meta = _metadata(est)
    # Serialised before anything is written: a value JSON cannot hold fails
    # here, not half-way through the folder.
    json.dumps(meta, allow_nan=True)
    _check_replaceable(path)

    model = est._model
    layout = model.layout
    arrays = {name: np.asarray(getattr(est, name)) for name in _ARRAYS}
    for i, block in enumerate(model.head.blocks):
        suffix = f".{i}" if i else ""
        arrays["head_mean" + suffix] = block.mean.detach().cpu().numpy()
        arrays["head_components" + suffix] = block.components.detach().cpu().numpy()
    arrays.update({
        "noise_bank": model.noise_bank.detach().cpu().numpy(),
        "layout_offset": np.atleast_1d(layout.offset).astype(np.float64),
        "layout_scale": np.atleast_1d(layout.scale).astype(np.float64),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{secrets.token_hex(4)}"
    tmp.mkdir()  # with the umask's permissions, as the final folder gets
    try:
        model.unet.save_pretrained(tmp / "unet", safe_serialization=True)
        model.scheduler.save_pretrained(tmp / "scheduler")
        # safetensors writes an array's raw buffer: a Fortran-ordered one (PCA's
        # components_) would come back scrambled, so every array is made C-ordered.
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()},
                  str(tmp / "arrays.safetensors"))
        meta["checksums"] = dict(checksums(tmp), **{"estimator.json": _meta_digest(meta)})
        (tmp / "estimator.json").write_text(json.dumps(meta, indent=1, allow_nan=True))
        _replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return given


def _metadata(est):
    from . import __version__

    params = est.get_params(deep=False)
    if not isinstance(params["search_score"], str):
        raise ValueError("An estimator with a callable search_score cannot be saved to "
                         "this format (a callable is code); use pickle for it.")
    # The backbone is saved as the fitted U-Net and scheduler; where they came
    # from is not needed.
    params["unet"] = params["scheduler"] = None
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
    random_state = params["random_state"]
    # A RandomState instance has no faithful JSON form; an int (numpy's too) has.
    params["random_state"] = (int(random_state) if isinstance(random_state, Integral)
                              and not isinstance(random_state, bool) else None)
    layout = est._model.layout
    if hasattr(est, "feature_names_in_"):
        feature_names = [str(v) for v in est.feature_names_in_]
    else:
        feature_names = None
    return {
        "format_version": FORMAT_VERSION,
        "skdiec_version": __version__,
        "params": jsonable(params),
        "fitted": {name: jsonable(getattr(est, name)) for name in _SCALARS + tuple(_SCALARS_ADDED)},
        "feature_names_in_": feature_names,
        "layout": {"kind": layout.kind, "image_shape": jsonable(layout.image_shape),
                   "padded_shape": jsonable(layout.padded_shape),
                   "scaling": _scaling(layout)},
    }


def _check_replaceable(path):
    """Refuse to replace anything but a folder that a save could have written."""
    if path.is_symlink():
        return  # the link itself is replaced; what it points to is left alone
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} exists and is not a folder; save needs a folder path.")
    if path.is_dir():
        others = sorted(p.name for p in path.iterdir() if p.name not in _ENTRIES)
        if others:
            raise ValueError(
                f"{path} holds {others[:5]}, which a saved model does not: save replaces "
                "the whole folder, so it only writes to a new, empty or saved-model folder."
            )


def _replace(tmp, path):
    """Put the folder ``tmp`` at ``path``, which may exist (folder or link).

    The old entry is renamed away first and removed after: a link is
    removed, not followed, and a crash in between leaves two whole folders,
    never a mix of two saves.
    """
    if not os.path.lexists(path):
        os.rename(tmp, path)
        return
    old = path.parent / f".{path.name}.old-{secrets.token_hex(4)}"
    os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(old, path)
        raise
    if old.is_symlink() or not old.is_dir():
        old.unlink()
    else:
        shutil.rmtree(old)


def _meta_digest(meta):
    """SHA-256 of estimator.json's content but its checksums, in a canonical form."""
    content = {k: v for k, v in meta.items() if k != "checksums"}
    text = json.dumps(content, sort_keys=True, allow_nan=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def checksums(folder):
    """SHA-256 of every file of a saved folder but ``estimator.json``, by path."""
    folder = Path(folder)
    sums = {}
    for file in sorted(folder.rglob("*")):
        rel = file.relative_to(folder).as_posix()
        if file.is_file() and rel != "estimator.json":
            digest = hashlib.sha256()
            with open(file, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            sums[rel] = digest.hexdigest()
    return sums


# ------------------------------------------------------------------- load

def load(cls, path, device="cpu"):
    from . import _backbone, _features
    from ._input import InputLayout
    from ._model import ClusteringModel, FeatureHead, make_head
    from ._torch_utils import parse_device

    # A non-device is an error now; a missing GPU is predict's to fall back from.
    parse_device(device)
    path = Path(path)
    meta_file = path / "estimator.json"
    if not meta_file.is_file():
        raise FileNotFoundError(f"{path} holds no estimator.json: not a saved skdiec model.")
    meta = _Fields(_read_json(meta_file), "estimator.json")
    meta.keys("", _META_KEYS, optional={"checksums"})
    version = meta.get("format_version")
    if type(version) is not int:  # noqa: E721 -- bool is an int, and is refused
        meta.fail("format_version", f"must be an int; got {version!r}")
    if version not in READABLE_VERSIONS:
        raise SavedModelError(f"{path}: saved in format version {version}; this skdiec reads "
                              f"versions {', '.join(map(str, READABLE_VERSIONS))}.")
    meta.string("skdiec_version")
    # Always a local folder: a missing one must not turn into a hub lookup.
    if not (path / "unet" / "config.json").is_file():
        raise SavedModelError(f"{path / 'unet'} is missing (or has no config.json): the "
                              "saved model's U-Net is not there.")
    if version >= 2 and not (path / "scheduler" / "scheduler_config.json").is_file():
        raise SavedModelError(f"{path / 'scheduler'} is missing (or has no "
                              "scheduler_config.json): the saved model's noise scheduler is "
                              "not there.")
    if "checksums" in meta.data:
        _verify_checksums(path, meta, version)

    est = _estimator_from_params(cls, meta, device)
    lay = _read_layout(meta, version)
    fit = _read_fitted(meta, est, lay, version)
    names = meta.get("feature_names_in_")
    if names is not None and not (isinstance(names, list) and len(names) == fit["n_features_in_"]
                                  and all(isinstance(v, str) for v in names)):
        meta.fail("feature_names_in_", f"must be null or a list of {fit['n_features_in_']} "
                  "strings (fitted.n_features_in_)")

    arrays = _read_arrays(path, est, lay, fit)
    unet = _read_unet(path, lay)
    layer_names = list(_features.candidate_layers(unet))
    unknown = [n for n in fit["search_layers_"] + [fit["col_"]] if n not in layer_names]
    if unknown:
        meta.fail("fitted.col_/search_layers_", f"name layer(s) {unknown} that unet/ does "
                  f"not have (it has {layer_names})")
    cells = [tuple(cell) for cell in fit["cells_"]]
    heads = [FeatureHead(arrays[mean], arrays[components])
             for mean, components in _head_arrays(len(cells))]
    bank = torch.from_numpy(arrays["noise_bank"])
    scheduler = _read_scheduler(path) if version >= 2 else _backbone.make_scheduler()
    for cell, (mean, _) in zip(cells, _head_arrays(len(cells))):
        _check_feature_size(unet, scheduler, bank, cell, est.pooling, mean,
                            arrays[mean].shape[0])

    offset, scale = arrays["layout_offset"], arrays["layout_scale"]
    if lay["scaling"] == "image":
        offset, scale = np.array(offset[0]), np.array(scale[0])
    layout = InputLayout(lay["kind"], tuple(lay["image_shape"]), tuple(lay["padded_shape"]),
                         offset, scale)
    model = ClusteringModel(layout=layout, unet=unet.eval(), scheduler=scheduler,
                            head=make_head(heads), noise_bank=bank, col=fit["col_"],
                            cot=fit["cot_"], pooling=est.pooling,
                            cluster_centers=arrays["cluster_centers_"], alpha=est.alpha,
                            extra_cells=tuple(cells[1:]))
    est.n_features_in_ = fit["n_features_in_"]
    if names is not None:
        est.feature_names_in_ = np.asarray(names, dtype=object)
    est._set_fitted(model, {name: arrays[name] if kind == "array" else fit[name]
                            for name, kind in FIT_RECORD.items()})
    return est


class _Fields:
    """A JSON object being checked; failures name the file and the field."""

    def __init__(self, data, file):
        if not isinstance(data, dict):
            raise SavedModelError(f"{file}: must hold a JSON object; got "
                                  f"{type(data).__name__}")
        self.data, self.file = data, file

    def fail(self, field, message):
        raise SavedModelError(f"{self.file}: {field} {message}.")

    def get(self, dotted):
        value = self.data
        for part in dotted.split("."):
            value = value[part]
        return value

    def keys(self, prefix, required, optional=()):
        obj = self.get(prefix) if prefix else self.data
        where = prefix + "." if prefix else ""
        if not isinstance(obj, dict):
            self.fail(prefix, f"must be a JSON object; got {obj!r:.60}")
        missing = sorted(set(required) - set(obj))
        if missing:
            self.fail(where + missing[0], "is missing")
        unknown = sorted(set(obj) - set(required) - set(optional))
        if unknown:
            self.fail(where + unknown[0], "is not a field of this format")

    def string(self, dotted):
        value = self.get(dotted)
        if not isinstance(value, str):
            self.fail(dotted, f"must be a string; got {value!r:.60}")
        return value

    def integer(self, dotted, low, high=None):
        value = self.get(dotted)
        # type(), not isinstance: JSON's true and false are not counts.
        is_int = type(value) is int  # noqa: E721
        if not is_int or value < low or (high is not None and value > high):
            bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
            self.fail(dotted, f"must be an int {bound}; got {value!r:.60}")
        return value


def _read_json(file):
    try:
        return json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise SavedModelError(f"{file.name}: not valid JSON ({exc}).") from exc


def _verify_checksums(path, meta, version):
    expected = meta.get("checksums")
    if not (isinstance(expected, dict) and all(isinstance(v, str) for v in expected.values())):
        meta.fail("checksums", "must map file names to SHA-256 digests")
    required = ["arrays.safetensors", "unet/config.json"]
    if version >= 2:
        required.append("scheduler/scheduler_config.json")
    for name in required:
        if name not in expected:
            meta.fail("checksums", f"lists no {name}")
    # Files a user added next to a saved model are not its concern; every
    # file the save wrote must be as it was written.
    actual = dict(checksums(path), **{"estimator.json": _meta_digest(meta.data)})
    for name in sorted(expected):
        if expected[name] != actual.get(name):
            state = "is missing" if name not in actual else "differs from its checksum there"
            raise SavedModelError(
                f"{path / name}, listed in estimator.json, {state}: the folder mixes files "
                "of different saves, or was changed after it was saved."
            )


def _estimator_from_params(cls, meta, device):
    from sklearn.utils._param_validation import validate_parameter_constraints

    from ._input import _as_chw
    from ._pretrain import check_unet_channels

    defaults = cls().get_params(deep=False)
    meta.keys("params", set(defaults) - set(_ADDED_PARAMS), optional=_ADDED_PARAMS)
    params = dict(meta.get("params"))
    params.update(params_added_since(params), device=device)
    for key in ("timesteps", "unet_channels", "image_shape"):
        if isinstance(params[key], list):
            params[key] = tuple(params[key])
    for name, value in params.items():
        if isinstance(value, bool) and not isinstance(defaults[name], bool) \
                and name != "verbose":
            meta.fail(f"params.{name}", f"must not be a boolean; got {value!r}")
        try:
            validate_parameter_constraints(
                {name: cls._parameter_constraints[name]}, {name: value}, caller_name=cls.__name__)
        except (ValueError, TypeError) as exc:
            meta.fail(f"params.{name}", f"is invalid: {exc}")
    if params["unet"] is not None:
        meta.fail("params.unet", "must be null: the U-Net is the folder's unet/")
    if params["scheduler"] is not None:
        meta.fail("params.scheduler", "must be null: the scheduler is the folder's scheduler/")
    est = cls(**params)
    checks = (("timesteps", est._check_timesteps),
              ("unet_channels", lambda: check_unet_channels(est.unet_channels)),
              ("image_shape", lambda: est.image_shape is None or _as_chw(est.image_shape)),
              ("layers", lambda: _check_layers(est.layers)))
    for name, check in checks:
        try:
            check()
        except (ValueError, TypeError) as exc:
            meta.fail(f"params.{name}", f"is invalid: {exc}")
    return est


def _check_layers(layers):
    """The form of ``layers``; which names the U-Net has is checked at fit."""
    if not isinstance(layers, str) and not (layers and all(isinstance(n, str) for n in layers)):
        raise ValueError(f"layers must be 'all' or a non-empty list of names; got {layers!r}")


def _scaling(layout):
    """layout.scaling (format 3): one offset and scale for all of an image's
    values (the only image scaling before format 3), one per channel, or one
    per column of a table."""
    if layout.kind == "table":
        return "column"
    return "image" if np.ndim(layout.offset) == 0 else "channel"


def _read_layout(meta, version):
    if version >= 3:
        meta.keys("layout", {"kind", "image_shape", "padded_shape", "scaling"})
        lay = dict(meta.get("layout"))
    else:
        meta.keys("layout", {"kind", "image_shape", "padded_shape", "scalar_scaling"})
        lay = dict(meta.get("layout"))
        # Images were scaled by one offset and scale, tables column by column.
        if lay["scalar_scaling"] is not (lay["kind"] == "image"):
            meta.fail("layout.scalar_scaling", f"must be {lay['kind'] == 'image'} for "
                      f"kind {lay['kind']!r}")
        lay["scaling"] = "image" if lay.pop("scalar_scaling") else "column"
    if lay["kind"] not in ("image", "table"):
        meta.fail("layout.kind", f"must be 'image' or 'table'; got {lay['kind']!r:.60}")
    for field, size in (("image_shape", 3), ("padded_shape", 2)):
        value = lay[field]
        if not (isinstance(value, list) and len(value) == size
                and all(type(v) is int and v >= 1 for v in value)):  # noqa: E721
            meta.fail(f"layout.{field}", f"must be a list of {size} positive ints; "
                      f"got {value!r:.60}")
    if any(p < s for p, s in zip(lay["padded_shape"], lay["image_shape"][1:])):
        meta.fail("layout.padded_shape", f"{lay['padded_shape']} is smaller than the image "
                  f"{lay['image_shape'][1:]}")
    allowed = ("column",) if lay["kind"] == "table" else ("image", "channel")
    if lay["scaling"] not in allowed:
        meta.fail("layout.scaling", f"must be one of {allowed} for kind {lay['kind']!r}; "
                  f"got {lay['scaling']!r:.60}")
    return lay


def _head_arrays(n_cells):
    """The names of the projection arrays of each of ``n_cells`` cells."""
    return [(f"head_mean.{i}", f"head_components.{i}") if i else
            ("head_mean", "head_components") for i in range(n_cells)]


def _read_search_choice(meta, fit, est):
    """Check (format 5) or fill in (earlier formats, which fitted no "auto")
    the score the search used and the cells' agreement."""
    from . import _search

    if "search_score_" not in fit:
        fit["search_score_"], fit["search_agreement_"] = est.search_score, float("nan")
    allowed = (set(_search.AUTO_SCORES) if est.search_score == _search.AUTO
               else {est.search_score})
    if fit["search_score_"] not in allowed:
        meta.fail("fitted.search_score_", f"must be one of {sorted(allowed)} "
                  f"(params.search_score {est.search_score!r}); got {fit['search_score_']!r:.60}")
    value = fit["search_agreement_"]
    if not (_is_number(value) and (np.isnan(value) or -1 <= value <= 1)):
        meta.fail("fitted.search_agreement_", f"must be a number in [-1, 1] or NaN; "
                  f"got {value!r:.60}")
    fit["search_agreement_"] = float(value)


def _read_fitted(meta, est, lay, version):
    added = [name for name, since in _SCALARS_ADDED.items() if version >= since]
    meta.keys("fitted", _SCALARS + tuple(added))
    fit = dict(meta.get("fitted"))
    meta.string("fitted.col_")
    meta.integer("fitted.cot_", 0, 999)
    if "cells_" not in fit:  # before format 4: COL/COT alone
        fit["cells_"] = [[fit["col_"], fit["cot_"]]]
    cells = fit["cells_"]
    if not (isinstance(cells, list) and 1 <= len(cells) <= est.n_cells
            and all(isinstance(c, list) and len(c) == 2 and isinstance(c[0], str)
                    and type(c[1]) is int and 0 <= c[1] <= 999 for c in cells)  # noqa: E721
            and len({tuple(c) for c in cells}) == len(cells)):
        meta.fail("fitted.cells_", f"must be a list of 1 to {est.n_cells} (params.n_cells) "
                  f"distinct [layer, timestep] pairs; got {cells!r:.60}")
    if cells[0] != [fit["col_"], fit["cot_"]]:
        meta.fail("fitted.cells_", f"must start with COL/COT [{fit['col_']!r}, {fit['cot_']}]; "
                  f"got {cells[0]!r:.60}")
    meta.integer("fitted.n_components_", 1, est.n_components * len(cells))
    meta.integer("fitted.n_iter_", 0)
    c, h, w = lay["image_shape"]
    n_features = meta.integer("fitted.n_features_in_", 1,
                              c * h * w if lay["kind"] == "image" else h * w)
    if lay["kind"] == "image" and n_features != c * h * w:
        meta.fail("fitted.n_features_in_", f"is {n_features}, but images of shape "
                  f"{lay['image_shape']} (layout.image_shape) have {c * h * w} values")
    layers = fit["search_layers_"]
    if not (isinstance(layers, list) and layers and all(isinstance(n, str) for n in layers)):
        meta.fail("fitted.search_layers_", f"must be a non-empty list of layer names; "
                  f"got {layers!r:.60}")
    if fit["col_"] not in layers:
        meta.fail("fitted.col_", f"{fit['col_']!r} is not one of fitted.search_layers_")
    if any(name not in layers for name, _ in cells):
        meta.fail("fitted.cells_", "names a layer that is not one of fitted.search_layers_")
    _read_search_choice(meta, fit, est)
    losses = fit["pretrain_loss_"]
    if not (isinstance(losses, list) and all(_is_number(v) for v in losses)):
        meta.fail("fitted.pretrain_loss_", "must be a list of numbers")
    history = fit["fine_tune_history_"]
    if not (isinstance(history, list) and all(isinstance(v, dict) for v in history)):
        meta.fail("fitted.fine_tune_history_", "must be a list of JSON objects")
    timings = fit["timings_"]
    if not (isinstance(timings, dict) and all(_is_number(v) for v in timings.values())):
        meta.fail("fitted.timings_", "must map phase names to seconds")
    return fit


def _is_number(value):
    return isinstance(value, Real) and not isinstance(value, bool)


def _read_arrays(path, est, lay, fit):
    from safetensors.numpy import load_file

    file = path / "arrays.safetensors"
    try:
        arrays = load_file(str(file))
    except Exception as exc:  # safetensors raises its own error types
        raise SavedModelError(f"arrays.safetensors: cannot be read ({exc}).") from exc
    heads = _head_arrays(len(fit["cells_"]))
    expected = set(_ARRAYS + _OTHER_ARRAYS).union(*heads)
    missing = sorted(expected - set(arrays))
    unknown = sorted(set(arrays) - expected)
    if missing or unknown:
        raise SavedModelError(f"arrays.safetensors: {(missing or unknown)[0]} is "
                              f"{'missing' if missing else 'not an array of this format'}.")
    k, n_comp = est.n_clusters, fit["n_components_"]
    n_labels = arrays["labels_"].shape[0] if arrays["labels_"].ndim == 1 else -1
    c = lay["image_shape"][0]
    n_scaling = {"image": 1, "channel": c, "column": fit["n_features_in_"]}[lay["scaling"]]
    # name: (dtype kind, shape, must be finite, allowed value range)
    spec = {
        "cluster_centers_": ("f", (k, n_comp), True, None),
        "search_scores_": ("f", (len(fit["search_layers_"]), None), False, None),
        "search_timesteps_": ("iu", (None,), True, (0, 999)),
        "labels_": ("iu", (None,), True, (0, k - 1)),
        "init_labels_": ("iu", (n_labels,), True, (0, k - 1)),
        "noise_bank": ("f", (est.n_noise_draws, c, *lay["padded_shape"]), True, None),
        "layout_offset": ("f", (n_scaling,), True, None),
        "layout_scale": ("f", (n_scaling,), True, None),
    }
    for mean, components in heads:
        n_feat = arrays[mean].shape[0] if arrays[mean].ndim == 1 else -1
        # COL/COT alone has all n_components_; pooled cells share them (below).
        spec[mean] = ("f", (None,), True, None)
        spec[components] = ("f", (n_comp if len(heads) == 1 else None, n_feat), True, None)
    for name, (kinds, shape, finite, bounds) in spec.items():
        a = arrays[name]
        where = f"arrays.safetensors: {name}"
        if a.dtype.kind not in kinds:
            raise SavedModelError(f"{where} has dtype {a.dtype}; expected "
                                  f"{'a float' if kinds == 'f' else 'an integer'} dtype.")
        if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
            want = tuple("any" if s is None else s for s in shape)
            raise SavedModelError(f"{where} has shape {a.shape}; expected {want} "
                                  "(from estimator.json's params and fitted fields).")
        if finite and a.dtype.kind == "f" and not np.isfinite(a).all():
            raise SavedModelError(f"{where} holds non-finite values.")
        if bounds is not None and a.size and (a.min() < bounds[0] or a.max() > bounds[1]):
            raise SavedModelError(f"{where} holds values outside [{bounds[0]}, {bounds[1]}].")
    if arrays["search_scores_"].shape[1] != arrays["search_timesteps_"].shape[0]:
        raise SavedModelError("arrays.safetensors: search_scores_ has "
                              f"{arrays['search_scores_'].shape[1]} columns but "
                              f"search_timesteps_ {arrays['search_timesteps_'].shape[0]} values.")
    block_sizes = [arrays[components].shape[0] for _, components in heads]
    if sum(block_sizes) != n_comp or max(block_sizes) > est.n_components:
        raise SavedModelError(f"arrays.safetensors: the cells' head_components have "
                              f"{block_sizes} rows; expected at most {est.n_components} "
                              f"(params.n_components) each and {n_comp} in all "
                              "(fitted.n_components_).")
    for name in (name for pair in heads for name in pair):
        arrays[name] = arrays[name].astype(np.float32)
    arrays["noise_bank"] = arrays["noise_bank"].astype(np.float32)
    return arrays


def _read_unet(path, lay):
    from diffusers import UNet2DModel

    from ._backbone import check_unet_fits

    folder = path / "unet"
    try:
        unet, info = UNet2DModel.from_pretrained(
            str(folder), use_safetensors=True, local_files_only=True,
            low_cpu_mem_usage=False, output_loading_info=True)
    except Exception as exc:  # diffusers raises many kinds of error for a bad folder
        raise SavedModelError(f"unet/: cannot be loaded ({type(exc).__name__}: {exc}).") from exc
    # A config that does not describe the saved weights would leave some
    # layers at random initialisation: refused, not loaded.
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        if info.get(kind):
            raise SavedModelError(f"unet/: config.json does not match the saved weights "
                                  f"({kind}: {list(info[kind])[:3]}).")
    if not all(torch.isfinite(p).all() for p in unet.state_dict().values()
               if p.is_floating_point()):
        raise SavedModelError("unet/: the saved weights hold non-finite values.")
    try:
        check_unet_fits(unet, lay["image_shape"])
    except ValueError as exc:
        raise SavedModelError(f"unet/config.json: {exc}") from exc
    return unet.float()


def _read_scheduler(path):
    from ._backbone import read_scheduler

    try:
        return read_scheduler(path / "scheduler", "scheduler/")
    except Exception as exc:  # diffusers raises many kinds of error for a bad config
        raise SavedModelError(f"scheduler/: cannot be loaded ({type(exc).__name__}: "
                              f"{exc}).") from exc


def _check_feature_size(unet, scheduler, bank, cell, pooling, mean_name, n_features):
    """One forward on a blank image: the head of ``cell`` (its mean the array
    ``mean_name``) must take what the cell gives."""
    from ._features import cell_features

    layer, t = cell
    x = torch.zeros((1,) + tuple(bank.shape[1:]))
    try:
        with torch.no_grad():
            feats = cell_features(unet.eval(), scheduler, x, t, [layer], bank, pooling)[layer]
    except (RuntimeError, ValueError) as exc:
        raise SavedModelError(f"unet/: cannot embed images of the saved layout ({exc}).") from exc
    if feats.shape[1] != n_features:
        raise SavedModelError(
            f"arrays.safetensors: {mean_name} has {n_features} values, but layer "
            f"{layer!r} of unet/ with pooling={pooling!r} gives {feats.shape[1]} "
            "features.")
