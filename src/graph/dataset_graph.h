// A dataset's knowledge graph: directed, labelled, weighted edges between its rows (their `id`
// values), beside the rows.
//
// Design. Writes go to an append-only log (EdgeLog: fixed-size chunks, so a reader's cut stays
// valid while appends continue); reads go to a compact adjacency (EdgeGraph: compressed sparse
// rows per direction, nodes numbered densely in id order, 16 bytes per edge plus 4 per edge and
// direction plus 8 per node) built from a cut of the log. The adjacency is rebuilt on demand:
// the first traversal or stats call after the log changed builds it (O(E log N), one builder at
// a time, the others wait for it and share it) and later calls reuse it until the next change.
// Removing the edges of deleted rows copies the log without them (readers keep the old chunks).
//
// Durability is the store's (store/dataset_edges.h): edges are logged (WAL kEdges) before they
// are appended here, in the dataset's publication order, so a snapshot's cut (Cut, taken under
// the dataset's state lock) holds exactly the edges logged up to its LSN, and a snapshot saves
// them as edges.parquet (edge_file.h).
//
// Memory: the log's chunks and predicate names, the adjacency and the communities are charged
// to --max-memory through the callbacks given: a load is charged (and may be refused) before it
// is logged; the adjacency and communities, derived from accepted edges, are charged when built,
// never refused.
#pragma once

#include <arrow/result.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "graph/edge_graph.h"
#include "graph/edge_log.h"
#include "graph/label_propagation.h"

namespace arbalest {

class DatasetGraph {
 public:
  struct Memory {
    std::function<arrow::Status(int64_t bytes)> charge;  // refusable
    std::function<void(int64_t delta)> adjust;           // never refused
  };
  explicit DatasetGraph(Memory memory) : memory_(std::move(memory)) {}
  ~DatasetGraph() { Clear(); }
  DatasetGraph(const DatasetGraph&) = delete;
  DatasetGraph& operator=(const DatasetGraph&) = delete;

  // Charges the memory `edges` more edges will need; CapacityError (nothing charged) past the
  // limit, KeyError once cleared (the dataset was dropped). Returns the bytes charged, for Append
  // or Unreserve.
  arrow::Result<int64_t> Reserve(int64_t edges);
  void Unreserve(int64_t bytes);

  // Appends logged edges; `reserved` what Reserve charged for them (0 on replay: charged here,
  // never refused).
  void Append(const EdgeRows& rows, int64_t reserved);

  // Removes the edges whose subject or object is in `ids`; returns how many.
  int64_t RemoveNodes(const std::unordered_set<int64_t>& ids);

  // The log's edges now.
  EdgeCut Cut() const { return log_.Cut(); }
  int64_t edge_count() const { return log_.size(); }
  bool empty() const { return log_.size() == 0; }

  // The adjacency of the edges now (built or rebuilt when the log changed).
  std::shared_ptr<const EdgeGraph> Adjacency();

  // The communities of `adjacency` (label_propagation.h), computed once per adjacency built:
  // GetGraphStats is polled, and a run over 1M edges takes seconds.
  std::shared_ptr<const Communities> CommunitiesOf(
      const std::shared_ptr<const EdgeGraph>& adjacency);

  // Gives back every byte charged (a dropped dataset); the edges stay for readers in flight.
  void Clear();

 private:
  // Charges (delta > 0) or gives back memory derived from accepted edges; nothing once cleared.
  void Adjust(int64_t delta);

  EdgeLog log_;
  Memory memory_;
  std::mutex build_mutex_;
  std::shared_ptr<const EdgeGraph> built_;  // guarded by build_mutex_
  int64_t built_bytes_ = 0;                 // guarded by build_mutex_
  std::mutex communities_mutex_;
  // The adjacency the communities were found in (weak: they go with it), and the communities.
  std::weak_ptr<const EdgeGraph> communities_of_;   // guarded by communities_mutex_
  std::shared_ptr<const Communities> communities_;  // guarded by communities_mutex_
  int64_t communities_bytes_ = 0;                   // guarded by communities_mutex_
  // Charges and releases are serialized with Clear, so that a dropped dataset's graph gives back
  // exactly what was charged, once.
  std::mutex memory_mutex_;
  int64_t charged_ = 0;   // guarded by memory_mutex_
  bool cleared_ = false;  // guarded by memory_mutex_
};

}  // namespace arbalest
