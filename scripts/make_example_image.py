#!/usr/bin/env python3
"""Draws the bundled example: a synthetic PA chest radiograph as a DX DICOM file.

Nothing in it comes from a person: the anatomy is a few ellipses and arcs, the patient is
'EVAX^SYNTHETIC', and the UIDs are derived from fixed names, so reruns write the same file.
Needs Debian's python3-pydicom and python3-numpy.

usage: make_example_image.py OUTPUT.dcm
"""
import hashlib
import sys

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

WIDTH, HEIGHT = 512, 608


def fixed_uid(name):
    return "2.25." + str(int(hashlib.sha256(name.encode()).hexdigest()[:30], 16))


def ellipse(yy, xx, cy, cx, ry, rx):
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2


def draw():
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    density = np.full((HEIGHT, WIDTH), 0.05)                       # air around the patient
    body = ellipse(yy, xx, 330, 256, 330, 235)
    density += 0.55 * np.clip(1.3 - body, 0, 1)                    # soft tissue, thicker centrally
    for cx, rx in ((165, 95), (347, 95)):                          # lungs
        lung = ellipse(yy, xx, 300, cx, 190, rx)
        density -= 0.38 * np.clip(1.15 - lung, 0, 1) ** 0.6
    density += 0.30 * np.clip(1.2 - ellipse(yy, xx, 400, 290, 95, 120), 0, 1)   # heart
    density += 0.35 * np.exp(-((xx - 256) / 22) ** 2) * (yy > 60)                # spine
    for i in range(9):                                             # ribs, as arcs either side
        y0 = 150 + 42 * i
        for side in (-1, 1):
            arc = y0 + 0.0025 * (xx - 256) ** 2 - side * 0.0 + 0.12 * np.abs(xx - 256)
            band = np.exp(-((yy - arc) / 6.0) ** 2) * (np.abs(xx - 256) > 30) * (np.abs(xx - 256) < 220)
            density += 0.10 * band * ((xx - 256) * side > 0)
    for side in (-1, 1):                                           # clavicles
        line = 120 + 0.15 * side * (xx - 256)
        density += 0.2 * np.exp(-((yy - line) / 8) ** 2) * (np.abs(xx - 256) < 180) * ((xx - 256) * side > 0)
    rng = np.random.default_rng(20261128)
    density += rng.normal(0, 0.012, density.shape)
    return np.clip(density * 4095, 0, 4095).astype(np.uint16)


def main():
    out = sys.argv[1]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # DX for presentation
    meta.MediaStorageSOPInstanceUID = fixed_uid("evax example instance")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(out, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = fixed_uid("evax example study")
    ds.SeriesInstanceUID = fixed_uid("evax example series")
    ds.PatientName = "EVAX^SYNTHETIC"
    ds.PatientID = "SYNTHETIC-0001"
    ds.PatientSex = "O"
    ds.StudyDate = ds.SeriesDate = "20261128"
    ds.StudyTime = "120000"
    ds.AccessionNumber = "SYN0001"
    ds.StudyDescription = "Synthetic chest PA (drawn, not a patient)"
    ds.Modality = "DX"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.Manufacturer = "evax-node example generator"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PixelSpacing = ["0.7", "0.7"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = HEIGHT, WIDTH
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.WindowCenter, ds.WindowWidth = 1900, 3000
    ds.PixelData = draw().tobytes()
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(out, write_like_original=False)


if __name__ == "__main__":
    main()
