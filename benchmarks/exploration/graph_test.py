import sys, numpy as np, torch
from diffusers import UNet2DModel
from sklearn.datasets import load_digits
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from skdiec import _features, _backbone, _input, _dec
from skdiec.metrics import clustering_accuracy as acc
torch.set_num_threads(2)
X,y=load_digits(return_X_y=True)
unet=UNet2DModel.from_pretrained(sys.argv[1]).eval()
layout=_input.fit_layout(X,None,4); Xi=layout.to_tensor(X)
sched=_backbone.make_scheduler()
bank=torch.randn(4,1,8,8,generator=torch.Generator().manual_seed(0))
for layer,t in [('up.0',100),('down.2',50),('up.1',200)]:
    F=_features.extract_features(unet,sched,Xi,t,[layer],bank,'flatten',256,'cpu')[layer]
    pca=PCA(32,random_state=0).fit(F); Z0=pca.transform(F)
    idx=NearestNeighbors(n_neighbors=11).fit(Z0).kneighbors(Z0,return_distance=False)[:,1:]
    for seed in range(2):
      km=KMeans(10,n_init=10,random_state=seed).fit(Z0)
      for lam_g,lam_e,lam_kl in [(0,0,1),(1,1,1),(1,1,0),(1,2,0.5)]:
        g=torch.Generator().manual_seed(seed)
        Ft=torch.tensor(F,dtype=torch.float32); head=_dec.FeatureHead(pca.mean_,pca.components_)
        W=torch.nn.Linear(32,32); 
        with torch.no_grad(): W.weight.copy_(torch.eye(32)); W.bias.zero_()
        mu=torch.nn.Parameter(torch.tensor(km.cluster_centers_,dtype=torch.float32))
        opt=torch.optim.Adam(list(W.parameters())+[mu],lr=1e-3)
        nbr=torch.tensor(idx)
        for it in range(300):
            if it%30==0:
                with torch.no_grad(): q=_dec.soft_assignment(W(head(Ft)),mu,1.0); p=_dec.target_distribution(q)
            b=torch.randint(0,len(F),(256,),generator=g)
            j=nbr[b,torch.randint(0,10,(256,),generator=g)]
            qb=_dec.soft_assignment(W(head(Ft[b])),mu,1.0); qj=_dec.soft_assignment(W(head(Ft[j])),mu,1.0)
            loss=lam_kl*_dec.kl_divergence(p[b],qb)
            if lam_g: loss=loss - lam_g*torch.log((qb*qj).sum(1).clamp_min(1e-8)).mean()
            if lam_e: m=qb.mean(0); loss=loss + lam_e*(m*torch.log(m)).sum()
            opt.zero_grad(); loss.backward(); opt.step()
        with torch.no_grad(): l=_dec.soft_assignment(W(head(Ft)),mu,1.0).argmax(1).numpy()
        print(layer,t,'seed',seed,'km',round(acc(y,km.labels_),3),'g,e,kl',lam_g,lam_e,lam_kl,'->',round(acc(y,l),3),flush=True)
