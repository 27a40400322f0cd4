#!/usr/bin/env python3
"""Resizes raw 8-bit grey images as mmcv's cv2 backend does for mmseg's Resize:
cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR). The independent reference for the
lung model's input resize.
usage: cv2_resize.py IN.raw:WIDTH:HEIGHT:OUT_WIDTH:OUT_HEIGHT:OUT.raw ...
(run with the tools venv: scripts/install-python-tools.sh)
"""
import sys

import cv2
import numpy as np


def main():
    for case in sys.argv[1:]:
        source, width, height, out_width, out_height, target = case.split(":")
        image = np.fromfile(source, dtype=np.uint8).reshape(int(height), int(width))
        resized = cv2.resize(image, (int(out_width), int(out_height)), interpolation=cv2.INTER_LINEAR)
        resized.astype(np.uint8).tofile(target)


if __name__ == "__main__":
    main()
