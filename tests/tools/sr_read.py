#!/usr/bin/env python3
"""Reads the node's SR as a TID 1500 Measurement Report with highdicom, the independent reader
the tests compare what the node meant to write with, and prints one JSON document:
  {"sop_class_uid", "root", "predecessors": [SOP Instance UID, ...],
   "evidence": [SOP Instance UID, ...],
   "groups": [{"tracking_identifier", "tracking_uid", "finding": [value, scheme, meaning],
               "finding_category": [value, scheme, meaning] | null, "source_sop_instance_uid",
               "measurements": [{"name", "value", "unit",
                                 "sources": [{"sop_instance_uid", "segments": [n, ...] | null}]}],
               "evaluations": [{"name", "value"}]}],
   "image_evaluations": [{"name", "value", "sop_instance_uid"}]}
highdicom raises on what it cannot read as TID 1500 / TID 1410; the script then fails.
usage: sr_read.py SR.dcm   (run with the tools venv: scripts/install-python-tools.sh)
"""
import json
import sys

import highdicom as hd
from pydicom.sr.coding import Code


def code(c):
    return [c.value, c.scheme_designator, c.meaning] if c is not None else None


def main():
    sr = hd.sr.srread(sys.argv[1])
    report = sr.content  # a MeasurementReport: highdicom checked the 126000 root
    groups = []
    for group in report.get_planar_roi_measurement_groups():
        roi = group.roi
        source = roi.ReferencedSOPSequence[0] if "ReferencedSOPSequence" in roi else roi.ContentSequence[0].ReferencedSOPSequence[0]
        measurements = []
        for m in group.get_measurements():
            sources = [{"sop_instance_uid": image.referenced_sop_instance_uid, "segments": image.referenced_segment_numbers}
                       for image in m.referenced_images]
            measurements.append({"name": m.name.meaning, "value": float(m.value), "unit": m.unit.value, "sources": sources})
        groups.append({
            "tracking_identifier": group.tracking_identifier,
            "tracking_uid": str(group.tracking_uid),
            "finding": code(group.finding_type),
            "finding_category": code(group.finding_category),
            "source_sop_instance_uid": source.ReferencedSOPInstanceUID,
            "measurements": measurements,
            "evaluations": [{"name": e.name.meaning, "value": e.value.meaning} for e in group.get_qualitative_evaluations()],
        })
    # The report-level Qualitative Evaluations (TID 1500 rows 12, 13); highdicom has no reader
    # for them, so they are read from its content items.
    image_evaluations = []
    for container in hd.sr.utils.find_content_items(sr, name=Code("C0034375", "UMLS", "Qualitative Evaluations")):
        for item in container.ContentSequence:
            if item.ValueType != "CODE":
                continue
            images = [child.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
                      for child in getattr(item, "ContentSequence", []) if child.ValueType == "IMAGE"]
            image_evaluations.append({"name": item.ConceptNameCodeSequence[0].CodeMeaning,
                                      "value": item.ConceptCodeSequence[0].CodeMeaning,
                                      "sop_instance_uid": images[0] if images else None})
    evidence = [i.ReferencedSOPInstanceUID for s in sr.get("CurrentRequestedProcedureEvidenceSequence", [])
                for r in s.ReferencedSeriesSequence for i in r.ReferencedSOPSequence]
    predecessors = [i.ReferencedSOPInstanceUID for s in sr.get("PredecessorDocumentsSequence", [])
                    for r in s.ReferencedSeriesSequence for i in r.ReferencedSOPSequence]
    print(json.dumps({"sop_class_uid": sr.SOPClassUID, "root": code(hd.sr.CodedConcept.from_dataset(sr.ConceptNameCodeSequence[0])),
                      "predecessors": predecessors, "evidence": evidence, "groups": groups,
                      "image_evaluations": image_evaluations}))


if __name__ == "__main__":
    main()
