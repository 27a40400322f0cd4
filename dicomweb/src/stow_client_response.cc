// Reading a STOW-RS answer: the HTTP status first, then the Store Instances Response Module
// (PS3.18 10.5.3) in DICOM JSON (PS3.18 F) or XML (PS3.19 A.1, the Native DICOM Model).
#include <Poco/AutoPtr.h>
#include <Poco/DOM/DOMParser.h>
#include <Poco/DOM/Document.h>
#include <Poco/DOM/Element.h>
#include <Poco/DOM/NodeList.h>
#include <Poco/Exception.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

#include "evax/dicom_node/storage_scu.h"
#include "evax/dicomweb/stow_client.h"

namespace evax::dicomweb {
namespace {

constexpr const char* kFailedSops = "00081198";
constexpr const char* kReferencedSops = "00081199";
constexpr const char* kSopInstanceUid = "00081155";
constexpr const char* kFailureReason = "00081197";

// What the body says about one instance.
struct Listed {
  bool referenced = false;
  std::optional<int> failure_reason;  // set when in FailedSOPSequence
  bool failed = false;
};
using Listing = std::map<std::string, Listed>;

std::string hex4(int value) {
  char text[8];
  std::snprintf(text, sizeof text, "%04X", value & 0xFFFF);
  return text;
}

// DICOM JSON: {"00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2"]}}]}}
void read_json_sequence(const nlohmann::json& dataset, const char* tag, bool failed, Listing& listing) {
  const auto sequence = dataset.find(tag);
  if (sequence == dataset.end() || !sequence->is_object() || !sequence->contains("Value") || !(*sequence)["Value"].is_array())
    return;
  for (const auto& item : (*sequence)["Value"]) {
    if (!item.is_object()) continue;
    auto value_of = [&](const char* t) -> const nlohmann::json* {
      const auto it = item.find(t);
      if (it == item.end() || !it->is_object() || !it->contains("Value") || !(*it)["Value"].is_array() || (*it)["Value"].empty())
        return nullptr;
      return &(*it)["Value"][0];
    };
    const auto* uid = value_of(kSopInstanceUid);
    if (!uid || !uid->is_string()) continue;
    Listed& entry = listing[uid->get<std::string>()];
    if (!failed) {
      entry.referenced = true;
      continue;
    }
    entry.failed = true;
    if (const auto* reason = value_of(kFailureReason); reason && reason->is_number_integer())
      entry.failure_reason = reason->get<int>();
  }
}

void read_json(const std::string& body, Listing& listing) {
  auto document = nlohmann::json::parse(body);
  if (document.is_array() && document.size() == 1) document = document[0];  // some servers wrap it
  if (!document.is_object()) throw std::runtime_error("not a DICOM JSON object");
  read_json_sequence(document, kReferencedSops, false, listing);
  read_json_sequence(document, kFailedSops, true, listing);
}

// The first <Value> text of the child DicomAttribute with `tag`, or "".
std::string xml_value(Poco::XML::Element& item, const std::string& tag) {
  Poco::AutoPtr<Poco::XML::NodeList> attributes = item.getElementsByTagName("DicomAttribute");
  for (unsigned long i = 0; i < attributes->length(); ++i) {
    auto* attribute = static_cast<Poco::XML::Element*>(attributes->item(i));
    if (attribute->parentNode() != &item || attribute->getAttribute("tag") != tag) continue;
    Poco::AutoPtr<Poco::XML::NodeList> values = attribute->getElementsByTagName("Value");
    if (values->length() > 0) return values->item(0)->innerText();
  }
  return "";
}

void read_xml(const std::string& body, Listing& listing) {
  Poco::XML::DOMParser parser;
  Poco::AutoPtr<Poco::XML::Document> document = parser.parseString(body);
  Poco::AutoPtr<Poco::XML::NodeList> attributes = document->getElementsByTagName("DicomAttribute");
  for (unsigned long i = 0; i < attributes->length(); ++i) {
    auto* sequence = static_cast<Poco::XML::Element*>(attributes->item(i));
    const std::string tag = sequence->getAttribute("tag");
    if (tag != kReferencedSops && tag != kFailedSops) continue;
    Poco::AutoPtr<Poco::XML::NodeList> items = sequence->getElementsByTagName("Item");
    for (unsigned long k = 0; k < items->length(); ++k) {
      auto* item = static_cast<Poco::XML::Element*>(items->item(k));
      if (item->parentNode() != sequence) continue;
      const std::string uid = xml_value(*item, kSopInstanceUid);
      if (uid.empty()) continue;
      Listed& entry = listing[uid];
      if (tag == kReferencedSops) {
        entry.referenced = true;
        continue;
      }
      entry.failed = true;
      const std::string reason = xml_value(*item, kFailureReason);
      if (!reason.empty()) entry.failure_reason = std::stoi(reason);
    }
  }
}

StowOutcome of_status(dicom_node::SendOutcome outcome) {
  switch (outcome) {
    case dicom_node::SendOutcome::delivered: return StowOutcome::stored;
    case dicom_node::SendOutcome::permanent: return StowOutcome::permanent;
    case dicom_node::SendOutcome::retryable: break;
  }
  return StowOutcome::retryable;
}

bool contains(const std::string& text, const char* what) {
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower.find(what) != std::string::npos;
}

}  // namespace

std::vector<StowInstanceResult> interpret_stow_response(int http_status, const std::string& reason,
                                                        const std::string& content_type, const std::string& body,
                                                        const std::vector<StowInstance>& instances) {
  const std::string status_text = "HTTP " + std::to_string(http_status) + (reason.empty() ? "" : " " + reason);
  const bool body_decides = http_status == 200 || http_status == 202 || http_status == 409;
  if (!body_decides) {
    const bool retryable = http_status == 408 || http_status == 429 || http_status >= 500 || http_status < 300;
    std::string why = status_text;
    if (http_status == 401 || http_status == 403) why += " (check the destination's auth)";
    if (http_status == 413) why += " (the service refuses a request this large)";
    return std::vector<StowInstanceResult>(instances.size(),
                                           {retryable ? StowOutcome::retryable : StowOutcome::permanent, std::nullopt, why});
  }

  Listing listing;
  std::string unread;  // why the body could not be read, if it could not
  if (!body.empty()) {
    try {
      if (contains(content_type, "xml")) read_xml(body, listing);
      else read_json(body, listing);
    } catch (const Poco::Exception& e) {  // derives from std::exception: caught first for its text
      unread = " (unreadable response body: " + e.displayText().substr(0, 200) + ")";
    } catch (const std::exception& e) {
      unread = " (unreadable response body: " + std::string(e.what()).substr(0, 200) + ")";
    }
  }

  std::vector<StowInstanceResult> results;
  for (const auto& instance : instances) {
    const auto it = listing.find(instance.sop_instance_uid);
    if (it != listing.end() && it->second.failed) {
      const auto& failure = it->second.failure_reason;
      // No reason given: the instance failed for a reason the service did not name; a 409 says
      // the same request will fail again.
      const StowOutcome outcome = failure ? of_status(dicom_node::classify_store_status(*failure))
                                          : (http_status == 409 ? StowOutcome::permanent : StowOutcome::retryable);
      results.push_back({outcome == StowOutcome::stored ? StowOutcome::retryable : outcome, failure,
                         status_text + ": failed" + (failure ? ", failure reason 0x" + hex4(*failure) : std::string(", no reason given"))});
    } else if (it != listing.end() && it->second.referenced) {
      results.push_back({StowOutcome::stored, std::nullopt, status_text});
    } else if (http_status == 200) {
      results.push_back({StowOutcome::stored, std::nullopt, status_text + unread});
    } else if (http_status == 409) {
      results.push_back({StowOutcome::permanent, std::nullopt, status_text + ": no instance stored" + unread});
    } else {
      results.push_back({StowOutcome::retryable, std::nullopt, status_text + ": not in the response" + unread});
    }
  }
  return results;
}

}  // namespace evax::dicomweb
