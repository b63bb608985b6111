import sys, numpy as np, torch
from diffusers import UNet2DModel
from sklearn.datasets import load_digits
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from sklearn.metrics import silhouette_score
from skdiec import _features, _backbone, _input
from skdiec.metrics import clustering_accuracy as acc
torch.set_num_threads(2)
X,y=load_digits(return_X_y=True)
unet=UNet2DModel.from_pretrained(sys.argv[1]).eval()
layout=_input.fit_layout(X,None,4); Xi=layout.to_tensor(X)
sched=_backbone.make_scheduler()
bank=torch.randn(4,1,8,8,generator=torch.Generator().manual_seed(0))
rng=np.random.RandomState(0); sub=np.sort(rng.choice(len(X),1000,replace=False))
def knn(Z,k=10): return NearestNeighbors(n_neighbors=k+1).fit(Z).kneighbors(Z,return_distance=False)[:,1:]
def agree(idx,l): return (l[idx]==l[:,None]).mean()
rows=[]
for t in [1,25,50,100,200,400]:
    names=list(_features.candidate_layers(unet))
    F=_features.extract_features(unet,sched,Xi[sub],t,names,bank,'flatten',256,'cpu')
    for n in names:
        Z=PCA(32,random_state=0).fit_transform(F[n]); idx=knn(Z)
        best=None; res=[]
        for s in range(8):
            km=KMeans(10,n_init=1,random_state=s).fit(Z); l=km.labels_
            res.append((agree(idx,l), -km.inertia_, acc(y[sub],l), silhouette_score(Z,l)))
        res=np.array(res)
        by_in=res[res[:,1].argmax()]; by_ag=res[res[:,0].argmax()]
        rows.append((t,n,by_in[2],by_in[3],by_in[0],by_ag[2],by_ag[0]))
        print(f't={t:3d} {n:7s} inertia-pick: acc={by_in[2]:.3f} sil={by_in[3]:.3f} agree={by_in[0]:.3f} | agree-pick: acc={by_ag[2]:.3f} agree={by_ag[0]:.3f}', flush=True)
rows=np.array(rows,dtype=object)
from scipy.stats import spearmanr
print('spearman acc~sil', spearmanr(rows[:,2].astype(float), rows[:,3].astype(float))[0])
print('spearman acc~agree', spearmanr(rows[:,5].astype(float), rows[:,6].astype(float))[0])
