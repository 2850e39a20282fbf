// Edges as Arrow data, in the WAL and in a snapshot's edge file.
#include <arrow/api.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "graph/edge_batch.h"
#include "graph/edge_file.h"
#include "graph_fixtures.h"
#include "persist/wal_format.h"

namespace arbalest {
namespace {

std::shared_ptr<arrow::RecordBatch> ClientEdges() {
  arrow::UInt32Builder subjects, objects;
  arrow::DictionaryBuilder<arrow::StringType> predicates;
  arrow::DoubleBuilder weights;
  EXPECT_TRUE(subjects.AppendValues({1, 2}).ok());
  EXPECT_TRUE(objects.AppendValues({2, 3}).ok());
  EXPECT_TRUE(predicates.Append("cites").ok());
  EXPECT_TRUE(predicates.Append("mentions").ok());
  EXPECT_TRUE(weights.AppendValues({0.5, 2.0}).ok());
  std::shared_ptr<arrow::Array> s, o, p, w;
  EXPECT_TRUE(subjects.Finish(&s).ok());
  EXPECT_TRUE(objects.Finish(&o).ok());
  EXPECT_TRUE(predicates.Finish(&p).ok());
  EXPECT_TRUE(weights.Finish(&w).ok());
  auto schema =
      arrow::schema({arrow::field("object", o->type()), arrow::field("subject", s->type()),
                     arrow::field("predicate", p->type()), arrow::field("weight", w->type())});
  return arrow::RecordBatch::Make(schema, 2, {o, s, p, w});
}

TEST(EdgeBatchTest, ConformsClientTypesAndOrder) {
  auto conformed = ConformEdges(*ClientEdges());
  ASSERT_TRUE(conformed.ok()) << conformed.status().ToString();
  ASSERT_TRUE((*conformed)->schema()->Equals(*EdgeSchema()));
  const EdgeRows rows = EdgeRowsOf(**conformed);
  EXPECT_EQ(rows.subjects, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(rows.objects, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(rows.predicates[1], "mentions");
  EXPECT_EQ(rows.weights, (std::vector<float>{0.5f, 2.0f}));
}

TEST(EdgeBatchTest, RefusesBadEdgesNamingTheProblem) {
  const auto batch = ClientEdges();
  auto without = batch->RemoveColumn(2);
  ASSERT_TRUE(without.ok());
  EXPECT_NE(ConformEdges(**without).status().message().find("need a 'predicate' column"),
            std::string::npos);
  auto nulls = arrow::MakeArrayOfNull(arrow::int64(), 2).ValueOrDie();
  auto with_null = batch->SetColumn(0, arrow::field("object", arrow::int64()), nulls);
  EXPECT_NE(ConformEdges(**with_null).status().message().find("'object' is null in row 0"),
            std::string::npos);
  auto extra = batch->AddColumn(4, arrow::field("x", arrow::int64()), nulls);
  EXPECT_NE(ConformEdges(**extra).status().message().find("unknown edge column 'x'"),
            std::string::npos);
}

TEST(EdgeFormatTest, WalRecordsRoundTrip) {
  auto edges = ConformEdges(*ClientEdges()).ValueOrDie();
  auto payload = EncodeEdges("ns/docs", *edges).ValueOrDie();
  auto entry = DecodePayload(7, payload.Contiguous().ValueOrDie()).ValueOrDie();
  EXPECT_EQ(entry.type, WalRecordType::kEdges);
  EXPECT_EQ(entry.dataset, "ns/docs");
  EXPECT_TRUE(entry.batch->Equals(*edges));

  auto drop = EncodeDropNamespace("ns", {"ns/a", "ns/b"}).ValueOrDie();
  entry = DecodePayload(8, drop.Contiguous().ValueOrDie()).ValueOrDie();
  EXPECT_EQ(entry.type, WalRecordType::kDropNamespace);
  EXPECT_EQ(entry.dataset, "ns");
  EXPECT_EQ(entry.datasets, (std::vector<std::string>{"ns/a", "ns/b"}));
  auto truncated = drop.Contiguous().ValueOrDie();
  EXPECT_TRUE(DecodePayload(8, arrow::SliceBuffer(truncated, 0, truncated->size() - 1))
                  .status()
                  .IsInvalid());

  auto create = EncodeCreateNamespace("ns").ValueOrDie();
  entry = DecodePayload(9, create.Contiguous().ValueOrDie()).ValueOrDie();
  EXPECT_EQ(entry.type, WalRecordType::kCreateNamespace);
  EXPECT_EQ(entry.dataset, "ns");
}

TEST(EdgeFormatTest, EdgeFileRoundTrip) {
  EdgeLog log;
  const auto edges = testing_graph::RandomEdges(20, 70000, 8);
  log.Append(testing_graph::RowsOf(edges));
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("edges_test_" + std::to_string(getpid()) + ".parquet"))
                               .string();
  ASSERT_TRUE(WriteEdgeFile(log.Cut(), path).ok());
  auto batches = ReadEdgeFile(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(batches.ok()) << batches.status().ToString();
  size_t at = 0;
  for (const auto& batch : *batches) {
    const EdgeRows rows = EdgeRowsOf(*batch);
    for (size_t i = 0; i < rows.size(); ++i, ++at) {
      ASSERT_LT(at, edges.size());
      EXPECT_EQ(rows.subjects[i], edges[at].subject);
      EXPECT_EQ(rows.objects[i], edges[at].object);
      EXPECT_EQ(rows.predicates[i], edges[at].predicate);
      EXPECT_EQ(rows.weights[i], edges[at].weight);
    }
  }
  EXPECT_EQ(at, edges.size());
}

}  // namespace
}  // namespace arbalest
