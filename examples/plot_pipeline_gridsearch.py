"""
=============================================
DiEC in a Pipeline and a GridSearchCV
=============================================

``DiEC`` is a regular scikit-learn estimator: it is a step of a
:class:`~sklearn.pipeline.Pipeline`, and :class:`~sklearn.model_selection.GridSearchCV`
tunes its hyperparameters. Its ``score`` is the silhouette of its own
partition in its clustering space, so a search needs no labels; with labels,
a label scorer such as the adjusted Rand index can be reported alongside.

Here the grid is over ``n_clusters`` on 400 digits, with 2-fold
cross-validation: each candidate is fitted on one half and scored on the
other, on images it did not see. The settings are reduced so that the six
fits and the final refit take a minute or two on a 2-core CPU: a U-Net of widths
``(16, 32)`` (default ``(32, 64, 64)``), 10 pretraining epochs (default
``"auto"``), three timesteps (default seven:
``(1, 25, 50, 100, 200, 400, 700)``) and 30 fine-tuning steps (default 300).
"""

# %%
# A pipeline
# ----------
# The rows of ``load_digits().data`` hold 64 values from 0 to 16; DiEC reads
# rows of ``s * s`` values as ``s x s`` images. The first step scales them to
# ``[0, 1]``; any transformer that outputs images or rows can stand there.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score, make_scorer
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skdiec import DiEC
from skdiec.metrics import clustering_accuracy

digits = load_digits()
X, y = digits.data[:400], digits.target[:400]


def to_unit_range(X):
    return X / 16.0


pipe = Pipeline([
    ("scale", FunctionTransformer(to_unit_range)),
    ("diec", DiEC(
        unet_channels=(16, 32),  # reduced for speed; default (32, 64, 64)
        pretrain_epochs=10,  # reduced for speed; default "auto"
        timesteps=(1, 50, 200),  # reduced for speed; default has 7 timesteps
        max_iter=30,  # reduced for speed; default 100
        random_state=0,
    )),
])

# %%
# A grid search with an unsupervised and a label scorer
# -----------------------------------------------------
# ``"silhouette"`` calls the pipeline's ``score`` (DiEC's silhouette) and
# chooses the model (``refit``); ``"ARI"`` compares the predicted clusters
# of the held-out half with the digit labels, for information.


def silhouette(estimator, X, y=None):
    """The estimator's own unsupervised score (higher is better)."""
    return estimator.score(X)


search = GridSearchCV(
    pipe,
    param_grid={"diec__n_clusters": [8, 10, 12]},
    scoring={"silhouette": silhouette, "ARI": make_scorer(adjusted_rand_score)},
    refit="silhouette",
    cv=KFold(n_splits=2, shuffle=True, random_state=0),
)
search.fit(X, y)  # y reaches only the ARI scorer; DiEC ignores it

results = search.cv_results_
print("n_clusters  silhouette  ARI (held-out halves, mean)")
for k, sil, ari in zip(results["param_diec__n_clusters"],
                       results["mean_test_silhouette"], results["mean_test_ARI"]):
    print(f"{k:10d}  {sil:10.3f}  {ari:.3f}")
print("chosen by silhouette:", search.best_params_)

# %%
# The two criteria need not agree: the silhouette is measured in each
# model's own clustering space and can prefer tight partitions that split or
# merge classes (:doc:`/benchmarks` analyses this on digits). Only the
# silhouette is available when there are no labels.

fig, ax = plt.subplots(figsize=(5, 3.2))
ks = np.asarray(results["param_diec__n_clusters"], dtype=int)
ax.plot(ks, results["mean_test_silhouette"], "o-", label="silhouette (unsupervised)")
ax.plot(ks, results["mean_test_ARI"], "s--", label="ARI (uses labels)")
ax.set_xticks(ks)
ax.set_xlabel("n_clusters")
ax.set_ylabel("mean over the 2 held-out halves")
ax.legend()
fig.tight_layout()

# %%
# The refitted pipeline
# ---------------------
# ``best_estimator_`` was refitted on all 400 images with the chosen
# ``n_clusters``; it predicts like any clusterer.

best = search.best_estimator_
pred = best.predict(X)
print(f"n_clusters={best['diec'].n_clusters}: ACC {clustering_accuracy(y, pred):.3f}, "
      f"ARI {adjusted_rand_score(y, pred):.3f} on the 400 images it was fitted on")
plt.show()
