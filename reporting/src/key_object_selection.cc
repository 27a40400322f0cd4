// The result set's Key Object Selection Document (TID 2010). Every object is referenced from
// the root "Of Interest" container: images (SC, SEG, Parametric Map) as IMAGE items, reports as
// COMPOSITE items, and all of them in the Current Requested Procedure Evidence Sequence, which
// is how viewers and archives find the members of a KOS.
#include "evax/reporting/key_object_selection.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include <set>
#include <string_view>

#include "dicom_file.h"

namespace evax::reporting {
namespace {

struct Failure {
  std::string what;
};

void check(const OFCondition& status, const std::string& step) {
  if (status.bad()) throw Failure{step + ": " + status.text()};
}

bool is_structured_document(const std::string& sop_class) {
  return std::string_view(sop_class).starts_with("1.2.840.10008.5.1.4.1.1.88.");
}

std::string request_problem(const KeyObjectSelectionRequest& r) {
  if (r.objects.empty()) return "no object to list";
  std::set<std::string> seen;
  for (const auto& o : r.objects) {
    if (o.study_instance_uid.empty() || o.series_instance_uid.empty() || o.sop_class_uid.empty() ||
        o.sop_instance_uid.empty())
      return "an object reference is incomplete";
    if (!seen.insert(o.sop_instance_uid).second) return "an object is listed twice";
  }
  return {};
}

std::string description(const KeyObjectSelectionRequest& r) {
  std::string text = "AI results of " + model_description(r.algorithm) + ": " + std::to_string(r.objects.size()) +
                     " objects (report, heatmaps, segmentations, attention maps). AI-GENERATED - NOT FOR DIAGNOSTIC USE.";
  return text;
}

}  // namespace

std::expected<DicomObject, std::string> build_key_object_selection(const KeyObjectSelectionRequest& request) {
  if (const std::string problem = request_problem(request); !problem.empty())
    return std::unexpected("cannot build the key object selection: " + problem);
  try {
    auto source = load_source(request.source_path);
    if (!source) return std::unexpected(source.error());
    DcmDataset& source_set = *(*source)->getDataset();
    const std::string study_uid = element_string(source_set, DCM_StudyInstanceUID);
    if (study_uid.empty()) throw Failure{"the received file has no Study Instance UID"};
    for (const auto& o : request.objects)
      if (o.study_instance_uid != study_uid) throw Failure{"an object belongs to another study"};

    DSRDocument document(DSRTypes::DT_KeyObjectSelectionDocument);
    check(document.createNewSeriesInStudy(study_uid.c_str()), "new series");
    check(document.setSeriesDescription(request.algorithm.demo ? "EVA-X AI result set (DEMO MODEL)" : "EVA-X AI result set"),
          "series description");
    check(document.setSeriesNumber(std::to_string(request.series_number).c_str()), "series number");
    check(document.setInstanceNumber("1"), "instance number");
    check(document.setManufacturer(request.algorithm.manufacturer.c_str()), "manufacturer");
    DSRDocumentTree& tree = document.getTree();
    if (tree.addContentItem(DSRTypes::RT_isRoot, DSRTypes::VT_Container) == 0) throw Failure{"root container"};
    check(tree.getCurrentContentItem().setConceptName(DSRCodedEntryValue("113000", "DCM", "Of Interest")), "title");
    check(tree.getCurrentContentItem().setTemplateIdentification("2010", "DCMR"), "template");
    check(tree.addChildContentItem(DSRTypes::RT_contains, DSRTypes::VT_Text,
                                   DSRCodedEntryValue("113012", "DCM", "Key Object Description")),
          "description");
    check(tree.getCurrentContentItem().setStringValue(description(request).substr(0, 1024).c_str()), "description text");
    for (const auto& o : request.objects) {
      if (is_structured_document(o.sop_class_uid)) {
        if (tree.addContentItem(DSRTypes::RT_contains, DSRTypes::VT_Composite, DSRTypes::AM_afterCurrent) == 0)
          throw Failure{"composite reference"};
        check(tree.getCurrentContentItem().setCompositeReference(
                  DSRCompositeReferenceValue(o.sop_class_uid.c_str(), o.sop_instance_uid.c_str())),
              "composite reference");
      } else {
        if (tree.addContentItem(DSRTypes::RT_contains, DSRTypes::VT_Image, DSRTypes::AM_afterCurrent) == 0)
          throw Failure{"image reference"};
        check(tree.getCurrentContentItem().setImageReference(
                  DSRImageReferenceValue(o.sop_class_uid.c_str(), o.sop_instance_uid.c_str())),
              "image reference");
      }
      check(document.getCurrentRequestedProcedureEvidence().addItem(o.study_instance_uid.c_str(), o.series_instance_uid.c_str(),
                                                                    o.sop_class_uid.c_str(), o.sop_instance_uid.c_str()),
            "evidence");
    }
    if (!document.isValid()) throw Failure{"the KOS document is not valid"};

    DcmFileFormat file;
    DcmDataset& d = *file.getDataset();
    check(document.write(d), "write");
    copy_patient_and_study(source_set, d);
    put_equipment(request.algorithm, d, request.segmenter ? &*request.segmenter : nullptr);
    const std::string series_uid = element_string(d, DCM_SeriesInstanceUID);
    const std::string sop_instance_uid = element_string(d, DCM_SOPInstanceUID);
    auto bytes = to_part10(file);
    if (!bytes) return std::unexpected(bytes.error());
    // Read back as a receiver would, and as a KOS with every reference.
    auto parsed = parse_part10(*bytes);
    if (!parsed) return std::unexpected(parsed.error());
    DSRDocument read_back;
    check(read_back.read(*(*parsed)->getDataset()), "read back");
    if (read_back.getDocumentType() != DSRTypes::DT_KeyObjectSelectionDocument ||
        read_back.getCurrentRequestedProcedureEvidence().getNumberOfInstances() != request.objects.size())
      throw Failure{"the written KOS does not list every object"};
    return DicomObject{"kos", {study_uid, series_uid, UID_KeyObjectSelectionDocumentStorage, sop_instance_uid},
                       std::move(*bytes)};
  } catch (const Failure& failure) {
    return std::unexpected("cannot build the key object selection: " + failure.what);
  } catch (const std::exception& e) {
    return std::unexpected(std::string("cannot build the key object selection: ") + e.what());
  }
}

}  // namespace evax::reporting
