"""Estimator parameters from a study's command line: ``NAME=VALUE`` pairs
whose values are Python literals (``n_cells=5``, ``search_score='consensus'``)."""

import ast


def parse(pairs):
    """``{NAME: value}`` from ``NAME=VALUE`` strings, each value read by
    :func:`ast.literal_eval`; a pair without ``=`` or with a value that is
    not a literal stops the study with a message naming it."""
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"expected NAME=VALUE, got {pair!r}")
        try:
            params[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise SystemExit(f"{name}: {value!r} is not a Python literal "
                             "(quote strings twice on a shell: name=\"'text'\")") from None
    return params
