#include "security/tokens.h"

#include <gtest/gtest.h>

#include <string>

#include "security/audit_log.h"

namespace arbalest {
namespace {

TEST(TokensTest, MadeTokenIsFoundByItsLineAndNothingElseIs) {
  auto made = MakeToken("ingest-1", Role::kWrite, "logs_*,metrics");
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(made->token.rfind("arb_ingest-1_", 0), 0u);
  EXPECT_EQ(made->line.find(made->token), std::string::npos) << "the line must not hold the token";
  auto table = TokenTable::Parse(made->line + "\n", "tokens");
  ASSERT_TRUE(table.ok()) << table.status();
  const TokenEntry* entry = (*table)->Find(made->token);
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->id, "ingest-1");
  EXPECT_EQ(entry->role, Role::kWrite);
  EXPECT_EQ(entry->DatasetsText(), "logs_*,metrics");
  std::string altered = made->token;
  altered.back() = altered.back() == '0' ? '1' : '0';
  EXPECT_EQ((*table)->Find(altered), nullptr);
  EXPECT_EQ((*table)->Find(""), nullptr);
  EXPECT_EQ((*table)->Find("arb_ingest-1_"), nullptr);
  EXPECT_EQ((*table)->Find(made->line), nullptr);
}

TEST(TokensTest, TwoTokensDiffer) {
  auto a = MakeToken("a", Role::kRead, "*");
  auto b = MakeToken("a", Role::kRead, "*");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->token, b->token);
  EXPECT_NE(a->line, b->line);
}

TEST(TokensTest, RandomIdWhenNoneIsGiven) {
  auto made = MakeToken("", Role::kAdmin, "*");
  ASSERT_TRUE(made.ok());
  auto id = TokenId(made->token);
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(IsValidTokenId(*id));
  EXPECT_EQ(made->line.rfind(*id + " admin * blake2b-256:", 0), 0u) << made->line;
}

TEST(TokensTest, MakeTokenRefusesBadIdsAndPatterns) {
  EXPECT_FALSE(MakeToken("has_underscore", Role::kRead, "*").ok());
  EXPECT_FALSE(MakeToken("has space", Role::kRead, "*").ok());
  EXPECT_FALSE(MakeToken(std::string(65, 'a'), Role::kRead, "*").ok());
  EXPECT_FALSE(MakeToken("ok", Role::kRead, "a,,b").ok());
  EXPECT_FALSE(MakeToken("ok", Role::kRead, "").ok());
}

TEST(TokensTest, ParseSkipsCommentsAndBlankLines) {
  const std::string hash = HashToken("x");
  auto table = TokenTable::Parse(
      "# header\n\n  a read * " + hash + "  # trailing\n\tb admin x* " + hash + "\n", "tokens");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ((*table)->size(), 2u);
}

struct BadFile {
  std::string text;
  std::string message;  // expected in the error
};

TEST(TokensTest, ParseErrorsNameTheLine) {
  const std::string hash = HashToken("x");
  const BadFile cases[] = {
      {"a read *\n", "tokens line 1: expected 4 fields"},
      {"# c\na superuser * " + hash,
       "tokens line 2: unknown role 'superuser' (read, write, admin or cluster)"},
      {"a read * " + hash + "\na write * " + hash, "tokens line 2: token id 'a' appears twice"},
      {"a_b read * " + hash, "tokens line 1: token id 'a_b'"},
      {"a read * sha1:abc", "tokens line 1: the hash must be 'blake2b-256:'"},
      {"a read * arb_a_" + std::string(64, '0'), "tokens line 1: the hash must be"},
      {"a read * " + hash.substr(0, hash.size() - 1), "tokens line 1: the hash must be"},
      {"a read a,,b " + hash, "tokens line 1: empty dataset pattern"},
      {"a read * " + hash + " extra", "tokens line 1: expected 4 fields"},
  };
  for (const BadFile& bad : cases) {
    auto table = TokenTable::Parse(bad.text, "tokens");
    ASSERT_FALSE(table.ok()) << bad.text;
    EXPECT_NE(table.status().message().find(bad.message), std::string::npos)
        << table.status().message() << " (wanted: " << bad.message << ")";
  }
}

TEST(TokensTest, LoadNamesAMissingFile) {
  auto table = TokenTable::Load("/nonexistent/tokens");
  ASSERT_FALSE(table.ok());
  EXPECT_NE(table.status().message().find("/nonexistent/tokens"), std::string::npos);
}

TEST(TokensTest, Roles) {
  EXPECT_TRUE(RoleAllows(Role::kAdmin, Role::kRead));
  EXPECT_TRUE(RoleAllows(Role::kWrite, Role::kWrite));
  EXPECT_FALSE(RoleAllows(Role::kWrite, Role::kAdmin));
  EXPECT_FALSE(RoleAllows(Role::kRead, Role::kWrite));
  for (Role role : {Role::kRead, Role::kWrite, Role::kAdmin}) {
    EXPECT_EQ(*ParseRole(RoleName(role)), role);
  }
  EXPECT_FALSE(ParseRole("Admin").ok());
}

TEST(TokensTest, DatasetPatterns) {
  TokenEntry entry{"t", Role::kRead, {"logs_*", "metrics", "v?"}, ""};
  EXPECT_TRUE(entry.MayUse("logs_"));
  EXPECT_TRUE(entry.MayUse("logs_2024"));
  EXPECT_TRUE(entry.MayUse("metrics"));
  EXPECT_TRUE(entry.MayUse("v1"));
  EXPECT_FALSE(entry.MayUse("v12"));
  EXPECT_FALSE(entry.MayUse("metrics2"));
  EXPECT_FALSE(entry.MayUse("xlogs_a"));
  EXPECT_FALSE(entry.all_datasets());
  EXPECT_TRUE((TokenEntry{"t", Role::kRead, {"*"}, ""}).all_datasets());
}

TEST(TokensTest, BasicCredentials) {
  auto decoded = DecodeBasicCredentials("dXNlcjpwYTpzcw==");  // user:pa:ss
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->first, "user");
  EXPECT_EQ(decoded->second, "pa:ss");
  EXPECT_FALSE(DecodeBasicCredentials("dXNlcg==").ok());  // "user": no colon
  EXPECT_FALSE(DecodeBasicCredentials("***").ok());
}

TEST(AuditLogTest, LineHasEveryFieldAndNoRawBytes) {
  const std::string line = AuditLog::Line(
      {"t1", "ipv4:127.0.0.1:5", "DoAction", "compact", "bad\xff", false, "needs admin"});
  EXPECT_NE(line.find("\"token\":\"t1\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"method\":\"DoAction\",\"action\":\"compact\""), std::string::npos);
  EXPECT_NE(line.find("\"allowed\":false"), std::string::npos);
  EXPECT_NE(line.find("\"time\":\"20"), std::string::npos);
  EXPECT_EQ(line.find('\xff'), std::string::npos);
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace arbalest
