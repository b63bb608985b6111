"""Silhouette with independent per-sample noise (averaged over draws) as a criterion."""
import sys, numpy as np, torch
from diffusers import UNet2DModel
from sklearn.datasets import load_digits
from sklearn.cluster import AgglomerativeClustering
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score
from scipy.stats import spearmanr
from skdiec import _features, _backbone, _input
from skdiec.metrics import clustering_accuracy as acc
torch.set_num_threads(2)
X, y = load_digits(return_X_y=True)
unet = UNet2DModel.from_pretrained(sys.argv[1]).eval()
layout = _input.fit_layout(X, None, 4); Xi = layout.to_tensor(X)
sched = _backbone.make_scheduler()
bank = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
sub = np.sort(np.random.RandomState(0).choice(len(X), 1000, replace=False)); ys = y[sub]
names = list(_features.candidate_layers(unet))
g = torch.Generator().manual_seed(1)
R = []
for t in [1, 10, 25, 50, 100, 200, 400]:
    shared = _features.extract_features(unet, sched, Xi[sub], t, names, bank, 'flatten', 256, 'cpu')
    indep = {n: 0 for n in names}
    with torch.no_grad():
        for d in range(4):
            eps = torch.randn(Xi[sub].shape, generator=g)
            tt = torch.full((len(sub),), t)
            maps = _features.layer_activations(unet, sched.add_noise(Xi[sub], eps, tt), tt, names)
            for n in names:
                indep[n] = indep[n] + maps[n].flatten(1).numpy() / 4
    for n in names:
        pca = PCA(32, random_state=0).fit(shared[n]); Z = pca.transform(shared[n])
        w = AgglomerativeClustering(10).fit_predict(Z)
        Zi = PCA(32, random_state=0).fit_transform(indep[n]); wi = AgglomerativeClustering(10).fit_predict(Zi)
        r = dict(t=t, n=n, acc=acc(ys, w), sil=silhouette_score(Z, w), sil_indep=silhouette_score(Zi, wi))
        R.append(r); print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}, flush=True)
A = lambda k: np.array([r[k] for r in R])
for c in ['sil', 'sil_indep']:
    b = int(np.argmax(A(c))); print(c, 'spearman', round(spearmanr(A('acc'), A(c))[0], 3), 'picked', R[b]['n'], R[b]['t'], 'acc', round(R[b]['acc'], 3))
    col = max(set(A('n')), key=lambda n: np.mean([r[c] for r in R if r['n'] == n]))
    best = max([r for r in R if r['n'] == col], key=lambda r: r[c]); print(c, 'two-stage', col, best['t'], round(best['acc'], 3))
