"""Scratch diagnostic (calibration half only, tuning seed 100): why a cosine cache gains little.
Per task at 16 shots: share of test-feature variance between classes (eta2), a logistic probe, the nearest
class mean by cosine (NCM, what a cache of class prototypes sees), and NCM after LDA whitening (shrinkage).
python cache_diag.py CLIP"""
import sys
import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from mmft_kit.data import get_dataset, few_shot
from mmft_kit.data.tasks import CALIBRATION_TASKS
from mmft_kit.embedded.readability import variance_share
from mmft_kit.inference import encode_images
from mmft_kit.train.setup import load_start_model
import torch
torch.set_num_threads(1)
model, preprocess, _ = load_start_model(sys.argv[1], None, "cpu")
print("| task | classes | eta2 test | LP | NCM cosine | NCM whitened (LDA) |\n|---|---|---|---|---|---|")
for task in CALIBRATION_TASKS:
    train = get_dataset(task, split="train", transform=preprocess)
    test = get_dataset(task, split="test", transform=preprocess)
    xs, ys = encode_images(model, few_shot(train, 16, 100))
    xt, yt = encode_images(model, test)
    xs, ys, xt, yt = xs.numpy(), ys.numpy(), xt.numpy(), yt.numpy()
    lp = LogisticRegression(C=10, max_iter=2000).fit(xs, ys).score(xt, yt)
    means = np.stack([xs[ys == c].mean(0) for c in np.unique(ys)])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    ncm = float(((xt @ means.T).argmax(1) == yt).mean())
    lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(xs, ys).score(xt, yt)
    print(f"| {task} | {len(means)} | {variance_share(xt, yt):.3f} | {lp:.3f} | {ncm:.3f} | {lda:.3f} |", flush=True)
