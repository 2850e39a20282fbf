// The data dir's record of the cluster it belongs to.
#include "cluster/cluster_record.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace arbalest {
namespace {

TEST(ClusterRecord, FirstJoinRecordsTheNameAndAnotherNameIsRefused) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("cluster_record_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  EXPECT_TRUE(CheckClusterRecord(dir.string(), "alpha").ok());  // nothing recorded yet
  ASSERT_TRUE(WriteClusterRecord(dir.string(), "alpha").ok());
  std::ifstream file(dir / "CLUSTER");
  std::string recorded;
  std::getline(file, recorded);
  EXPECT_EQ(recorded, "alpha");
  EXPECT_TRUE(CheckClusterRecord(dir.string(), "alpha").ok());
  EXPECT_TRUE(WriteClusterRecord(dir.string(), "alpha").ok());
  const arrow::Status refused = CheckClusterRecord(dir.string(), "beta");
  ASSERT_TRUE(refused.IsInvalid());
  EXPECT_NE(refused.message().find("belongs to cluster 'alpha', not to cluster 'beta'"),
            std::string::npos)
      << refused.message();
  EXPECT_TRUE(WriteClusterRecord(dir.string(), "beta").IsInvalid());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace arbalest
