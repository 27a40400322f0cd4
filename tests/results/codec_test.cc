#include "evax/results/codec.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace evax::results {
namespace {

using json = nlohmann::json;

ImageAnalysis sample_analysis() {
  ImageAnalysis a;
  a.provenance = {"EVA-X-S", "cxr14", true, "ab12"};
  a.findings = {{"Atelectasis", 0.25, CamGrid{2, {0.0F, 0.5F, 1.0F, 0.125F}}}, {"Cardiomegaly", 0.875, std::nullopt}};
  a.crop = CropPlacement{1000, 800, 280, 224, 28, 0, 224};
  a.lungs = LungResult{"image-orientation", "", {{"right", 1200, 345.5, "PixelSpacing"}, {"left", 1100, std::nullopt, "none"}}};
  return a;
}

TEST(ResultsCodec, ColumnsRoundTripEveryField) {
  const ImageAnalysis a = sample_analysis();
  const auto decoded = decode_columns(encode_columns(a));
  ASSERT_TRUE(decoded) << decoded.error();
  ASSERT_TRUE(decoded->has_value());
  const ImageAnalysis& b = **decoded;
  EXPECT_EQ(b.provenance.model, "EVA-X-S");
  EXPECT_EQ(b.provenance.task, "cxr14");
  EXPECT_TRUE(b.provenance.demo);
  EXPECT_EQ(b.provenance.checkpoint_digest, "ab12");
  ASSERT_EQ(b.findings.size(), 2U);
  EXPECT_EQ(b.findings[0].label, "Atelectasis");
  EXPECT_DOUBLE_EQ(b.findings[1].probability, 0.875);
  ASSERT_TRUE(b.findings[0].cam);
  EXPECT_EQ(b.findings[0].cam->grid_side, 2);
  EXPECT_EQ(b.findings[0].cam->normalised, (std::vector<float>{0.0F, 0.5F, 1.0F, 0.125F}));
  EXPECT_FALSE(b.findings[1].cam);
  ASSERT_TRUE(b.crop);
  EXPECT_EQ(b.crop->resized_width, 280);
  EXPECT_EQ(b.crop->crop_left, 28);
  ASSERT_TRUE(b.lungs);
  ASSERT_EQ(b.lungs->lungs.size(), 2U);
  EXPECT_EQ(b.lungs->lungs[0].laterality, "right");
  EXPECT_EQ(b.lungs->lungs[0].area_mm2, 345.5);
  EXPECT_FALSE(b.lungs->lungs[1].area_mm2);
  EXPECT_EQ(b.lungs->lungs[1].spacing_source, "none");
}

TEST(ResultsCodec, FeaturesRoundTripWithoutFindings) {
  ImageAnalysis a;
  a.provenance = {"EVA-X-T", "features", true, ""};
  a.features = {0.5F, -1.25F, 3.0F};
  const auto decoded = decode_columns(encode_columns(a));
  ASSERT_TRUE(decoded && decoded->has_value());
  EXPECT_EQ((*decoded)->features, a.features);
  EXPECT_TRUE((*decoded)->findings.empty());
}

TEST(ResultsCodec, EmptyColumnsAreNoAnalysis) {
  EXPECT_EQ(encode_columns(std::nullopt).probabilities_json, "");
  const auto decoded = decode_columns({"", ""});
  ASSERT_TRUE(decoded);
  EXPECT_FALSE(decoded->has_value());
}

// A row as every version so far wrote it (no crop, no digest): it decodes, and the columns keep
// their layout so older readers still read new rows.
TEST(ResultsCodec, DecodesRowsWrittenByEarlierVersions) {
  const std::string probabilities =
      R"({"demo":true,"labels":["Atelectasis","Effusion"],"model":"EVA-X-Ti","probabilities":[0.1,0.9],"task":"cxr14",)"
      R"("segmentation":{"side_basis":"patient-orientation","rejected":"one lung only","lungs":[{"laterality":"left","pixels":7,"area_mm2":null,"spacing_source":"none"}]}})";
  const std::string cams = R"([{"class_index":1,"grid_side":1,"label":"Effusion","map":[1.0]}])";
  const auto decoded = decode_columns({probabilities, cams});
  ASSERT_TRUE(decoded) << decoded.error();
  const ImageAnalysis& a = **decoded;
  EXPECT_EQ(a.provenance.model, "EVA-X-Ti");
  EXPECT_EQ(a.provenance.checkpoint_digest, "");
  EXPECT_FALSE(a.crop);
  ASSERT_EQ(a.findings.size(), 2U);
  EXPECT_FALSE(a.findings[0].cam);
  ASSERT_TRUE(a.findings[1].cam);
  EXPECT_EQ(a.findings[1].cam->normalised, std::vector<float>{1.0F});
  ASSERT_TRUE(a.lungs);
  EXPECT_EQ(a.lungs->rejection, "one lung only");

  const auto encoded = encode_columns(a);
  EXPECT_EQ(json::parse(encoded.probabilities_json), json::parse(probabilities));
  EXPECT_EQ(json::parse(encoded.cams_json), json::parse(cams));
}

TEST(ResultsCodec, MalformedColumnsGiveAnErrorValue) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"{not json", "[]"},
      {R"({"labels":["A"]})", "[]"},                                  // no probabilities
      {R"({"labels":["A","B"],"probabilities":[0.5]})", "[]"},        // counts differ
      {R"({"labels":["A"],"probabilities":["high"]})", "[]"},         // wrong type
      {R"({"labels":["A"],"probabilities":[0.5]})", R"({"a":1})"},    // cams not an array
      {R"({"labels":["A"],"probabilities":[0.5]})", R"([{"label":"B","class_index":0,"grid_side":1,"map":[1]}])"},
      {R"({"labels":["A"],"probabilities":[0.5]})", R"([{"label":"A","class_index":0,"grid_side":2,"map":[1]}])"},
      {"", "[]"},
  };
  for (const auto& [probabilities, cams] : bad) {
    const auto decoded = decode_columns({probabilities, cams});
    EXPECT_FALSE(decoded) << probabilities << " / " << cams;
    if (!decoded) {
      EXPECT_FALSE(decoded.error().empty());
    }
  }
}

TEST(ResultsCodec, ApiImageHasTheDocumentedFields) {
  ImageResult image{3, "1.2.3", "analysed", "", "", sample_analysis()};
  const json api = json::parse(encode_api_image(image));
  EXPECT_EQ(api["sop_instance_uid"], "1.2.3");
  EXPECT_EQ(api["decision"], "analysed");
  EXPECT_EQ(api["model"], "EVA-X-S");
  EXPECT_EQ(api["demo"], true);
  ASSERT_EQ(api["findings"].size(), 2U);
  EXPECT_EQ(api["findings"][1], (json{{"label", "Cardiomegaly"}, {"probability", 0.875}}));
  ASSERT_EQ(api["cams"].size(), 1U);
  EXPECT_EQ(api["cams"][0]["label"], "Atelectasis");
  EXPECT_EQ(api["cams"][0]["class_index"], 0);
  EXPECT_EQ(api["segmentation"]["lungs"][0]["pixels"], 1200);
  // Where the grids lie on the image, so a client can place them (as the Parametric Map does).
  EXPECT_EQ(api["crop"], (json{{"image_width", 1000}, {"image_height", 800}, {"resized_width", 280}, {"resized_height", 224},
                               {"crop_left", 28}, {"crop_top", 0}, {"crop_size", 224}}));

  const json skipped = json::parse(encode_api_image({4, "1.2.4", "skipped", "not-chest", "BodyPartExamined is HEAD", std::nullopt}));
  EXPECT_EQ(skipped["reason_code"], "not-chest");
  EXPECT_FALSE(skipped.contains("findings"));
  EXPECT_FALSE(skipped.contains("cams"));
}

}  // namespace
}  // namespace evax::results
