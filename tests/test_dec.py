import numpy as np
import pytest
import torch

from skdiec import _dec, _model

from .conftest import fine_tune_tiny, tiny_embedder


def hand_q(z, mu, alpha):
    q = np.zeros((len(z), len(mu)))
    for i in range(len(z)):
        for j in range(len(mu)):
            q[i, j] = (1 + np.sum((z[i] - mu[j]) ** 2) / alpha) ** (-(alpha + 1) / 2)
        q[i] /= q[i].sum()
    return q


@pytest.mark.parametrize("alpha", [1.0, 0.5, 3.0])
def test_soft_assignment_matches_hand_computation(alpha):
    rng = np.random.RandomState(0)
    z, mu = rng.normal(size=(7, 3)), rng.normal(size=(4, 3))
    q = _model.soft_assignment(torch.tensor(z), torch.tensor(mu), alpha).numpy()
    np.testing.assert_allclose(q, hand_q(z, mu, alpha), rtol=1e-10)


def test_target_and_kl_match_hand_computation():
    rng = np.random.RandomState(1)
    q = rng.dirichlet(np.ones(3), size=6)
    f = q.sum(axis=0)
    p = q**2 / f
    p /= p.sum(axis=1, keepdims=True)
    kl = np.mean(np.sum(p * np.log(p / q), axis=1))
    p_t = _dec.target_distribution(torch.tensor(q))
    np.testing.assert_allclose(p_t.numpy(), p, rtol=1e-12)
    assert _dec.kl_divergence(p_t, torch.tensor(q)).item() == pytest.approx(kl, rel=1e-10)
    # KL(P||P) is 0, and the target is sharper than Q.
    assert _dec.kl_divergence(p_t, p_t).item() == pytest.approx(0, abs=1e-12)
    assert np.all(p.max(axis=1) >= q.max(axis=1) - 1e-12)


def test_kl_gradient_pulls_q_towards_p():
    z = torch.tensor([[0.0, 0.0], [3.0, 3.0]], requires_grad=False)
    mu = torch.nn.Parameter(torch.tensor([[0.5, 0.5], [2.0, 2.0]]))
    p = _dec.target_distribution(_model.soft_assignment(z, mu, 1.0)).detach()
    opt = torch.optim.SGD([mu], lr=0.1)
    before = _dec.kl_divergence(p, _model.soft_assignment(z, mu, 1.0)).item()
    for _ in range(20):
        loss = _dec.kl_divergence(p, _model.soft_assignment(z, mu, 1.0))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < before


def test_far_points_do_not_give_nan():
    z = torch.full((3, 2), 1e20)
    mu = torch.zeros(2, 2)
    q = _model.soft_assignment(z, mu, 1.0)
    assert torch.isfinite(q).all()
    p = _dec.target_distribution(q)
    assert torch.isfinite(_dec.kl_divergence(p, q))


def test_empty_cluster_is_reseeded():
    Z = torch.tensor([[0.0], [0.1], [5.0], [5.1], [2.6]])
    centers = torch.nn.Parameter(torch.tensor([[0.0], [5.0], [100.0]]))
    q = _model.soft_assignment(Z, centers, 1.0)
    empty = _dec.reseed_empty_clusters(Z, q, centers)
    assert empty == [2]
    # Moved onto the least confident sample (2.6, half-way between clusters).
    assert centers[2].item() == pytest.approx(2.6)


def test_feature_head_is_the_pca_projection():
    from sklearn.decomposition import PCA

    F = np.random.RandomState(0).normal(size=(40, 6))
    head = _model.FeatureHead.fit(F, 3, 0)
    expected = PCA(3, random_state=0).fit_transform(F)
    np.testing.assert_allclose(head(torch.tensor(F, dtype=torch.float32)).numpy(), expected,
                               rtol=1e-4, atol=1e-5)


DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]


def _extreme_cases(dtype):
    """(name, z, centres) for the configurations where DEC could divide 0 by 0."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(20, 4, generator=g).to(dtype)
    mu = torch.randn(3, 4, generator=g).to(dtype)
    big, tiny = torch.finfo(dtype).max / 2, torch.finfo(dtype).tiny
    # Half of the points at +big, half at -big: differences reach the dtype's max.
    z_big = torch.cat([torch.full((10, 4), big, dtype=dtype),
                       torch.full((10, 4), -big, dtype=dtype)])
    mu_big = torch.stack([torch.full((4,), big, dtype=dtype), torch.full((4,), -big, dtype=dtype),
                          torch.zeros(4, dtype=dtype)])
    return [
        ("spread", z, mu),
        ("identical centres", z, mu[:1].repeat(3, 1)),
        ("every point on one centre", mu[:1].repeat(20, 1), mu),
        ("collapsed: points and centres in one spot", mu[:1].repeat(20, 1),
         mu[:1].repeat(3, 1)),
        ("huge scale", z_big, mu_big),
        ("tiny scale", z * tiny, mu * tiny),
    ]


@pytest.mark.parametrize("case", range(6),
                         ids=[c[0] for c in _extreme_cases(torch.float32)])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_dec_step_is_finite_in_extreme_configurations(dtype, case):
    _, z, mu = _extreme_cases(dtype)[case]
    z, mu = z.clone().requires_grad_(True), torch.nn.Parameter(mu.clone())
    q = _model.soft_assignment(z, mu, 1.0)
    assert q.dtype == torch.promote_types(dtype, torch.float32)
    p = _dec.target_distribution(q.detach())
    loss = _dec.kl_divergence(p, q)
    loss.backward()
    for name, t in [("Q", q), ("P", p), ("KL", loss), ("dz", z.grad), ("dmu", mu.grad)]:
        assert torch.isfinite(t).all(), name
    torch.testing.assert_close(q.sum(dim=1).double(), torch.ones(20, dtype=torch.float64))
    assert loss.item() > -1e-6  # a KL divergence, up to rounding


def test_soft_assignment_of_far_float64_points_matches_the_relative_distances():
    # Squared, 1e200 overflows float64; the kernel must still rank the centres.
    z = torch.tensor([[1e200], [-1e200], [3e199]], dtype=torch.float64)
    mu = torch.tensor([[1e200], [-1e200]], dtype=torch.float64)
    q = _model.soft_assignment(z, mu, 1.0)
    assert torch.isfinite(q).all()
    # So far out the kernel is |z - mu| ** -(alpha + 1): scale-free.
    kernel = np.array([0.7, 1.3]) ** -2.0
    np.testing.assert_allclose(q[2].numpy(), kernel / kernel.sum(), rtol=1e-12)
    np.testing.assert_allclose(q[:2].numpy(), np.eye(2), atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_target_of_many_half_precision_assignments_is_finite(dtype):
    # float16 column sums overflow (max 65504) beyond ~2e5 samples of 3 clusters.
    q = torch.full((300_000, 3), 1 / 3).to(dtype)
    p = _dec.target_distribution(q)
    assert p.dtype == torch.float32 and torch.isfinite(p).all()
    np.testing.assert_allclose(p[:3].numpy(), 1 / 3, rtol=1e-3)


@pytest.mark.parametrize("dtype", DTYPES[1:], ids=str)
def test_empty_clusters_in_q_give_a_finite_target_and_loss(dtype):
    q = torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [1.0, 0.0, 0.0]]).to(dtype)
    p = _dec.target_distribution(q)
    assert torch.isfinite(p).all() and torch.all(p[:, 2] == 0)
    assert torch.isfinite(_dec.kl_divergence(p, q))


@pytest.mark.filterwarnings("ignore:There are modules in UNet2DModel")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_fine_tuning_a_half_precision_unet_stays_finite(dtype):
    # float16 used to give NaN at the second step: Adam's eps=1e-8 rounds to 0
    # in float16, and a parameter whose squared gradient underflows then
    # takes a 0/0 step.
    embedder, X = tiny_embedder(dtype)
    n_iter, centers, history = fine_tune_tiny(embedder, X, max_iter=6)
    assert n_iter == 6
    assert all(np.isfinite(h["loss"]) for h in history)
    assert torch.isfinite(centers).all()
    assert all(torch.isfinite(p).all() for p in embedder.unet.parameters())
    assert next(embedder.unet.parameters()).dtype == dtype
    assert torch.isfinite(embedder.embed(X, 64, "cpu")).all()


@pytest.mark.parametrize("n_rows", [1, 999, 1000, 1001, 2000, 4999])
def test_check_rows_keeps_at_most_the_bound_spread_over_the_rows(n_rows):
    rows = np.arange(0, 3 * n_rows, 3)  # sorted, as the search's subset is
    kept = _dec.check_rows(rows)
    assert np.isin(kept, rows).all()
    if n_rows <= _dec.CHECK_MAX_ROWS:
        np.testing.assert_array_equal(kept, rows)
    else:  # over half the bound, evenly spaced from the first rows to the last
        assert _dec.CHECK_MAX_ROWS // 2 < len(kept) <= _dec.CHECK_MAX_ROWS
        steps = np.diff(kept)
        assert kept[0] == rows[0] and (steps == steps[0]).all()
        assert rows[-1] - kept[-1] < steps[0]


@pytest.mark.parametrize("draws", [1, None])
def test_fine_tuning_kl_term_reads_fine_tune_draws_of_the_bank(monkeypatch, draws):
    # Each step's KL term forwards its batch once per draw it reads; the
    # denoising term its DENOISING_SHARE of the batch; checks embed all
    # draws without grad.
    monkeypatch.setattr(_dec, "FINE_TUNE_DRAWS", draws)
    embedder, X = tiny_embedder()
    n_bank = embedder.noise_bank.shape[0]
    sizes = []
    hook = embedder.unet.register_forward_pre_hook(
        lambda module, args: sizes.append((torch.is_grad_enabled(), args[0].shape[0])))
    try:
        n_iter, centers, history = fine_tune_tiny(embedder, X, max_iter=4)
    finally:
        hook.remove()
    batch = 16
    trained = {n for grad, n in sizes if grad}
    assert trained == {batch * (draws or n_bank), _dec.denoised_rows(batch)}
    assert all(n % n_bank == 0 for grad, n in sizes if not grad)  # every draw
    assert n_iter == 4 and all(np.isfinite(h["loss"]) for h in history)


def test_random_shift_moves_each_image_by_at_most_max_shift_repeating_its_edges():
    from skdiec._torch_utils import make_generator

    x = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).reshape(2, 3, 5, 7)
    assert _dec.random_shift(x, 0, make_generator(0)) is x
    moved = _dec.random_shift(x, 2, make_generator(0))
    assert moved.shape == x.shape
    again = _dec.random_shift(x, 2, make_generator(0))
    assert torch.equal(moved, again)  # the generator decides the offsets
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="replicate")
    for image, source in zip(moved, padded):
        windows = [(a, b) for a in range(5) for b in range(5)
                   if torch.equal(source[:, a:a + 5, b:b + 7], image)]
        assert windows, "each image is a window of its own edge-padded copy"
    offsets = {(a, b) for seed in range(20)
               for a in range(5) for b in range(5)
               if torch.equal(padded[0, :, a:a + 5, b:b + 7],
                              _dec.random_shift(x, 2, make_generator(seed))[0])}
    assert len(offsets) > 5  # the offsets vary, over both axes


def test_fine_tune_shift_moves_each_steps_batch_and_changes_the_training(monkeypatch):
    calls = []
    real = _dec.random_shift
    monkeypatch.setattr(_dec, "random_shift",
                        lambda x, s, g: calls.append((x.clone(), s)) or real(x, s, g))
    runs = {}
    for shift in (0, 1):
        monkeypatch.setattr(_dec, "FINE_TUNE_SHIFT", shift)
        embedder, X = tiny_embedder()
        n_iter, centers, history = fine_tune_tiny(embedder, X, max_iter=2)
        assert n_iter == 2 and all(np.isfinite(h["loss"]) for h in history)
        runs[shift] = centers
    assert [s for _, s in calls] == [0, 0, 1, 1]  # once per step, the switch's value
    # Each step's batch is drawn from X as it is, and only then shifted.
    assert all(any(torch.equal(x[0], row) for row in X) for x, _ in calls)
    assert not torch.equal(runs[0], runs[1])


@pytest.mark.parametrize("fails", [False, True], ids=["finishes", "raises"])
def test_fine_tune_head_trains_the_components_and_leaves_them_buffers(monkeypatch, fails):
    # The study switch makes the head's PCA components trainable for the
    # fine-tuning only: after it, finished or raising, they take no gradient
    # again and the U-Net is back in eval mode.
    monkeypatch.setattr(_dec, "FINE_TUNE_HEAD", True)
    if fails:  # a non-finite loss at the first step, as a too-high learning rate gives
        real_kl = _dec.kl_divergence
        monkeypatch.setattr(_dec, "kl_divergence", lambda p, q: real_kl(p, q) * float("nan"))
    embedder, X = tiny_embedder()
    before = [block.components.clone() for block in embedder.head.blocks]
    if fails:
        with pytest.raises(FloatingPointError, match="non-finite loss at step 1"):
            fine_tune_tiny(embedder, X, max_iter=4)
    else:
        n_iter, centers, history = fine_tune_tiny(embedder, X, max_iter=4)
        assert n_iter == 4
        assert any(not torch.equal(block.components, start)
                   for block, start in zip(embedder.head.blocks, before))
    assert not any(block.components.requires_grad for block in embedder.head.blocks)
    assert not embedder.unet.training
    assert [name for name, _ in embedder.head.named_parameters()] == []
