import numpy as np
import pytest
import torch

from skdiec import _dec


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
    q = _dec.soft_assignment(torch.tensor(z), torch.tensor(mu), alpha).numpy()
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
    p = _dec.target_distribution(_dec.soft_assignment(z, mu, 1.0)).detach()
    opt = torch.optim.SGD([mu], lr=0.1)
    before = _dec.kl_divergence(p, _dec.soft_assignment(z, mu, 1.0)).item()
    for _ in range(20):
        loss = _dec.kl_divergence(p, _dec.soft_assignment(z, mu, 1.0))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < before


def test_far_points_do_not_give_nan():
    z = torch.full((3, 2), 1e20)
    mu = torch.zeros(2, 2)
    q = _dec.soft_assignment(z, mu, 1.0)
    assert torch.isfinite(q).all()
    p = _dec.target_distribution(q)
    assert torch.isfinite(_dec.kl_divergence(p, q))


def test_empty_cluster_is_reseeded():
    Z = torch.tensor([[0.0], [0.1], [5.0], [5.1], [2.6]])
    centers = torch.nn.Parameter(torch.tensor([[0.0], [5.0], [100.0]]))
    q = _dec.soft_assignment(Z, centers, 1.0)
    empty = _dec.reseed_empty_clusters(Z, q, centers)
    assert empty == [2]
    # Moved onto the least confident sample (2.6, half-way between clusters).
    assert centers[2].item() == pytest.approx(2.6)


def test_feature_head_is_the_pca_projection():
    from sklearn.decomposition import PCA

    F = np.random.RandomState(0).normal(size=(40, 6))
    head = _dec.FeatureHead.fit(F, 3, 0)
    expected = PCA(3, random_state=0).fit_transform(F)
    np.testing.assert_allclose(head(torch.tensor(F, dtype=torch.float32)).numpy(), expected,
                               rtol=1e-4, atol=1e-5)
