// One source compiled for every SIMD target (Highway's foreach_target re-includes it once per
// target); GetPqKernels picks the best target's kernels at run time.
#include "simd/pq_kernels.h"

#include <limits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "simd/pq_kernels.cc"
#include <hwy/cache_control.h>
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#ifndef ARBALEST_SIMD_PQ_TABLE
#define ARBALEST_SIMD_PQ_TABLE
namespace arbalest::simd {

// The kernels of one target, by distance kind (only the first two kinds are used).
struct PqKernelTable {
  PqKernels kernels[2];
};

}  // namespace arbalest::simd
#endif

HWY_BEFORE_NAMESPACE();
namespace arbalest::simd::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

struct L2Term {
  static HWY_INLINE VF Step(VF x, VF c, VF sum) {
    const VF diff = hn::Sub(x, c);
    return hn::MulAdd(diff, diff, sum);
  }
  static HWY_INLINE float Step(float x, float c, float sum) { return sum + (x - c) * (x - c); }
};

struct NegativeDotTerm {
  static HWY_INLINE VF Step(VF x, VF c, VF sum) { return hn::NegMulAdd(x, c, sum); }
  static HWY_INLINE float Step(float x, float c, float sum) { return sum - x * c; }
};

// Distances from x to kUnroll vectors of centroids at a time, every coordinate of x broadcast
// in turn: consume(first centroid, distances) per vector. Returns the first centroid left over
// (k not a multiple of kUnroll lanes), for a scalar tail.
template <class Term, class Consume>
HWY_INLINE size_t ForCentroidVectors(const float* HWY_RESTRICT x,
                                     const float* HWY_RESTRICT centroids, size_t dsub, size_t k,
                                     Consume consume) {
  constexpr size_t kUnroll = 4;
  const DF d;
  const size_t n = hn::Lanes(d);
  size_t c = 0;
  for (; c + kUnroll * n <= k; c += kUnroll * n) {
    VF acc[kUnroll];
    for (VF& a : acc) a = hn::Zero(d);
    for (size_t i = 0; i < dsub; ++i) {
      const VF xi = hn::Set(d, x[i]);
      const float* row = centroids + i * k + c;
      for (size_t u = 0; u < kUnroll; ++u) {
        acc[u] = Term::Step(xi, hn::LoadU(d, row + u * n), acc[u]);
      }
    }
    for (size_t u = 0; u < kUnroll; ++u) consume(c + u * n, acc[u]);
  }
  return c;
}

template <class Term>
HWY_INLINE float ScalarDistance(const float* x, const float* centroids, size_t dsub, size_t k,
                                size_t c) {
  float sum = 0;
  for (size_t i = 0; i < dsub; ++i) sum = Term::Step(x[i], centroids[i * k + c], sum);
  return sum;
}

template <class Term>
void CodebookDistances(const float* HWY_RESTRICT x, const float* HWY_RESTRICT centroids,
                       size_t dsub, size_t k, float* HWY_RESTRICT out) {
  const DF d;
  size_t c = ForCentroidVectors<Term>(x, centroids, dsub, k,
                                      [&](size_t first, VF v) { hn::StoreU(v, d, out + first); });
  for (; c < k; ++c) out[c] = ScalarDistance<Term>(x, centroids, dsub, k, c);
}

// The running minimum per lane with its centroid, then the smallest centroid among the lanes
// holding the overall minimum: the same answer as a scalar scan for the first minimum.
size_t NearestCentroid(const float* HWY_RESTRICT x, const float* HWY_RESTRICT centroids,
                       size_t dsub, size_t k) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  using VI = hn::Vec<decltype(di)>;
  VF best = hn::Set(d, std::numeric_limits<float>::infinity());
  VI best_index = hn::Zero(di);
  const VI lane = hn::Iota(di, 0);
  size_t c = ForCentroidVectors<L2Term>(x, centroids, dsub, k, [&](size_t first, VF v) {
    const auto closer = hn::Lt(v, best);
    best = hn::IfThenElse(closer, v, best);
    best_index =
        hn::IfThenElse(hn::RebindMask(di, closer),
                       hn::Add(lane, hn::Set(di, static_cast<int32_t>(first))), best_index);
  });
  HWY_ALIGN float values[hn::MaxLanes(d)];
  HWY_ALIGN int32_t indices[hn::MaxLanes(di)];
  hn::Store(best, d, values);
  hn::Store(best_index, di, indices);
  float best_distance = std::numeric_limits<float>::infinity();
  size_t nearest = 0;
  for (size_t i = 0; i < hn::Lanes(d); ++i) {
    const auto index = static_cast<size_t>(indices[i]);
    if (values[i] < best_distance || (values[i] == best_distance && index < nearest)) {
      best_distance = values[i];
      nearest = index;
    }
  }
  for (; c < k; ++c) {
    const float distance = ScalarDistance<L2Term>(x, centroids, dsub, k, c);
    if (distance < best_distance) {
      best_distance = distance;
      nearest = c;
    }
  }
  return nearest;
}

// Four independent sums over the m lookups (two loads and an add each).
void Adc(const float* HWY_RESTRICT table, const void* const* codes, size_t n, size_t m,
         float* HWY_RESTRICT out) {
  for (size_t i = 0; i < n; ++i) {
    if (i + 1 < n) hwy::Prefetch(codes[i + 1]);
    const uint8_t* code = static_cast<const uint8_t*>(codes[i]);
    float sums[4] = {0, 0, 0, 0};
    size_t j = 0;
    for (; j + 4 <= m; j += 4) {
      for (size_t u = 0; u < 4; ++u) sums[u] += table[(j + u) * kPqCentroids + code[j + u]];
    }
    for (; j < m; ++j) sums[0] += table[j * kPqCentroids + code[j]];
    out[i] = (sums[0] + sums[1]) + (sums[2] + sums[3]);
  }
}

// Lanes(d) subspaces per gather: code bytes widened to int32 indices, plus 256 per lane.
void AdcGather(const float* HWY_RESTRICT table, const void* const* codes, size_t n, size_t m,
               float* HWY_RESTRICT out) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const hn::Rebind<uint8_t, DF> du8;
  const size_t lanes = hn::Lanes(d);
  const auto lane_offsets = hn::ShiftLeft<8>(hn::Iota(di, 0));  // lane * kPqCentroids
  for (size_t i = 0; i < n; ++i) {
    if (i + 1 < n) hwy::Prefetch(codes[i + 1]);
    const uint8_t* code = static_cast<const uint8_t*>(codes[i]);
    VF acc0 = hn::Zero(d), acc1 = hn::Zero(d);
    size_t j = 0;
    for (; j + 2 * lanes <= m; j += 2 * lanes) {
      const auto index0 = hn::Add(hn::PromoteTo(di, hn::LoadU(du8, code + j)), lane_offsets);
      const auto index1 =
          hn::Add(hn::PromoteTo(di, hn::LoadU(du8, code + j + lanes)), lane_offsets);
      acc0 = hn::Add(acc0, hn::GatherIndex(d, table + j * kPqCentroids, index0));
      acc1 = hn::Add(acc1, hn::GatherIndex(d, table + (j + lanes) * kPqCentroids, index1));
    }
    for (; j + lanes <= m; j += lanes) {
      const auto index = hn::Add(hn::PromoteTo(di, hn::LoadU(du8, code + j)), lane_offsets);
      acc0 = hn::Add(acc0, hn::GatherIndex(d, table + j * kPqCentroids, index));
    }
    float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(acc0, acc1)));
    for (; j < m; ++j) sum += table[j * kPqCentroids + code[j]];
    out[i] = sum;
  }
}

const PqKernelTable* TargetPqKernels() {
  static const PqKernelTable table = {
      {{&CodebookDistances<L2Term>, &NearestCentroid, &Adc, &AdcGather},
       {&CodebookDistances<NegativeDotTerm>, &NearestCentroid, &Adc, &AdcGather}}};
  return &table;
}

}  // namespace arbalest::simd::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace arbalest::simd {

HWY_EXPORT(TargetPqKernels);

PqKernels GetPqKernels(DistanceKind kind) {
  return HWY_DYNAMIC_DISPATCH(TargetPqKernels)()
      ->kernels[kind == DistanceKind::kNegativeDot ? 1 : 0];
}

}  // namespace arbalest::simd
#endif  // HWY_ONCE
