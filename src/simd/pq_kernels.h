// Kernels of product quantization (index/pq_quantizer.h), compiled once per SIMD target like
// simd/distance.cc and picked at run time:
//
//  - codebook distances: one sub-vector against the k centroids of its subspace, stored
//    transposed ([dsub][k], centroid c's coordinate d at d * k + c) so that the k distances
//    come out a vector of lanes at a time: a query's ADC lookup table, and (fused with an
//    argmin) the nearest centroid of a training point or a row being encoded;
//  - ADC (asymmetric distance computation): a code of m bytes against a query's lookup table
//    [m][256], distance = sum over j of table[j * 256 + code[j]]. A scalar loop with four
//    sums: on the AVX2 machine measured (bench/distance_bench, BM_PqAdc), the Highway gather
//    form took about twice as long per code (45 vs 22 ns at m = 48); it is kept as adc_gather
//    so that the benchmark can re-measure the choice on other CPUs.
//
// Pure functions of their arguments: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd/distance.h"

namespace arbalest::simd {

// Centroids per subspace: one code byte each.
inline constexpr size_t kPqCentroids = 256;

// out[c] = d(x, centroid c) for c < k, where x has `dsub` floats and `centroids` is [dsub][k].
// kL2Squared: sum (x_d - c_d)^2; kNegativeDot: -sum x_d c_d.
using CodebookDistancesFn = void (*)(const float* x, const float* centroids, size_t dsub, size_t k,
                                     float* out);
// The centroid nearest to x by L2 (the first of equals), as CodebookDistances would find it.
using NearestCentroidFn = size_t (*)(const float* x, const float* centroids, size_t dsub, size_t k);
// out[i] = sum over j < m of table[j * kPqCentroids + codes[i][j]], codes[i] being m bytes.
using AdcFn = void (*)(const float* table, const void* const* codes, size_t n, size_t m,
                       float* out);

struct PqKernels {
  CodebookDistancesFn codebook_distances;
  NearestCentroidFn nearest_centroid;
  AdcFn adc;
  AdcFn adc_gather;  // the same sums with hardware gathers: for benchmarks
};

// For kind kL2Squared or kNegativeDot (other kinds get the kL2Squared codebook kernel), for
// the best target the CPU supports (or the one forced by hwy::SetSupportedTargetsForTest).
PqKernels GetPqKernels(DistanceKind kind);

}  // namespace arbalest::simd
