#include <gtest/gtest.h>

#include <cstring>

#include "engine_error.h"  // EngineError
#include "safetensors_reader.h"

namespace evax::inference {
namespace {

std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  std::uint64_t length = header.size();
  std::memcpy(bytes.data(), &length, 8);  // little-endian on every machine this builds for
  return bytes + header + data;
}

std::string error_of(const std::string& bytes) {
  try {
    read_safetensors(bytes);
  } catch (const EngineError& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, ReadsDtypesShapesAndValues) {
  const float values[] = {1.5f, -2.0f};
  const std::uint16_t half_one = 0x3C00;
  std::string data(reinterpret_cast<const char*>(values), sizeof values);
  data.append(reinterpret_cast<const char*>(&half_one), 2);
  const auto tensors = read_safetensors(safetensors_bytes(
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F16","shape":[1],"data_offsets":[8,10]}})",
      data));
  ASSERT_EQ(tensors.size(), 2u);
  EXPECT_EQ(tensors[0].first, "a");
  EXPECT_EQ(tensors[0].second.sizes(), (std::vector<std::int64_t>{2, 1}));
  EXPECT_FLOAT_EQ(tensors[0].second[1][0].item<float>(), -2.0f);
  EXPECT_EQ(tensors[1].second.scalar_type(), at::kHalf);
  EXPECT_FLOAT_EQ(tensors[1].second[0].item<float>(), 1.0f);
}

TEST(Safetensors, OffsetsPastTheEndAreRefused) {
  const std::string bytes = safetensors_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, '\0'));
  EXPECT_NE(error_of(bytes).find("outside the file"), std::string::npos) << error_of(bytes);
}

TEST(Safetensors, SizeThatDisagreesWithShapeIsRefused) {
  const std::string bytes = safetensors_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0'));
  EXPECT_FALSE(error_of(bytes).empty());
}

TEST(Safetensors, BrokenHeaderJsonIsAClearError) {
  const std::string bytes = safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],)", std::string(4, '\0'));
  EXPECT_NE(error_of(bytes).find("safetensors header"), std::string::npos) << error_of(bytes);
}

TEST(Safetensors, UnknownDtypeIsNamed) {
  const std::string bytes = safetensors_bytes(R"({"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", std::string(1, '\0'));
  EXPECT_NE(error_of(bytes).find("F8_E4M3"), std::string::npos);
}

}  // namespace
}  // namespace evax::inference
