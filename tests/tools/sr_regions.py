#!/usr/bin/env python3
"""Reads a TID 1500 SR's planar ROI groups (TID 1410) with highdicom, the independent reader the
tests compare the node's regions with, and prints them as one JSON document:
  {"groups": [{"tracking_identifier", "finding", "graphic_type", "points": [[column, row], ...],
               "source_sop_instance_uid", "measurements": [{"name", "value", "unit"}]}]}
usage: sr_regions.py SR.dcm   (run with the tools venv: scripts/install-python-tools.sh)
"""
import json
import sys

import highdicom as hd


def main():
    sr = hd.sr.srread(sys.argv[1])
    groups = []
    for group in sr.content.get_planar_roi_measurement_groups():
        roi = group.roi
        source = roi.ReferencedSOPSequence[0] if "ReferencedSOPSequence" in roi else roi.ContentSequence[0].ReferencedSOPSequence[0]
        groups.append({
            "tracking_identifier": group.tracking_identifier,
            "finding": group.finding_type.meaning if group.finding_type else None,
            "graphic_type": roi.graphic_type.value,
            "points": [[float(c), float(r)] for c, r in roi.value.reshape(-1, 2)],
            "source_sop_instance_uid": source.ReferencedSOPInstanceUID,
            "measurements": [{"name": m.name.meaning, "value": float(m.value), "unit": m.unit.value}
                             for m in group.get_measurements()],
        })
    print(json.dumps({"groups": groups}))


if __name__ == "__main__":
    main()
