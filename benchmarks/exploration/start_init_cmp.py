import sys, time, numpy as np, torch, warnings
warnings.filterwarnings('ignore')
sys.path.insert(0, __file__.rsplit('/', 2)[0])
from _data import load
from skdiec import _features, _backbone, _input, _dec, _init
from skdiec._search import _size_entropy
from skdiec.metrics import clustering_accuracy as acc
from sklearn.cluster import KMeans, AgglomerativeClustering
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors
from sklearn.metrics import normalized_mutual_info_score as nmi, silhouette_score
import umap
ds, bb, cells = sys.argv[1], sys.argv[2], sys.argv[3].split(',')
X, y = load(ds); X = X.reshape(len(X), -1)
layout = _input.fit_layout(X, None, 4); Xi = layout.to_tensor(X)
unet = _backbone.build_unet(layout.image_shape[0], layout.padded_shape, (32,64,64), layers_per_block=1, seed=0)
unet.load_state_dict(torch.load(bb, weights_only=True)['unet']); unet.eval()
sched = _backbone.make_scheduler()
bank = torch.randn(4, *Xi.shape[1:], generator=torch.Generator().manual_seed(0))
sub = np.sort(np.random.RandomState(0).choice(len(X), 1000, replace=False))
def rep(tag, lab):
    print(f'  {tag:28s} ACC {acc(y, lab):.3f} NMI {nmi(y, lab):.3f} sizeH {_size_entropy(None, lab, 0):.4f}', flush=True)
for cell in cells:
    col, cot = cell.split('@'); cot = int(cot)
    F = _features.extract_features(unet, sched, Xi[sub], cot, [col], bank, 'flatten', 256, 'cpu')[col]
    head = _dec.FeatureHead.fit(F, 32, 0)
    Z = _dec.Embedder(unet, sched, head, col, cot, bank, 'flatten').embed(Xi, 256, 'cpu').numpy().astype(np.float64)
    print(cell, flush=True)
    rep('ward', _init.initial_partition(Z, 10, 'ward', np.random.RandomState(0))[0])
    rep('kmeans', _init.initial_partition(Z, 10, 'kmeans', np.random.RandomState(0))[0])
    for nn in [int(v) for v in sys.argv[4].split(',')]:
        d, i = NearestNeighbors(n_neighbors=nn).fit(Z).kneighbors(Z)
        for seed in (0,):
            U = umap.UMAP(n_components=10, n_neighbors=nn, min_dist=0.0, random_state=seed, n_jobs=1, precomputed_knn=(i, d, None)).fit_transform(Z)
            lab = KMeans(10, n_init=10, random_state=0).fit_predict(U)
            rep(f'umap nn{nn} s{seed} kmeans', lab)
            print('     silU %.4f silZ %.4f' % (silhouette_score(U, lab, sample_size=3000, random_state=0), silhouette_score(Z, lab, sample_size=3000, random_state=0)), flush=True)


