// The Grad-CAM Parametric Map. DCMTK's dcmpmap builds it (float pixels, one frame per finding);
// around it:
//  - Geometry. Like the lung SEG, a CR/DX source has no Frame of Reference, so the map defines
//    its own with the identity orientation and the origin at the top left corner; Pixel
//    Measures give the source's spacing times the downsampling. The frames are tied to the
//    X-ray by Derivation Image (Spatial Locations Preserved YES only at downsampling 1).
//  - Frames are told apart by their quantity: the dimension index is the Real World Value
//    Mapping's LUT Label (the finding's label), 1 for the first (most probable) frame.
//  - Real World Value Mapping per frame: identity (slope 1, intercept 0) over 0..1, unit
//    (1, UCUM, "no units"), Quantity Definition (246205007, SCT, "Quantity") = the finding's code.
//  - Palette hint: the LUT Explanation ends "display HOT_IRON" (the standard palette's name). The
//    Parametric Map IOD allows a Palette Color Lookup Table only for integer pixels, which would
//    cost the 0..1 floats their precision; viewers colour float maps with their own LUT.
#include "evax/reporting/parametric_map.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmfg/fgderimg.h>
#include <dcmtk/dcmfg/fgframeanatomy.h>
#include <dcmtk/dcmfg/fgfracon.h>
#include <dcmtk/dcmfg/fgparametricmapframetype.h>
#include <dcmtk/dcmfg/fgpixeltransform.h>
#include <dcmtk/dcmfg/fgpixmsr.h>
#include <dcmtk/dcmfg/fgplanor.h>
#include <dcmtk/dcmfg/fgplanpo.h>
#include <dcmtk/dcmfg/fgrealworldvaluemapping.h>
#include <dcmtk/dcmpmap/dpmparametricmapiod.h>

#include <cmath>
#include <memory>
#include <sstream>

#include "dicom_file.h"
#include "finding_codes.h"

namespace evax::reporting {
namespace {

constexpr int kMaxFrames = 32;
constexpr int kMaxDownsampling = 64;

struct Failure {
  std::string what;
};

void check(const OFCondition& status, const std::string& step) {
  if (status.bad()) throw Failure{step + ": " + status.text()};
}

std::string request_problem(const ParametricMapRequest& r) {
  if (r.frames.empty()) return "no heatmap to store";
  if (r.frames.size() > kMaxFrames) return "more than " + std::to_string(kMaxFrames) + " heatmaps";
  if (r.downsampling < 1 || r.downsampling > kMaxDownsampling)
    return "the downsampling must be an integer from 1 to " + std::to_string(kMaxDownsampling);
  for (const auto& frame : r.frames) {
    if (frame.label.empty()) return "a heatmap has no label";
    for (float v : frame.values)
      if (!std::isfinite(v) || v < 0.0f || v > 1.0f) return "heatmap '" + frame.label + "' has a value outside 0..1";
  }
  return {};
}

// The source's spacing (PixelSpacing, else ImagerPixelSpacing, else 1 mm) times d, "row\column".
std::string map_spacing(DcmItem& source, int d) {
  for (const DcmTagKey& tag : {DCM_PixelSpacing, DCM_ImagerPixelSpacing}) {
    Float64 row = 0, column = 0;
    if (source.findAndGetFloat64(tag, row, 0).good() && source.findAndGetFloat64(tag, column, 1).good() && row > 0 &&
        column > 0) {
      std::ostringstream out;
      out.precision(10);
      out << row * d << "\\" << column * d;
      return out.str();
    }
  }
  return std::to_string(d) + "\\" + std::to_string(d);
}

std::unique_ptr<FGDerivationImage> derivation_image(DcmItem& source, const AlgorithmIdentity& algorithm) {
  OFVector<ImageSOPInstanceReferenceMacro> sources(1);
  check(sources[0].setReferencedSOPClassUID(element_string(source, DCM_SOPClassUID).c_str()), "source SOP class");
  check(sources[0].setReferencedSOPInstanceUID(element_string(source, DCM_SOPInstanceUID).c_str()), "source SOP instance");
  std::unique_ptr<FGDerivationImage> derivation(FGDerivationImage::createMinimal(
      sources, ("Grad-CAM attention of " + model_description(algorithm)).c_str(),
      CodeSequenceMacro("113085", "DCM", "Spatial resampling"),
      CodeSequenceMacro("121322", "DCM", "Source image for image processing operation")));
  if (!derivation) throw Failure{"derivation image: cannot be created"};
  return derivation;
}

std::unique_ptr<FGRealWorldValueMapping> value_mapping(const HeatmapFrame& frame) {
  auto mapping = std::make_unique<FGRealWorldValueMapping>();
  auto* item = new FGRealWorldValueMapping::RWVMItem();
  mapping->getRealWorldValueMapping().push_back(item);
  check(item->setDoubleFloatRealWorldValueFirstValueMapped(0.0), "first value mapped");
  check(item->setDoubleFloatRealWorldValueLastValueMapped(1.0), "last value mapped");
  check(item->setRealWorldValueIntercept(0.0), "intercept");
  check(item->setRealWorldValueSlope(1.0), "slope");
  check(item->setLUTLabel(printable_label(frame.label).substr(0, 16).c_str(), OFFalse), "LUT label");
  check(item->setLUTExplanation(("Grad-CAM attention 0..1: " + printable_label(frame.label) + "; display HOT_IRON")
                                    .substr(0, 64)
                                    .c_str()),
        "LUT explanation");
  check(item->getMeasurementUnitsCode().set("1", "UCUM", "no units"), "units");
  return mapping;
}

// Quantity Definition (246205007, SCT, "Quantity") = the finding's code, in each frame's
// mapping (written here: DCMTK 3.6.7's content item macro needs more plumbing than it saves).
void put_quantities(DcmItem& dataset, const std::vector<HeatmapFrame>& frames) {
  DcmSequenceOfItems* per_frame = nullptr;
  if (dataset.findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, per_frame).bad() || !per_frame ||
      per_frame->card() != frames.size())
    throw Failure{"per-frame functional groups are missing"};
  for (unsigned long f = 0; f < per_frame->card(); ++f) {
    DcmItem* mapping = nullptr;
    check(per_frame->getItem(f)->findAndGetSequenceItem(DCM_RealWorldValueMappingSequence, mapping, 0), "value mapping");
    DcmItem* quantity = nullptr;
    check(mapping->findOrCreateSequenceItem(DCM_QuantityDefinitionSequence, quantity, 0), "quantity definition");
    check(quantity->putAndInsertString(DCM_ValueType, "CODE"), "value type");
    DcmItem* name = nullptr;
    check(quantity->findOrCreateSequenceItem(DCM_ConceptNameCodeSequence, name, 0), "quantity name");
    name->putAndInsertString(DCM_CodeValue, "246205007");
    name->putAndInsertString(DCM_CodingSchemeDesignator, "SCT");
    name->putAndInsertString(DCM_CodeMeaning, "Quantity");
    const Code finding = finding_codes(frames[f].label).finding;
    DcmItem* value = nullptr;
    check(quantity->findOrCreateSequenceItem(DCM_ConceptCodeSequence, value, 0), "quantity value");
    value->putAndInsertString(DCM_CodeValue, finding.value.c_str());
    value->putAndInsertString(DCM_CodingSchemeDesignator, finding.scheme.c_str());
    value->putAndInsertString(DCM_CodeMeaning, finding.meaning.c_str());
  }
}

void mark_spatial_locations(DcmItem& dataset, bool preserved) {
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
      check(sources->getItem(i)->putAndInsertString(DCM_SpatialLocationsPreserved, preserved ? "YES" : "NO"),
            "spatial locations preserved");
  }
}

void reference_source(DPMParametricMapIOD& map, DcmItem& source) {
  const std::string study_uid = element_string(source, DCM_StudyInstanceUID);
  IODReferences references;
  references.add(new IODImageReference(element_string(source, DCM_PatientID).c_str(), study_uid.c_str(),
                                       element_string(source, DCM_SeriesInstanceUID).c_str(),
                                       element_string(source, DCM_SOPInstanceUID).c_str(),
                                       element_string(source, DCM_SOPClassUID).c_str()));
  if (map.getIODCommonInstanceReferenceModule().addReferences(references, study_uid.c_str()) != 1)
    throw Failure{"common instance reference: the source is not referenced"};
}

void add_shared_groups(DPMParametricMapIOD& map, DcmItem& source, int d) {
  FGPixelMeasures measures;
  check(measures.setPixelSpacing(map_spacing(source, d).c_str()), "pixel spacing");
  check(measures.setSliceThickness("1"), "slice thickness");
  check(map.addForAllFrames(measures), "pixel measures");
  FGPlaneOrientationPatient orientation;
  check(orientation.setImageOrientationPatient("1", "0", "0", "0", "1", "0"), "orientation");
  check(map.addForAllFrames(orientation), "plane orientation");
  FGPlanePosPatient position;
  check(position.setImagePositionPatient("0", "0", "0"), "position");
  check(map.addForAllFrames(position), "plane position");
  FGFrameAnatomy anatomy;
  check(anatomy.getAnatomy().getAnatomicRegion().set("51185008", "SCT", "Chest"), "anatomic region");
  check(anatomy.setLaterality(FGFrameAnatomy::LATERALITY_UNPAIRED), "frame laterality");
  check(map.addForAllFrames(anatomy), "frame anatomy");
  FGPixelValueTransformation identity;
  identity.setUseAsIdentityPixelValueTransformation();
  check(map.addForAllFrames(identity), "identity pixel value transformation");
  FGParametricMapFrameType frame_type;
  check(frame_type.setFrameType("DERIVED\\PRIMARY\\STATIC\\NONE"), "frame type");
  check(map.addForAllFrames(frame_type), "frame type");
}

void add_frames(DPMParametricMapIOD& map, const ParametricMapRequest& request, DcmItem& source, std::size_t pixels) {
  check(map.getIODMultiframeDimensionModule().addDimensionIndex(DCM_LUTLabel, new_uid(SITE_INSTANCE_UID_ROOT).c_str(),
                                                                 DCM_RealWorldValueMappingSequence, "Finding"),
        "dimension index");
  auto frames = map.getFrames();
  auto* typed = OFget<DPMParametricMapIOD::Frames<Float32>>(&frames);
  if (!typed) throw Failure{"the map does not hold float frames"};
  Uint32 index = 1;
  for (const auto& heatmap : request.frames) {
    FGFrameContent content;
    check(content.setDimensionIndexValues(index++, 0), "dimension index value");
    const std::unique_ptr<FGDerivationImage> derivation = derivation_image(source, request.algorithm);
    const std::unique_ptr<FGRealWorldValueMapping> mapping = value_mapping(heatmap);
    OFVector<FGBase*> groups;
    groups.push_back(&content);
    groups.push_back(derivation.get());
    groups.push_back(mapping.get());
    std::vector<Float32> values(heatmap.values.begin(), heatmap.values.end());
    check(typed->addFrame(values.data(), pixels, groups), "add frame");
  }
}

// The written bytes read back with DCMTK's Parametric Map reader, every value compared.
std::string read_back_problem(const std::vector<std::uint8_t>& bytes, const ParametricMapRequest& request) {
  auto file = parse_part10(bytes);
  if (!file) return file.error();
  auto loaded = DPMParametricMapIOD::loadDataset(*(*file)->getDataset());
  auto** map = OFget<DPMParametricMapIOD*>(&loaded);
  if (!map || !*map) return std::string("DCMTK cannot read it back: ") + OFget<OFCondition>(&loaded)->text();
  std::unique_ptr<DPMParametricMapIOD> owned(*map);
  if (owned->getNumberOfFrames() != request.frames.size()) return "frames are missing";
  auto frames = owned->getFrames();
  auto* typed = OFget<DPMParametricMapIOD::Frames<Float32>>(&frames);
  if (!typed) return "the frames are not float";
  for (std::size_t f = 0; f < request.frames.size(); ++f) {
    const Float32* values = typed->getFrame(f);
    if (!values) return "a frame is missing";
    for (std::size_t i = 0; i < request.frames[f].values.size(); ++i)
      if (values[i] != request.frames[f].values[i]) return "a frame's values differ from its heatmap";
  }
  return {};
}

}  // namespace

HeatmapSize heatmap_size(int columns, int rows, int downsampling) {
  if (columns <= 0 || rows <= 0 || downsampling < 1) return {};
  return {(columns + downsampling - 1) / downsampling, (rows + downsampling - 1) / downsampling};
}

std::vector<float> downsample_heatmap(const std::vector<float>& full, int columns, int rows, int d) {
  const HeatmapSize size = heatmap_size(columns, rows, d);
  if (size.width == 0 || full.size() != static_cast<std::size_t>(columns) * rows) return {};
  if (d == 1) return full;
  std::vector<float> out(static_cast<std::size_t>(size.width) * size.height, 0.0f);
  for (int my = 0; my < size.height; ++my)
    for (int mx = 0; mx < size.width; ++mx) {
      double sum = 0;
      int count = 0;
      for (int y = my * d; y < std::min((my + 1) * d, rows); ++y)
        for (int x = mx * d; x < std::min((mx + 1) * d, columns); ++x, ++count)
          sum += full[static_cast<std::size_t>(y) * columns + x];
      out[static_cast<std::size_t>(my) * size.width + mx] = static_cast<float>(sum / count);
    }
  return out;
}

std::expected<DicomObject, std::string> build_parametric_map(const ParametricMapRequest& request) {
  if (const std::string problem = request_problem(request); !problem.empty())
    return std::unexpected("cannot build the parametric map: " + problem);
  try {
    auto source = load_source(request.source_path);
    if (!source) return std::unexpected(source.error());
    DcmDataset& source_set = *(*source)->getDataset();
    Uint16 rows = 0, columns = 0;
    source_set.findAndGetUint16(DCM_Rows, rows);
    source_set.findAndGetUint16(DCM_Columns, columns);
    const HeatmapSize size = heatmap_size(columns, rows, request.downsampling);
    if (size.width == 0) throw Failure{"the received file has no image size"};
    const std::size_t pixels = static_cast<std::size_t>(size.width) * size.height;
    for (const auto& frame : request.frames)
      if (frame.values.size() != pixels)
        throw Failure{"heatmap '" + frame.label + "' has " + std::to_string(frame.values.size()) + " values, the map " +
                      std::to_string(size.width) + " x " + std::to_string(size.height) + " needs " + std::to_string(pixels)};

    const AlgorithmIdentity& algorithm = request.algorithm;
    const std::string serial = algorithm.device_observer_uid.empty() ? algorithm.manufacturer : algorithm.device_observer_uid;
    const IODEnhGeneralEquipmentModule::EquipmentInfo equipment(
        algorithm.manufacturer.c_str(), (algorithm.model_name + " " + algorithm.model_task).c_str(), serial.c_str(),
        (algorithm.manufacturer + " " + algorithm.software_version).c_str());
    const ContentIdentificationMacro content(
        std::to_string(request.instance_number).c_str(), "GRADCAM",
        (algorithm.demo ? "AI-GENERATED Grad-CAM attention. DEMO MODEL - UNTRAINED WEIGHTS"
                        : "AI-GENERATED Grad-CAM attention. NOT FOR DIAGNOSTIC USE"),
        "");
    std::string modality = element_string(source_set, DCM_Modality);
    if (modality.empty()) modality = "OT";
    auto created = DPMParametricMapIOD::create<IODFloatingPointImagePixelModule>(
        modality.c_str(), std::to_string(request.series_number).c_str(), std::to_string(request.instance_number).c_str(),
        static_cast<Uint16>(size.height), static_cast<Uint16>(size.width), equipment, content, "STATIC", "NONE",
        DPMTypes::CQ_RESEARCH);
    auto* map = OFget<DPMParametricMapIOD>(&created);
    if (!map) throw Failure{std::string("create: ") + OFget<OFCondition>(&created)->text()};
    check(map->importHierarchy(source_set, OFTrue, OFTrue, OFFalse, OFFalse, OFTrue), "patient and study");
    const std::string sop_instance_uid = new_uid(SITE_INSTANCE_UID_ROOT);
    const std::string series_uid = request.series_instance_uid.empty() ? new_series_uid() : request.series_instance_uid;
    check(map->getIODSOPCommonModule().setSOPInstanceUID(sop_instance_uid.c_str()), "SOP instance");
    check(map->getIODGeneralSeriesModule().setSeriesInstanceUID(series_uid.c_str()), "series");
    check(map->getIODGeneralSeriesModule().setSeriesDescription(algorithm.demo ? "EVA-X AI attention maps (DEMO MODEL)"
                                                                               : "EVA-X AI attention maps"),
          "series description");
    reference_source(*map, source_set);
    add_shared_groups(*map, source_set, request.downsampling);
    add_frames(*map, request, source_set, pixels);

    DcmFileFormat file;
    DcmDataset& d = *file.getDataset();
    // DCMTK 3.6.7 logs "NumberOfFrames absent" and "no per-frame functional groups" here: it
    // checks those modules before it writes the frames. The written object has both.
    check(map->write(d), "write");
    put_quantities(d, request.frames);
    mark_spatial_locations(d, request.downsampling == 1);
    copy_patient_and_study(source_set, d);
    put_equipment(algorithm, d);
    check(d.putAndInsertString(DCM_SeriesNumber, std::to_string(request.series_number).c_str()), "series number");
    d.putAndInsertString(DCM_PatientOrientation, element_string(source_set, DCM_PatientOrientation).c_str());
  
    auto bytes = to_part10(file);
    if (!bytes) return std::unexpected(bytes.error());
    if (const std::string problem = read_back_problem(*bytes, request); !problem.empty())
      return std::unexpected("the parametric map failed its read-back check: " + problem);
    return DicomObject{"pmap",
                       {element_string(d, DCM_StudyInstanceUID), series_uid, UID_ParametricMapStorage, sop_instance_uid},
                       std::move(*bytes)};
  } catch (const Failure& failure) {
    return std::unexpected("cannot build the parametric map: " + failure.what);
  } catch (const std::exception& e) {
    return std::unexpected(std::string("cannot build the parametric map: ") + e.what());
  }
}

}  // namespace evax::reporting
