// The Flight service in process, driven by the real Arrow Flight C++ client over gRPC.
#include <arrow/flight/client.h>
#include <arrow/table.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/json_util.h"
#include "flight/server.h"
#include "testing/batches.h"

namespace arbalest {
namespace {

namespace fl = arrow::flight;
using testing::MakeVectorBatch;

class FlightServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_shared<VectorStore>(0);
    servers_ = FlightServers::Start({"127.0.0.1", 0, 0}, store_).ValueOrDie();
    client_ = Connect(servers_->data_port());
  }
  void TearDown() override { ASSERT_TRUE(servers_->Shutdown(std::chrono::seconds(5)).ok()); }

  static std::unique_ptr<fl::FlightClient> Connect(int port) {
    auto location = fl::Location::ForGrpcTcp("127.0.0.1", port).ValueOrDie();
    return fl::FlightClient::Connect(location).ValueOrDie();
  }

  // Puts `batches` into `name`; returns the call's status and the acks received.
  arrow::Status Put(const std::string& name,
                    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
                    std::vector<Json>* acks) {
    ARROW_ASSIGN_OR_RAISE(
        auto put, client_->DoPut(fl::FlightDescriptor::Path({name}), batches.front()->schema()));
    for (const auto& batch : batches) {
      ARROW_RETURN_NOT_OK(put.writer->WriteRecordBatch(*batch));
      std::shared_ptr<arrow::Buffer> metadata;
      ARROW_RETURN_NOT_OK(put.reader->ReadMetadata(&metadata));
      if (metadata) acks->push_back(Json::parse(metadata->ToString()));
    }
    ARROW_RETURN_NOT_OK(put.writer->DoneWriting());
    return put.writer->Close();
  }

  // The single JSON Result of action `type` with body `body`.
  arrow::Result<Json> ActionJson(const std::string& type, const Json& body) {
    ARROW_ASSIGN_OR_RAISE(
        auto results, client_->DoAction(fl::Action{type, arrow::Buffer::FromString(body.dump())}));
    ARROW_ASSIGN_OR_RAISE(auto result, results->Next());
    if (!result) return arrow::Status::Invalid("no result");
    return Json::parse(result->body->ToString());
  }

  std::shared_ptr<VectorStore> store_;
  std::unique_ptr<FlightServers> servers_;
  std::unique_ptr<fl::FlightClient> client_;
};

TEST_F(FlightServiceTest, PutAcksEachBatchThenScanReturnsIt) {
  std::vector<Json> acks;
  ASSERT_TRUE(Put("ds", {MakeVectorBatch(0, 100, 16), MakeVectorBatch(100, 50, 16)}, &acks).ok());
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[0]["status"], "acked");
  EXPECT_EQ(acks[0]["rows"], 100);
  EXPECT_EQ(acks[1]["rows"], 50);
  EXPECT_GT(acks[1]["seq"].get<uint64_t>(), acks[0]["seq"].get<uint64_t>());

  // Scanned through the meta port: both ports serve one store.
  auto meta = Connect(servers_->meta_port());
  auto stream = meta->DoGet(fl::Ticket{"ds"}).ValueOrDie();
  auto table = stream->ToTable().ValueOrDie();
  EXPECT_TRUE(table->CombineChunksToBatch().ValueOrDie()->Equals(*MakeVectorBatch(0, 150, 16)));
}

TEST_F(FlightServiceTest, ErrorsReachTheClientWithTheirCodeAndMessage) {
  std::vector<Json> acks;
  ASSERT_TRUE(Put("ds", {MakeVectorBatch(0, 10, 16)}, &acks).ok());
  auto width = Put("ds", {MakeVectorBatch(10, 10, 8)}, &acks);
  EXPECT_TRUE(width.IsInvalid()) << width.ToString();
  EXPECT_NE(width.message().find("vector width mismatch"), std::string::npos);

  auto missing = client_->DoGet(fl::Ticket{"missing"});
  arrow::Status status = missing.status();
  if (status.ok()) status = (*missing)->ToTable().status();
  EXPECT_TRUE(status.IsKeyError()) << status.ToString();
  EXPECT_NE(status.message().find("dataset 'missing' not found"), std::string::npos);

  auto action = client_->DoAction(fl::Action{"frobnicate", nullptr});
  status = action.status();
  if (status.ok()) status = (*action)->Next().status();
  EXPECT_TRUE(status.IsNotImplemented()) << status.ToString();

  // The server still serves, and the stored rows are untouched.
  auto info = client_->GetFlightInfo(fl::FlightDescriptor::Path({"ds"})).ValueOrDie();
  EXPECT_EQ(info->total_records(), 10);
}

TEST_F(FlightServiceTest, ActionsAndCatalog) {
  std::vector<Json> acks;
  ASSERT_TRUE(Put("alpha", {MakeVectorBatch(0, 10, 4)}, &acks).ok());
  ASSERT_TRUE(Put("beta", {MakeVectorBatch(0, 300, 4)}, &acks).ok());
  auto stats =
      client_->DoAction(fl::Action{"stats", arrow::Buffer::FromString(R"({"dataset":"beta"})")})
          .ValueOrDie()
          ->Next()
          .ValueOrDie();
  Json parsed = Json::parse(stats->body->ToString());
  EXPECT_EQ(parsed["rows"], 300);
  EXPECT_EQ(parsed["dim"], 4);
  EXPECT_EQ(parsed["id_type"], "int64");

  auto listing =
      client_
          ->ListFlights(fl::FlightCallOptions(),
                        fl::Criteria{R"({"filters":[{"field":"rows","op":">","value":100}]})"})
          .ValueOrDie();
  auto first = listing->Next().ValueOrDie();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->descriptor().path[0], "beta");
  EXPECT_EQ(listing->Next().ValueOrDie(), nullptr);

  auto deleted = client_
                     ->DoAction(fl::Action{"delete-dataset",
                                           arrow::Buffer::FromString(R"({"dataset":"alpha"})")})
                     .ValueOrDie()
                     ->Next()
                     .ValueOrDie();
  EXPECT_EQ(Json::parse(deleted->body->ToString())["deleted"], true);
  EXPECT_TRUE(store_->Get("alpha").status().IsKeyError());
}

// Rows with utf8 ids `ids` and texts `texts`, vectors (row, 0).
std::shared_ptr<arrow::RecordBatch> TextBatch(const std::vector<std::string>& ids,
                                              const std::vector<std::string>& texts) {
  arrow::StringBuilder id_builder, text_builder;
  arrow::FloatBuilder values;
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_TRUE(id_builder.Append(ids[i]).ok());  // builders take any bytes
    EXPECT_TRUE(text_builder.Append(texts[i]).ok());
    EXPECT_TRUE(values.AppendValues({static_cast<float>(i), 0.0f}).ok());
  }
  auto vectors = arrow::FixedSizeListArray::FromArrays(*values.Finish(), 2).ValueOrDie();
  auto schema =
      arrow::schema({arrow::field("id", arrow::utf8()), arrow::field("vector", vectors->type()),
                     arrow::field("text", arrow::utf8())});
  return arrow::RecordBatch::Make(schema, static_cast<int64_t>(ids.size()),
                                  {*id_builder.Finish(), vectors, *text_builder.Finish()});
}

// Puts check UTF-8 now, but rows stored by older builds (replayed from their log, as here) may
// hold invalid bytes: JSON replies carry them as U+FFFD instead of failing with "Unexpected
// error in RPC handling".
TEST_F(FlightServiceTest, JsonRepliesSurviveInvalidUtf8StoredBefore) {
  std::vector<Json> acks;
  ASSERT_TRUE(Put("docs", {TextBatch({"a", "b"}, {"solar eclipse", "solar wind"})}, &acks).ok());
  auto dataset = store_->Get("docs").ValueOrDie();
  ASSERT_TRUE(
      dataset->AppendRecovered(TextBatch({"c\xFF", "d"}, {"solar caf\xE9", "x"}), 100).ok());
  const std::string replaced = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

  auto hybrid = ActionJson("HybridSearch", {{"dataset", "docs"},
                                            {"vector", {0, 0}},
                                            {"k", 4},
                                            {"text_query", "solar"},
                                            {"columns", {"text"}}});
  ASSERT_TRUE(hybrid.ok()) << hybrid.status().ToString();
  std::vector<std::string> texts;
  for (const auto& hit : *hybrid) texts.push_back(hit["text"]);
  EXPECT_NE(std::find(texts.begin(), texts.end(), "solar caf" + replaced), texts.end())
      << hybrid->dump();

  auto neighbours = ActionJson("VectorSearchByID", {{"dataset", "docs"}, {"id", "a"}, {"k", 3}});
  ASSERT_TRUE(neighbours.ok()) << neighbours.status().ToString();
  // c is a's twin (both at (0, 0)); b and d tie behind it.
  ASSERT_EQ((*neighbours)["ids"].size(), 3u) << neighbours->dump();
  EXPECT_EQ((*neighbours)["ids"][0], "c" + replaced);
}

}  // namespace
}  // namespace arbalest
