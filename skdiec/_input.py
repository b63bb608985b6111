"""Input stage: from a user's array to scaled image tensors a U-Net can take.

Images arrive as ``(n, H, W)``, ``(n, C, H, W)``, ``(n, H, W, C)`` or
flattened rows ``(n, d)``. Rows are read as images when ``image_shape`` is
given or ``d`` is a perfect square; any other table is laid out on a small
zero-padded square grid so that it goes through the very same diffusion path
as images do.

The layout and the scaling to ``[-1, 1]`` (the range DDPM checkpoints expect)
are learned once in ``fit`` and stored in an :class:`InputLayout`, which
``predict`` and ``transform`` reuse. Images are scaled channel by channel
(one offset and scale per channel, over all pixels), tables column by column.
"""

from contextlib import contextmanager
from dataclasses import dataclass
import math
import re
import warnings

import numpy as np
import torch

# Rows whose square side is below this are treated as a table, not an image:
# a 1x1 or 2x2 "image" is far more likely a table of 1 or 4 columns.
_MIN_IMAGE_SIDE = 3
# A 4-D array whose last axis has at most this many entries, and axis 1 more,
# holds channels-last images (RGB, RGBA or grey, as Pillow and matplotlib
# give them); any other 4-D array is read channels-first, torch's order.
MAX_CHANNELS_LAST = 4
CHANNEL_AXES = ("auto", 1, -1)
# Values scaled at a time by to_tensor: bounds its float64 temporaries (128 MB).
_SCALE_CHUNK_VALUES = 2 ** 24


@dataclass(frozen=True)
class InputLayout:
    """How rows of a 2-D array map to padded, scaled image tensors.

    Attributes
    ----------
    kind : {"image", "table"}
        ``"table"`` when the columns were laid out on a square grid.
    image_shape : tuple of int
        ``(C, H, W)`` of the image before padding.
    padded_shape : tuple of int
        ``(H_pad, W_pad)`` after zero padding to a size the U-Net accepts.
    offset, scale : ndarray
        ``x_scaled = (x - offset) * scale - 1``: one value per channel for
        images (a 0-d array, one value for all channels, in layouts saved
        before per-channel scaling), one per column for tables.
    """

    kind: str
    image_shape: tuple
    padded_shape: tuple
    offset: np.ndarray
    scale: np.ndarray

    @property
    def n_features(self):
        if self.kind == "table":
            return self.offset.shape[0]
        return int(np.prod(self.image_shape))

    @property
    def value_min(self):
        """The smallest value of the data the scaling was fitted on, over all
        channels (or columns): the one that ``to_tensor`` maps to -1."""
        return float(np.min(self.offset))

    @property
    def value_max(self):
        """The largest value of the data the scaling was fitted on, over all
        channels (or columns): the one that ``to_tensor`` maps to 1."""
        return float(np.max(np.asarray(self.offset) + 2.0 / np.asarray(self.scale)))

    def to_tensor(self, X, dtype=torch.float32):
        """Scale the flat rows ``X`` (n, d) and lay them out as ``(n, C, H_pad, W_pad)``."""
        c, h, w = self.image_shape
        imgs = torch.empty((X.shape[0], c, h, w), dtype=dtype)
        step = max(1, _SCALE_CHUNK_VALUES // max(1, X.shape[1]))
        for start in range(0, X.shape[0], step):
            imgs[start:start + step] = torch.as_tensor(
                self._scaled(X[start:start + step]).reshape(-1, c, h, w), dtype=dtype)
        ph, pw = self.padded_shape
        if (ph, pw) != (h, w):
            # Padding with the value of a blank pixel (-1 after scaling) keeps
            # the borders looking like background rather than mid-grey.
            imgs = torch.nn.functional.pad(imgs, (0, pw - w, 0, ph - h), value=-1.0)
        return imgs

    def _scaled(self, X):
        X = np.asarray(X, dtype=np.float64)
        c, h, w = self.image_shape
        if self.kind == "image":
            # offset is (C,) or, in older layouts, 0-d: either broadcasts over
            # the (n, C, H * W) view.
            per_channel = (-1, 1) if np.ndim(self.offset) else ()
            Xs = X.reshape(X.shape[0], c, h * w)
            Xs = (Xs - np.reshape(self.offset, per_channel)) * np.reshape(self.scale, per_channel)
            return Xs.reshape(X.shape[0], -1) - 1.0
        grid = np.zeros((X.shape[0], h * w), dtype=np.float64)
        grid[:, : X.shape[1]] = (X - self.offset) * self.scale - 1.0
        return grid


# How far the brightest value of images to embed may rise above, or fall
# below, the brightest of those fitted on before it is taken for another
# scale: 0-1 floats against 0-255 or 0-16 (scikit-learn's digits), 8-bit
# against 16-bit files, differ by a factor of 16 to 257. Brighter than 4x
# lies outside anything fitted; the darker bound is looser, since one dark
# photo is legitimate. Both are measured from the darkest value fitted on,
# which for photos is 0: images scaled to [-1, 1] (as diffusers scales
# them) or standardised ones have their own zero below their dark pixels.
BRIGHTER_RATIO, DARKER_RATIO = 4, 8


def check_value_range(layout, X):
    """Warn where the images ``X`` (flat rows) reach a brightest value so
    far from that of the images ``layout`` was fitted on that they are
    scaled differently: their assignments would then mean little. Tables
    are not checked: new rows outside a column's fitted range are normal."""
    if layout.kind != "image" or X.size == 0:
        return
    low, high, new = layout.value_min, layout.value_max, float(np.max(X))
    # 1: as bright as the brightest fitted on. high > low always holds, as
    # fit_layout gives a constant channel a span of 2.
    reach = (new - low) / (high - low)
    if not 1 / DARKER_RATIO <= reach <= BRIGHTER_RATIO:
        warnings.warn(
            f"the images given reach {new:.4g}, those the model was fitted on {high:.4g} "
            f"(from {low:.4g}): scaled differently (0-1 against 0-255) or of another bit "
            "depth (8 against 16 bits)? Scale them as the images fitted on; as they are, "
            "their clusters would mean little.", UserWarning)


def float_dtypes(X):
    """The float dtypes ``X`` may be checked into: float32 for integers of at
    most 16 bits (uint8 photos), which it holds exactly in half the memory
    of float64; float64 or float32 kept as they are; float64 otherwise."""
    dtype = getattr(X, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind in "ui" and dtype.itemsize <= 2:
        return np.float32
    return (np.float64, np.float32)


@contextmanager
def errors_name_x():
    """Make scikit-learn's input checks say that it is ``X`` that is wrong.

    Several of their messages ("Found array with 1 sample(s)", "could not
    convert string to float", "Expected 2D array") do not name the array;
    those get an "Invalid X: " prefix, keeping their type and text.
    """
    try:
        yield
    except (ValueError, TypeError) as exc:
        if type(exc) not in (ValueError, TypeError) or re.search(r"\bX\b", str(exc)):
            raise
        raise type(exc)(f"Invalid X: {exc}") from exc


def flatten_images(X, image_shape=None, channel_axis="auto"):
    """Return ``(X2d, image_shape)`` with images flattened to rows, channels first.

    ``X`` is an array already checked for dtype and finiteness. 3-D input is
    ``(n, H, W)``, 4-D is ``(n, C, H, W)`` or ``(n, H, W, C)`` (see
    :func:`channels_last`), 2-D stays as it is. ``image_shape`` is the
    ``(C, H, W)`` taken from the array's own shape when it is 3-D or 4-D,
    else the user's ``image_shape`` parameter (normalised to 3 ints) or None.
    """
    if X.ndim == 3:
        shape = (1, X.shape[1], X.shape[2])
    elif X.ndim == 4:
        if channels_last(X.shape, channel_axis):
            X = X.transpose(0, 3, 1, 2)
        shape = tuple(X.shape[1:])
    elif X.ndim == 2:
        shape = None if image_shape is None else _as_chw(image_shape)
    else:
        raise ValueError(
            "X must be 2-D (n_samples, n_features), 3-D (n_samples, H, W) or "
            f"4-D (n_samples, C, H, W) or (n_samples, H, W, C); got an array with "
            f"{X.ndim} dimension(s) "
            f"of shape {X.shape}."
        )
    if shape is not None and X.ndim == 2 and int(np.prod(shape)) != X.shape[1]:
        raise ValueError(
            f"image_shape={tuple(image_shape)} holds {int(np.prod(shape))} "
            f"values per image, but X has {X.shape[1]} features per row."
        )
    return X.reshape(X.shape[0], -1), shape


def check_image_shape(given_shape, image_shape, fitted_shape):
    """Refuse images of ``image_shape`` (C, H, W), read from an array of
    ``given_shape``, for a model fitted on images of ``fitted_shape``; the
    message says how to mend the two common slips, one image passed
    without its leading axis and images of another size. ``image_shape``
    None (rows of a 2-D array) is refused only as a single grey image."""
    c, h, w = fitted_shape
    one_image = tuple(given_shape) in ((h, w), (c, h, w), (h, w, c))
    if image_shape is None:  # rows: refused only where they cannot be rows of this model
        one_image = one_image and c == 1 and given_shape[1] != h * w
    if image_shape == fitted_shape or (image_shape is None and not one_image):
        return
    held = (f"{given_shape[0]} rows of {given_shape[1]} values" if image_shape is None
            else f"images of shape {image_shape} (C, H, W)")
    message = (f"X of shape {tuple(given_shape)} holds {held}, but the estimator was fitted "
               f"on images of shape {fitted_shape}.")
    if one_image:
        message += " To pass one image, keep its leading axis: X[None] or X[i:i + 1]."
    elif image_shape[0] == c:
        message += (f" Resize them to {h}x{w} first (load_image_folder(path, "
                    f"image_size={h}) reads a folder at that size).")
    raise ValueError(message)


def channels_last(shape, channel_axis="auto"):
    """Whether a 4-D array of ``shape`` holds channels-last ``(n, H, W, C)`` images.

    ``channel_axis`` 1 or -1 says so; "auto" reads channels-last when the
    last axis has at most :data:`MAX_CHANNELS_LAST` entries and axis 1 more,
    and channels-first otherwise: only images at most 4 pixels wide and
    channels-last need ``channel_axis=-1``.
    """
    if channel_axis not in CHANNEL_AXES:
        raise ValueError(f"channel_axis must be one of {CHANNEL_AXES}; got {channel_axis!r}.")
    if channel_axis == "auto":
        return shape[-1] <= MAX_CHANNELS_LAST < shape[1]
    return channel_axis == -1


def _as_chw(image_shape):
    shape = tuple(int(s) for s in image_shape)
    if len(shape) == 2:
        shape = (1,) + shape
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            "image_shape must be (H, W) or (C, H, W) with positive sizes; "
            f"got {image_shape!r}."
        )
    return shape


def fit_layout(X2d, image_shape, multiple):
    """Learn the layout and scaling of the rows ``X2d``.

    Parameters
    ----------
    X2d : ndarray of shape (n_samples, n_features)
    image_shape : tuple (C, H, W) or None
        Known image shape; None lets the number of features decide.
    multiple : int
        The padded height and width are rounded up to a multiple of this
        (``2 ** n_downsamplings`` of the U-Net), and to at least twice it.
    """
    d = X2d.shape[1]
    side = math.isqrt(d)
    if image_shape is None and side * side == d and side >= _MIN_IMAGE_SIDE:
        image_shape = (1, side, side)
    if image_shape is not None:
        kind = "image"
        # Channels carry their own ranges (a photo's blue rarely spans what
        # its red does), so each is scaled alone, over all its pixels.
        per_channel = X2d.reshape(X2d.shape[0], image_shape[0], -1)
        lo = per_channel.min(axis=(0, 2)).astype(np.float64)
        hi = per_channel.max(axis=(0, 2)).astype(np.float64)
        offset, scale = lo, _inverse_half_span(hi - lo)
    else:
        kind = "table"
        side = max(math.ceil(math.sqrt(d)), 2)
        image_shape = (1, side, side)
        # Columns of a table carry their own units, so each is scaled alone.
        lo, hi = X2d.min(axis=0), X2d.max(axis=0)
        offset, scale = lo.astype(np.float64), _inverse_half_span((hi - lo).astype(np.float64))
    _, h, w = image_shape
    # At least two pixels a side at the U-Net's deepest level: on a 1x1 map a
    # GroupNorm group of one channel holds a single value per image, which
    # torch refuses for a batch of one (the last batch of an epoch, or
    # predicting one sample), and every 3x3 convolution there sees only its
    # centre tap.
    padded = tuple(max(_round_up(side, multiple), 2 * multiple) for side in (h, w))
    return InputLayout(kind, tuple(int(s) for s in image_shape), padded, offset, scale)


def _inverse_half_span(span):
    """``2 / span``, and 1 where the span is 0 (a constant stays at -1)."""
    return np.where(span > 0, 2.0 / np.where(span > 0, span, 1.0), 1.0)


def _round_up(n, multiple):
    return int(math.ceil(n / multiple) * multiple)


def count_distinct_rows(X, stop_at):
    """Number of distinct rows of ``X``, counted up to ``stop_at``.

    Rows are compared by their bytes, in order, and counting stops as soon as
    ``stop_at`` distinct rows were seen: on real data that is within the
    first few rows, where ``np.unique(X, axis=0)`` would sort all of ``X``.
    """
    seen = set()
    for row in X:
        # Adding 0.0 turns -0.0 (equal to 0.0, with other bytes) into 0.0.
        seen.add((row + 0.0).tobytes())
        if len(seen) >= stop_at:
            break
    return len(seen)
