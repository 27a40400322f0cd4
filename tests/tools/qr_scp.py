"""An independent Query/Retrieve SCP (pynetdicom) for the retrieval tests: serves the DICOM
files in a folder by Study Root C-FIND at STUDY level (StudyInstanceUID, AccessionNumber,
ModalitiesInStudy and StudyDate ranges matched), C-GET and C-MOVE (to the destinations named
with --move AE=host:port), and C-ECHO so that a test can tell when it listens.

usage: qr_scp.py PORT AE_TITLE FOLDER [--move AE=HOST:PORT ...] [--delay SECONDS]
(--delay: each C-MOVE and C-GET waits this long before its first sub-operation)
Logs each request (level, keys, result count) on stdout."""
import argparse
import pathlib
import sys
import time

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pynetdicom import AE, evt, StoragePresentationContexts, VerificationPresentationContexts
from pynetdicom.sop_class import (StudyRootQueryRetrieveInformationModelFind,
                                  StudyRootQueryRetrieveInformationModelGet,
                                  StudyRootQueryRetrieveInformationModelMove)


def load(folder):
    return [dcmread(p) for p in sorted(pathlib.Path(folder).glob("*.dcm"))]


def matches(ds, keys):
    uid = str(keys.get("StudyInstanceUID", "") or "")
    if uid and ds.StudyInstanceUID not in uid.split("\\"):
        return False
    accession = str(keys.get("AccessionNumber", "") or "")
    if accession and str(ds.get("AccessionNumber", "")) != accession:
        return False
    value = keys.get("ModalitiesInStudy", "")
    wanted = [str(m) for m in value] if isinstance(value, MultiValue) else [m for m in str(value or "").split("\\") if m]
    if wanted and str(ds.Modality) not in [str(m) for m in wanted]:
        return False
    dates = str(keys.get("StudyDate", "") or "")
    if dates:
        date = str(ds.get("StudyDate", ""))
        low, _, high = dates.partition("-") if "-" in dates else (dates, "", dates)
        if (low and date < low) or (high and date > high):
            return False
    return True


def studies(instances, keys):
    found = {}
    for ds in instances:
        if matches(ds, keys):
            found.setdefault(ds.StudyInstanceUID, []).append(ds)
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("ae_title")
    parser.add_argument("folder")
    parser.add_argument("--move", action="append", default=[])
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    destinations = {}
    for entry in args.move:
        ae_title, _, address = entry.partition("=")
        host, _, port = address.rpartition(":")
        destinations[ae_title] = (host, int(port))

    def on_find(event):
        keys = event.identifier
        found = studies(load(args.folder), keys)
        print("C-FIND", keys.get("QueryRetrieveLevel", ""), len(found), flush=True)
        for uid, instances in found.items():
            first = instances[0]
            answer = Dataset()
            answer.QueryRetrieveLevel = "STUDY"
            answer.StudyInstanceUID = uid
            answer.AccessionNumber = first.get("AccessionNumber", "")
            answer.StudyDate = first.get("StudyDate", "")
            answer.ModalitiesInStudy = sorted({str(i.Modality) for i in instances})
            answer.BodyPartExamined = first.get("BodyPartExamined", "")
            yield 0xFF00, answer

    def selected(event):
        found = studies(load(args.folder), event.identifier)
        return [ds for instances in found.values() for ds in instances]

    def on_get(event):
        instances = selected(event)
        print("C-GET", len(instances), flush=True)
        time.sleep(args.delay)
        yield len(instances)
        for ds in instances:
            yield 0xFF00, ds

    def on_move(event):
        destination = destinations.get(event.move_destination.decode().strip() if isinstance(event.move_destination, bytes) else str(event.move_destination).strip())
        if destination is None:
            print("C-MOVE to an unknown destination", flush=True)
            yield None, None
            return
        instances = selected(event)
        print("C-MOVE", len(instances), flush=True)
        time.sleep(args.delay)
        yield destination[0], destination[1]
        yield len(instances)
        for ds in instances:
            yield 0xFF00, ds

    ae = AE(ae_title=args.ae_title)
    ae.supported_contexts = VerificationPresentationContexts
    for model in (StudyRootQueryRetrieveInformationModelFind, StudyRootQueryRetrieveInformationModelGet,
                  StudyRootQueryRetrieveInformationModelMove):
        ae.add_supported_context(model)
    for context in StoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, scu_role=False, scp_role=True)
    # For the C-MOVE sub-operations, sent on a new association to the destination.
    ae.requested_contexts = StoragePresentationContexts
    handlers = [(evt.EVT_C_FIND, on_find), (evt.EVT_C_GET, on_get), (evt.EVT_C_MOVE, on_move)]
    print("listening", args.port, flush=True)
    ae.start_server(("127.0.0.1", args.port), block=True, evt_handlers=handlers)


if __name__ == "__main__":
    sys.exit(main())
