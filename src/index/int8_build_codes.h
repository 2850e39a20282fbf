// Int8BuildCodes: 1-byte-per-dimension codes of float32 rows that graph inserts may compare
// instead of float16 copies (HnswParams::int8_build): a quarter of the row's bytes, half of a
// float16 copy's.
//
// One scale for every dimension, so that the int8 distance kernels apply to the codes as they
// are: code = round((x - offset[d]) / scale), clamped to [-127, 127]. For euclidean distance
// offset[d] is the midpoint of the dimension's learnt range (offsets cancel in a difference), so
// the L2 distance of two codes is ||a - b||^2 / scale^2 up to rounding; for dot products (and
// cosine, whose rows are stored normalised) the offsets are 0 and a codes' dot product is
// a.b / scale^2. Inserts only compare distances with each other, so the common factor does not
// matter. The scale covers the widest dimension's range (plus a margin): dimensions of much
// narrower ranges than the widest get fewer levels (SQ8's per-dimension scales would not fit
// the plain kernels).
//
// The range: learnt from the rows present when the first codes are written (all of them, with
// a 5% margin); fewer than kMinLearnRows rows give a wide range around 0 instead (an index that
// starts with single-row inserts). Rows outside the range would be clamped onto the
// same codes (the graph could not tell them apart), so the owner asks Covers() before encoding
// rows and, when they fall outside, calls Widen() with every row it holds and re-codes them all:
// the new range is the exact range of all rows with kWidenHeadroom to spare, so a range that
// drifts slowly is re-coded a logarithmic number of times, not at every batch.
// State()/Restore() carry the range through a saved file (index/hnsw_file.h).
//
// Separation: 255 levels per dimension cannot tell apart rows closer than a level, which rows of
// few dimensions (or lying on a low-dimensional line or plane) can be: 6,000 rows along one line
// in 4 dimensions give ~50 neighbouring rows each code, and the graph, which prunes neighbours
// at distance 0 from one already kept, cannot route among them. Separation() counts the
// distinct int8 codes and the distinct float16 copies of rows; the owner gives int8 codes up for
// float16 copies when int8 merges more than a set fraction of the rows that float16 tells apart
// (HnswParams::int8_fallback_fraction).
//
// Thread-safety: none of its own. Learn, Widen and Restore change what Encode and Covers read;
// the owner (HnswIndex) runs them under a lock that excludes every Encode and Covers. Encode
// and Covers may run concurrently with each other.
#pragma once

#include <arrow/status.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "simd/distance.h"

namespace arbalest {

class Int8BuildCodes {
 public:
  static constexpr size_t kMinLearnRows = 32;
  // A widened range is the rows' exact range times this: a range growing by a constant factor
  // per batch is re-coded once per factor of 1.5, and the codes keep 2/3 of their levels.
  static constexpr float kWidenHeadroom = 1.5f;

  // Rows for Learn, Covers and Widen: row(i), i < count, is dim floats as stored.
  using RowFn = std::function<const float*(size_t)>;

  // `offsets`: per-dimension offsets (euclidean distance); else codes are symmetric around 0.
  Int8BuildCodes(size_t dim, bool offsets) : dim_(dim), offsets_(offsets), offset_(dim, 0.0f) {}

  bool learned() const { return learned_.load(std::memory_order_acquire); }
  // Learns the offsets and scale from `rows` rows, unless already learnt. `rows` 0 learns
  // nothing.
  void Learn(size_t rows, const RowFn& row);
  // True when every finite value of the `rows` rows encodes without clamping (learnt only).
  bool Covers(size_t rows, const RowFn& row) const;
  // Sets the range to that of all `rows` rows (every row the owner will re-code), with
  // kWidenHeadroom to spare; learnt() afterwards. `rows` 0 changes nothing.
  void Widen(size_t rows, const RowFn& row);
  // The code of one row (dim floats) into `out` (dim bytes).
  void Encode(const float* row, int8_t* out) const;
  float scale() const { return 1.0f / inverse_scale_; }

  // How well the codes (in the range they have now) separate `rows` rows.
  struct Separation {
    uint64_t rows = 0;
    uint64_t int8_distinct = 0;     // distinct int8 codes among them
    uint64_t float16_distinct = 0;  // distinct float16 copies among them
    // Rows float16 copies tell apart that int8 codes merge, as a fraction of the rows.
    double merged_fraction() const {
      return rows == 0 || int8_distinct >= float16_distinct
                 ? 0.0
                 : static_cast<double>(float16_distinct - int8_distinct) / rows;
    }
  };
  // Codes and float16 copies of every row (`encode_half` makes the copies), counted through
  // 64-bit hashes: O(rows x dim) time and 16 bytes per row while it runs.
  Separation Separate(size_t rows, const RowFn& row, simd::Float16EncodeFn encode_half) const;

  // The learnt range as 1 + dim floats (the inverse scale, then the offsets); empty until
  // learnt.
  std::vector<float> State() const;
  // Takes a range State() gave. Invalid for another size or a scale that is not a finite
  // positive number.
  arrow::Status Restore(std::span<const float> state);
  size_t state_floats() const { return 1 + dim_; }

 private:
  // Per-dimension range of the finite values of `rows` rows into low and high.
  void Range(size_t rows, const RowFn& row, std::vector<float>* low,
             std::vector<float>* high) const;
  // Sets the offsets and scale for the range [low, high] of `seen` rows, with `margin`.
  void SetRange(const std::vector<float>& low, const std::vector<float>& high, size_t seen,
                float margin);

  size_t dim_;
  bool offsets_;
  std::atomic<bool> learned_{false};
  std::vector<float> offset_;
  float inverse_scale_ = 1.0f;
};

}  // namespace arbalest
