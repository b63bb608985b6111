import sys, time
from sklearn.datasets import load_digits
from skdiec import DiEC
X=load_digits().images
ep=int(sys.argv[1]); seed=int(sys.argv[2])
t=time.time()
est=DiEC(n_clusters=10, pretrain_epochs=ep, max_iter=0, random_state=seed, device='cpu').fit(X)
print('fit', time.time()-t, est.timings_, est.col_, est.cot_)
est.unet_.save_pretrained(f'/tmp/exp/unet{ep}_s{seed}')
