"""
Cluster a folder of colour photos
=================================

A folder of image files, as users' photos come, read with
:func:`~skdiec.datasets.load_image_folder` and clustered in colour. The folder
here is a small sample of CIFAR-10 kept in the repository's ``data/``: 120
images of 32x32, 24 of each of five classes, one sub-folder per class. The sub-folders
give labels, which clustering does not use: they only measure the result.

The fit is reduced (a narrower U-Net, a short pretraining) so that the example
runs in about a minute on a laptop's CPU; with DiEC's defaults, the fit
pretrains ten passes over the images, at least 1,000 steps. The command line
does the same in one line::

    python -m skdiec cluster data/cifar10-sample --n-clusters 5 --out clusters.csv

and writes the contact sheet below as ``clusters.png``.
"""

from pathlib import Path

import matplotlib.pyplot as plt
from sklearn.metrics import normalized_mutual_info_score

from skdiec import DiEC
from skdiec.datasets import load_image_folder
from skdiec.metrics import clustering_accuracy
from skdiec.plotting import plot_cluster_samples

try:
    repository = Path(__file__).resolve().parents[1]
except NameError:  # run interactively from the examples folder
    repository = Path.cwd().parent
photos = load_image_folder(repository / "data" / "cifar10-sample", image_size=32)
print(photos.images.shape, photos.images.dtype, photos.target_names)

# %%
# Fit DiEC on the uint8 ``(n, 3, 32, 32)`` images: each colour channel is
# scaled to [-1, 1] on its own, and the U-Net takes three channels.

est = DiEC(n_clusters=5, unet_channels=(16, 32, 32), pretrain_epochs=30, random_state=0)
labels = est.fit_predict(photos.images)
print(f"COL {est.col_}, COT {est.cot_}")
print(f"ACC {clustering_accuracy(photos.target, labels):.3f}, "
      f"NMI {normalized_mutual_info_score(photos.target, labels):.3f} "
      "(against the class folders, 5 classes)")

# %%
# The contact sheet: one row per cluster, its most confident members first,
# each titled with its soft assignment to the cluster.

fig = plot_cluster_samples(est, photos.images, n_per_cluster=8)
plt.show()
