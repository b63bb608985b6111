import numpy as np
import pytest
import torch

from skdiec import _backbone, _features


@pytest.fixture(scope="module")
def unet():
    return _backbone.build_unet(1, (8, 8), (8, 16, 16), layers_per_block=1, seed=0).eval()


def test_candidate_layer_names(unet):
    names = list(_features.candidate_layers(unet))
    assert names == ["down.0", "down.1", "down.2", "mid", "up.0", "up.1", "up.2"]


def test_up_layers_are_taken_before_the_upsampler(unet):
    x = torch.randn(2, 1, 8, 8)
    t = torch.tensor([5, 5])
    maps = _features.layer_activations(unet, x, t, ["up.0", "up.1", "up.2", "down.0"])
    # up.0 runs at the bottleneck size (2x2) and is up-sampled only after.
    assert maps["up.0"].shape[-1] == 2
    assert maps["up.1"].shape[-1] == 4
    assert maps["up.2"].shape[-1] == 8
    assert maps["down.0"].shape[-1] == 4  # down blocks end with their down-sampler


def test_truncated_forward_equals_full_forward(unet):
    x = torch.randn(3, 1, 8, 8)
    t = torch.tensor([10, 10, 10])
    names = list(_features.candidate_layers(unet))
    with torch.no_grad():
        full = _features.layer_activations(unet, x, t, names)  # stops after up.2: all of it
        for name in names:
            alone = _features.layer_activations(unet, x, t, [name])
            torch.testing.assert_close(alone[name], full[name], rtol=0, atol=0)


def test_truncated_forward_skips_later_layers(unet):
    calls = []
    handle = unet.up_blocks[0].register_forward_hook(lambda *a: calls.append(1))
    try:
        with torch.no_grad():
            _features.layer_activations(unet, torch.randn(1, 1, 8, 8), torch.tensor([1]), ["mid"])
    finally:
        handle.remove()
    assert calls == []


@pytest.mark.parametrize("pooling,dim", [("avg", 16), ("max", 16), ("avgmax", 32),
                                         ("flatten", 16 * 2 * 2), (1, 16)])
def test_pooling_shapes(unet, pooling, dim):
    bank = torch.randn(2, 1, 8, 8)
    feats = _features.extract_features(unet, _backbone.make_scheduler(), torch.randn(5, 1, 8, 8),
                                       20, ["mid"], bank, pooling, 4, "cpu")
    assert feats["mid"].shape == (5, dim)


def test_features_do_not_depend_on_the_batch(unet):
    sched = _backbone.make_scheduler()
    X = torch.randn(9, 1, 8, 8)
    bank = torch.randn(3, 1, 8, 8)
    whole = _features.extract_features(unet, sched, X, 50, ["up.1"], bank, "flatten", 64, "cpu")
    small = _features.extract_features(unet, sched, X, 50, ["up.1"], bank, "flatten", 3, "cpu")
    part = _features.extract_features(unet, sched, X[:4], 50, ["up.1"], bank, "flatten", 64, "cpu")
    np.testing.assert_allclose(whole["up.1"], small["up.1"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(whole["up.1"][:4], part["up.1"], rtol=1e-5, atol=1e-6)


def test_features_average_the_noise_bank(unet):
    sched = _backbone.make_scheduler()
    X = torch.randn(4, 1, 8, 8)
    bank = torch.randn(2, 1, 8, 8)
    both = _features.extract_features(unet, sched, X, 30, ["mid"], bank, "avg", 64, "cpu")["mid"]
    each = [_features.extract_features(unet, sched, X, 30, ["mid"], bank[k:k + 1], "avg", 64,
                                       "cpu")["mid"] for k in range(2)]
    np.testing.assert_allclose(both, (each[0] + each[1]) / 2, rtol=1e-5, atol=1e-6)


def test_unknown_layer_name(unet):
    with pytest.raises(ValueError, match="unknown layer name.*'up.9'"):
        _features.check_layer_names(unet, ["mid", "up.9"])
