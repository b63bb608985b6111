"""Small torch helpers shared by the stages: devices, private RNGs and
batched passes that survive running out of GPU memory."""

from contextlib import contextmanager
import re
import warnings

import torch

_CUDA_NAME = re.compile(r"^cuda(:\d+)?$")


def parse_device(device):
    """The ``device`` parameter as a :class:`torch.device`, whether or not
    this machine has it: an error only for what is no CPU or CUDA device.

    ``"auto"`` picks the first CUDA device when one is usable, else the CPU.
    """
    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif isinstance(device, str) and (device == "cpu" or _CUDA_NAME.match(device)):
        dev = torch.device(device)
    else:
        raise ValueError(
            "device must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device; "
            f"got {device!r}."
        )
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device={device!r}: only CPU and CUDA devices are supported.")
    return dev


def resolve_device(device):
    """Turn the ``device`` parameter into a :class:`torch.device` this
    machine has (:func:`parse_device`).

    Asking for CUDA on a machine without it is an error, never a silent
    fallback, so that a user who asked for a GPU knows they did not get one.
    """
    dev = parse_device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} asks for CUDA, but torch.cuda.is_available() "
                "is False on this machine (no GPU, or a CPU-only build of torch). "
                "Use device='cpu' or device='auto'."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r}: this machine has {torch.cuda.device_count()} "
                "CUDA device(s)."
            )
    return dev


def make_generator(seed):
    """A CPU generator: random numbers are drawn on the CPU and then moved, so
    the same seed gives the same numbers whatever the device."""
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    return gen


@contextmanager
def isolated_torch_rng(seed):
    """Run a block with torch's global RNG seeded, then restore its state.

    Needed where torch draws from its global RNG with no way to pass a
    generator (module initialisation): the caller's RNG state is left as it
    was.
    """
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@contextmanager
def torch_threads_kept():
    """Give torch back its number of threads when the block ends.

    numba (inside UMAP) resets the OpenMP thread count that torch shares on
    its first parallel launch: without this, every later pretraining or
    prediction in the process would run on another number of threads than
    the user chose, with other float rounding and so other results.
    """
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def adam_eps(params, default=1e-8):
    """Adam's ``eps`` for ``params``: ``default``, unless it rounds to zero in
    their dtype (float16), where a zero second moment would then divide 0 by 0."""
    smallest = max(torch.finfo(p.dtype).tiny for p in params)
    return max(default, smallest)


def make_adam(params, learning_rate, decoupled=False):
    """Adam over ``params`` (AdamW without weight decay when ``decoupled``),
    with torch's fused kernel where it has one for their device and dtype.

    The fused kernel updates every tensor in one call: on a CPU the default
    loop over the U-Net's tensors took a tenth of a pretraining step at
    8x8, the fused update a third of that (Design notes, "Cost"). Its
    arithmetic is Adam's, rounded differently.
    """
    params = list(params)  # read twice here, and again on a fallback
    optimizer_class = torch.optim.AdamW if decoupled else torch.optim.Adam
    options = {"lr": learning_rate, "eps": adam_eps(params)}
    if decoupled:
        options["weight_decay"] = 0.0
    try:
        return optimizer_class(params, fused=True, **options)
    except (RuntimeError, TypeError):  # no fused kernel for this device (or torch < 2.4)
        return optimizer_class(params, **options)


def randn(shape, generator, device, dtype=torch.float32):
    return torch.randn(shape, generator=generator, dtype=dtype).to(device)


def randint(high, size, generator, device):
    return torch.randint(0, high, size, generator=generator).to(device)


class OutOfMemoryWarning(RuntimeWarning):
    """CUDA ran out of memory, and DiEC retried with smaller batches.

    Feature extraction and prediction give the same result with any batch
    size (up to float rounding), and training steps accumulate gradients
    over the smaller batches, so the optimisation is unchanged too; only
    speed suffers. Lower ``batch_size`` (or ``train_batch_size``) to avoid
    the retries. A batch of one image that does not fit, and running out of
    memory outside the batched passes (in an optimiser step, say), still
    raise ``torch.cuda.OutOfMemoryError``.
    """


def map_batches(fn, n, batch_size, what, restart=None):
    """Apply ``fn(start, stop)`` to consecutive slices of ``range(n)``.

    When a slice raises ``torch.cuda.OutOfMemoryError``, it is halved and
    retried with an :class:`OutOfMemoryWarning`; a slice of one sample that
    still does not fit re-raises the error. Without ``restart`` the results
    of earlier slices are kept, which suits slices that are independent.
    With it, ``restart()`` is called and the whole range is redone with the
    smaller slices, for slices with side effects that a failure can leave
    half done (gradients).

    Returns
    -------
    results : list
        ``fn``'s result for each slice, in order.
    batch_size : int
        The slice size that fitted, for the caller's next pass.
    """
    results, start = [], 0
    while start < n:
        stop = min(n, start + batch_size)
        try:
            results.append(fn(start, stop))
            start = stop
            continue
        except torch.cuda.OutOfMemoryError:
            if stop - start <= 1:
                raise
        # Out of the except block the traceback is gone, and with it the
        # frames holding the failed batch's activations (freed by reference
        # counting), so the cache can give their memory back.
        torch.cuda.empty_cache()
        batch_size = (stop - start) // 2
        warnings.warn(
            f"CUDA ran out of memory in {what} on a batch of {stop - start} images; "
            f"retrying with batch size {batch_size}.",
            OutOfMemoryWarning,
            stacklevel=2,
        )
        if restart is not None:
            restart()
            results, start = [], 0
    return results, batch_size


def backward_in_batches(loss_fn, n, batch_size, optimizer, what):
    """Backpropagate the mean loss over ``n`` samples, in slices that fit in memory.

    ``loss_fn(start, stop)`` returns a tuple of scalar tensors, the mean loss
    terms over samples ``start:stop``; the first one is backpropagated. Each
    slice is weighted by its share of ``n``, so the accumulated gradient is
    that of one pass over all ``n``. The optimiser's gradients are zeroed
    first, and again before the step is redone after running out of
    memory (see :func:`map_batches`): memory can run out in the middle of a
    backward pass, when some weights already hold the failed slice's
    gradient and others do not. So no half-accumulated gradient reaches
    ``optimizer.step()``, which the caller runs once this returns.

    Returns the detached totals of the loss terms and the slice size that
    fitted.
    """
    def run(start, stop):
        terms = loss_fn(start, stop)
        weight = (stop - start) / n
        (terms[0] * weight).backward()
        return [term.detach() * weight for term in terms]

    def zero_grad():
        optimizer.zero_grad(set_to_none=True)

    zero_grad()
    parts, batch_size = map_batches(run, n, batch_size, what, restart=zero_grad)
    return [sum(terms) for terms in zip(*parts)], batch_size
