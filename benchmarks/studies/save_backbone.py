import sys
import time
sys.path.insert(0, __file__.rsplit('/', 2)[0])
from _data import load  # noqa: E402
from skdiec import DiEC  # noqa: E402
ds = sys.argv[1]
seed = int(sys.argv[2])
X, y = load(ds)
t = time.time()
est = DiEC(n_clusters=10, max_iter=0, random_state=seed, device='cpu').fit(X)
print(ds, 'fit', time.time() - t, est.timings_, est.col_, est.cot_, flush=True)
est.unet_.save_pretrained(sys.argv[3] if len(sys.argv) > 3 else f'backbones/unet_{ds}_s{seed}')
