"""
==================================================
Starting from a pretrained U-Net in a local folder
==================================================

DiEC can start from any unconditional diffusers ``UNet2DModel`` saved with
``save_pretrained``: ``DiEC(unet=folder)`` loads it and skips pretraining.
This saves the most expensive phase of a fit, for example when several
models are fitted on the same data, and lets you bring a U-Net trained
elsewhere.

A U-Net from the Hugging Face hub is saved to a folder once on a machine
with internet access::

    from diffusers import UNet2DModel
    UNet2DModel.from_pretrained("google/ddpm-cifar10-32").save_pretrained("ddpm-cifar10-32")

That one is meant for 32x32 colour images. To stay offline and fast, this
example instead trains a small U-Net on the 8x8 digits with a plain
diffusers DDPM training loop (reduced for speed: 8 epochs), saves it, and
clusters with it twice. The fits are reduced for speed too: the search
scores a subset of 500 images (default ``search_n_samples="auto"``: 200 per
cluster, 1,000 to 2,000) and fine-tuning takes 60 steps (default
``max_iter="auto"``: one pass over the images, then on until the start's
partition is reproduced, at most 300 steps).
"""

# %%
# Train and save a U-Net with diffusers
# -------------------------------------
# The standard DDPM recipe: noise clean images ``x`` to ``x_t`` at random
# timesteps with :class:`diffusers.DDPMScheduler` and train the U-Net to
# predict the noise. DiEC scales images to ``[-1, 1]``, so the U-Net is
# trained on that range too.

import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel
from sklearn.datasets import load_digits
from sklearn.metrics import normalized_mutual_info_score

from skdiec import DiEC
from skdiec.metrics import clustering_accuracy

digits = load_digits()
X, y = digits.images, digits.target  # (1797, 8, 8), values 0 to 16

torch.manual_seed(0)
unet = UNet2DModel(
    sample_size=8, in_channels=1, out_channels=1,
    block_out_channels=(16, 32), layers_per_block=1,
    down_block_types=("DownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "UpBlock2D"),
    norm_num_groups=8,
)
scheduler = DDPMScheduler(num_train_timesteps=1000)
images = torch.as_tensor(X / 16.0 * 2 - 1, dtype=torch.float32)[:, None]
optimizer = torch.optim.AdamW(unet.parameters(), lr=2e-3)

tic = time.perf_counter()
losses = []
for epoch in range(8):  # reduced for speed
    for batch in torch.randperm(len(images)).split(64):
        x0 = images[batch]
        noise = torch.randn_like(x0)
        t = torch.randint(0, 1000, (len(x0),))
        loss = F.mse_loss(unet(scheduler.add_noise(x0, noise, t), t).sample, noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
print(f"trained in {time.perf_counter() - tic:.0f} s, last loss {losses[-1]:.3f}")

workdir = Path(tempfile.mkdtemp())
folder = workdir / "digits-unet"
unet.save_pretrained(folder)
print(sorted(p.name for p in folder.iterdir()))

# %%
# Cluster with the saved U-Net
# ----------------------------
# ``unet=folder`` loads the model; with ``pretrain_epochs="auto"`` (the
# default) a given U-Net is not pretrained further, so the fit is the search
# and fine-tuning only (``timings_["pretrain"]`` is the load). The folder is
# only read: the fitted copy is ``unet_``.

reduced = dict(search_n_samples=500, max_iter=60)  # reduced for speed
est = DiEC(n_clusters=10, unet=folder, random_state=0, **reduced)
labels = est.fit_predict(X)
print("seconds per phase:", {k: round(v, 1) for k, v in est.timings_.items()})
print(f"COL = {est.col_}, COT = {est.cot_}: ACC {clustering_accuracy(y, labels):.3f}, "
      f"NMI {normalized_mutual_info_score(y, labels):.3f}")

# %%
# Reuse it for another number of clusters
# ---------------------------------------
# The same folder serves every further fit without pretraining again, here
# with 15 clusters (more clusters than classes can separate writing styles).

est15 = DiEC(n_clusters=15, unet=folder, random_state=0, **reduced).fit(X)
print(f"n_clusters=15: COL = {est15.col_}, COT = {est15.cot_}, "
      f"NMI {normalized_mutual_info_score(y, est15.labels_):.3f}")

# %%
# The U-Net's training loss, and the search of the first fit:

from skdiec.plotting import plot_search_scores  # noqa: E402

fig, (ax_loss, ax_search) = plt.subplots(1, 2, figsize=(10, 3.8),
                                         gridspec_kw={"width_ratios": [1, 1.6]})
ax_loss.plot(losses, lw=0.8)
ax_loss.set_xlabel("optimiser step")
ax_loss.set_ylabel("DDPM loss")
ax_loss.set_title("training the U-Net")
plot_search_scores(est, ax=ax_search)
fig.tight_layout()
plt.show()
