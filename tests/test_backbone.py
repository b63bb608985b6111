import numpy as np
import pytest
import torch
from diffusers import UNet2DModel

from skdiec import _backbone
from skdiec._torch_utils import make_adam, make_generator


def tiny_unet(seed=0, in_channels=1):
    return _backbone.build_unet(in_channels, (8, 8), (8, 16), layers_per_block=1, seed=seed)


def test_build_is_seeded_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a, b = tiny_unet(0), tiny_unet(0)
    assert torch.equal(state, torch.get_rng_state())
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    c = tiny_unet(1)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_groupnorm_groups_divide_odd_widths():
    unet = _backbone.build_unet(1, (8, 8), (12, 18), layers_per_block=1, seed=0)
    assert unet.config.norm_num_groups == 6
    assert _backbone.downsampling_factor(unet) == 2


@pytest.mark.parametrize("channels", [(8,), (8, 16), (8, 16, 16), (8, 16, 16, 32)])
def test_built_downsampling_factor_is_the_built_unets(channels):
    # Images are padded to this multiple before the U-Net is built, so it
    # must agree with what the built model reports.
    side = 2 ** len(channels)
    unet = _backbone.build_unet(1, (side, side), channels, layers_per_block=1, seed=0)
    assert _backbone.downsampling_factor(unet) == _backbone.built_downsampling_factor(channels)


def test_pretraining_lowers_the_ddpm_loss():
    torch.manual_seed(0)
    X = torch.rand(64, 1, 8, 8) * 2 - 1
    unet = tiny_unet()
    history = _backbone.pretrain(unet, X, _backbone.make_scheduler(), epochs=8, batch_size=32,
                                 learning_rate=3e-3, generator=make_generator(0),
                                 device=torch.device("cpu"))
    assert len(history) == 8 and np.all(np.isfinite(history))
    assert history[-1] < history[0]
    assert not unet.training


@pytest.mark.parametrize("n_steps", [19, 20, 21])
def test_pretraining_schedules_of_any_length_run(n_steps):
    # 20 steps is 1 / WARMUP_SHARE: a warm-up of zero steps, on which
    # OneCycleLR divided by zero (DiEC(pretrain_epochs=4) on 320 images).
    X = torch.rand(4 * n_steps, 1, 8, 8) * 2 - 1
    history = _backbone.pretrain(tiny_unet(), X, _backbone.make_scheduler(), epochs=1,
                                 batch_size=4, learning_rate=1e-3,
                                 generator=make_generator(0), device=torch.device("cpu"))
    assert len(history) == 1 and np.isfinite(history[0])


def test_pretraining_draws_timesteps_below_max_timestep(monkeypatch):
    seen = []
    real = _backbone.denoising_loss

    def spy(unet, x0, scheduler, eps, t):
        seen.append(t.clone())
        return real(unet, x0, scheduler, eps, t)

    monkeypatch.setattr(_backbone, "denoising_loss", spy)
    X = torch.rand(64, 1, 8, 8) * 2 - 1
    _backbone.pretrain(tiny_unet(), X, _backbone.make_scheduler(), epochs=2, batch_size=16,
                       learning_rate=1e-3, generator=make_generator(0),
                       device=torch.device("cpu"), max_timestep=50)
    t = torch.cat(seen)
    assert t.numel() == 128 and t.min() >= 0 and t.max() < 50
    # Without a bound the whole schedule is used.
    _, t_all = _backbone.draw_noise((4000, 1, 2, 2), _backbone.make_scheduler(),
                                    make_generator(0))
    assert t_all.max() > 900
    # A bound above a shorter schedule's steps is cut to them.
    from diffusers import DDPMScheduler

    _, t_short = _backbone.draw_noise((4000, 1, 2, 2), DDPMScheduler(num_train_timesteps=100),
                                      make_generator(0), max_timestep=300)
    assert t_short.max() == 99


def test_instance_is_deep_copied(tmp_path):
    unet = tiny_unet()
    copied = _backbone.load_unet(unet)
    assert copied is not unet
    with torch.no_grad():
        next(copied.parameters()).add_(1.0)
    assert not torch.equal(next(copied.parameters()), next(unet.parameters()))


def test_folder_and_pipeline_folder_load(tmp_path):
    unet = tiny_unet()
    unet.save_pretrained(tmp_path / "unet_only")
    unet.save_pretrained(tmp_path / "pipeline" / "unet")
    for folder in (tmp_path / "unet_only", tmp_path / "pipeline"):
        loaded = _backbone.load_unet(folder)
        for pa, pb in zip(unet.parameters(), loaded.parameters()):
            assert torch.equal(pa, pb)


def test_unknown_hub_id_offline_gives_a_clear_error():
    with pytest.raises(ValueError, match="not a local folder.*save_pretrained"):
        _backbone.load_unet("no-such-user/no-such-model")


def test_unet_that_cannot_take_the_images():
    with pytest.raises(ValueError, match="expects 1 input channel.*3 channel"):
        _backbone.check_unet_fits(tiny_unet(), (3, 8, 8))
    odd = UNet2DModel(sample_size=8, in_channels=1, out_channels=2, block_out_channels=(8, 16),
                      layers_per_block=1, down_block_types=("DownBlock2D",) * 2,
                      up_block_types=("UpBlock2D",) * 2, norm_num_groups=8)
    with pytest.raises(ValueError, match="output as many channels"):
        _backbone.check_unet_fits(odd, (1, 8, 8))


def test_adam_is_fused_where_torch_has_the_kernel_and_plain_elsewhere(monkeypatch):
    params = [torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2, 2))]
    fused = make_adam(params, 1e-3, decoupled=True)
    assert isinstance(fused, torch.optim.AdamW) and fused.defaults["weight_decay"] == 0.0
    assert fused.defaults["fused"]  # torch >= 2.4 has a CPU kernel
    real_adam = torch.optim.Adam

    def no_fused_kernel(params, fused=None, **options):
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be on a supported device")
        return real_adam(params, **options)

    monkeypatch.setattr(torch.optim, "Adam", no_fused_kernel)
    plain = make_adam(params, 1e-3)
    assert isinstance(plain, real_adam) and not plain.defaults.get("fused")
    # Same arithmetic: one step of each moves the parameters alike.
    a = [p.detach().clone().requires_grad_() for p in params]
    b = [p.detach().clone().requires_grad_() for p in params]
    for group, optimizer in ((a, make_adam(a, 1e-2)), (b, real_adam(b, lr=1e-2))):
        sum((p ** 2).sum() for p in group).backward()
        optimizer.step()
    for pa, pb in zip(a, b):
        torch.testing.assert_close(pa, pb)
