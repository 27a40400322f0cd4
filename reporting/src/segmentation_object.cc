// The lung segmentation as a DICOM Segmentation: BINARY, one segment and one frame per lung,
// derived from the analysed image. DCMTK's dcmseg builds it; three things are done around it:
//  - Frame geometry for viewers. Each frame's pixels are the source image's (Derivation Image,
//    per frame, with Spatial Locations Preserved YES: highdicom maps frames to the source
//    through it, OHIF 3.13 only through a per-frame item). OHIF 3.13 also reads the shared
//    Plane Orientation (Patient) without a guard and compares it with the orientation it assumes
//    for the source (the identity, for a radiograph without Image Orientation); without one it
//    shows nothing. A CR/DX image has no Frame of Reference, and the SEG IOD allows Plane
//    Orientation (Patient) only in a patient-relative one, so the SEG defines its own Frame of
//    Reference (no other object shares it: it places the frames relative to nothing but this
//    SEG) with the identity orientation. The frames stay tied to the X-ray by Derivation Image.
//    Pixel Measures and Plane Position are left out: with Derivation Image they are optional,
//    and a projection has no plane position in the patient to give.
//  - Patient Orientation, as the source has it, tells left from right.
//  - The Pixel Data is packed here. DCMTK 3.6.7 packs each frame correctly
//    (DcmSegUtils::packBinaryFrame) but joins them wrongly (DcmSegmentation::concatFrames) when
//    rows * columns is not a multiple of 8: its final "clear the unused bits" step clears the
//    low, used bits of the last byte, so the last pixels of the last frame are lost; and a frame
//    that starts mid-byte is shifted inside its own packed length, so when it spills into one
//    byte more its last bits are dropped and the next frame starts a byte early. Fixed in DCMTK
//    3.6.9 (issue #1132). Its reader (DcmIODUtil::extractBinaryFrames) has the mirror bug, so
//    the check after writing unpacks the bits itself.
#include "evax/reporting/segmentation_object.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmfg/fgderimg.h>
#include <dcmtk/dcmfg/fgfracon.h>
#include <dcmtk/dcmseg/segdoc.h>
#include <dcmtk/dcmseg/segment.h>

#include <algorithm>
#include <memory>

#include "dicom_file.h"

namespace evax::reporting {
namespace {

constexpr const char* kContentLabel = "LUNGS";

struct Failure {
  std::string what;
};

void check(const OFCondition& status, const std::string& step) {
  if (status.bad()) throw Failure{step + ": " + status.text()};
}

CodeSequenceMacro code(const char* value, const char* scheme, const char* meaning) {
  return CodeSequenceMacro(value, scheme, meaning);
}

std::string request_problem(const SegmentationRequest& r) {
  if (r.lungs.empty()) return "no lung to segment";
  if (r.lungs.size() > 2) return "more than two lungs";
  if (r.lungs.size() == 2 && r.lungs[0].laterality == r.lungs[1].laterality) return "both masks are the same lung";
  if (r.width <= 0 || r.height <= 0 || r.width > 65535 || r.height > 65535) return "the image size is not a DICOM image size";
  const std::size_t pixels = static_cast<std::size_t>(r.width) * static_cast<std::size_t>(r.height);
  for (const auto& lung : r.lungs) {
    if (lung.mask.size() != pixels) return "a lung mask does not match the image size";
    if (std::ranges::none_of(lung.mask, [](std::uint8_t v) { return v != 0; })) return "a lung mask is empty";
  }
  return {};
}

std::string content_description(const AlgorithmIdentity& a) {
  return a.demo ? "AI-GENERATED lung segmentation. DEMO MODEL - UNTRAINED WEIGHTS"
                : "AI-GENERATED lung segmentation. NOT FOR DIAGNOSTIC USE";
}

// Algorithm Version is an LO (64 characters): the node's version and the checkpoint's digest
// prefix; the full digest goes into Algorithm Parameters.
AlgorithmIdentificationMacro algorithm_identification(const AlgorithmIdentity& a) {
  AlgorithmIdentificationMacro id;
  check(id.getAlgorithmFamilyCode().set("123110", "DCM", "Artificial Intelligence"), "algorithm family");
  check(id.setAlgorithmName(a.model_name.c_str()), "algorithm name");
  const bool demo_weights = a.demo || a.checkpoint_sha256.empty();
  const std::string weights = demo_weights ? "demo" : "sha256:" + a.checkpoint_sha256.substr(0, 16);
  check(id.setAlgorithmVersion((a.software_version + " " + weights).substr(0, 64).c_str()), "algorithm version");
  const std::string parameters = demo_weights ? "demo weights (untrained)" : "checkpoint sha256 " + a.checkpoint_sha256;
  check(id.setAlgorithmParameters(parameters.c_str()), "algorithm parameters");
  return id;
}

DcmSegment* make_segment(const LungMask& lung, const AlgorithmIdentity& a) {
  const bool right = lung.laterality == Laterality::right;
  DcmSegment* segment = nullptr;
  check(DcmSegment::create(segment, right ? "Right lung" : "Left lung", code("91723000", "SCT", "Anatomical Structure"),
                           code("39607008", "SCT", "Lung"), DcmSegTypes::SAT_AUTOMATIC, a.model_name.c_str()),
        "segment");
  std::unique_ptr<DcmSegment> owned(segment);
  segment->getSegmentedPropertyTypeModifierCode().push_back(
      new CodeSequenceMacro(right ? code("24028007", "SCT", "Right") : code("7771000", "SCT", "Left")));
  check(segment->setSegmentationAlgorithmIdentification(algorithm_identification(a)), "algorithm identification");
  // Distinct display colours (CIELab, DICOM-scaled) so a viewer tells the lungs apart.
  check(right ? segment->setRecommendedDisplayCIELabValue(34000, 53000, 16000)
              : segment->setRecommendedDisplayCIELabValue(45000, 40000, 50000),
        "display colour");
  return owned.release();
}

// Binary frames as PS3.5 8.1.1 packs them: one bit per pixel, least significant bit first,
// frame after frame with no padding between them, zero bits after the last one.
std::vector<Uint8> pack_frames(const std::vector<LungMask>& lungs, std::size_t pixels_per_frame) {
  std::vector<Uint8> packed((lungs.size() * pixels_per_frame + 7) / 8, 0);
  std::size_t bit = 0;
  for (const auto& lung : lungs)
    for (std::size_t i = 0; i < pixels_per_frame; ++i, ++bit)
      if (lung.mask[i] != 0) packed[bit / 8] |= static_cast<Uint8>(1u << (bit % 8));
  return packed;
}

// The written object read back with DCMTK: its parser, its SEG reader, and every frame's bits.
std::string read_back_problem(const std::vector<std::uint8_t>& bytes, const SegmentationRequest& request) {
  auto file = parse_part10(bytes);
  if (!file) return file.error();
  DcmDataset& dataset = *(*file)->getDataset();
  DcmSegmentation* loaded = nullptr;
  const OFCondition status = DcmSegmentation::loadDataset(dataset, loaded);
  std::unique_ptr<DcmSegmentation> segmentation(loaded);
  if (status.bad() || !segmentation) return std::string("DCMTK cannot read it back: ") + status.text();
  if (segmentation->getNumberOfSegments() != request.lungs.size() || segmentation->getNumberOfFrames() != request.lungs.size())
    return "segments or frames are missing";
  const Uint8* pixel_data = nullptr;
  unsigned long length = 0;
  if (dataset.findAndGetUint8Array(DCM_PixelData, pixel_data, &length).bad() || !pixel_data) return "no Pixel Data";
  const std::size_t pixels = static_cast<std::size_t>(request.width) * static_cast<std::size_t>(request.height);
  if (length * 8 < request.lungs.size() * pixels) return "the Pixel Data is too short";
  std::size_t bit = 0;
  for (const auto& lung : request.lungs)
    for (std::size_t i = 0; i < pixels; ++i, ++bit)
      if (((pixel_data[bit / 8] >> (bit % 8)) & 1u) != (lung.mask[i] != 0 ? 1u : 0u)) return "a frame's bits differ from its mask";
  return {};
}

// DCMTK 3.6.7 demands a Frame of Reference UID (type 1) on every write, and with one, Pixel
// Measures and Plane Position as well (an older reading of the IOD: today both are optional
// with Derivation Image). The Frame of Reference is written after DCMTK, by place_frames().
void allow_no_frame_of_reference(DcmSegmentation& seg) {
  const OFString module = seg.getFrameOfReference().getName();
  seg.getRules()->addRule(new IODRule(DCM_FrameOfReferenceUID, "1", "1C", module, DcmIODTypes::IE_FOR), OFTrue);
  seg.getRules()->addRule(new IODRule(DCM_PositionReferenceIndicator, "1", "2C", module, DcmIODTypes::IE_FOR), OFTrue);
}

// The SEG's own Frame of Reference and the identity plane orientation (see the top of the file).
void place_frames(DcmItem& dataset) {
  check(dataset.putAndInsertString(DCM_FrameOfReferenceUID, new_uid(SITE_INSTANCE_UID_ROOT).c_str()), "frame of reference");
  check(dataset.putAndInsertString(DCM_PositionReferenceIndicator, ""), "position reference indicator");
  DcmItem* shared = nullptr;
  check(dataset.findOrCreateSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0), "shared functional groups");
  DcmItem* orientation = nullptr;
  check(shared->findOrCreateSequenceItem(DCM_PlaneOrientationSequence, orientation, 0), "plane orientation");
  check(orientation->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0"), "image orientation");
}

// Derivation Image of one frame: the source image, pixel for pixel.
std::unique_ptr<FGDerivationImage> derivation_image(DcmItem& source, const AlgorithmIdentity& algorithm) {
  OFVector<ImageSOPInstanceReferenceMacro> sources(1);
  check(sources[0].setReferencedSOPClassUID(element_string(source, DCM_SOPClassUID).c_str()), "source SOP class");
  check(sources[0].setReferencedSOPInstanceUID(element_string(source, DCM_SOPInstanceUID).c_str()), "source SOP instance");
  std::unique_ptr<FGDerivationImage> derivation(FGDerivationImage::createMinimal(
      sources, ("Lung segmentation by " + model_description(algorithm)).c_str(), code("113076", "DCM", "Segmentation"),
      code("121322", "DCM", "Source image for image processing operation")));
  if (!derivation) throw Failure{"derivation image: cannot be created"};
  return derivation;
}

// Spatial Locations Preserved (DCMTK 3.6.7's Derivation Image has no setter): each frame's
// source image item says its pixels are the source's, which readers need to map frames.
void mark_spatial_locations_preserved(DcmItem& dataset) {
  DcmSequenceOfItems* frames = nullptr;
  if (dataset.findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, frames).bad() || !frames)
    throw Failure{"no per-frame functional groups"};
  for (unsigned long f = 0; f < frames->card(); ++f) {
    DcmItem* derivation = nullptr;
    DcmSequenceOfItems* sources = nullptr;
    if (frames->getItem(f)->findAndGetSequenceItem(DCM_DerivationImageSequence, derivation, 0).bad() ||
        derivation->findAndGetSequence(DCM_SourceImageSequence, sources).bad() || !sources)
      throw Failure{"a frame has no derivation image"};
    for (unsigned long i = 0; i < sources->card(); ++i)
      check(sources->getItem(i)->putAndInsertString(DCM_SpatialLocationsPreserved, "YES"), "spatial locations preserved");
  }
}

// Common Instance Reference names the source image.
void reference_source(DcmSegmentation& seg, DcmItem& source) {
  const std::string sop_class = element_string(source, DCM_SOPClassUID);
  const std::string sop_instance = element_string(source, DCM_SOPInstanceUID);
  const std::string study_uid = element_string(source, DCM_StudyInstanceUID);
  IODReferences references;
  references.add(new IODImageReference(element_string(source, DCM_PatientID).c_str(), study_uid.c_str(),
                                       element_string(source, DCM_SeriesInstanceUID).c_str(), sop_instance.c_str(),
                                       sop_class.c_str()));
  if (seg.getCommonInstanceReference().addReferences(references, study_uid.c_str()) != 1)
    throw Failure{"common instance reference: the source is not referenced"};
}

// One segment and one frame per lung, in the request's order; the frames are indexed by
// segment number only (there is no plane position). DCMTK checks that index against the
// functional groups before it writes them, so the check runs after writing instead.
void add_lungs(DcmSegmentation& seg, const SegmentationRequest& request, DcmItem& source) {
  seg.setCheckDimensionsOnWrite(OFFalse);
  check(seg.getDimensions().addDimensionIndex(DCM_ReferencedSegmentNumber, new_uid(SITE_INSTANCE_UID_ROOT).c_str(),
                                              DCM_SegmentIdentificationSequence, "ReferencedSegmentNumber"),
        "dimension index");
  for (const auto& lung : request.lungs) {
    Uint16 segment_number = 0;
    std::unique_ptr<DcmSegment> segment(make_segment(lung, request.algorithm));
    check(seg.addSegment(segment.get(), segment_number), "add segment");
    segment.release();  // owned by the segmentation now
    FGFrameContent frame_content;
    check(frame_content.setDimensionIndexValues(segment_number, 0), "dimension index value");
    const std::unique_ptr<FGDerivationImage> derivation = derivation_image(source, request.algorithm);
    OFVector<FGBase*> per_frame;
    per_frame.push_back(&frame_content);
    per_frame.push_back(derivation.get());
    std::vector<Uint8> frame(lung.mask.begin(), lung.mask.end());
    check(seg.addFrame(frame.data(), segment_number, per_frame), "add frame");
  }
}

}  // namespace

std::expected<DicomObject, std::string> build_lung_segmentation(const SegmentationRequest& request) {
  if (const std::string problem = request_problem(request); !problem.empty())
    return std::unexpected("cannot build the lung segmentation: " + problem);
  try {
    auto source = load_source(request.source_path);
    if (!source) return std::unexpected(source.error());
    DcmDataset& source_set = *(*source)->getDataset();
    Uint16 source_rows = 0, source_columns = 0;
    source_set.findAndGetUint16(DCM_Rows, source_rows);
    source_set.findAndGetUint16(DCM_Columns, source_columns);
    if (source_rows != request.height || source_columns != request.width)
      throw Failure{"the masks do not match the source image's size"};

    const AlgorithmIdentity& algorithm = request.algorithm;
    const std::string serial = algorithm.device_observer_uid.empty() ? algorithm.manufacturer : algorithm.device_observer_uid;
    const IODGeneralEquipmentModule::EquipmentInfo equipment(algorithm.manufacturer.c_str(), algorithm.model_name.c_str(),
                                                             serial.c_str(),
                                                             (algorithm.manufacturer + " " + algorithm.software_version).c_str());
    const ContentIdentificationMacro content(std::to_string(request.instance_number).c_str(), kContentLabel,
                                             content_description(algorithm).c_str(), "");
    DcmSegmentation* created = nullptr;
    check(DcmSegmentation::createBinarySegmentation(created, static_cast<Uint16>(request.height),
                                                    static_cast<Uint16>(request.width), equipment, content),
          "create");
    std::unique_ptr<DcmSegmentation> seg(created);
    // Patient and study only; a Frame of Reference the source may have is not taken over.
    check(seg->importHierarchy(source_set, OFTrue, OFTrue, OFFalse, OFFalse, OFTrue), "patient and study");
    allow_no_frame_of_reference(*seg);
    const std::string sop_instance_uid = new_uid(SITE_INSTANCE_UID_ROOT);
    const std::string series_uid = request.series_instance_uid.empty() ? new_series_uid() : request.series_instance_uid;
    check(seg->getSOPCommon().setSOPInstanceUID(sop_instance_uid.c_str()), "SOP instance");
    check(seg->getSeries().setSeriesInstanceUID(series_uid.c_str()), "series");
    check(seg->getSeries().setSeriesNumber(std::to_string(request.series_number).c_str()), "series number");
    check(seg->getSeries().setSeriesDescription(algorithm.demo ? "EVA-X AI lung segmentation (DEMO MODEL)"
                                                               : "EVA-X AI lung segmentation"),
          "series description");
    reference_source(*seg, source_set);
    add_lungs(*seg, request, source_set);

    DcmFileFormat file;
    DcmDataset& d = *file.getDataset();
    check(seg->writeDataset(d), "write");
    check(seg->getDimensions().checkDimensions(&d), "dimension index");
    mark_spatial_locations_preserved(d);
    place_frames(d);
    // The same bytes as the SC and SR: patient and study as received, the node's equipment.
    copy_patient_and_study(source_set, d);
    put_equipment(algorithm, d);
    // The source's orientation labels, as the SC has them.
    d.putAndInsertString(DCM_PatientOrientation, element_string(source_set, DCM_PatientOrientation).c_str());
    const std::size_t pixels = static_cast<std::size_t>(request.width) * static_cast<std::size_t>(request.height);
    const std::vector<Uint8> packed = pack_frames(request.lungs, pixels);
    check(d.putAndInsertUint8Array(DCM_PixelData, packed.data(), static_cast<unsigned long>(packed.size())), "pixel data");

    auto bytes = to_part10(file);
    if (!bytes) return std::unexpected(bytes.error());
    if (const std::string problem = read_back_problem(*bytes, request); !problem.empty())
      return std::unexpected("the lung segmentation failed its read-back check: " + problem);
    return DicomObject{"seg",
                       {element_string(d, DCM_StudyInstanceUID), series_uid, UID_SegmentationStorage, sop_instance_uid},
                       std::move(*bytes)};
  } catch (const Failure& failure) {
    return std::unexpected("cannot build the lung segmentation: " + failure.what);
  } catch (const std::exception& e) {
    return std::unexpected(std::string("cannot build the lung segmentation: ") + e.what());
  }
}

}  // namespace evax::reporting
