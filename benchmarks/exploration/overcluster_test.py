"""Ward over-clustering, then merging clusters by kNN-graph connectivity."""
import sys, numpy as np, torch
from diffusers import UNet2DModel
from sklearn.datasets import load_digits
from sklearn.cluster import AgglomerativeClustering
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from skdiec import _features, _backbone, _input
from skdiec.metrics import clustering_accuracy as acc
torch.set_num_threads(2)
X, y = load_digits(return_X_y=True)
unet = UNet2DModel.from_pretrained(sys.argv[1]).eval()
layout = _input.fit_layout(X, None, 4); Xi = layout.to_tensor(X)
sched = _backbone.make_scheduler()
bank = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def merge_by_graph(labels, idx, k):
    """Greedy merge of the pair of clusters with the most kNN edges between
    them, relative to sqrt(size_a * size_b), until k clusters remain."""
    labels = labels.copy()
    m = labels.max() + 1
    E = np.zeros((m, m))
    src = np.repeat(labels, idx.shape[1]); dst = labels[idx.ravel()]
    np.add.at(E, (src, dst), 1)
    E = E + E.T
    size = np.bincount(labels, minlength=m).astype(float)
    alive = list(range(m))
    while len(alive) > k:
        best, pair = -1, None
        for i in range(len(alive)):
            for j in range(i + 1, len(alive)):
                a, b = alive[i], alive[j]
                s = E[a, b] / np.sqrt(size[a] * size[b])
                if s > best:
                    best, pair = s, (a, b)
        a, b = pair
        E[a] += E[b]; E[:, a] += E[:, b]; E[a, a] = 0; size[a] += size[b]
        labels[labels == b] = a
        alive.remove(b)
    return np.unique(labels, return_inverse=True)[1]


for layer, t in [('up.0', 100), ('up.1', 200), ('up.0', 140), ('down.2', 50), ('mid', 100)]:
    F = _features.extract_features(unet, sched, Xi, t, [layer], bank, 'flatten', 256, 'cpu')[layer]
    Z = PCA(32, random_state=0).fit_transform(F)
    idx = NearestNeighbors(n_neighbors=11).fit(Z).kneighbors(Z, return_distance=False)[:, 1:]
    w = AgglomerativeClustering(10).fit_predict(Z)
    out = [f'ward10 {acc(y, w):.3f}']
    for over in (20, 30, 50):
        wo = AgglomerativeClustering(over).fit_predict(Z)
        out.append(f'ward{over}->graph {acc(y, merge_by_graph(wo, idx, 10)):.3f}')
    print(layer, t, ' | '.join(out), flush=True)
