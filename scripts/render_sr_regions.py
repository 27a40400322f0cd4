#!/usr/bin/env python3
"""Draws what a viewer places from the node's Structured Report alone: every measurement
group's Image Region (outline or point) on the source X-ray, labelled as OHIF labels it
("<concept meaning>: <value> <unit>"), read with highdicom. With --sc the node's Secondary
Capture goes on the left, so a reader can judge that the regions match the heatmap.

usage: render_sr_regions.py --sr SR.dcm --source IMAGE.dcm [--sc SC.dcm] --out PICTURE.png
Run it with the tools venv (scripts/install-python-tools.sh: highdicom, pydicom, numpy, Pillow).
Prints one JSON line: the regions drawn and the labels.
"""
import argparse
import json

import highdicom as hd
import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFont

COLOURS = [(255, 80, 80), (80, 200, 255), (255, 210, 60), (120, 255, 120), (255, 120, 255), (255, 160, 60)]


def grey_picture(dataset):
    """The X-ray as 8-bit grey: its first VOI window if it has one, else min-max; MONOCHROME1 inverted."""
    pixels = dataset.pixel_array.astype(np.float64)
    pixels = pixels * float(getattr(dataset, "RescaleSlope", 1)) + float(getattr(dataset, "RescaleIntercept", 0))
    if "WindowCenter" in dataset and "WindowWidth" in dataset:
        centre = float(np.atleast_1d(dataset.WindowCenter)[0])
        width = float(np.atleast_1d(dataset.WindowWidth)[0])
        low, high = centre - width / 2, centre + width / 2
    else:
        low, high = float(pixels.min()), float(pixels.max())
    grey = np.clip((pixels - low) / max(high - low, 1e-9), 0, 1) * 255
    if dataset.PhotometricInterpretation == "MONOCHROME1":
        grey = 255 - grey
    return Image.fromarray(grey.astype(np.uint8)).convert("RGB")


def label_of(group):
    """OHIF 3.13's text for a planar ROI group: each NUM as "<meaning>: <value to 2 decimals> <unit code>"."""
    return [f"{m.name.meaning}: {float(m.value):.2f} {m.unit.value}" for m in group.get_measurements()]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sr", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--sc")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    source = pydicom.dcmread(args.source)
    picture = grey_picture(source)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=max(11, picture.height // 55))
    sr = hd.sr.srread(args.sr)
    # Groups sharing a region (the whole analysed area) are drawn once, with their labels stacked.
    regions = {}
    for group in sr.content.get_planar_roi_measurement_groups():
        roi = group.roi
        referenced = roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        if referenced != source.SOPInstanceUID:
            continue
        key = (roi.graphic_type.value, tuple(np.round(roi.value.reshape(-1), 1)))
        regions.setdefault(key, []).extend(label_of(group))
    drawn = []
    line = font.size + 3
    for index, ((kind, flat), labels) in enumerate(regions.items()):
        colour = COLOURS[index % len(COLOURS)]
        points = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
        if kind == "POINT":
            x, y = points[0]
            draw.ellipse((x - 6, y - 6, x + 6, y + 6), outline=colour, width=3)
        else:
            draw.line(points, fill=colour, width=max(2, picture.height // 300))
        x = min(p[0] for p in points) + 4
        y = min(p[1] for p in points) + 4
        for k, text in enumerate(labels):
            draw.text((x, y + k * line), text, fill=colour, font=font, stroke_width=2, stroke_fill=(0, 0, 0))
        drawn.append({"type": kind, "vertices": len(points), "labels": labels})

    if args.sc:
        sc_dataset = pydicom.dcmread(args.sc)
        sc = Image.fromarray(sc_dataset.pixel_array).convert("RGB").resize(picture.size)
        both = Image.new("RGB", (picture.width * 2 + 12, picture.height), (0, 0, 0))
        both.paste(sc, (0, 0))
        both.paste(picture, (picture.width + 12, 0))
        picture = both
    picture.save(args.out)
    print(json.dumps({"regions": len(drawn), "groups": sum(len(d["labels"]) for d in drawn), "drawn": drawn}))


if __name__ == "__main__":
    main()
