import sys, numpy as np, torch
from diffusers import UNet2DModel
from sklearn.datasets import load_digits
from sklearn.cluster import KMeans, AgglomerativeClustering
from sklearn.mixture import GaussianMixture
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score, confusion_matrix
from skdiec import _features, _backbone, _input
from skdiec.metrics import clustering_accuracy as acc
torch.set_num_threads(2)
X,y=load_digits(return_X_y=True)
unet=UNet2DModel.from_pretrained(sys.argv[1]).eval()
layout=_input.fit_layout(X,None,4); Xi=layout.to_tensor(X)
sched=_backbone.make_scheduler()
bank=torch.randn(4,1,8,8,generator=torch.Generator().manual_seed(0))
for layer,t in [('up.0',100),('up.1',200),('down.2',50),('mid',100)]:
    F=_features.extract_features(unet,sched,Xi,t,[layer],bank,'flatten',256,'cpu')[layer]
    Z=PCA(32,random_state=0).fit_transform(F)
    Zw=PCA(32,whiten=True,random_state=0).fit_transform(F)
    out=[]
    km=KMeans(10,n_init=10,random_state=0).fit_predict(Z); out.append(('km',acc(y,km)))
    for link in ['ward']:
        a=AgglomerativeClustering(10,linkage=link).fit_predict(Z); out.append((link,acc(y,a),round(silhouette_score(Z,a),3)))
    g=GaussianMixture(10,covariance_type='diag',random_state=0,n_init=3).fit(Z).predict(Z); out.append(('gmmdiag',acc(y,g)))
    kw=KMeans(10,n_init=10,random_state=0).fit_predict(Zw); out.append(('km-whiten',acc(y,kw)))
    print(layer,t,[(o[0],round(o[1],3))+o[2:] for o in out], 'km sil',round(silhouette_score(Z,km),3), flush=True)
    if layer=='up.0':
        from scipy.optimize import linear_sum_assignment
        C=confusion_matrix(y,km); print(C)
