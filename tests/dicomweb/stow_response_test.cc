// The STOW-RS response: status from the outcomes, DICOM JSON and XML bodies, the Accept header.
#include "evax/dicomweb/stow_response.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace evax::dicomweb {
namespace {

using json = nlohmann::json;

const std::vector<StowInstanceOutcome> kMixed = {
    {"1.2.840.10008.5.1.4.1.1.1.1", "1.2.3.1", 0},
    {"1.2.840.10008.5.1.4.1.1.2", "1.2.3.2", 0x0122},
    {"", "", 0xC000},
};

TEST(StowResponse, StatusFollowsWhatWasStored) {
  EXPECT_EQ(stow_response({kMixed[0]}, StowFormat::json).status, 200);
  EXPECT_EQ(stow_response(kMixed, StowFormat::json).status, 202);
  EXPECT_EQ(stow_response({kMixed[1], kMixed[2]}, StowFormat::json).status, 409);
}

TEST(StowResponse, JsonListsStoredAndFailedInstancesWithTheirReasons) {
  const auto response = stow_response(kMixed, StowFormat::json);
  EXPECT_EQ(response.content_type, "application/dicom+json");
  const json body = json::parse(response.body);
  const json& stored = body.at("00081199");
  EXPECT_EQ(stored.at("vr"), "SQ");
  ASSERT_EQ(stored.at("Value").size(), 1u);
  EXPECT_EQ(stored["Value"][0]["00081155"]["Value"][0], "1.2.3.1");
  EXPECT_EQ(stored["Value"][0]["00081150"]["vr"], "UI");
  EXPECT_FALSE(stored["Value"][0].contains("00081197"));
  const json& failed = body.at("00081198");
  ASSERT_EQ(failed.at("Value").size(), 2u);
  EXPECT_EQ(failed["Value"][0]["00081197"]["vr"], "US");
  EXPECT_EQ(failed["Value"][0]["00081197"]["Value"][0], 0x0122);
  EXPECT_EQ(failed["Value"][1]["00081197"]["Value"][0], 0xC000);
  EXPECT_FALSE(failed["Value"][1]["00081155"].contains("Value"));  // unknown: empty, not invented
}

TEST(StowResponse, XmlIsTheNativeDicomModel) {
  const auto response = stow_response(kMixed, StowFormat::xml);
  EXPECT_EQ(response.content_type, "application/dicom+xml");
  const std::string& x = response.body;
  EXPECT_EQ(x.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 0), 0u);
  EXPECT_NE(x.find("<NativeDicomModel xmlns=\"http://dicom.nema.org/PS3.19/models/NativeDICOM\">"), std::string::npos);
  EXPECT_NE(x.find("tag=\"00081198\" vr=\"SQ\" keyword=\"FailedSOPSequence\""), std::string::npos);
  EXPECT_NE(x.find("tag=\"00081199\" vr=\"SQ\" keyword=\"ReferencedSOPSequence\""), std::string::npos);
  EXPECT_NE(x.find("keyword=\"FailureReason\"><Value number=\"1\">290</Value>"), std::string::npos) << x;  // 0x0122
  EXPECT_NE(x.find("<Value number=\"1\">1.2.3.1</Value>"), std::string::npos);
}

TEST(StowResponse, AcceptPicksJsonOrXmlOrIsRefused) {
  EXPECT_EQ(stow_response_format(""), StowFormat::json);
  EXPECT_EQ(stow_response_format("*/*"), StowFormat::json);
  EXPECT_EQ(stow_response_format("application/dicom+json"), StowFormat::json);
  EXPECT_EQ(stow_response_format("application/dicom+xml"), StowFormat::xml);
  EXPECT_EQ(stow_response_format("application/dicom+xml; q=0, application/json"), StowFormat::json);
  EXPECT_EQ(stow_response_format("text/html, multipart/related; type=\"application/dicom+xml\""), StowFormat::xml);
  EXPECT_FALSE(stow_response_format("text/html"));
  EXPECT_FALSE(stow_response_format("image/png, text/plain"));
}

TEST(StowResponse, ErrorsReadAsTheAdminApisDo) {
  const auto error = stow_error(415, "unsupported_media_type", "no");
  EXPECT_EQ(error.status, 415);
  EXPECT_EQ(json::parse(error.body)["error"]["code"], "unsupported_media_type");
}

}  // namespace
}  // namespace evax::dicomweb
