# usage: pt_exp.py seed ema(0/1) tdist(uniform|low) out
import sys
import math
import time
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from skdiec import _backbone, _input
from skdiec._torch_utils import randn, randint
seed = int(sys.argv[1])
use_ema = sys.argv[2] == '1'
tdist = sys.argv[3]
out = sys.argv[4]
torch.set_num_threads(1)
X, _ = load_digits(return_X_y=True)
layout = _input.fit_layout(X, None, 4)
Xi = layout.to_tensor(X)
unet = _backbone.build_unet(1, layout.padded_shape, (32, 64, 64), layers_per_block=1, seed=seed)
sched = _backbone.make_scheduler()
g = torch.Generator().manual_seed(seed)
opt = torch.optim.AdamW(unet.parameters(), lr=2e-3, weight_decay=0.0)
n = len(Xi)
bs = 64
spe = math.ceil(n / bs)
epochs = 52
lr = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * spe, pct_start=0.05)
if use_ema:
    from diffusers.training_utils import EMAModel
    ema = EMAModel(unet.parameters(), decay=0.9999, use_ema_warmup=True, power=2 / 3)
unet.train()
tic = time.time()
for ep in range(epochs):
    order = torch.randperm(n, generator=g)
    tot = 0
    for s in range(0, n, bs):
        x0 = Xi[order[s:s + bs]]
        eps = randn(x0.shape, g, x0.device, x0.dtype)
        if tdist == 'uniform':
            t = randint(1000, (x0.shape[0],), g, x0.device)
        else:
            t = randint(int(tdist), (x0.shape[0],), g, x0.device)
        loss = F.mse_loss(unet(sched.add_noise(x0, eps, t), t).sample, eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        lr.step()
        if use_ema:
            ema.step(unet.parameters())
        tot += loss.item() * len(x0)
    if ep % 10 == 0:
        print(ep, tot / n, round(time.time() - tic), flush=True)
unet.eval()
unet.save_pretrained(out + '_raw')
if use_ema:
    ema.copy_to(unet.parameters())
unet.save_pretrained(out)
print('done', time.time() - tic)
