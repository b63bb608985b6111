import time, sys, numpy as np, torch, torch.nn.functional as F
from diffusers import UNet2DModel, DDPMScheduler
from sklearn.datasets import load_digits
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import normalized_mutual_info_score as nmi, silhouette_score
from scipy.optimize import linear_sum_assignment
torch.set_num_threads(2)
def acc(y, p):
    k=max(y.max(),p.max())+1; w=np.zeros((k,k));
    for a,b in zip(p,y): w[a,b]+=1
    r,c=linear_sum_assignment(-w); return w[r,c].sum()/len(y)
X,y=load_digits(return_X_y=True); X=(X/16*2-1).astype(np.float32).reshape(-1,1,8,8)
xt=torch.from_numpy(X)
EPOCHS=int(sys.argv[1]); ch=tuple(int(c) for c in sys.argv[2].split(','))
torch.manual_seed(0)
m=UNet2DModel(sample_size=8,in_channels=1,out_channels=1,block_out_channels=ch,layers_per_block=1,
  down_block_types=("DownBlock2D",)*len(ch),up_block_types=("UpBlock2D",)*len(ch),norm_num_groups=8)
s=DDPMScheduler(num_train_timesteps=1000)
opt=torch.optim.AdamW(m.parameters(),lr=2e-3 if len(sys.argv)<4 else float(sys.argv[3]))
t0=time.time()
for ep in range(EPOCHS):
    perm=torch.randperm(len(xt)); tot=0
    for i in range(0,len(xt),64):
        xb=xt[perm[i:i+64]]; eps=torch.randn_like(xb); t=torch.randint(0,1000,(len(xb),))
        loss=F.mse_loss(m(s.add_noise(xb,eps,t),t).sample,eps); opt.zero_grad(); loss.backward(); opt.step(); tot+=loss.item()*len(xb)
    if ep%10==0: print(ep, tot/len(xt), round(time.time()-t0,1), flush=True)
print('pretrain', time.time()-t0)
m.eval()
layers={f'down.{i}':b for i,b in enumerate(m.down_blocks)}; layers['mid']=m.mid_block
layers.update({f'up.{i}':b.resnets[-1] for i,b in enumerate(m.up_blocks)})
store={}
def mk(n):
    def h(mod,inp,out):
        o=out[0] if isinstance(out,tuple) else out; store[n].append(o)
    return h
for n,l in layers.items(): l.register_forward_hook(mk(n))
g=torch.Generator().manual_seed(0); bank=torch.randn(4,1,8,8,generator=g)
for t in [1,10,50,100,200,400]:
    for n in layers: store[n]=[]
    with torch.no_grad():
        for d in range(len(bank)):
            tt=torch.full((len(xt),),t); m(s.add_noise(xt,bank[d].expand_as(xt),tt),tt)
    res=[]
    for n in layers:
        f=torch.stack([torch.cat(store[n][d::1][:1]) for d in range(1)]) # placeholder
        outs=store[n]  # len = n_draws
        fm=torch.stack(outs).mean(0)  # avg over draws
        gap=fm.mean((2,3)).numpy(); flat=fm.flatten(1).numpy()
        r=[]
        for name,Z in [('gap',gap),('flatpca',PCA(32,random_state=0).fit_transform(flat)), ('flatl2pca', PCA(32,random_state=0).fit_transform(flat/np.linalg.norm(flat,axis=1,keepdims=True)))]:
            Zs=(Z-Z.mean(0))/ (Z.std(0)+1e-8) if name=='gap' else Z
            p=KMeans(10,n_init=10,random_state=0).fit_predict(Zs)
            r.append(f'{name}:{acc(y,p):.3f}/{silhouette_score(Zs,p):.3f}')
        res.append(f'{n}[{tuple(fm.shape[1:])}] '+' '.join(r))
    print('t',t); print('\n'.join(res), flush=True)
