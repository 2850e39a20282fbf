#include "store/namespaces.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>

namespace arbalest {
namespace {

class NamespacesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("arbalest_namespaces_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    file_ = (dir_ / kNamespacesFile).string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  std::string file_;
};

TEST_F(NamespacesTest, TheDefaultAlwaysExistsAndComesFirst) {
  Namespaces namespaces;
  ASSERT_TRUE(namespaces.Open("").ok());
  std::shared_lock lock(namespaces.mutex());
  EXPECT_TRUE(namespaces.ExistsLocked("default"));
  EXPECT_TRUE(namespaces.CheckDatasetNamespaceLocked("docs").ok());
  auto missing = namespaces.CheckDatasetNamespaceLocked("team/docs");
  EXPECT_TRUE(missing.IsKeyError());
  EXPECT_NE(missing.message().find("namespace 'team' of dataset 'team/docs' not found"),
            std::string::npos);
  EXPECT_EQ(namespaces.List(), std::vector<std::string>{"default"});
}

TEST_F(NamespacesTest, TheFileKeepsTheSetAndItsLsn) {
  {
    Namespaces namespaces;
    ASSERT_TRUE(namespaces.Open(file_).ok());
    ASSERT_TRUE(namespaces.Created("b", 5).ok());
    ASSERT_TRUE(namespaces.Created("a", 6).ok());
    ASSERT_TRUE(namespaces.Dropped("b", 7).ok());
    EXPECT_EQ(namespaces.List(), (std::vector<std::string>{"default", "a"}));
  }
  Namespaces reopened;
  ASSERT_TRUE(reopened.Open(file_).ok());
  EXPECT_EQ(reopened.List(), (std::vector<std::string>{"default", "a"}));
  // Replay meets records the file already reflects (LSN <= 7): they change nothing.
  ASSERT_TRUE(reopened.Created("b", 5).ok());
  ASSERT_TRUE(reopened.Dropped("a", 7).ok());
  EXPECT_EQ(reopened.List(), (std::vector<std::string>{"default", "a"}));
  // Later ones apply.
  ASSERT_TRUE(reopened.Created("c", 8).ok());
  EXPECT_EQ(reopened.List(), (std::vector<std::string>{"default", "a", "c"}));
  EXPECT_FALSE(std::filesystem::exists(file_ + ".tmp"));
}

TEST_F(NamespacesTest, ADamagedFileIsAnErrorNamingIt) {
  std::filesystem::create_directories(dir_);
  std::ofstream(file_) << "{\"lsn\": 3, \"namespaces\": [\"a/b\"]}";
  Namespaces namespaces;
  auto status = namespaces.Open(file_);
  EXPECT_TRUE(status.IsInvalid());
  EXPECT_NE(status.message().find("invalid namespace name 'a/b'"), std::string::npos);
  std::ofstream(file_) << "{\"namespaces\": []}";
  status = Namespaces().Open(file_);
  EXPECT_NE(status.message().find(file_), std::string::npos) << status.message();
}

}  // namespace
}  // namespace arbalest
