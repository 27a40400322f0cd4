#include "evax/dicomweb/stow_response.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "evax/dicomweb/multipart_reader.h"

namespace evax::dicomweb {
namespace {

using json = nlohmann::json;

// The attributes of a STOW-RS response (PS3.18 Table 10.5.3-1).
constexpr const char* kFailedSopSequence = "00081198";
constexpr const char* kReferencedSopSequence = "00081199";
constexpr const char* kReferencedSopClassUid = "00081150";
constexpr const char* kReferencedSopInstanceUid = "00081155";
constexpr const char* kFailureReason = "00081197";

json item_json(const StowInstanceOutcome& instance) {
  json item = json::object();
  // DICOM JSON leaves "Value" out of an empty attribute.
  auto uid = [&](const char* tag, const std::string& value) {
    item[tag] = value.empty() ? json{{"vr", "UI"}} : json{{"vr", "UI"}, {"Value", {value}}};
  };
  uid(kReferencedSopClassUid, instance.sop_class_uid);
  uid(kReferencedSopInstanceUid, instance.sop_instance_uid);
  if (instance.failure_reason != 0) item[kFailureReason] = {{"vr", "US"}, {"Value", {instance.failure_reason}}};
  return item;
}

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

void xml_attribute(std::string& out, const char* tag, const char* vr, const char* keyword, const std::string& value) {
  out += std::string("      <DicomAttribute tag=\"") + tag + "\" vr=\"" + vr + "\" keyword=\"" + keyword + "\">";
  if (!value.empty()) out += "<Value number=\"1\">" + xml_escape(value) + "</Value>";
  out += "</DicomAttribute>\n";
}

void xml_sequence(std::string& out, const char* tag, const char* keyword, const std::vector<const StowInstanceOutcome*>& items) {
  if (items.empty()) return;
  out += std::string("  <DicomAttribute tag=\"") + tag + "\" vr=\"SQ\" keyword=\"" + keyword + "\">\n";
  for (std::size_t i = 0; i < items.size(); ++i) {
    out += "    <Item number=\"" + std::to_string(i + 1) + "\">\n";
    xml_attribute(out, kReferencedSopClassUid, "UI", "ReferencedSOPClassUID", items[i]->sop_class_uid);
    xml_attribute(out, kReferencedSopInstanceUid, "UI", "ReferencedSOPInstanceUID", items[i]->sop_instance_uid);
    if (items[i]->failure_reason != 0)
      xml_attribute(out, kFailureReason, "US", "FailureReason", std::to_string(items[i]->failure_reason));
    out += "    </Item>\n";
  }
  out += "  </DicomAttribute>\n";
}

}  // namespace

std::expected<StowFormat, std::string> stow_response_format(std::string_view accept) {
  if (accept.find_first_not_of(" \t") == std::string_view::npos) return StowFormat::json;
  for (std::size_t at = 0; at <= accept.size();) {
    // Media ranges are comma-separated; a quoted comma inside a parameter is not expected here.
    const std::size_t end = std::min(accept.find(',', at), accept.size());
    const auto range = parse_media_type(accept.substr(at, end - at));
    at = end + 1;
    if (!range) continue;
    if (auto q = range->params.find("q"); q != range->params.end() && std::strtod(q->second.c_str(), nullptr) <= 0) continue;
    const std::string& type = range->type;
    if (type == "application/dicom+json" || type == "application/json" || type == "*/*" || type == "application/*")
      return StowFormat::json;
    if (type == "application/dicom+xml") return StowFormat::xml;
    // PS3.18 also lets a client ask for the XML as the root of a multipart/related answer.
    if (type == "multipart/related") {
      auto inner = range->params.find("type");
      if (inner != range->params.end() && inner->second == "application/dicom+xml") return StowFormat::xml;
    }
  }
  return std::unexpected("the Accept header accepts neither application/dicom+json nor application/dicom+xml");
}

StowResponse stow_response(const std::vector<StowInstanceOutcome>& instances, StowFormat format) {
  std::vector<const StowInstanceOutcome*> stored, failed;
  for (const auto& instance : instances) (instance.failure_reason == 0 ? stored : failed).push_back(&instance);
  StowResponse response;
  response.status = failed.empty() ? 200 : stored.empty() ? 409 : 202;
  if (format == StowFormat::json) {
    json body = json::object();
    auto sequence = [&](const char* tag, const std::vector<const StowInstanceOutcome*>& items) {
      if (items.empty()) return;
      json values = json::array();
      for (const auto* item : items) values.push_back(item_json(*item));
      body[tag] = {{"vr", "SQ"}, {"Value", values}};
    };
    sequence(kFailedSopSequence, failed);
    sequence(kReferencedSopSequence, stored);
    response.content_type = "application/dicom+json";
    response.body = body.dump(2);
  } else {
    std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<NativeDicomModel xmlns=\"http://dicom.nema.org/PS3.19/models/NativeDICOM\">\n";
    xml_sequence(out, kFailedSopSequence, "FailedSOPSequence", failed);
    xml_sequence(out, kReferencedSopSequence, "ReferencedSOPSequence", stored);
    out += "</NativeDicomModel>\n";
    response.content_type = "application/dicom+xml";
    response.body = std::move(out);
  }
  return response;
}

StowResponse stow_error(int status, const std::string& code, const std::string& message) {
  return {status, "application/json", json{{"error", {{"code", code}, {"message", message}}}}.dump(2)};
}

}  // namespace evax::dicomweb
