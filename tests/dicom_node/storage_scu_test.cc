// The storage SCU's reading of C-STORE statuses and of a destination that is not there.
#include "evax/dicom_node/storage_scu.h"

#include <gtest/gtest.h>

#include <chrono>

#include "process.h"

namespace evax::dicom_node {
namespace {

TEST(StorageScu, StatusesAreReadAsTheStandardDefinesThem) {
  EXPECT_EQ(classify_store_status(0x0000), SendOutcome::delivered);
  EXPECT_EQ(classify_store_status(0xB000), SendOutcome::delivered);  // coercion of data elements
  EXPECT_EQ(classify_store_status(0xB007), SendOutcome::delivered);  // elements discarded
  EXPECT_EQ(classify_store_status(0xA700), SendOutcome::retryable);  // out of resources
  EXPECT_EQ(classify_store_status(0xA7FF), SendOutcome::retryable);
  EXPECT_EQ(classify_store_status(0xA900), SendOutcome::permanent);  // data set does not match SOP class
  EXPECT_EQ(classify_store_status(0xC000), SendOutcome::permanent);  // cannot understand
  EXPECT_EQ(classify_store_status(0xC123), SendOutcome::permanent);
  EXPECT_EQ(classify_store_status(0x0122), SendOutcome::permanent);  // SOP class not supported
  EXPECT_EQ(classify_store_status(0x0110), SendOutcome::retryable);  // processing failure
}

TEST(StorageScu, ADestinationThatIsNotListeningIsRetryableForEveryFile) {
  const int port = testing::free_tcp_port();  // nothing listens there
  const auto started = std::chrono::steady_clock::now();
  const auto results = send_files({"EVAX", 2, 2, 65536}, {"NOBODY", "127.0.0.1", port},
                                  {{"/nonexistent/a.dcm", "1.2.840.10008.5.1.4.1.1.7", "1.2.3"},
                                   {"/nonexistent/b.dcm", "1.2.840.10008.5.1.4.1.1.88.33", "1.2.4"}});
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.outcome, SendOutcome::retryable);
    EXPECT_FALSE(r.dimse_status);
    EXPECT_NE(r.detail.find("association"), std::string::npos) << r.detail;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_TRUE(send_files({"EVAX", 2, 2, 65536}, {"NOBODY", "127.0.0.1", port}, {}).empty());
}

}  // namespace
}  // namespace evax::dicom_node
