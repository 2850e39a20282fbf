// The exact scan of the rows not in the graph (store/tail_scan.h), over Arrow batches of every
// stored element type and every metric: its results equal a brute force computed here in
// double precision from the batches' values, and are bit for bit those of a FlatIndex of the
// same rows (what searches scanned before: the same scores as the graph's), with filters,
// exclusions, tails starting mid-batch or at a batch's start, empty tails and k above the
// tail's size.
#include "store/tail_scan.h"

#include <arrow/builder.h>
#include <arrow/util/float16.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <tuple>
#include <type_traits>

#include "index/flat_index.h"
#include "store/dataset_index.h"
#include "store/search.h"
#include "store/vector_store.h"
#include "testing/batches.h"

namespace arbalest {
namespace {

using simd::ElementType;

constexpr int kDim = 13;  // not a multiple of any SIMD width: the kernels' tails are used
constexpr int kVectorColumn = 1;

// `n` values drawn by `draw`, appended to an array of `Builder` and, as doubles, to `values`.
template <class Builder, class Draw>
std::shared_ptr<arrow::Array> Values(size_t n, Draw draw, std::vector<double>* values) {
  Builder builder;
  for (size_t i = 0; i < n; ++i) {
    const auto value = draw();
    EXPECT_TRUE(builder.Append(value).ok());
    if constexpr (std::is_same_v<Builder, arrow::HalfFloatBuilder>) {
      values->push_back(arrow::util::Float16::FromBits(value).ToFloat());
    } else {
      values->push_back(static_cast<double>(value));
    }
  }
  return builder.Finish().ValueOrDie();
}

// One batch of `rows` random vectors of `type` (column 1; column 0 an int64 id), and their
// values as doubles, row-major, appended to `values`.
std::shared_ptr<arrow::RecordBatch> RandomBatch(ElementType type, int rows, std::mt19937& rng,
                                                std::vector<double>* values) {
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_int_distribution<int> small(-100, 100);
  std::shared_ptr<arrow::Array> flat;
  const auto n = static_cast<size_t>(rows) * kDim;
  switch (type) {
    case ElementType::kFloat32:
      flat = Values<arrow::FloatBuilder>(
          n, [&] { return unit(rng); }, values);
      break;
    case ElementType::kFloat16:
      flat = Values<arrow::HalfFloatBuilder>(
          n, [&] { return arrow::util::Float16(unit(rng)).bits(); }, values);
      break;
    case ElementType::kInt8:
      flat = Values<arrow::Int8Builder>(
          n, [&] { return static_cast<int8_t>(small(rng)); }, values);
      break;
    case ElementType::kUInt8:
      flat = Values<arrow::UInt8Builder>(
          n, [&] { return static_cast<uint8_t>(small(rng) + 100); }, values);
      break;
    case ElementType::kBFloat16:
      ADD_FAILURE() << "no Arrow batch stores bfloat16";
      return nullptr;
  }
  auto vectors = arrow::FixedSizeListArray::FromArrays(flat, kDim).ValueOrDie();
  arrow::Int64Builder ids;
  for (int i = 0; i < rows; ++i) EXPECT_TRUE(ids.Append(i).ok());
  auto schema = arrow::schema({arrow::field("id", arrow::int64()),
                               arrow::field("vector", vectors->type(), /*nullable=*/false)});
  return arrow::RecordBatch::Make(schema, rows, {ids.Finish().ValueOrDie(), vectors});
}

// The metric's distance as an index reports it (L2 squared), in double precision.
double BruteDistance(Metric metric, std::span<const float> query, const double* row) {
  double l2 = 0, dot = 0, qq = 0, xx = 0;
  for (int i = 0; i < kDim; ++i) {
    l2 += (query[i] - row[i]) * (query[i] - row[i]);
    dot += query[i] * row[i];
    qq += double{query[i]} * query[i];
    xx += row[i] * row[i];
  }
  switch (metric) {
    case Metric::kL2:
      return l2;
    case Metric::kCosine:
      return qq == 0 || xx == 0 ? 1.0 : 1.0 - dot / std::sqrt(qq * xx);
    case Metric::kDotProduct:
      return -dot;
  }
  return 0;
}

struct Expected {
  RowId row;
  double distance;
};

class TailScanTest : public ::testing::TestWithParam<std::tuple<ElementType, Metric>> {
 protected:
  ElementType type() const { return std::get<0>(GetParam()); }
  Metric metric() const { return std::get<1>(GetParam()); }

  void SetUp() override {
    std::mt19937 rng(7 + static_cast<int>(type()) * 3 + static_cast<int>(metric()));
    // Batch sizes with an empty batch and a one-row batch; then a batch that is a slice of a
    // larger one (its vector column starts at an offset into its buffer).
    for (int rows : {37, 0, 1, 64, 130, 5})
      batches_.push_back(RandomBatch(type(), rows, rng, &values_));
    std::vector<double> sliced_values;
    auto big = RandomBatch(type(), 90, rng, &sliced_values);
    batches_.push_back(big->Slice(11, 60));
    values_.insert(values_.end(), sliced_values.begin() + 11 * kDim,
                   sliced_values.begin() + 71 * kDim);
    rows_ = static_cast<RowId>(values_.size() / kDim);
    std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
    std::uniform_int_distribution<int> pick(0, 99);
    for (int q = 0; q < 8; ++q) {
      std::vector<float> query(kDim);
      for (float& x : query)
        x = type() == ElementType::kUInt8  ? 100 + 100 * unit(rng)
            : type() == ElementType::kInt8 ? 100 * unit(rng)
                                           : unit(rng);
      queries_.push_back(query);
    }
    for (RowId row = 0; row < rows_; ++row) {
      const int draw = pick(rng);
      if (draw < 35) filter_.add(row);
      if (draw >= 25 && draw < 45) exclude_.add(row);  // some filtered rows excluded too
    }
  }

  // The brute force: rows [first, rows_) the filter and exclusion allow, nearest first, k.
  std::vector<Expected> BruteForce(std::span<const float> query, RowId first, size_t k,
                                   const Roaring* filter, const Roaring* exclude) const {
    std::vector<Expected> all;
    for (RowId row = first; row < rows_; ++row) {
      if ((filter && !filter->contains(row)) || (exclude && exclude->contains(row))) continue;
      all.push_back({row, BruteDistance(metric(), query, values_.data() + row * kDim)});
    }
    std::sort(all.begin(), all.end(),
              [](const Expected& a, const Expected& b) { return a.distance < b.distance; });
    if (all.size() > k) all.resize(k);
    return all;
  }

  // 1 + |query|^2 + the largest |row|^2: the size of the terms a distance sums.
  double Magnitude(std::span<const float> query) const {
    double largest = 0;
    for (RowId row = 0; row < rows_; ++row) {
      double squares = 0;
      for (int i = 0; i < kDim; ++i) squares += values_[row * kDim + i] * values_[row * kDim + i];
      largest = std::max(largest, squares);
    }
    double squares = 0;
    for (float x : query) squares += double{x} * x;
    return 1 + squares + largest;
  }

  // What searches did before the scan: the rows copied into a FlatIndex of the same space.
  std::vector<Neighbor> ThroughFlatIndex(std::span<const float> query, RowId first, size_t k,
                                         const Roaring* filter, const Roaring* exclude) const {
    FlatIndex flat(kDim, metric(), type());
    std::vector<float> vectors;
    int64_t batch_first = 0;
    for (const auto& batch : batches_) {
      const int64_t begin = std::max<int64_t>(first, batch_first) - batch_first;
      if (begin < batch->num_rows()) {
        AppendVectorsAsFloat(*batch, kVectorColumn, begin, batch->num_rows(), &vectors);
      }
      batch_first += batch->num_rows();
    }
    for (size_t i = 0; i < vectors.size(); i += kDim) {
      EXPECT_TRUE(flat.Add(std::span<const float>(vectors.data() + i, kDim)).ok());
    }
    const auto shifted = [first](const Roaring* rows) {
      Roaring out;
      for (RowId row : *rows) {
        if (row >= first) out.add(row - first);
      }
      return out;
    };
    const Roaring flat_filter = filter ? shifted(filter) : Roaring();
    const Roaring flat_exclude = exclude ? shifted(exclude) : Roaring();
    std::vector<Neighbor> found;
    EXPECT_TRUE(flat.Search(query,
                            {.k = k,
                             .filter = filter ? &flat_filter : nullptr,
                             .exclude = exclude ? &flat_exclude : nullptr},
                            &found)
                    .ok());
    for (Neighbor& neighbor : found) neighbor.row += first;
    return found;
  }

  std::vector<Neighbor> Scan(std::span<const float> query, RowId first, size_t k,
                             const Roaring* filter, const Roaring* exclude) const {
    const DistanceSpace space(metric(), type(), kDim);
    auto found = ScanTail({.batches = batches_,
                           .vector_column = kVectorColumn,
                           .first_row = first,
                           .filter = filter,
                           .exclude = exclude},
                          space, query, k);
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    return found.ValueOr(std::vector<Neighbor>{});
  }

  void CheckAll(RowId first, size_t k, const Roaring* filter, const Roaring* exclude) const {
    for (const auto& query : queries_) {
      // Float32 sums lose precision with the size of their terms; cosine is normalized, and
      // float16 cosine rows are normalized, then rounded to float16 as the index stores them.
      const double tolerance = metric() == Metric::kCosine
                                   ? (type() == ElementType::kFloat16 ? 3e-3 : 1e-5)
                                   : 1e-6 * Magnitude(query);
      const std::vector<Neighbor> got = Scan(query, first, k, filter, exclude);
      const std::vector<Expected> want = BruteForce(query, first, k, filter, exclude);
      ASSERT_EQ(got.size(), want.size()) << "first " << first << " k " << k;
      for (size_t i = 0; i < got.size(); ++i) {
        const RowId row = got[i].row;
        ASSERT_TRUE(row >= first && row < rows_) << row;
        EXPECT_TRUE(!filter || filter->contains(row)) << "row " << row << " is not in the filter";
        EXPECT_TRUE(!exclude || !exclude->contains(row)) << "row " << row << " is excluded";
        // The i-th nearest distance agrees; the row has its own distance (rows may trade
        // places only where distances tie).
        EXPECT_NEAR(got[i].distance, want[i].distance, tolerance) << "rank " << i;
        EXPECT_NEAR(got[i].distance,
                    BruteDistance(metric(), query, values_.data() + size_t{row} * kDim), tolerance)
            << "row " << row;
        if (i > 0) {
          EXPECT_LE(got[i - 1].distance, got[i].distance);
        }
      }
      const std::vector<Neighbor> before = ThroughFlatIndex(query, first, k, filter, exclude);
      ASSERT_EQ(got.size(), before.size());
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].row, before[i].row) << "rank " << i;
        EXPECT_EQ(got[i].distance, before[i].distance) << "rank " << i;  // bit for bit
      }
    }
  }

  std::vector<std::shared_ptr<arrow::RecordBatch>> batches_;
  std::vector<double> values_;
  RowId rows_ = 0;
  std::vector<std::vector<float>> queries_;
  Roaring filter_, exclude_;
};

TEST_P(TailScanTest, EqualsBruteForceFromEveryStart) {
  // The first rows of: the whole dataset, mid-batch, a batch after an empty one, a one-row
  // batch, mid-way through the sliced batch.
  for (RowId first : {0u, 20u, 37u, 38u, 100u, rows_ - 7}) {
    for (size_t k : {1u, 5u, 1000u}) {  // 1000: more than the tail holds
      CheckAll(first, k, nullptr, nullptr);
      CheckAll(first, k, &filter_, nullptr);
      CheckAll(first, k, nullptr, &exclude_);
      CheckAll(first, k, &filter_, &exclude_);
    }
  }
}

TEST_P(TailScanTest, EmptyTailsFindNothing) {
  const std::vector<float>& query = queries_[0];
  EXPECT_TRUE(Scan(query, rows_, 10, nullptr, nullptr).empty());
  EXPECT_TRUE(Scan(query, rows_ + 5, 10, &filter_, &exclude_).empty());
  Roaring below;  // a filter holding rows before the tail only
  below.addRange(0, 100);
  EXPECT_TRUE(Scan(query, 100, 10, &below, nullptr).empty());
  Roaring all;  // every tail row excluded
  all.addRange(0, rows_);
  EXPECT_TRUE(Scan(query, 50, 10, nullptr, &all).empty());
  const DistanceSpace space(metric(), type(), kDim);
  auto none = ScanTail({.batches = {}, .vector_column = kVectorColumn}, space, query, 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(TailScanTest, RefusesBadWidthsAndColumns) {
  const DistanceSpace space(metric(), type(), kDim);
  const std::vector<float> narrow(kDim - 1, 0.5f);
  EXPECT_TRUE(ScanTail({.batches = batches_, .vector_column = kVectorColumn}, space, narrow, 5)
                  .status()
                  .IsInvalid());
  EXPECT_TRUE(ScanTail({.batches = batches_, .vector_column = 0}, space, queries_[0], 5)
                  .status()
                  .IsInvalid());
  const DistanceSpace wider(metric(), type(), kDim + 1);
  EXPECT_TRUE(ScanTail({.batches = batches_, .vector_column = kVectorColumn}, wider,
                       std::vector<float>(kDim + 1, 0.5f), 5)
                  .status()
                  .IsInvalid());
}

std::string CaseName(const ::testing::TestParamInfo<std::tuple<ElementType, Metric>>& info) {
  return std::string(simd::ElementTypeName(std::get<0>(info.param))) + "_" +
         std::string(MetricName(std::get<1>(info.param)));
}

INSTANTIATE_TEST_SUITE_P(
    ElementTypesAndMetrics, TailScanTest,
    ::testing::Combine(::testing::Values(ElementType::kFloat32, ElementType::kFloat16,
                                         ElementType::kInt8, ElementType::kUInt8),
                       ::testing::Values(Metric::kL2, Metric::kCosine, Metric::kDotProduct)),
    CaseName);

// Rows wider than the stack's room for converted rows (cosine over float32 normalizes rows in
// blocks on the stack, on the heap past it) score as the brute force says.
TEST(TailScanWideTest, CosineOverRowsTooWideForTheStack) {
  constexpr int kWide = 9000;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  arrow::FloatBuilder builder;
  std::vector<float> values(20 * kWide);
  for (float& x : values) x = unit(rng);
  ASSERT_TRUE(builder.AppendValues(values).ok());
  auto vectors =
      arrow::FixedSizeListArray::FromArrays(builder.Finish().ValueOrDie(), kWide).ValueOrDie();
  auto batch = arrow::RecordBatch::Make(arrow::schema({arrow::field("vector", vectors->type())}),
                                        20, {vectors});
  const std::vector<float> query(values.begin() + 3 * kWide, values.begin() + 4 * kWide);
  const DistanceSpace space(Metric::kCosine, ElementType::kFloat32, kWide);
  const std::vector<std::shared_ptr<arrow::RecordBatch>> batches{batch};
  auto found = ScanTail({.batches = batches, .vector_column = 0, .first_row = 2}, space, query, 18);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->size(), 18u);
  EXPECT_EQ(found->front().row, 3u);
  EXPECT_NEAR(found->front().distance, 0.0f, 1e-5);
}

// Through the store's search: a row scores bit for bit the same found by the exact scan of the
// tail or by the graph (cosine over float32: the graph stores normalized rows), with the tail
// starting mid-batch, then with every row in the graph.
TEST(TailSearchTest, RowsScoreTheSameInTheTailAndInTheGraph) {
  VectorStore store{0};  // no index workers: rows enter the graph by CatchUpIndex below
  std::shared_ptr<Dataset> dataset;
  auto cosine = [](int64_t first, int64_t rows) {
    return testing::MakeVectorBatch(first, rows, 4)
        ->ReplaceSchemaMetadata(arrow::key_value_metadata({"longbow.metric"}, {"cosine"}));
  };
  ASSERT_TRUE(store.Put("ds", cosine(0, 20), &dataset).ok());
  for (int b = 1; b < 4; ++b) {
    ASSERT_TRUE(store.Append(*dataset, testing::MakeVectorBatch(b * 20, 20, 4)).ok());
  }
  const auto scores = [&] {
    SearchRequest request;
    request.query = {0.3f, -1.0f, 2.0f, 0.7f};
    request.k = 80;
    std::map<int64_t, float> by_id;
    auto result = SearchDataset(*dataset, request);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    if (!result.ok()) return by_id;
    const auto& ids = static_cast<const arrow::Int64Array&>(*(*result)->column(0));
    const auto& score = static_cast<const arrow::FloatArray&>(*(*result)->column(1));
    for (int64_t i = 0; i < ids.length(); ++i) by_id[ids.Value(i)] = score.Value(i);
    return by_id;
  };
  const auto add_to_graph = [&](int64_t rows) {
    return dataset->CatchUpIndex(rows, /*threads=*/1, [] { return false; }).ValueOrDie();
  };
  const std::map<int64_t, float> tail = scores();  // no row in the graph
  ASSERT_EQ(tail.size(), 80u);
  ASSERT_EQ(add_to_graph(30), 30);  // the tail starts mid-batch
  EXPECT_EQ(scores(), tail);
  ASSERT_EQ(add_to_graph(100), 50);
  EXPECT_EQ(scores(), tail);
}

}  // namespace
}  // namespace arbalest
