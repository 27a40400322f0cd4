#!/usr/bin/env python3
"""The Parametric Map frames an analysed image should get, computed independently of the node
from what its admin API says the engine computed: each Grad-CAM grid (cams) bilinearly upsampled
onto the image through the crop placement (align_corners=False, 0 outside the crop), then each
d x d block averaged (d = the map's downsampling, from the PM's size). Prints
{"<LUT label>": [values, row-major], ...}, the --compare input of air_objects_check.py.
usage: pm_expected.py IMAGE.json ROWS COLUMNS
  IMAGE.json: one entry of a job's "images" from GET /api/v1/jobs/{id} (with "cams" and "crop");
  ROWS, COLUMNS: the Parametric Map's size.
"""
import json
import math
import sys

import numpy as np


def upsampled(grid, side, crop):
    w, h = crop["image_width"], crop["image_height"]
    to_x, to_y = crop["resized_width"] / w, crop["resized_height"] / h
    cell = crop["crop_size"] / side
    grid = np.asarray(grid, dtype=np.float64).reshape(side, side)

    def axis(count, scale, offset):
        position = (np.arange(count) + 0.5) * scale - offset  # in the crop's pixels
        inside = (position >= 0) & (position < crop["crop_size"])
        source = np.clip(position / cell - 0.5, 0, side - 1)
        low = np.floor(source).astype(int)
        return inside, low, np.minimum(low + 1, side - 1), source - low

    in_y, y0, y1, fy = axis(h, to_y, crop["crop_top"])
    in_x, x0, x1, fx = axis(w, to_x, crop["crop_left"])
    fy, fx = fy[:, None], fx[None, :]
    value = (1 - fy) * ((1 - fx) * grid[np.ix_(y0, x0)] + fx * grid[np.ix_(y0, x1)]) + \
        fy * ((1 - fx) * grid[np.ix_(y1, x0)] + fx * grid[np.ix_(y1, x1)])
    value = np.clip(value, 0, 1)
    value[~in_y, :] = 0
    value[:, ~in_x] = 0
    return value


def block_mean(full, rows, columns):
    h, w = full.shape
    d = math.ceil(w / columns)
    assert math.ceil(h / d) == rows, "the map's size is no integer downsampling of the image"
    out = np.zeros((rows, columns))
    for r in range(rows):
        for c in range(columns):
            out[r, c] = full[r * d:(r + 1) * d, c * d:(c + 1) * d].mean()
    return out


def main():
    image = json.load(open(sys.argv[1]))
    rows, columns = int(sys.argv[2]), int(sys.argv[3])
    out = {}
    for cam in image["cams"]:
        full = upsampled(cam["map"], cam["grid_side"], image["crop"])
        out[cam["label"][:16]] = block_mean(full, rows, columns).reshape(-1).tolist()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
