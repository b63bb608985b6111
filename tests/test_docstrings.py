"""The examples in the public docstrings run and print what they show."""

import doctest

import pytest

import skdiec._estimator
import skdiec._pretrain
import skdiec.metrics
import skdiec.plotting


@pytest.mark.parametrize("module", [skdiec._estimator, skdiec._pretrain, skdiec.metrics,
                                    skdiec.plotting],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
