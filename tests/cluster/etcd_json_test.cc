// The etcd v3 JSON gateway's replies as etcd 3.4 writes them (captured from a real etcd), and
// the watch stream's splitting into messages.
#include "cluster/etcd_json.h"

#include <gtest/gtest.h>

namespace arbalest::etcd {
namespace {

TEST(Base64, RoundTripsBytesAndRefusesOtherText) {
  const std::string bytes("/c/members/\x00\xff", 13);
  EXPECT_EQ(Base64Encode("/c/members/a"), "L2MvbWVtYmVycy9h");
  EXPECT_EQ(*Base64Decode(Base64Encode(bytes)), bytes);
  EXPECT_EQ(*Base64Decode(""), "");
  EXPECT_TRUE(Base64Decode("not base64!").status().IsInvalid());
}

TEST(PrefixRangeEnd, IncrementsTheLastByteAndCarries) {
  EXPECT_EQ(PrefixRangeEnd("/c/members/"), "/c/members0");
  EXPECT_EQ(PrefixRangeEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixRangeEnd(std::string("\xff", 1)), std::string(1, '\0'));
}

TEST(Requests, CarryKeysInBase64AndIntegersAsStrings) {
  EXPECT_EQ(PutRequest("k", "v", 7).dump(), R"({"key":"aw==","lease":"7","value":"dg=="})");
  EXPECT_EQ(PutRequest("k", "v", 0).dump(), R"({"key":"aw==","value":"dg=="})");
  EXPECT_EQ(LeaseGrantRequest(3).dump(), R"({"TTL":"3"})");
  EXPECT_EQ(WatchPrefixRequest("/c/", 5).dump(),
            R"({"create_request":{"key":"L2Mv","range_end":"L2Mw","start_revision":"5"}})");
}

TEST(ParseRangeReply, ReadsRevisionAndKeyValues) {
  auto reply = ParseRangeReply(
      R"({"header":{"cluster_id":"1","member_id":"2","revision":"2","raft_term":"2"},)"
      R"("kvs":[{"key":"L2MvbWVtYmVycy9h","create_revision":"2","mod_revision":"2",)"
      R"("version":"1","value":"aGk=","lease":"7587899372884548359"}],"count":"1"})");
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->revision, 2);
  ASSERT_EQ(reply->kvs.size(), 1u);
  EXPECT_EQ(reply->kvs[0].key, "/c/members/a");
  EXPECT_EQ(reply->kvs[0].value, "hi");
  EXPECT_EQ(reply->kvs[0].lease, 7587899372884548359);
  // An empty range has no "kvs" at all.
  auto empty = ParseRangeReply(R"({"header":{"revision":"9"}})");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->revision, 9);
  EXPECT_TRUE(empty->kvs.empty());
}

TEST(ParseReplies, ErrorRepliesAndMalformedOnesAreErrors) {
  auto error = ParseRangeReply(
      R"({"error":"etcdserver: mvcc: required revision has been compacted","code":11,)"
      R"("message":"etcdserver: mvcc: required revision has been compacted"})");
  ASSERT_TRUE(error.status().IsIOError());
  EXPECT_NE(error.status().message().find("compacted"), std::string::npos);
  EXPECT_TRUE(ParseRangeReply("<html>").status().IsInvalid());
  EXPECT_TRUE(ParseRangeReply(R"({"header":{"revision":"x"}})").status().IsInvalid());
  EXPECT_TRUE(ParseRangeReply(R"({"kvs":{}})").status().IsInvalid());
  EXPECT_TRUE(CheckReply(R"({"header":{"revision":"5"}})").ok());
}

TEST(ParseLeaseReplies, GrantAndKeepAliveOfALiveOrExpiredLease) {
  auto lease =
      ParseLeaseGrantReply(R"({"header":{"revision":"1"},"ID":"7587899372884548357","TTL":"3"})");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease->id, 7587899372884548357);
  EXPECT_EQ(lease->ttl_seconds, 3);
  EXPECT_TRUE(ParseLeaseGrantReply(R"({"header":{}})").status().IsIOError());
  EXPECT_EQ(*ParseKeepAliveReply(R"({"result":{"header":{},"ID":"75","TTL":"3"}})"), 3);
  // A revoked or expired lease: etcd answers without a TTL.
  EXPECT_EQ(*ParseKeepAliveReply(R"({"result":{"header":{"revision":"5"},"ID":"75"}})"), 0);
  EXPECT_TRUE(ParseKeepAliveReply(R"({"header":{}})").status().IsInvalid());
}

TEST(ParseWatchMessage, CreatedPutDeleteAndCanceled) {
  auto created = ParseWatchMessage(R"({"result":{"header":{"revision":"2"},"created":true}})");
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(created->created);
  EXPECT_TRUE(created->events.empty());

  auto put = ParseWatchMessage(
      R"({"result":{"header":{"revision":"3"},"events":[{"kv":{"key":"L2MvbWVtYmVycy9i",)"
      R"("create_revision":"3","mod_revision":"3","version":"1","value":"eW8="}}]}})");
  ASSERT_TRUE(put.ok());
  ASSERT_EQ(put->events.size(), 1u);
  EXPECT_FALSE(put->events[0].deleted);
  EXPECT_EQ(put->events[0].kv.key, "/c/members/b");
  EXPECT_EQ(put->events[0].kv.value, "yo");
  EXPECT_EQ(put->revision, 3);

  auto deleted =
      ParseWatchMessage(R"({"result":{"header":{"revision":"4"},"events":[{"type":"DELETE","kv":{)"
                        R"("key":"L2MvbWVtYmVycy9i","mod_revision":"4"}}]}})");
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(deleted->events[0].deleted);

  auto canceled = ParseWatchMessage(
      R"({"result":{"header":{"revision":"9"},"canceled":true,"compact_revision":"7",)"
      R"("cancel_reason":"compacted"}})");
  ASSERT_TRUE(canceled.ok());
  EXPECT_TRUE(canceled->canceled);
  EXPECT_EQ(canceled->compact_revision, 7);
  EXPECT_TRUE(ParseWatchMessage(R"({"error":{"grpc_code":14,"message":"unavailable"}})")
                  .status()
                  .IsIOError());
  EXPECT_TRUE(ParseWatchMessage(R"({"result":{"events":[{"type":"PUT"}]}})").status().IsInvalid());
}

TEST(JsonObjectSplitter, SplitsObjectsAcrossChunksIgnoringBracesInStrings) {
  JsonObjectSplitter splitter;
  auto first = splitter.Append(R"({"a":"}{\"",)");
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->empty());
  auto second = splitter.Append("\"b\":{}}\n{\"c\":1}\n{\"d\"");
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 2u);
  EXPECT_EQ((*second)[0], R"({"a":"}{\"","b":{}})");
  EXPECT_EQ((*second)[1], R"({"c":1})");
  auto third = splitter.Append(":2}");
  ASSERT_TRUE(third.ok());
  ASSERT_EQ(third->size(), 1u);
  EXPECT_EQ((*third)[0], R"({"d":2})");
  EXPECT_TRUE(JsonObjectSplitter().Append("x{}").status().IsInvalid());
}

}  // namespace
}  // namespace arbalest::etcd
