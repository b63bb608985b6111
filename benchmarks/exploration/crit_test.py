import sys, numpy as np, torch, time
from diffusers import UNet2DModel
from sklearn.datasets import load_digits
from sklearn.cluster import KMeans, AgglomerativeClustering
from sklearn.manifold import SpectralEmbedding
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score
from scipy.stats import spearmanr
from skdiec import _features, _backbone, _input
from skdiec.metrics import clustering_accuracy as acc
torch.set_num_threads(2)
X,y=load_digits(return_X_y=True)
unet=UNet2DModel.from_pretrained(sys.argv[1]).eval()
layout=_input.fit_layout(X,None,4); Xi=layout.to_tensor(X)
sched=_backbone.make_scheduler()
bank=torch.randn(4,1,8,8,generator=torch.Generator().manual_seed(0))
sub=np.sort(np.random.RandomState(0).choice(len(X),1000,replace=False)); ys=y[sub]
R=[]
for t in [1,25,50,100,200,400]:
    names=list(_features.candidate_layers(unet))
    F=_features.extract_features(unet,sched,Xi[sub],t,names,bank,'flatten',256,'cpu')
    for n in names:
        tic=time.time()
        Z=PCA(32,random_state=0).fit_transform(F[n])
        w=AgglomerativeClustering(10).fit_predict(Z); k=KMeans(10,n_init=3,random_state=0).fit_predict(Z)
        E=SpectralEmbedding(10,affinity='nearest_neighbors',n_neighbors=15,random_state=0).fit_transform(Z)
        ke=KMeans(10,n_init=3,random_state=0).fit_predict(E)
        r=dict(t=t,n=n,acc_w=acc(ys,w),acc_k=acc(ys,k),acc_ke=acc(ys,ke),sil_w=silhouette_score(Z,w),sil_k=silhouette_score(Z,k),sil_e=silhouette_score(E,ke),sil_ew=silhouette_score(E,w))
        R.append(r); print({a:(round(b,3) if isinstance(b,float) else b) for a,b in r.items()}, round(time.time()-tic,2), flush=True)
A=lambda key:[r[key] for r in R]
for a in ['acc_w','acc_k','acc_ke']:
    for s in ['sil_w','sil_k','sil_e','sil_ew']:
        best=int(np.argmax(A(s)))
        print(a,s,'spearman',round(spearmanr(A(a),A(s))[0],3),'picked',R[best]['n'],R[best]['t'],'acc there',round(R[best][a],3))
