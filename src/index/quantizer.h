// Quantizer: the interface HnswIndex uses for compressed codes of its rows, so that graph
// traversal reads a few bytes per row instead of the full vector and only the final candidates
// are re-ranked on full vectors. Implemented by Sq8Quantizer (one byte per dimension) and
// PqQuantizer (one byte per subspace).
//
// Distances are asymmetric: the query stays float and is turned once per search into a
// "prepared" form (query_floats() floats plus a constant) that code distances are computed
// against. Train (or Restore) once, then the quantizer is immutable: thread-safe.
#pragma once

#include <arrow/status.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace arbalest {

class Quantizer {
 public:
  virtual ~Quantizer() = default;

  // Bytes of one row's code record.
  virtual size_t code_bytes() const = 0;
  // Learns the quantizer from `rows` (each dim floats, in row order). Invalid when the rows
  // cannot train it (too few).
  virtual arrow::Status Train(const std::vector<const float*>& rows) = 0;
  // Writes the code record of `vector` (code_bytes() bytes) to `code`.
  virtual void Encode(const float* vector, uint8_t* code) const = 0;

  // Floats of a prepared query.
  virtual size_t query_floats() const = 0;
  // Writes the prepared form of `query` (query_floats() floats) to `prepared`; returns its
  // constant.
  virtual float PrepareQuery(const float* query, float* prepared) const = 0;
  // out[i] = approximate distance (in the index's internal kind) from the prepared query to
  // code record codes[i].
  virtual void Distances(const float* prepared, float constant, const void* const* codes, size_t n,
                         float* out) const = 0;

  // What Train learnt, as floats, for saving; Restore takes it back (Invalid when it does not
  // fit this quantizer's shape).
  virtual std::vector<float> State() const = 0;
  virtual arrow::Status Restore(std::span<const float> state) = 0;
};

}  // namespace arbalest
