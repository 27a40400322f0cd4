#!/usr/bin/env python3
"""Reads every DICOM file of a directory of result objects (SR, SC, SEG, Parametric Map, KOS)
with pydicom and highdicom, the independent readers, and prints one JSON document describing
what they found, for tests to compare with what the node meant to write:
  {"objects": [{"file", "sop_class_uid", "kind", "sop_instance_uid", "series_instance_uid",
                "study_instance_uid", "modality", "contributing_equipment": [{"purpose": [value,
                scheme, meaning], "manufacturer", "model_name", "software_versions": [...],
                "device_uid"}], ...kind-specific fields...}],
   "errors": [{"file", "error"}]}
Kind-specific fields:
  pmap: "rows", "columns", "frames": [{"lut_label", "lut_explanation", "quantity": [value, scheme, meaning],
        "unit", "min", "max", "mean", "source_sop_instance_uid", "max_abs_difference"
        (only with --compare)}]
  sr:   "template", "groups": [{"tracking_identifier", "tracking_uid", "finding"}] (TID 1500
        measurement groups read with highdicom.sr)
  seg:  "segments": [{"number", "label", "property_type": [value, scheme, meaning]}]
  kos:  "title": [value, scheme, meaning], "referenced": [sop instance uids of the content
        tree], "evidence": [sop instance uids of the Current Requested Procedure Evidence]
  sc:   nothing more
usage: air_objects_check.py DIR [--compare MAPS.json]
  MAPS.json: {"<LUT label>": [the frame's intended values, row-major], ...}; a frame's
  max_abs_difference is then the largest difference between its real world values and these.
Run with the tools venv (scripts/install-python-tools.sh). Exit status 0 even when a file
cannot be read: that file is listed under "errors".
"""
import argparse
import json
import os
import sys

import highdicom as hd
import numpy as np
import pydicom

PARAMETRIC_MAP = "1.2.840.10008.5.1.4.1.1.30"
SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"
SR_PREFIX = "1.2.840.10008.5.1.4.1.1.88."


def code(item):
    return [str(item.CodeValue), str(item.CodingSchemeDesignator), str(item.CodeMeaning)]


def contributing_equipment(ds):
    items = []
    for item in ds.get("ContributingEquipmentSequence", []):
        purpose = item.get("PurposeOfReferenceCodeSequence")
        versions = item.get("SoftwareVersions")
        items.append({
            "purpose": code(purpose[0]) if purpose else None,
            "manufacturer": str(item.get("Manufacturer", "")),
            "model_name": str(item.get("ManufacturerModelName", "")),
            "software_versions": [str(v) for v in versions] if isinstance(versions, pydicom.multival.MultiValue)
            else ([str(versions)] if versions else []),
            "device_uid": str(item.get("DeviceUID", "")),
        })
    return items


def parametric_map(path, ds, comparison):
    pm = hd.pm.ParametricMap.from_dataset(ds)
    # highdicom 0.28 decodes a single float frame as integers (it asks for Pixel Representation,
    # which the Floating Point Image Pixel module does not have); decoding all frames at once goes
    # through pydicom, which reads Float Pixel Data right, and get_frame then uses that array.
    pm.pixel_array
    out = {"rows": int(pm.Rows), "columns": int(pm.Columns), "frames": []}
    for index, group in enumerate(pm.PerFrameFunctionalGroupsSequence):
        mapping = group.RealWorldValueMappingSequence[0]
        values = np.asarray(pm.get_frame(index + 1, apply_real_world_transform=True), dtype=np.float64)
        quantity = mapping.get("QuantityDefinitionSequence")
        frame = {
            "lut_label": str(mapping.LUTLabel),
            "lut_explanation": str(mapping.get("LUTExplanation", "")),
            "quantity": code(quantity[0].ConceptCodeSequence[0]) if quantity else None,
            "unit": code(mapping.MeasurementUnitsCodeSequence[0]),
            "min": float(values.min()), "max": float(values.max()), "mean": float(values.mean()),
            "source_sop_instance_uid": str(group.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID),
        }
        if comparison is not None and frame["lut_label"] in comparison:
            expected = np.asarray(comparison[frame["lut_label"]], dtype=np.float64)
            frame["max_abs_difference"] = float(np.abs(values.reshape(-1) - expected.reshape(-1)).max()) \
                if expected.size == values.size else None
        out["frames"].append(frame)
    return out


def structured_report(path):
    sr = hd.sr.srread(path)
    template = sr.ContentTemplateSequence[0].TemplateIdentifier if "ContentTemplateSequence" in sr else None
    groups = []
    for group in list(sr.content.get_planar_roi_measurement_groups()) + list(sr.content.get_image_measurement_groups()):
        groups.append({
            "tracking_identifier": group.tracking_identifier,
            "tracking_uid": str(group.tracking_uid) if group.tracking_uid else None,
            "finding": group.finding_type.meaning if group.finding_type else None,
        })
    return {"template": template, "groups": groups}


def segmentation(path):
    seg = hd.seg.segread(path)
    return {"segments": [{"number": int(s.SegmentNumber), "label": str(s.SegmentLabel),
                          "property_type": code(s.SegmentedPropertyTypeCodeSequence[0])}
                         for s in seg.SegmentSequence]}


def key_object_selection(ds):
    kos = hd.ko.KeyObjectSelectionDocument.from_dataset(ds)
    referenced = []
    for item in kos.ContentSequence:
        if "ReferencedSOPSequence" in item:
            referenced.append(str(item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID))
    evidence = [str(i.ReferencedSOPInstanceUID)
                for study in ds.get("CurrentRequestedProcedureEvidenceSequence", [])
                for series in study.ReferencedSeriesSequence for i in series.ReferencedSOPSequence]
    return {"title": code(ds.ConceptNameCodeSequence[0]), "referenced": referenced, "evidence": evidence}


def describe(path, comparison):
    ds = pydicom.dcmread(path)
    sop_class = str(ds.SOPClassUID)
    out = {"file": os.path.basename(path), "sop_class_uid": sop_class, "sop_instance_uid": str(ds.SOPInstanceUID),
           "series_instance_uid": str(ds.SeriesInstanceUID), "study_instance_uid": str(ds.StudyInstanceUID),
           "modality": str(ds.get("Modality", "")), "contributing_equipment": contributing_equipment(ds)}
    if sop_class == PARAMETRIC_MAP:
        out["kind"] = "pmap"
        out.update(parametric_map(path, ds, comparison))
    elif sop_class == SEGMENTATION:
        out["kind"] = "seg"
        out.update(segmentation(path))
    elif sop_class == KEY_OBJECT_SELECTION:
        out["kind"] = "kos"
        out.update(key_object_selection(ds))
    elif sop_class.startswith(SR_PREFIX):
        out["kind"] = "sr"
        out.update(structured_report(path))
    else:
        out["kind"] = "sc" if sop_class.startswith("1.2.840.10008.5.1.4.1.1.7") else "other"
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--compare", help="JSON of the intended Parametric Map frames, by LUT label")
    args = parser.parse_args()
    comparison = None
    if args.compare:
        with open(args.compare) as f:
            comparison = json.load(f)
    objects, errors = [], []
    for name in sorted(os.listdir(args.directory)):
        path = os.path.join(args.directory, name)
        if not os.path.isfile(path) or name.endswith(".json"):
            continue
        try:
            objects.append(describe(path, comparison))
        except Exception as e:  # a file that cannot be read is reported, not fatal
            errors.append({"file": name, "error": f"{type(e).__name__}: {e}"})
    print(json.dumps({"objects": objects, "errors": errors}))


if __name__ == "__main__":
    sys.exit(main())
