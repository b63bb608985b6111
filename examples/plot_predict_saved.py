"""
==============================================
Predicting new images with a saved estimator
==============================================

Fit DiEC once, save it to a folder with
:meth:`~skdiec.DiffusionEmbeddedClustering.save`, and later load it with
:meth:`~skdiec.DiffusionEmbeddedClustering.load` to assign new images to the
clusters it learned. The folder holds JSON and safetensors files only, so
loading never unpickles code.

The digits are split into 1,500 images to fit on and 297 "new" ones. The
settings are reduced so that the script runs in a minute or two on a
2-core CPU: a
U-Net of widths ``(16, 32)`` (default ``(32, 64, 64)``), 10 pretraining
epochs (default ``"auto"``) and 60 fine-tuning steps (default 300).
"""

# %%
# Fit and save
# ------------

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from skdiec import DiEC
from skdiec.metrics import clustering_accuracy

digits = load_digits()
X_fit, y_fit = digits.images[:1500], digits.target[:1500]
X_new, y_new = digits.images[1500:], digits.target[1500:]

est = DiEC(
    n_clusters=10,
    unet_channels=(16, 32),  # reduced for speed; default (32, 64, 64)
    pretrain_epochs=10,  # reduced for speed; default "auto"
    max_iter=60,  # reduced for speed; default "auto"
    random_state=0,
).fit(X_fit)

folder = Path(tempfile.mkdtemp()) / "digits-diec"
est.save(folder)
for path in sorted(folder.rglob("*")):
    if path.is_file():
        print(f"{str(path.relative_to(folder)):45s} {path.stat().st_size / 1024:8.1f} KiB")

# %%
# Load and predict
# ----------------
# In another session, or on another machine (a model fitted on a GPU loads
# on a CPU), only the folder is needed. ``device`` says where the loaded
# model predicts.

loaded = DiEC.load(folder, device="cpu")
labels_new = loaded.predict(X_new)
proba_new = loaded.predict_proba(X_new)

assert np.array_equal(labels_new, est.predict(X_new))  # same as before saving
print(f"COL = {loaded.col_}, COT = {loaded.cot_}")
print(f"ACC on the 1,500 fitted images: {clustering_accuracy(y_fit, loaded.labels_):.3f}")
print(f"ACC on the 297 new images:      {clustering_accuracy(y_new, labels_new):.3f}")

# %%
# The new images by cluster
# -------------------------
# Each row shows new images assigned to one cluster, with the probability of
# that assignment (the Student-t soft assignment of DEC) above each image.

n_show = 10
fig, axes = plt.subplots(10, n_show, figsize=(n_show * 0.7, 10 * 0.75))
for k in range(10):
    members = np.flatnonzero(labels_new == k)[:n_show]
    for j in range(n_show):
        ax = axes[k, j]
        ax.axis("off")
        if j < members.size:
            ax.imshow(X_new[members[j]], cmap="gray_r")
            ax.set_title(f"{proba_new[members[j], k]:.2f}", fontsize=6)
    axes[k, 0].text(-0.6, 0.5, f"cluster {k}", transform=axes[k, 0].transAxes,
                    ha="right", va="center", fontsize=7)
fig.tight_layout()
plt.show()
