"""Silhouette minus the silhouette of a Gaussian null with the same PCA spectrum."""
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
rng = np.random.RandomState(0)
R = []
for t in [1, 10, 25, 50, 100, 200, 400]:
    F = _features.extract_features(unet, sched, Xi[sub], t, names, bank, 'flatten', 256, 'cpu')
    for n in names:
        Z = PCA(32, random_state=0).fit_transform(F[n])
        w = AgglomerativeClustering(10).fit_predict(Z)
        sil = silhouette_score(Z, w)
        refs = []
        for b in range(3):
            Zr = rng.standard_normal(Z.shape) * Z.std(axis=0)
            refs.append(silhouette_score(Zr, AgglomerativeClustering(10).fit_predict(Zr)))
        ref = np.mean(refs)
        r = dict(t=t, n=n, acc=acc(ys, w), sil=sil, ref=ref, gap=sil - ref, ratio=sil / ref)
        R.append(r); print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}, flush=True)
A = lambda k: np.array([r[k] for r in R])
for c in ['sil', 'gap', 'ratio']:
    b = int(np.argmax(A(c))); print(c, 'spearman', round(spearmanr(A('acc'), A(c))[0], 3), 'picked', R[b]['n'], R[b]['t'], 'acc', round(R[b]['acc'], 3))
    col = max(set(A('n')), key=lambda n: np.mean([r[c] for r in R if r['n'] == n]))
    best = max([r for r in R if r['n'] == col], key=lambda r: r[c]); print(c, 'two-stage', col, best['t'], round(best['acc'], 3))
