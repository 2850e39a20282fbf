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
// Learnt once, from the rows present when the first codes are written (up to kLearnRows of
// them, evenly spaced); later rows outside the range are clamped. Fewer than kMinLearnRows rows
// give a wide range around 0 instead (an index that starts with single-row inserts).
//
// Thread-safety: Learn may be called from several threads (the first call learns, under a
// mutex); Encode only after learned() returned true on the calling thread, from any threads.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace arbalest {

class Int8BuildCodes {
 public:
  static constexpr size_t kLearnRows = 4096;
  static constexpr size_t kMinLearnRows = 32;

  // `offsets`: per-dimension offsets (euclidean distance); else codes are symmetric around 0.
  Int8BuildCodes(size_t dim, bool offsets) : dim_(dim), offsets_(offsets), offset_(dim, 0.0f) {}

  bool learned() const { return learned_.load(std::memory_order_acquire); }
  // Learns the offsets and scale from `rows` rows (row(i): dim floats, as stored), unless
  // already learnt. `rows` 0 learns nothing.
  void Learn(size_t rows, const std::function<const float*(size_t)>& row);
  // The code of one row (dim floats) into `out` (dim bytes).
  void Encode(const float* row, int8_t* out) const;
  float scale() const { return 1.0f / inverse_scale_; }

 private:
  size_t dim_;
  bool offsets_;
  std::mutex learn_mutex_;
  std::atomic<bool> learned_{false};
  std::vector<float> offset_;  // written once, before learned_
  float inverse_scale_ = 1.0f;
};

}  // namespace arbalest
