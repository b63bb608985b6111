import sys, numpy as np, torch
from diffusers import UNet2DModel
from sklearn.datasets import load_digits
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score, adjusted_rand_score as ari
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
names=list(_features.candidate_layers(unet))
R=[]
for t in [1,10,25,50,100,200,400]:
    per=[ _features.extract_features(unet,sched,Xi[sub],t,names,bank[k:k+1],'flatten',256,'cpu') for k in range(4)]
    for n in names:
        Fs=[p[n] for p in per]; Fm=np.mean(Fs,0)
        pca=PCA(32,random_state=0).fit(Fm); Zm=pca.transform(Fm)
        wm=AgglomerativeClustering(10).fit_predict(Zm)
        Zs=[pca.transform(F) for F in Fs]; ws=[AgglomerativeClustering(10).fit_predict(Z) for Z in Zs]
        stab=np.mean([ari(ws[a],ws[b]) for a in range(4) for b in range(a+1,4)])
        silper=np.mean([silhouette_score(Z,w) for Z,w in zip(Zs,ws)])
        # subsample stability: ward on two halves, compare on overlap via nearest-centre
        r=dict(t=t,n=n,acc=acc(ys,wm),sil=silhouette_score(Zm,wm),stab=stab,silper=silper)
        R.append(r); print({k:(round(v,3) if isinstance(v,float) else v) for k,v in r.items()},flush=True)
A=lambda k:np.array([r[k] for r in R])
for c in ['sil','stab','silper']:
    b=int(np.argmax(A(c))); print(c,'spearman',round(spearmanr(A('acc'),A(c))[0],3),'picked',R[b]['n'],R[b]['t'],'acc',round(R[b]['acc'],3))
# two-stage with stab: layer by mean, then t
for c in ['sil','stab']:
    layers=sorted(set(A('n')),key=lambda n: -np.mean([r[c] for r in R if r['n']==n]))
    col=layers[0]; best=max([r for r in R if r['n']==col],key=lambda r:r[c]); print(c,'two-stage',col,best['t'],round(best['acc'],3))
