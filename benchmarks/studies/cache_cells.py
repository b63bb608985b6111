import sys
import numpy as np
import torch
sys.path.insert(0, __file__.rsplit('/', 2)[0])
from _data import load  # noqa: E402
from diffusers import UNet2DModel  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from skdiec import _features, _backbone, _input  # noqa: E402
torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
X, y = load(sys.argv[1])
X = X.reshape(len(X), -1)
unet = UNet2DModel.from_pretrained(sys.argv[2]).eval()
layout = _input.fit_layout(X, None, 4)
Xi = layout.to_tensor(X)
sched = _backbone.make_scheduler()
bank = torch.randn(4, *Xi.shape[1:], generator=torch.Generator().manual_seed(0))
sub = np.sort(np.random.RandomState(0).choice(len(X), 1000, replace=False))
out = {'y': y[sub], 'sub': sub}
T = [1, 5, 10, 25, 50, 75, 100, 150, 200, 300, 400, 700]
names = list(_features.candidate_layers(unet))
for t in T:
    F = _features.extract_features(unet, sched, Xi[sub], t, names, bank, 'flatten', 256, 'cpu')
    for n in names:
        out[f'{n}@{t}'] = PCA(32, random_state=0).fit_transform(F[n]).astype(np.float32)
    print(t, flush=True)
np.savez(sys.argv[3], **out)
