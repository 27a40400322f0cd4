#!/usr/bin/env python3
"""The evaluation statistics computed independently of the node, by scikit-learn (roc_auc_score,
roc_curve, confusion_matrix, calibration_curve) and confidenceinterval (DeLong's CI), for
tests/evaluation/statistics_test.cc to compare evax::evaluation::evaluate() against.
usage: evaluation_reference.py INPUT.json OUTPUT.json
  INPUT.json: {"findings": [{"label", "scores", "truth", "operating_point" (or null)}],
               "target_sensitivity", "target_specificity" (or null), "calibration_bins"}
  OUTPUT.json: per finding (same order) what evaluate() reports, null where it is undefined,
               plus the mean AUROC and the versions of the libraries used.
"""
import json
import math
import sys
import warnings

import confidenceinterval
import numpy as np
import sklearn
from importlib.metadata import version
from sklearn.calibration import calibration_curve
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve


def number(value):
    value = float(value)
    return None if math.isnan(value) else value


def at_threshold(y, p, threshold):
    # The node calls a finding present when probability >= operating point.
    tn, fp, fn, tp = confusion_matrix(y, (p >= threshold).astype(int), labels=[0, 1]).ravel()

    def ratio(a, b):
        return None if a + b == 0 else float(a) / float(a + b)

    return {"threshold": float(threshold), "tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn),
            "sensitivity": ratio(tp, fn), "specificity": ratio(tn, fp), "ppv": ratio(tp, fp), "npv": ratio(tn, fn)}


def finding(entry, target_sensitivity, target_specificity, bins):
    y = np.asarray(entry["truth"], dtype=int)
    p = np.asarray(entry["scores"], dtype=np.float64)
    out = {"label": entry["label"], "cases": int(len(y)), "positives": int(y.sum()), "negatives": int(len(y) - y.sum())}
    both = out["positives"] > 0 and out["negatives"] > 0
    out["auroc"] = float(roc_auc_score(y, p)) if both else None
    out["ci95"] = None
    if both:
        # confidenceinterval's DeLong: a plain interval around its (float32) AUC; NaN with one
        # case of a class. The node reports the interval clipped to [0, 1].
        _, (low, high) = confidenceinterval.roc_auc_score(list(y), list(p), confidence_level=0.95, method="delong")
        low, high = number(np.squeeze(low)), number(np.squeeze(high))
        if low is not None and high is not None:
            out["ci95"] = [max(0.0, low), min(1.0, high)]
    measured = entry["operating_point"] is not None and len(y) > 0
    out["operating_point"] = at_threshold(y, p, entry["operating_point"]) if measured else None

    out["roc"] = None
    out["recommended_sensitivity"] = out["recommended_specificity"] = None
    if both:
        fpr, tpr, thresholds = roc_curve(y, p, drop_intermediate=False)
        out["roc"] = {"thresholds": [None if math.isinf(t) else float(t) for t in thresholds],
                      "fpr": [float(v) for v in fpr], "tpr": [float(v) for v in tpr]}
        if target_sensitivity is not None:
            index = int(np.argmax(tpr >= target_sensitivity))  # the highest threshold reaching it
            out["recommended_sensitivity"] = at_threshold(y, p, thresholds[index])
        if target_specificity is not None:
            reaching = np.where(1.0 - fpr >= target_specificity)[0]
            index = int(reaching[-1])  # the lowest threshold reaching it; +inf reaches nothing usable
            out["recommended_specificity"] = None if math.isinf(thresholds[index]) else at_threshold(y, p, thresholds[index])

    out["ece"] = None
    out["reliability"] = None
    if len(y) > 0:
        prob_true, prob_pred = calibration_curve(y, p, n_bins=bins, strategy="uniform")
        # The bins calibration_curve uses, to weight each non-empty bin by its share of cases.
        ids = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], p)
        counts = np.bincount(ids, minlength=bins)
        nonzero = counts[counts != 0]
        out["ece"] = float(np.sum(nonzero / len(y) * np.abs(prob_true - prob_pred)))
        out["reliability"] = {"counts": [int(c) for c in counts], "observed_rate": [float(v) for v in prob_true],
                              "mean_score": [float(v) for v in prob_pred]}
    return out


def main():
    # One case of a class makes DeLong's variance NaN (reported as undefined), with a warning.
    warnings.simplefilter("ignore", RuntimeWarning)
    with open(sys.argv[1]) as f:
        given = json.load(f)
    findings = [finding(entry, given["target_sensitivity"], given["target_specificity"], given["calibration_bins"])
                for entry in given["findings"]]
    defined = [f["auroc"] for f in findings if f["auroc"] is not None]
    result = {"findings": findings, "mean_auroc": float(np.mean(defined)) if defined else None,
              "versions": {"scikit-learn": sklearn.__version__, "confidenceinterval": version("confidenceinterval")}}
    with open(sys.argv[2], "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
