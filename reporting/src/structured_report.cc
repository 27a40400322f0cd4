// The TID 1500 Measurement Report of one analysis, built with DCMTK's TID 1500 classes:
//   Imaging Measurement Report (126000, DCM)
//   ├ language English, device observer (the node), procedure reported
//   ├ Image Library: every analysed image
//   ├ Imaging Measurements: one Measurement Group per finding and image, a TID 1410 planar ROI
//   │ (DCMTK builds it with its TID 1501 class plus the Image Region; identified as 1410 after)
//   │   ├ Tracking Identifier "<label> image <n>", Tracking Unique Identifier derived from the
//   │   │ image, the model and the label (tracking_uid: a re-analysis repeats it)
//   │   ├ Finding Category = Morphologically abnormal structure (CID 7150)
//   │   ├ Finding = the finding's code
//   │   ├ SCOORD Image Region (111030, DCM): where the finding is, SELECTED FROM the image: the
//   │   │ outline of its Grad-CAM attention, its peak, or the analysed area (see image_regions.h)
//   │   ├ NUM "<finding> (present|absent)" (99EVAX), the probability in %, INFERRED FROM that
//   │   │ region, with Finding Site and its equivalent meaning "Probability of <finding> ..."
//   │   ├ <finding code> = Present (52101004, SCT) / Absent (272519000, SCT) by the operating point
//   │   └ Algorithm Name, Algorithm Version, Algorithm Parameters (TID 4019 items)
//   │ and, with lung segmentation, one Measurement Group per lung and image
//   │   ├ Tracking Identifier "<Right|Left> lung image <n>", Tracking Unique Identifier
//   │   ├ Finding Category = Anatomical structure, Finding Lung (39607008, SCT)
//   │   ├ SCOORD Image Region: the lung's outline, SELECTED FROM the image
//   │   ├ NUM Area (42798000, SCT) in mm2, source: the image and its segment in the lung SEG;
//   │   │ Finding Site Lung with Laterality Right / Left
//   │   ├ Comment: which pixel spacing the area rests on, the pixel count, the segment number
//   │   └ Algorithm Name, Version, Parameters of the segmentation model
//   └ Qualitative Evaluations: per image, Finding = Present (any finding at or above its
//     operating point) or Absent, INFERRED FROM the image; a Comment saying the results are AI-generated (and DEMO), one
//     per image whose lung mask was rejected, with the reason, and one per image whose lungs
//     have no area (no pixel spacing: DCMTK's TID 1501 needs a measurement in every group)
// What viewers draw: OHIF places each group at its Image Region and labels it with the NUM's
// concept name and value ("Pleural effusion (present): 80.19 %"). Its finding site sits under
// the NUM, where OHIF does not turn it into a label line of its bare SNOMED code.
// Patient and study come from the first source image; the document is UNVERIFIED.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmsr/cmr/tid1500.h>
#include <dcmtk/dcmsr/codes/dcm.h>
#include <dcmtk/dcmsr/codes/sct.h>
#include <dcmtk/dcmsr/dsrdoc.h>
#include <dcmtk/dcmsr/dsrimgvl.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "dicom_file.h"
#include "evax/reporting/result_objects.h"
#include "finding_codes.h"

namespace evax::reporting {
namespace {

// Procedure reported must come from CID 100, which has no radiography procedure; "Imaging
// procedure" is its generic entry (validators reject an XR LOINC code there). The Image
// Library says what was analysed.
const DSRCodedEntryValue kProcedure("363679005", "SCT", "Imaging procedure");
const DSRCodedEntryValue kPresent("52101004", "SCT", "Present");
const DSRCodedEntryValue kAbsent("272519000", "SCT", "Absent");
const DSRCodedEntryValue kImageRegion("111030", "DCM", "Image Region");
const DSRCodedEntryValue kPercent("%", "UCUM", "percent");
// Finding Category (TID 1501/1410/1411), its values from CID 7150 as the SEG's segments use
// them: a model finding is an abnormal structure, a lung an anatomical one.
const DSRCodedEntryValue kFindingCategory("276214006", "SCT", "Finding category");
const DSRCodedEntryValue kAbnormalStructure("49755003", "SCT", "Morphologically abnormal structure");
const DSRCodedEntryValue kAnatomicalStructure("91723000", "SCT", "Anatomical structure");
const DSRCodedEntryValue kFinding("121071", "DCM", "Finding");

DSRCodedEntryValue coded(const Code& code) { return DSRCodedEntryValue(code.value.c_str(), code.scheme.c_str(), code.meaning.c_str()); }

std::string probability_text(double p) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4f", p);
  return text;
}

std::string percent_text(double p) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", 100.0 * p);
  return text;
}

struct Failure {
  std::string what;
};

void check(const OFCondition& status, const std::string& step) {
  if (status.bad()) throw Failure{step + ": " + status.text()};
}

std::string algorithm_version(const AlgorithmIdentity& a) {
  return a.manufacturer + " " + a.software_version + (a.demo ? ", demo weights (untrained)" : ", checkpoint sha256 " + a.checkpoint_sha256);
}

// TID 4019 (Algorithm Identification) in a TID 1501 group: DCMTK 3.6.7 includes it only in
// TID 1411, so the items go in by hand, right below the group's root.
void add_algorithm_items(CMR_TID1501_in_TID1500& group, const std::string& name, const std::string& version,
                         const std::string& parameters) {
  if (group.gotoAnnotatedNode("TID 1501 - Row 1") == 0) throw Failure{"measurement group root not found"};
  const std::pair<DSRCodedEntryValue, std::string> items[] = {
      {CODE_DCM_AlgorithmName, name},
      {CODE_DCM_AlgorithmVersion, version},
      {CODE_DCM_AlgorithmParameters, parameters},
  };
  bool below = true;
  for (const auto& [concept_name, text] : items) {
    check(group.addExtraContentItem(DSRTypes::RT_hasConceptMod, DSRTypes::VT_Text,
                                    below ? DSRTypes::AM_belowCurrentBeforeFirstChild : DSRTypes::AM_afterCurrent),
          "algorithm item");
    below = false;
    check(group.getCurrentContentItem().setConceptName(concept_name), "algorithm item name");
    check(group.getCurrentContentItem().setStringValue(text.substr(0, 1024).c_str()), "algorithm item value");
  }
}

// The group's Finding Category, right before its Finding.
void add_finding_category(CMR_TID1501_in_TID1500& group, const DSRCodedEntryValue& category) {
  if (group.gotoNamedNode(CODE_DCM_Finding) == 0) throw Failure{"the group's Finding was not found"};
  check(group.addExtraContentItem(DSRTypes::RT_contains, DSRTypes::VT_Code, DSRTypes::AM_beforeCurrent), "finding category");
  check(group.getCurrentContentItem().setConceptName(kFindingCategory), "finding category name");
  check(group.getCurrentContentItem().setCodeValue(category), "finding category value");
}

DSRSpatialCoordinatesValue coordinates(const ImageRegion& region) {
  DSRSpatialCoordinatesValue value(region.shape == ImageRegion::Shape::point ? DSRTypes::GT_Point : DSRTypes::GT_Polyline);
  for (const ImagePoint& p : region.points) value.getGraphicDataList().addItem(p.column, p.row);
  return value;
}

DSRImageReferenceValue image_reference(DcmItem& source) {
  return DSRImageReferenceValue(element_string(source, DCM_SOPClassUID).c_str(), element_string(source, DCM_SOPInstanceUID).c_str());
}

// The region must be a point, or a closed outline of at least three corners inside the image.
void check_region(const ImageRegion& region, DcmItem& source) {
  Uint16 rows = 0, columns = 0;
  source.findAndGetUint16(DCM_Rows, rows);
  source.findAndGetUint16(DCM_Columns, columns);
  const auto& p = region.points;
  const bool shape_ok = region.shape == ImageRegion::Shape::point
                            ? p.size() == 1
                            : p.size() >= 4 && p.front().column == p.back().column && p.front().row == p.back().row;
  if (!shape_ok) throw Failure{"an image region is neither a point nor a closed outline"};
  for (const ImagePoint& point : p)
    if (!(point.column >= 0 && point.row >= 0 && point.column <= columns && point.row <= rows))
      throw Failure{"an image region leaves the image"};
}

// The whole image, for a finding that came without a region.
ImageRegion whole_image(DcmItem& source) {
  Uint16 rows = 0, columns = 0;
  source.findAndGetUint16(DCM_Rows, rows);
  source.findAndGetUint16(DCM_Columns, columns);
  const auto c = static_cast<float>(columns), r = static_cast<float>(rows);
  return {ImageRegion::Shape::outline, {{0, 0}, {c, 0}, {c, r}, {0, r}, {0, 0}}, "the whole image"};
}

// The group's Image Region (a TID 1410 row), placed right after its Finding, selected from the
// source image: what a viewer draws the group at.
void add_image_region(CMR_TID1501_in_TID1500& group, const ImageRegion& region, DcmItem& source) {
  check_region(region, source);
  if (group.gotoNamedNode(CODE_DCM_Finding) == 0) throw Failure{"the group's Finding was not found"};
  check(group.addExtraContentItem(DSRTypes::RT_contains, DSRTypes::VT_SCoord, DSRTypes::AM_afterCurrent), "image region");
  check(group.getCurrentContentItem().setConceptName(kImageRegion), "image region name");
  check(group.getCurrentContentItem().setSpatialCoordinates(coordinates(region)), "image region coordinates");
  check(group.addExtraContentItem(DSRTypes::RT_selectedFrom, DSRTypes::VT_Image, DSRTypes::AM_belowCurrent), "region image");
  check(group.getCurrentContentItem().setImageReference(image_reference(source)), "region image reference");
}

// One finding of one image as a measurement group placed on the image.
void add_measurement_group(CMR_TID1500& report, const AlgorithmIdentity& algorithm, DcmItem& source, int image_number,
                           const FindingResult& finding, bool first_group) {
  check(report.addIndividualMeasurements(/*checkEmpty=*/first_group), "measurement group");
  auto& group = report.getIndividualMeasurements();
  const FindingCodes codes = finding_codes(finding.label);
  const ImageRegion region = finding.region.value_or(whole_image(source));
  check(group.setTrackingIdentifier((printable_label(finding.label) + " image " + std::to_string(image_number)).c_str()),
        "tracking id");
  check(group.setTrackingUniqueIdentifier(tracking_uid(element_string(source, DCM_SOPInstanceUID), algorithm, finding.label).c_str()),
        "tracking uid");
  check(group.setFinding(coded(codes.finding)), "finding");
  // The probability in percent under a concept naming the finding and the decision: the label
  // viewers draw. Its equivalent meaning spells out what the number is.
  const CMR_TID1501_in_TID1500::MeasurementValue value(percent_text(finding.probability).c_str(), CMR_CID7181(kPercent));
  check(group.addMeasurement(CMR_CID7469(coded(probability_concept(codes.finding, finding.present()))), value), "probability");
  auto& measurement = group.getMeasurement();
  check(measurement.addSpatialCoordinates(kImageRegion, coordinates(region), image_reference(source)), "probability region");
  check(measurement.addFindingSite(coded(codes.site)), "finding site");
  const std::string meaning = "Probability of " + codes.finding.meaning + " in percent; " + (finding.present() ? "present" : "absent") +
                              " by the operating point " + percent_text(finding.operating_point) + " %";
  check(measurement.setEquivalentMeaningOfConceptName(meaning.substr(0, 1024).c_str()), "probability meaning");
  check(group.addQualitativeEvaluation(coded(codes.finding), finding.present() ? kPresent : kAbsent), "present/absent");
  add_image_region(group, region, source);
  add_finding_category(group, kAbnormalStructure);
  add_algorithm_items(group, algorithm.model_name + " " + algorithm.model_task, algorithm_version(algorithm),
                      "operating point " + probability_text(finding.operating_point) + "; region: " + region.basis);
}

std::string area_text(double mm2) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", mm2);
  return text;
}

// One lung of one image as a TID 1501 group whose area cites the source image and its segment
// in the lung SEG. (TID 1411 with a Referenced Segment would say the same, but PixelMed's
// validator then checks every finding group against TID 1411 too and rejects the report.)
void add_lung_group(CMR_TID1500& report, const AlgorithmIdentity& segmenter, DcmItem& source, int image_number,
                    const LungMeasurement& lung, const ObjectReference& segmentation) {
  check(report.addIndividualMeasurements(/*checkEmpty=*/OFTrue), "lung group");
  auto& group = report.getIndividualMeasurements();
  const bool right = lung.laterality == Laterality::right;
  check(group.setTrackingIdentifier((std::string(right ? "Right" : "Left") + " lung image " + std::to_string(image_number)).c_str()),
        "lung tracking id");
  check(group.setTrackingUniqueIdentifier(
            tracking_uid(element_string(source, DCM_SOPInstanceUID), segmenter, right ? "lung right" : "lung left").c_str()),
        "lung tracking uid");
  const DSRCodedEntryValue lung_code("39607008", "SCT", "Lung structure");  // as the finding sites name it
  if (!lung.outline) throw Failure{"a lung has no outline"};
  check(group.setFinding(lung_code), "lung finding");
  const CMR_TID1501_in_TID1500::MeasurementValue area(area_text(*lung.area_mm2).c_str(), CMR_CID7181::SquareMillimeter);
  check(group.addMeasurement(CMR_CID7469::Area, area), "lung area");
  auto& measurement = group.getMeasurement();
  check(measurement.addImage(CODE_DCM_SourceOfMeasurement, source), "lung source image");
  DSRImageReferenceValue segment(segmentation.sop_class_uid.c_str(), segmentation.sop_instance_uid.c_str());
  segment.getSegmentList().addItem(lung.segment_number);
  check(measurement.addImage(CODE_DCM_SourceOfMeasurement, segment), "lung segment");
  check(measurement.addFindingSite(lung_code, CID244e_Laterality(OFString(right ? "R" : "L"))), "lung site");
  std::string basis = lung.spacing_source == "ImagerPixelSpacing"
                          ? "Area from ImagerPixelSpacing: at the detector plane, not corrected for geometric magnification."
                          : "Area from PixelSpacing (calibrated to the patient).";
  basis += " " + std::to_string(lung.pixel_count) + " pixels; segment " + std::to_string(lung.segment_number) + " of the lung SEG.";
  check(group.addQualitativeEvaluation(CODE_DCM_Comment, basis.c_str()), "lung area basis");
  add_image_region(group, *lung.outline, source);
  add_finding_category(group, kAnatomicalStructure);
  add_algorithm_items(group, segmenter.model_name, algorithm_version(segmenter),
                      segmenter.parameters.empty() ? std::string("as configured") : segmenter.parameters);
}

std::string series_description(const AlgorithmIdentity& algorithm) {
  return algorithm.demo ? "EVA-X AI findings (DEMO MODEL)" : "EVA-X AI findings";
}

DSRTypes::E_DocumentType dicom_document_type(SrDocumentType type) {
  switch (type) {
    case SrDocumentType::enhanced: return DSRTypes::DT_EnhancedSR;
    case SrDocumentType::comprehensive_3d: return DSRTypes::DT_Comprehensive3DSR;
    case SrDocumentType::comprehensive: break;
  }
  return DSRTypes::DT_ComprehensiveSR;
}

// DCMTK builds every group with its TID 1501 class and identifies it as TID 1501; a group with
// an Image Region is a TID 1410 planar ROI, which is what readers such as highdicom look for.
void identify_planar_roi_groups(DcmItem& dataset) {
  auto concept_is = [](DcmItem& item, const char* value) {
    DcmItem* name = nullptr;
    OFString code;
    return item.findAndGetSequenceItem(DCM_ConceptNameCodeSequence, name, 0).good() &&
           name->findAndGetOFString(DCM_CodeValue, code).good() && code == value;
  };
  DcmSequenceOfItems* root = nullptr;
  if (dataset.findAndGetSequence(DCM_ContentSequence, root).bad() || !root) throw Failure{"the SR has no content"};
  for (unsigned long i = 0; i < root->card(); ++i) {
    DcmSequenceOfItems* groups = nullptr;
    if (!concept_is(*root->getItem(i), "126010") || root->getItem(i)->findAndGetSequence(DCM_ContentSequence, groups).bad() || !groups)
      continue;
    for (unsigned long g = 0; g < groups->card(); ++g) {
      DcmItem& group = *groups->getItem(g);
      DcmSequenceOfItems* items = nullptr;
      DcmItem* template_item = nullptr;
      if (group.findAndGetSequence(DCM_ContentSequence, items).bad() || !items ||
          group.findAndGetSequenceItem(DCM_ContentTemplateSequence, template_item, 0).bad())
        continue;
      for (unsigned long c = 0; c < items->card(); ++c)
        if (concept_is(*items->getItem(c), "111030")) check(template_item->putAndInsertString(DCM_TemplateIdentifier, "1410"), "TID 1410");
    }
  }
}

// The bytes parse back into a valid SR document: what a receiver will do first.
void check_round_trip(const std::vector<std::uint8_t>& bytes) {
  DcmInputBufferStream stream;
  stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  stream.setEos();
  DcmFileFormat file;
  file.transferInit();
  const OFCondition status = file.read(stream);
  file.transferEnd();
  check(status, "reading the encoded SR back");
  DSRDocument reread;
  check(reread.read(*file.getDataset()), "parsing the encoded SR back");
  if (!reread.isValid()) throw Failure{"the encoded SR is not valid when read back"};
}

}  // namespace

std::optional<SrDocumentType> parse_sr_document_type(std::string_view name) {
  if (name == "comprehensive") return SrDocumentType::comprehensive;
  if (name == "enhanced") return SrDocumentType::enhanced;
  if (name == "comprehensive-3d") return SrDocumentType::comprehensive_3d;
  return std::nullopt;
}

std::expected<DicomObject, std::string> build_structured_report(const ReportRequest& request) {
  if (request.images.empty()) return std::unexpected(std::string("a report needs at least one analysed image"));
  try {
    std::vector<std::unique_ptr<DcmFileFormat>> sources;
    for (const auto& image : request.images) {
      auto source = load_source(image.source_path);
      if (!source) return std::unexpected(source.error());
      sources.push_back(std::move(*source));
    }
    const AlgorithmIdentity& algorithm = request.algorithm;
    DcmDataset& first = *sources.front()->getDataset();
    const std::string study_uid = element_string(first, DCM_StudyInstanceUID);
    if (study_uid.empty()) return std::unexpected(std::string("the source image has no Study Instance UID"));

    CMR_TID1500 report(CMR_CID7021::ImagingMeasurementReport);
    check(report.setLanguage(CID5000_Languages::English), "language");
    const std::string observer_uid = algorithm.device_observer_uid.empty() ? new_uid(SITE_INSTANCE_UID_ROOT) : algorithm.device_observer_uid;
    check(report.getObservationContext().addDeviceObserver(observer_uid.c_str(), algorithm.manufacturer.c_str(),
                                                           algorithm.manufacturer.c_str(),
                                                           (algorithm.model_name + " " + algorithm.model_task).c_str()),
          "device observer");
    check(report.addProcedureReported(CMR_CID100(kProcedure)), "procedure reported");
    check(report.getImageLibrary().createNewImageLibrary(), "image library");
    check(report.getImageLibrary().addImageGroup(), "image group");
    // Modality and size, not Target Region: DCMTK 3.6.7 codes CHEST as 816094009, which
    // validators built on older code tables (PixelMed 2022) reject.
    TID1600_ImageLibrary::ConceptNameList descriptors;
    descriptors.push_back(CODE_DCM_Modality);
    descriptors.push_back(CODE_DCM_PixelDataRows);
    descriptors.push_back(CODE_DCM_PixelDataColumns);
    for (auto& source : sources)
      check(report.getImageLibrary().addImageEntry(*source->getDataset(), TID1600_ImageLibrary::withSelectedDescriptors,
                                                   descriptors),
            "image library entry");
    bool first_group = true;
    for (std::size_t i = 0; i < request.images.size(); ++i) {
      for (const auto& finding : request.images[i].findings) {
        add_measurement_group(report, algorithm, *sources[i]->getDataset(), static_cast<int>(i + 1), finding, first_group);
        first_group = false;
      }
    }
    for (std::size_t i = 0; i < request.images.size(); ++i) {
      const AnalysedImage& image = request.images[i];
      if (image.lungs.empty()) continue;
      if (!image.segmentation || !request.segmenter)
        return std::unexpected(std::string("lung measurements need their segmentation object and the segmentation model's identity"));
      for (const auto& lung : image.lungs) {
        if (!lung.area_mm2) continue;  // said in a comment below
        add_lung_group(report, *request.segmenter, *sources[i]->getDataset(), static_cast<int>(i + 1), lung, *image.segmentation);
        first_group = false;
      }
    }
    if (first_group) return std::unexpected(std::string("no findings to report"));
    std::string notice = "AI-GENERATED - NOT FOR DIAGNOSTIC USE. Findings of " + model_description(algorithm) +
                         ", probabilities with operating points; not verified by a physician.";
    if (algorithm.demo) notice = "DEMO MODEL - UNTRAINED WEIGHTS: results carry no clinical meaning. " + notice;
    // One summary evaluation per image (TID 1500 Row 13): Finding is Present when any of the
    // model's findings is at or above its operating point, else Absent; inferred from its image.
    for (std::size_t i = 0; i < request.images.size(); ++i) {
      const auto& findings = request.images[i].findings;
      if (findings.empty()) continue;
      const bool any = std::any_of(findings.begin(), findings.end(), [](const FindingResult& f) { return f.present(); });
      check(report.addQualitativeEvaluation(kFinding, any ? kPresent : kAbsent), "image evaluation");
      check(report.addExtraContentItem(DSRTypes::RT_inferredFrom, DSRTypes::VT_Image, DSRTypes::AM_belowCurrent), "evaluated image");
      check(report.getCurrentContentItem().setImageReference(image_reference(*sources[i]->getDataset())), "evaluated image reference");
    }
    check(report.addQualitativeEvaluation(CODE_DCM_Comment, notice.c_str()), "notice");
    for (std::size_t i = 0; i < request.images.size(); ++i) {
      std::string without_area;
      for (const auto& lung : request.images[i].lungs)
        if (!lung.area_mm2)
          without_area += std::string(without_area.empty() ? "" : ", ") + (lung.laterality == Laterality::right ? "right" : "left") +
                          " lung " + std::to_string(lung.pixel_count) + " pixels (segment " + std::to_string(lung.segment_number) + ")";
      if (!without_area.empty()) {
        const std::string note = "Lungs of image " + std::to_string(i + 1) + " without area (the image has neither PixelSpacing nor "
                                 "ImagerPixelSpacing): " + without_area + " of the lung SEG.";
        check(report.addQualitativeEvaluation(CODE_DCM_Comment, note.c_str()), "lung pixel counts");
      }
      if (request.images[i].lung_note.empty()) continue;
      const std::string note = "Lung segmentation of image " + std::to_string(i + 1) + " not reported: " + request.images[i].lung_note;
      check(report.addQualitativeEvaluation(CODE_DCM_Comment, note.substr(0, 1024).c_str()), "lung note");
    }
    if (!report.isValid()) throw Failure{"TID 1500 report is not valid"};

    DSRDocument document;
    check(document.setTreeFromRootTemplate(report, /*expandTree=*/OFTrue), "document tree");
    check(document.changeDocumentType(dicom_document_type(request.document_type)), "document type");
    check(document.createNewSeriesInStudy(study_uid.c_str()), "new series");
    check(document.setSeriesDescription(series_description(algorithm).c_str()), "series description");
    check(document.setSeriesNumber(std::to_string(request.series_number).c_str()), "series number");
    check(document.setInstanceNumber("1"), "instance number");
    check(document.setManufacturer(algorithm.manufacturer.c_str()), "manufacturer");
    auto& coding_schemes = document.getCodingSchemeIdentification();
    check(coding_schemes.addItem(kPrivateScheme), "coding scheme");
    check(coding_schemes.setCodingSchemeName(kPrivateSchemeName), "coding scheme name");
    check(coding_schemes.setCodingSchemeResponsibleOrganization(algorithm.manufacturer.c_str()), "coding scheme owner");
    for (auto& source : sources) check(document.getCurrentRequestedProcedureEvidence().addItem(*source->getDataset()), "evidence");
    for (const auto& image : request.images) {
      if (!image.segmentation || image.lungs.empty()) continue;
      const ObjectReference& seg = *image.segmentation;
      check(document.getCurrentRequestedProcedureEvidence().addItem(seg.study_instance_uid.c_str(), seg.series_instance_uid.c_str(),
                                                                    seg.sop_class_uid.c_str(), seg.sop_instance_uid.c_str()),
            "segmentation evidence");
    }
    if (request.predecessor) {
      const auto& p = *request.predecessor;
      check(document.getPredecessorDocuments().addItem(p.study_instance_uid.c_str(), p.series_instance_uid.c_str(),
                                                       p.sop_class_uid.c_str(), p.sop_instance_uid.c_str()),
            "predecessor");
    }
    check(document.completeDocument(), "completion flag");
    if (!document.isValid()) throw Failure{"the SR document is not valid"};

    DcmFileFormat file;
    DcmDataset& d = *file.getDataset();
    check(document.write(d), "writing the SR");
    identify_planar_roi_groups(d);
    // The received values, byte for byte (character set included), over DCMTK's own.
    copy_patient_and_study(first, d);
    const bool lungs_reported = request.segmenter && std::ranges::any_of(request.images, [](const AnalysedImage& image) {
      return image.segmentation && !image.lungs.empty();
    });
    put_equipment(algorithm, d, lungs_reported ? &*request.segmenter : nullptr);
    auto bytes = to_part10(file);
    if (!bytes) return std::unexpected(bytes.error());
    check_round_trip(*bytes);
    return DicomObject{"sr",
                       {study_uid, element_string(d, DCM_SeriesInstanceUID), element_string(d, DCM_SOPClassUID),
                        element_string(d, DCM_SOPInstanceUID)},
                       std::move(*bytes)};
  } catch (const Failure& f) {
    return std::unexpected("cannot build the structured report: " + f.what);
  } catch (const std::exception& e) {
    return std::unexpected(std::string("cannot build the structured report: ") + e.what());
  }
}

}  // namespace evax::reporting
