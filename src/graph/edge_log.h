// A dataset's graph edges as an append-only log: what add-edge and bulk loads append, what the
// WAL replays into, and what snapshots save (edge_file.h). Compact adjacency (edge_graph.h) is
// built from it on demand; see dataset_graph.h for the whole design.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace arbalest {

// One directed, labelled, weighted edge between two rows (their `id` values).
struct Edge {
  int64_t subject = 0;
  int64_t object = 0;
  float weight = 1.0f;
  uint32_t predicate = 0;  // index into the log's predicate names
};

// Edges in a fixed-capacity array: appends fill it without moving what readers see.
struct EdgeChunk {
  static constexpr int64_t kCapacity = 1 << 14;  // 384 KiB
  std::unique_ptr<Edge[]> edges{new Edge[kCapacity]};
};

// The log's first `count` edges at one moment, and the predicate names they use. Immutable:
// appends after the cut write past `count`; a removal builds new chunks.
struct EdgeCut {
  std::vector<std::shared_ptr<const EdgeChunk>> chunks;
  int64_t count = 0;
  std::shared_ptr<const std::vector<std::string>> predicates;
  uint64_t version = 0;  // changes with every append or removal

  const Edge& at(int64_t i) const {
    return chunks[static_cast<size_t>(i / EdgeChunk::kCapacity)]->edges[i % EdgeChunk::kCapacity];
  }
};

// Edges given by column, predicates by name.
struct EdgeRows {
  std::vector<int64_t> subjects;
  std::vector<int64_t> objects;
  std::vector<float> weights;
  std::vector<std::string_view> predicates;
  size_t size() const { return subjects.size(); }
};

// Thread-safe.
class EdgeLog {
 public:
  // The bytes `edges` more edges occupy at most (whole chunks, predicate names), for charging
  // memory before they are logged.
  int64_t BytesFor(int64_t edges) const;

  // Appends `rows`; returns the bytes the log grew by.
  int64_t Append(const EdgeRows& rows);

  // Removes every edge whose subject or object is in `ids`; returns the number removed, and
  // in `freed_bytes` the bytes given back.
  int64_t RemoveNodes(const std::unordered_set<int64_t>& ids, int64_t* freed_bytes);

  // The edges now (empty cut: count 0).
  EdgeCut Cut() const;

  int64_t size() const;
  int64_t bytes() const;

 private:
  int64_t BytesLocked() const;
  uint32_t PredicateLocked(std::string_view name, int64_t* grown_bytes);
  void PushLocked(const Edge& edge, int64_t* grown_bytes);

  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<EdgeChunk>> chunks_;
  int64_t count_ = 0;
  std::shared_ptr<const std::vector<std::string>> predicates_ =
      std::make_shared<const std::vector<std::string>>();
  std::unordered_map<std::string, uint32_t> predicate_ids_;
  uint64_t version_ = 0;
};

}  // namespace arbalest
