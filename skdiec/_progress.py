"""Progress bars: silent at ``verbose=0``, tqdm bars with the running loss above."""

from tqdm.auto import tqdm


def progress(iterable, verbose, **kwargs):
    return tqdm(iterable, disable=not verbose, leave=verbose >= 2, **kwargs)
