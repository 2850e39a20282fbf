// One kernel source compiled for every SIMD target (Highway's foreach_target re-includes this
// file once per target); GetKernels picks the table of the best target at run time.
#include "simd/distance.h"

#include <arrow/util/float16.h>  // scalar float16 conversions, rounding to nearest even

#include <algorithm>
#include <cmath>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "simd/distance.cc"
#include <hwy/cache_control.h>
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#ifndef ARBALEST_SIMD_DISTANCE_TABLE
#define ARBALEST_SIMD_DISTANCE_TABLE
namespace arbalest::simd {

// All kernels of one target.
struct KernelTable {
  KernelSet sets[kNumDistanceKinds][kNumElementTypes];
  Int8PairFn int8_pair[kNumDistanceKinds];
  Float16EncodeFn float16_encode;
  int64_t target;
};

}  // namespace arbalest::simd
#endif

HWY_BEFORE_NAMESPACE();
namespace arbalest::simd::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Loads Lanes(d) elements of any stored type as float32 lanes.
HWY_INLINE VF LoadAsFloat(DF d, const float* p) { return hn::LoadU(d, p); }
HWY_INLINE VF LoadAsFloat(DF d, const hwy::float16_t* p) {
  return hn::PromoteTo(d, hn::LoadU(hn::Rebind<hwy::float16_t, DF>(), p));
}
HWY_INLINE VF LoadAsFloat(DF d, const hwy::bfloat16_t* p) {
  return hn::PromoteTo(d, hn::LoadU(hn::Rebind<hwy::bfloat16_t, DF>(), p));
}
template <typename T>
HWY_INLINE VF LoadAsFloat(DF d, const T* p) {  // int8_t, uint8_t
  const hn::Rebind<int32_t, DF> di;
  return hn::ConvertTo(d, hn::PromoteTo(di, hn::LoadU(hn::Rebind<T, DF>(), p)));
}

// Scalar element as float32, for the tail shorter than a vector.
HWY_INLINE float ToFloat(float x) { return x; }
HWY_INLINE float ToFloat(hwy::float16_t x) {
  return arrow::util::Float16::FromBits(x.bits).ToFloat();
}
HWY_INLINE float ToFloat(hwy::bfloat16_t x) { return hwy::F32FromBF16(x); }
HWY_INLINE float ToFloat(int8_t x) { return x; }
HWY_INLINE float ToFloat(uint8_t x) { return x; }

// An Op accumulates kSums running sums over pairs of elements (vector and scalar forms) and
// turns the final sums into a distance.
struct L2Op {
  static constexpr int kSums = 1;
  static HWY_INLINE void Step(VF a, VF b, VF* s) {
    const VF diff = hn::Sub(a, b);
    s[0] = hn::MulAdd(diff, diff, s[0]);
  }
  static HWY_INLINE void Step(float a, float b, float* s) { s[0] += (a - b) * (a - b); }
  static HWY_INLINE float Final(const float* s) { return s[0]; }
};

struct NegativeDotOp {
  static constexpr int kSums = 1;
  static HWY_INLINE void Step(VF a, VF b, VF* s) { s[0] = hn::MulAdd(a, b, s[0]); }
  static HWY_INLINE void Step(float a, float b, float* s) { s[0] += a * b; }
  static HWY_INLINE float Final(const float* s) { return -s[0]; }
};

struct CosineOp {
  static constexpr int kSums = 3;  // a.b, a.a, b.b
  static HWY_INLINE void Step(VF a, VF b, VF* s) {
    s[0] = hn::MulAdd(a, b, s[0]);
    s[1] = hn::MulAdd(a, a, s[1]);
    s[2] = hn::MulAdd(b, b, s[2]);
  }
  static HWY_INLINE void Step(float a, float b, float* s) {
    s[0] += a * b;
    s[1] += a * a;
    s[2] += b * b;
  }
  static HWY_INLINE float Final(const float* s) {
    const float norms = std::sqrt(s[1]) * std::sqrt(s[2]);
    return norms > 0.0f ? 1.0f - s[0] / norms : 1.0f;
  }
};

// kQueries queries against one row at once: each vector of the row is loaded (and converted)
// once for all of them. Per query, four independent accumulators hide the FMA latency, and the
// sums are added in the same order whatever kQueries is, so a distance is bit-identical
// however many queries shared the row. The tail is scalar.
template <class Op, size_t kQueries, typename TA, typename TB>
HWY_INLINE void ReduceMany(const TA* HWY_RESTRICT const* a, const TB* HWY_RESTRICT b, size_t dim,
                           float* out) {
  constexpr int kUnroll = 4;
  const DF d;
  const size_t n = hn::Lanes(d);
  VF acc[kQueries][kUnroll][Op::kSums];
  for (auto& query : acc) {
    for (auto& sums : query) std::fill(sums, sums + Op::kSums, hn::Zero(d));
  }
  size_t i = 0;
  for (; i + kUnroll * n <= dim; i += kUnroll * n) {
    for (int u = 0; u < kUnroll; ++u) {
      const VF row = LoadAsFloat(d, b + i + u * n);
      for (size_t q = 0; q < kQueries; ++q)
        Op::Step(LoadAsFloat(d, a[q] + i + u * n), row, acc[q][u]);
    }
  }
  for (; i + n <= dim; i += n) {
    const VF row = LoadAsFloat(d, b + i);
    for (size_t q = 0; q < kQueries; ++q) Op::Step(LoadAsFloat(d, a[q] + i), row, acc[q][0]);
  }
  for (size_t q = 0; q < kQueries; ++q) {
    float sums[Op::kSums];
    for (int k = 0; k < Op::kSums; ++k) {
      const VF total =
          hn::Add(hn::Add(acc[q][0][k], acc[q][1][k]), hn::Add(acc[q][2][k], acc[q][3][k]));
      sums[k] = hn::GetLane(hn::SumOfLanes(d, total));
    }
    for (size_t j = i; j < dim; ++j) Op::Step(ToFloat(a[q][j]), ToFloat(b[j]), sums);
    out[q] = Op::Final(sums);
  }
}

template <class Op, typename TA, typename TB>
HWY_INLINE float Reduce(const TA* HWY_RESTRICT a, const TB* HWY_RESTRICT b, size_t dim) {
  float out;
  ReduceMany<Op, 1>(&a, b, dim, &out);
  return out;
}

// Prefetches the first kPrefetchBytes of a row (the rest streams behind the hardware
// prefetcher once the kernel starts reading it).
constexpr size_t kPrefetchBytes = 512;
HWY_INLINE void PrefetchRow(const void* row, size_t bytes) {
  const char* p = static_cast<const char*>(row);
  const size_t end = std::min(bytes, kPrefetchBytes);
  for (size_t offset = 0; offset < end; offset += 64) hwy::Prefetch(p + offset);
}

template <class Op, typename T>
float One(const float* query, const void* row, size_t dim) {
  return Reduce<Op>(query, static_cast<const T*>(row), dim);
}

template <class Op, typename T>
void ToRows(const float* query, const void* const* rows, size_t n, size_t dim, float* out) {
  for (size_t i = 0; i < n; ++i) {
    if (i + 1 < n) PrefetchRow(rows[i + 1], dim * sizeof(T));
    out[i] = Reduce<Op>(query, static_cast<const T*>(rows[i]), dim);
  }
}

// Rows in blocks of kRowTile (a few KiB at common dimensions) so each block is read from
// memory once and from L1/L2 by every query; within a block, queries go kQueryTile at a time
// so each row vector is loaded and converted once per kQueryTile queries (register blocking).
template <class Op, typename T>
void Matrix(const float* queries, size_t nq, const void* const* rows, size_t n, size_t dim,
            float* out) {
  constexpr size_t kRowTile = 8;
  constexpr size_t kQueryTile = 2;
  float tile[kQueryTile];
  for (size_t begin = 0; begin < n; begin += kRowTile) {
    const size_t end = std::min(n, begin + kRowTile);
    size_t q = 0;
    for (; q + kQueryTile <= nq; q += kQueryTile) {
      const float* block[kQueryTile];
      for (size_t j = 0; j < kQueryTile; ++j) block[j] = queries + (q + j) * dim;
      for (size_t i = begin; i < end; ++i) {
        ReduceMany<Op, kQueryTile>(block, static_cast<const T*>(rows[i]), dim, tile);
        for (size_t j = 0; j < kQueryTile; ++j) out[(q + j) * n + i] = tile[j];
      }
    }
    for (; q < nq; ++q) {
      for (size_t i = begin; i < end; ++i) {
        out[q * n + i] = Reduce<Op>(queries + q * dim, static_cast<const T*>(rows[i]), dim);
      }
    }
  }
}

// The conversions LoadAsFloat and ToFloat make, stored: vectors, then a scalar tail.
template <typename T>
void Decode(const void* row, size_t dim, float* out) {
  const DF d;
  const size_t n = hn::Lanes(d);
  const T* p = static_cast<const T*>(row);
  size_t i = 0;
  for (; i + n <= dim; i += n) hn::StoreU(LoadAsFloat(d, p + i), d, out + i);
  for (; i < dim; ++i) out[i] = ToFloat(p[i]);
}

// F16C where the target has it (Highway's emulation elsewhere truncates instead of rounding),
// and the scalar conversion for the rest.
void EncodeFloat16(const float* in, size_t dim, void* out) {
  uint16_t* dst = static_cast<uint16_t*>(out);
  size_t i = 0;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2 && !defined(HWY_DISABLE_F16C)
  const DF d;
  const hn::Rebind<hwy::float16_t, DF> d16;
  const size_t n = hn::Lanes(d);
  for (; i + n <= dim; i += n) {
    hn::StoreU(hn::DemoteTo(d16, hn::LoadU(d, in + i)), d16,
               reinterpret_cast<hwy::float16_t*>(dst + i));
  }
#endif
  for (; i < dim; ++i) dst[i] = arrow::util::Float16::FromFloat(in[i]).bits();
}

template <class Op>
float Int8Pair(const int8_t* a, const int8_t* b, size_t dim) {
  return Reduce<Op>(a, b, dim);
}

template <class Op, typename T>
KernelSet MakeSet() {
  return KernelSet{&One<Op, T>, &ToRows<Op, T>, &Matrix<Op, T>, &Decode<T>};
}

template <class Op>
void FillKind(DistanceKind kind, KernelTable& table) {
  KernelSet* sets = table.sets[static_cast<int>(kind)];
  sets[static_cast<int>(ElementType::kFloat32)] = MakeSet<Op, float>();
  sets[static_cast<int>(ElementType::kFloat16)] = MakeSet<Op, hwy::float16_t>();
  sets[static_cast<int>(ElementType::kBFloat16)] = MakeSet<Op, hwy::bfloat16_t>();
  sets[static_cast<int>(ElementType::kInt8)] = MakeSet<Op, int8_t>();
  sets[static_cast<int>(ElementType::kUInt8)] = MakeSet<Op, uint8_t>();
  table.int8_pair[static_cast<int>(kind)] = &Int8Pair<Op>;
}

const KernelTable* TargetKernels() {
  static const KernelTable table = [] {
    KernelTable t{};
    FillKind<L2Op>(DistanceKind::kL2Squared, t);
    FillKind<NegativeDotOp>(DistanceKind::kNegativeDot, t);
    FillKind<CosineOp>(DistanceKind::kCosine, t);
    t.float16_encode = &EncodeFloat16;
    t.target = HWY_TARGET;
    return t;
  }();
  return &table;
}

}  // namespace arbalest::simd::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace arbalest::simd {

HWY_EXPORT(TargetKernels);

KernelSet GetKernels(DistanceKind kind, ElementType type) {
  return HWY_DYNAMIC_DISPATCH(TargetKernels)()
      ->sets[static_cast<int>(kind)][static_cast<int>(type)];
}

Int8PairFn GetInt8PairKernel(DistanceKind kind) {
  return HWY_DYNAMIC_DISPATCH(TargetKernels)()->int8_pair[static_cast<int>(kind)];
}

Float16EncodeFn GetFloat16Encoder() {
  return HWY_DYNAMIC_DISPATCH(TargetKernels)()->float16_encode;
}

const char* DispatchedTargetName() {
  return hwy::TargetName(HWY_DYNAMIC_DISPATCH(TargetKernels)()->target);
}

}  // namespace arbalest::simd
#endif  // HWY_ONCE
