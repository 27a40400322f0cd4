"""Reference drift scores for tests/admin/drift_test.cc, computed independently of the node.

Usage: drift_reference.py IN OUT. Reads IN, {"cases": [{"baseline": [...], "current": [...]}, ...]},
and writes OUT, {"cases": [{"psi": ..., "ks": ...}, ...]}:
  psi: the population stability index by its formula, sum((c - b) * ln(c / b)) over 10
       equal-width bins on [0, 1] (numpy.histogram with explicit edges i/10: [low, high), the
       last bin closed), each bin's fraction floored at 1e-4;
  ks:  scipy.stats.ks_2samp's statistic.
"""
import json
import sys

import numpy as np
from scipy.stats import ks_2samp

BINS = 10
EPSILON = 1e-4


def fractions(values):
    edges = np.array([i / BINS for i in range(BINS + 1)])
    counts, _ = np.histogram(np.clip(values, 0.0, 1.0), bins=edges)
    return np.maximum(counts / len(values), EPSILON)


def psi(baseline, current):
    b, c = fractions(np.asarray(baseline)), fractions(np.asarray(current))
    return float(np.sum((c - b) * np.log(c / b)))


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)["cases"]
    out = [{"psi": psi(c["baseline"], c["current"]), "ks": float(ks_2samp(c["baseline"], c["current"]).statistic)} for c in cases]
    with open(sys.argv[2], "w") as f:
        json.dump({"cases": out}, f)


if __name__ == "__main__":
    main()
