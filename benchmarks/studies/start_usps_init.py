import sys
import time
import numpy as np
import torch
sys.path.insert(0, __file__.rsplit('/', 2)[0])
from _data import load  # noqa: E402
from skdiec import _features, _backbone, _input  # noqa: E402
from skdiec.metrics import clustering_accuracy  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.cluster import KMeans, SpectralClustering, AgglomerativeClustering  # noqa: E402
from sklearn.metrics import normalized_mutual_info_score as nmi  # noqa: E402
ds, bb, cells = sys.argv[1], sys.argv[2], sys.argv[3].split(',')
X, y = load(ds)
X = X.reshape(len(X), -1)
layout = _input.fit_layout(X, None, 4)
Xi = layout.to_tensor(X)
unet = _backbone.build_unet(layout.image_shape[0], layout.padded_shape, (32, 64, 64),
                            layers_per_block=1, seed=0)
unet.load_state_dict(torch.load(bb, weights_only=True)['unet'])
unet.eval()
sched = _backbone.make_scheduler()
bank = torch.randn(4, *Xi.shape[1:], generator=torch.Generator().manual_seed(0))
rs = np.random.RandomState(0)
out = {}
for cell in cells:
    name, t = cell.split('@')
    t = int(t)
    tic = time.time()
    F = _features.extract_features(unet, sched, Xi, t, [name], bank, 'flatten', 256, 'cpu')[name]
    sub = rs.choice(len(X), 3000, replace=False)
    Z = PCA(32, random_state=0).fit(F[sub]).transform(F).astype(np.float64)

    print(cell, 'feat', round(time.time() - tic, 1), flush=True)

    def rep(tag, lab):
        print(f'  {cell} {tag}: ACC {clustering_accuracy(y, lab):.3f} '
              f'NMI {nmi(y, lab):.3f}', flush=True)
    rep('kmeans', KMeans(10, n_init=10, random_state=0).fit_predict(Z))
    w = AgglomerativeClustering(10).fit_predict(Z[sub])
    C = np.stack([Z[sub][w == k].mean(0) for k in range(10)])
    rep('ward-sub-centres', ((Z[:, None] - C[None])**2).sum(-1).argmin(1))
    for nn in (10, 30):
        tic = time.time()
        lab = SpectralClustering(10, affinity='nearest_neighbors', n_neighbors=nn,
                                 assign_labels='cluster_qr', random_state=0,
                                 n_jobs=1).fit_predict(Z)
        rep(f'spectral nn={nn} ({time.time()-tic:.0f}s)', lab)
    try:
        import umap
        tic = time.time()
        U = umap.UMAP(n_components=10, n_neighbors=15, min_dist=0.0,
                      random_state=0).fit_transform(Z)
        rep(f'umap+kmeans ({time.time()-tic:.0f}s)',
            KMeans(10, n_init=10, random_state=0).fit_predict(U))
    except Exception as e:
        print('umap failed', e)
