"""Synthetic DX files for the benchmark and test scripts (Debian's python3-pydicom and python3-numpy)."""
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

DX = "1.2.840.10008.5.1.4.1.1.1.1"


def write_dx(path, pixels, study_uid, view, patient_name, patient_id, **attributes):
    """A 12-bit chest DX (uint16 `pixels`, rows x columns) in explicit VR little endian, with
    fresh series and instance UIDs; `attributes` are further dataset attributes by keyword.
    Returns the SOP Instance UID."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = DX, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, generate_uid()
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = "DX", "CHEST", view
    ds.PatientName, ds.PatientID = patient_name, patient_id
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.tobytes()
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(path, write_like_original=False)
    return ds.SOPInstanceUID
