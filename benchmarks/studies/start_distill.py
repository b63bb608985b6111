import sys
import time
import numpy as np
import torch
sys.path.insert(0, __file__.rsplit('/', 2)[0])
from _data import load  # noqa: E402
from skdiec import _features, _backbone, _input, _dec, _model  # noqa: E402
from skdiec.metrics import clustering_accuracy as acc  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
import umap  # noqa: E402
torch.manual_seed(0)
ds, bb, cell, variant = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
X, y = load(ds)
X = X.reshape(len(X), -1)
layout = _input.fit_layout(X, None, 4)
Xi = layout.to_tensor(X)
unet = _backbone.build_unet(layout.image_shape[0], layout.padded_shape, (32, 64, 64),
                            layers_per_block=1, seed=0)
unet.load_state_dict(torch.load(bb, weights_only=True)['unet'])
unet.eval()
sched = _backbone.make_scheduler()
g = torch.Generator().manual_seed(0)
bank = torch.randn(4, *Xi.shape[1:], generator=g)
col, cot = cell.split('@')
cot = int(cot)
sub = np.sort(np.random.RandomState(0).choice(len(X), 1000, replace=False))
F = _features.extract_features(unet, sched, Xi[sub], cot, [col], bank, 'flatten', 256, 'cpu')[col]
head = _model.FeatureHead.fit(F, 32, 0)
emb = _dec.Embedder(unet, sched, head, col, cot, bank, 'flatten')


def um(Z):
    U = umap.UMAP(n_components=10, n_neighbors=15, min_dist=0.0, random_state=0,
                  n_jobs=1).fit_transform(Z)
    return KMeans(10, n_init=10, random_state=0).fit_predict(U)


Z = emb.embed(Xi, 256, 'cpu').numpy()
t = time.time()
lu = um(Z)
print('umap labels', acc(y, lu), round(time.time() - t, 1), flush=True)
C = np.stack([Z[lu == k].mean(0) for k in range(10)])
print('nearest centroid', acc(y, ((Z[:, None] - C[None])**2).sum(-1).argmin(1)), flush=True)
T = torch.full((len(X), 10), 0.1 / 10)
T[torch.arange(len(X)), torch.as_tensor(lu)] += 0.9
orig = _dec.target_distribution
calls = [0]


def patched(q):
    calls[0] += 1
    if variant == 'fixed' or (variant == 'first' and calls[0] == 1):
        return T.clone()
    return orig(q)


_dec.target_distribution = patched
centers = torch.nn.Parameter(torch.as_tensor(C, dtype=torch.float32))
t = time.time()
max_iter = int(sys.argv[5]) if len(sys.argv) > 5 else 300
n, hist = _dec.fine_tune(emb, Xi, centers, sched, alpha=1.0, max_iter=max_iter,
                         update_interval=30, tol=1e-3 if variant != 'fixed' else -1,
                         denoising_weight=1.0, learning_rate=1e-4, batch_size=256,
                         train_batch_size=64, generator=g, device='cpu')
print('fine-tune', n, round(time.time() - t, 1),
      [round(h['labels_changed'], 3) for h in hist], flush=True)
Z2 = emb.embed(Xi, 256, 'cpu')
q = _model.soft_assignment(Z2, centers.detach(), 1.0)
print('final DEC labels ACC', acc(y, q.argmax(1).numpy()), flush=True)
print('final umap ACC', acc(y, um(Z2.numpy())), flush=True)
