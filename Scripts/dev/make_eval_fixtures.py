#!/usr/bin/env python3
"""Expected evaluation metrics from scikit-learn, for DxEval's tests (Tests/TestData/eval).

For each case: CASE.csv (predictions in EfficientDx's format: path,study,label,predicted,p_<class>...)
and CASE.expected.json (every metric as scikit-learn 1.9.1 / numpy compute it). Developer
tooling only; CI never runs it:
    /tmp/refvenv/bin/pip install scikit-learn
    /tmp/refvenv/bin/python Scripts/dev/make_eval_fixtures.py Tests/TestData/eval
"""
import csv, json, os, sys, warnings
import numpy as np
from sklearn import metrics as M

out = sys.argv[1] if len(sys.argv) > 1 else "Tests/TestData/eval"
os.makedirs(out, exist_ok=True)
CLASSES = ["healthy", "rust", "blight", "mildew"]
K = len(CLASSES)
ECE_BINS = 15


def num(x):
    x = float(x)
    return None if np.isnan(x) else x


def block(y, pred, prob):
    """The overall / per-study block, scikit-learn's definitions with labels = all classes."""
    labels = list(range(K))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, s = M.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
        avg = {a: dict(zip(("precision", "recall", "f1"), M.precision_recall_fscore_support(
            y, pred, labels=labels, average=a, zero_division=0)[:3])) for a in ("macro", "weighted", "micro")}
        bal = M.balanced_accuracy_score(y, pred)
        kappa = M.cohen_kappa_score(y, pred)
        mcc = M.matthews_corrcoef(y, pred)
        ll = M.log_loss(y, prob, labels=labels)
        topk = {str(k): M.top_k_accuracy_score(y, prob, k=k, labels=labels) for k in (1, 2, 3)}
    auc, ap = {}, {}
    for c in range(K):
        yc = (np.asarray(y) == c).astype(int)
        auc[CLASSES[c]] = num(M.roc_auc_score(yc, prob[:, c])) if 0 < yc.sum() < len(yc) else None
        ap[CLASSES[c]] = num(M.average_precision_score(yc, prob[:, c])) if yc.sum() > 0 else None
    defined = [v for v in auc.values() if v is not None]
    # ECE: equal-width bins on the top-class confidence, |accuracy - confidence| weighted by bin size.
    conf = prob.max(axis=1)
    correct = (prob.argmax(axis=1) == np.asarray(y)).astype(float)
    bins = np.minimum((conf * ECE_BINS).astype(int), ECE_BINS - 1)
    ece = sum(abs(correct[bins == b].mean() - conf[bins == b].mean()) * (bins == b).sum()
              for b in range(ECE_BINS) if (bins == b).any()) / len(y)
    cm = M.confusion_matrix(y, pred, labels=labels)
    return {
        "n": len(y), "accuracy": M.accuracy_score(y, pred), "balanced_accuracy": bal,
        "macro": avg["macro"], "weighted": avg["weighted"], "micro": avg["micro"],
        "per_class": {CLASSES[c]: {"precision": p[c], "recall": r[c], "f1": f[c], "support": int(s[c])} for c in range(K)},
        "confusion_matrix": cm.tolist(),
        "confusion_matrix_normalized": np.nan_to_num(M.confusion_matrix(y, pred, labels=labels, normalize="true")).tolist(),
        "cohen_kappa": num(kappa), "matthews_corrcoef": num(mcc), "log_loss": ll, "top_k_accuracy": topk,
        "roc_auc": auc, "roc_auc_macro": float(np.mean(defined)) if defined else None,
        "roc_auc_macro_sklearn": (M.roc_auc_score(y, prob, multi_class="ovr", average="macro", labels=labels)
                                  if len(set(y)) == K else None),
        "average_precision": ap, "ece": ece,
    }


def make(name, n, class_p, skill, studies, never_predict=None, seed=0, decoupled=False):
    rng = np.random.default_rng(seed)
    y = rng.choice(K, size=n, p=class_p)
    logits = rng.normal(size=(n, K))
    logits[np.arange(n), y] += skill
    if never_predict is not None:
        logits[:, never_predict] -= 50
    prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    prob = np.round(prob, 6)
    prob[:, -1] = np.round(1 - prob[:, :-1].sum(1), 6)  # rows sum to 1 at the printed precision
    prob = np.clip(prob, 0, 1)
    pred = prob.argmax(1)
    if decoupled:  # a predicted column that is not the argmax (e.g. a decision threshold)
        flip = rng.random(n) < 0.1
        pred = np.where(flip, (pred + 1) % K, pred)
    study = [f"S{rng.integers(studies):03d}" for _ in range(n)]
    with open(f"{out}/{name}.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "study", "label", "predicted"] + [f"p_{c}" for c in CLASSES])
        for i in range(n):
            w.writerow([f"img/{name}/{i:05d}.png", study[i], CLASSES[y[i]], CLASSES[pred[i]]] + [f"{v:.6f}" for v in prob[i]])
    exp = {"classes": CLASSES, "ece_bins": ECE_BINS, "overall": block(y, pred, prob), "studies": {}}
    study = np.array(study)
    for s in sorted(set(study)):
        m = study == s
        exp["studies"][s] = block(y[m], pred[m], prob[m])
    # Study-level diagnosis: mean probability and majority vote, truth = majority label.
    ids = sorted(set(study))
    truth, by_mean, by_vote = [], [], []
    for s in ids:
        m = study == s
        truth.append(np.bincount(y[m], minlength=K).argmax())
        by_mean.append(prob[m].mean(0).argmax())
        by_vote.append(np.bincount(pred[m], minlength=K).argmax())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp["study_level"] = {
            agg: {"accuracy": M.accuracy_score(truth, p),
                  "macro_f1": M.f1_score(truth, p, labels=list(range(K)), average="macro", zero_division=0),
                  "predicted": {s: CLASSES[v] for s, v in zip(ids, p)}}
            for agg, p in (("mean_probability", by_mean), ("majority_vote", by_vote))}
    exp["study_level"]["truth"] = {s: CLASSES[v] for s, v in zip(ids, truth)}
    json.dump(exp, open(f"{out}/{name}.expected.json", "w"), indent=1, sort_keys=True)


make("balanced", 400, [0.25] * 4, 1.5, 5, seed=1)
make("imbalanced", 600, [0.7, 0.2, 0.07, 0.03], 1.0, 8, seed=2, decoupled=True)
make("never_predicted", 300, [0.3, 0.3, 0.2, 0.2], 2.0, 4, never_predict=3, seed=3)
make("absent_truth", 300, [0.5, 0.3, 0.2, 0.0], 1.2, 6, seed=4)
make("single_study", 200, [0.4, 0.3, 0.2, 0.1], 0.8, 1, seed=5)
make("many_studies", 500, [0.25] * 4, 1.0, 60, seed=6)
print(sorted(os.listdir(out)))
