// Distance kernels between a float32 query and stored rows of any ElementType, compiled once
// per SIMD target from one source (simd/distance.cc) with Highway and picked at run time for
// the CPU (dynamic dispatch). The build baseline is x86-64-v2; AVX2/AVX-512 come from here.
//
// Every kind is a distance: smaller is closer. Callers resolve a KernelSet once (e.g. when an
// index is created) and call through its function pointers on the hot path, so there is no
// per-call dispatch cost. All kernels are pure functions of their arguments: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd/element_type.h"

namespace arbalest::simd {

enum class DistanceKind : uint8_t {
  kL2Squared = 0,    // sum (q - x)^2
  kNegativeDot = 1,  // -(q . x)
  kCosine = 2,       // 1 - (q . x) / (|q| |x|); 1 when either norm is 0
};
inline constexpr int kNumDistanceKinds = 3;

// One query against one row of `dim` elements.
using DistanceFn = float (*)(const float* query, const void* row, size_t dim);
// One query against `n` rows (the neighbour list form HNSW needs): out[i] = d(query, rows[i]).
// Upcoming rows are prefetched.
using DistanceToRowsFn = void (*)(const float* query, const void* const* rows, size_t n, size_t dim,
                                  float* out);
// `nq` queries (row-major, nq x dim) against `n` rows, tiled so that a block of rows stays in
// cache while every query visits it: out[q * n + i] = d(queries[q], rows[i]).
using DistanceMatrixFn = void (*)(const float* queries, size_t nq, const void* const* rows,
                                  size_t n, size_t dim, float* out);
// A stored row of `dim` elements written as float32 to `out` (the row in query form).
using DecodeFn = void (*)(const void* row, size_t dim, float* out);
// `dim` float32 values rounded to nearest even float16 (bit-identical to
// EncodeRow(kFloat16, ...)), written to `out` (2 * dim bytes).
using Float16EncodeFn = void (*)(const float* in, size_t dim, void* out);
// Two int8 rows (both stored, e.g. for graph construction from int8 data).
using Int8PairFn = float (*)(const int8_t* a, const int8_t* b, size_t dim);

struct KernelSet {
  DistanceFn one;
  DistanceToRowsFn to_rows;
  DistanceMatrixFn matrix;
  DecodeFn decode;  // the same for every kind
};

// The kernels of `kind` for rows of `type`, for the best target the CPU supports (or the
// target forced by hwy::SetSupportedTargetsForTest in tests).
KernelSet GetKernels(DistanceKind kind, ElementType type);
Int8PairFn GetInt8PairKernel(DistanceKind kind);
Float16EncodeFn GetFloat16Encoder();

// Name of the target GetKernels currently picks, e.g. "AVX2", for the startup log.
const char* DispatchedTargetName();

}  // namespace arbalest::simd
