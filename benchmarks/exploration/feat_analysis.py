import sys, numpy as np, torch, time
from diffusers import UNet2DModel
from sklearn.datasets import load_digits
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from skdiec import _features, _backbone, _input
from skdiec.metrics import clustering_accuracy as acc
torch.set_num_threads(2)
X,y=load_digits(return_X_y=True)
unet=UNet2DModel.from_pretrained(sys.argv[1]).eval()
layout=_input.fit_layout(X,None,4); Xi=layout.to_tensor(X)
sched=_backbone.make_scheduler()
bank=torch.randn(4,1,8,8,generator=torch.Generator().manual_seed(0))
def purity(Z,k=10):
    idx=NearestNeighbors(n_neighbors=k+1).fit(Z).kneighbors(Z,return_distance=False)[:,1:]
    return (y[idx]==y[:,None]).mean()
print('pixels purity', purity(X))
for t in [1,25,50,100,200]:
    names=list(_features.candidate_layers(unet))
    F=_features.extract_features(unet,sched,Xi,t,names,bank,'flatten',256,'cpu')
    for n in names:
        Z=PCA(32,random_state=0).fit_transform(F[n])
        Zs=F[n]/np.linalg.norm(F[n],axis=1,keepdims=True)
        kms=[acc(y,KMeans(10,n_init=10,random_state=s).fit_predict(Z)) for s in range(3)]
        sp=acc(y,SpectralClustering(10,affinity='nearest_neighbors',n_neighbors=15,random_state=0,assign_labels='cluster_qr').fit_predict(Z))
        print(f't={t} {n:7s} purity={purity(Z):.3f} purityL2={purity(Zs):.3f} km={np.round(kms,3)} spec15={sp:.3f}', flush=True)
