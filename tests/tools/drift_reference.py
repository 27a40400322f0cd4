"""Reference drift scores for tests/admin/drift_test.cc, computed independently of the node.

Usage: drift_reference.py IN OUT. Reads IN, {"cases": [{"baseline": [...], "current": [...]}, ...]},
and writes OUT, {"cases": [{"psi": ..., "ks": ..., "cuts": [...]}, ...]}:
  cuts: the baseline's deciles, numpy.quantile(baseline, [0.1, ..., 0.9], method="inverted_cdf")
        (each the smallest baseline value with at least that fraction at or below it), distinct,
        and only those below the baseline's maximum, so that every bin holds baseline values;
  psi:  the population stability index by its formula, sum((c - b) * ln(c / b)) over the bins
        the cuts make (numpy.searchsorted(cuts, x, side="left"): a value equal to a cut goes to
        the bin below it), each sample's fractions smoothed as (count + 0.5) / (n + 0.5 * bins);
  ks:   scipy.stats.ks_2samp's statistic.
"""
import json
import sys

import numpy as np
from scipy.stats import ks_2samp

BINS = 10
SMOOTHING = 0.5


def cut_points(baseline):
    cuts = np.unique(np.quantile(baseline, np.arange(1, BINS) / BINS, method="inverted_cdf"))
    return cuts[cuts < np.max(baseline)]


def fractions(values, cuts):
    counts = np.bincount(np.searchsorted(cuts, values, side="left"), minlength=len(cuts) + 1)
    return (counts + SMOOTHING) / (len(values) + SMOOTHING * len(counts))


def psi(baseline, current):
    cuts = cut_points(baseline)
    b, c = fractions(baseline, cuts), fractions(current, cuts)
    return float(np.sum((c - b) * np.log(c / b)))


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)["cases"]
    out = []
    for case in cases:
        baseline, current = np.asarray(case["baseline"], dtype=float), np.asarray(case["current"], dtype=float)
        out.append({"psi": psi(baseline, current), "ks": float(ks_2samp(baseline, current).statistic),
                    "cuts": [float(c) for c in cut_points(baseline)]})
    with open(sys.argv[2], "w") as f:
        json.dump({"cases": out}, f)


if __name__ == "__main__":
    main()
