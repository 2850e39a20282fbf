// One query of a parsed search answered on this node alone, or across the cluster when the node
// belongs to one (ClusterHooks) and the request does not say local_only. Shared by the DoGet
// search ticket, the VectorSearch action and the DoExchange search; and a scan ticket's reader.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "flight/cluster_hooks.h"
#include "flight/search_request.h"
#include "flight/ticket.h"
#include "store/vector_store.h"

namespace arbalest {

// What a cluster fan-out of `request` fuses itself (ClusterHooks::Search): for a hybrid search
// (a text query, no graph expansion), its fusion weight (HybridAlpha) and depth; nullopt for
// other searches. Invalid as HybridAlpha.
arrow::Result<std::optional<HybridFusion>> HybridFusionFor(const SearchRequest& request);

// Query `index` of `search`. `cluster` null (a node without cluster flags): the local search,
// nothing missing. KeyError for a dataset no node holds.
arrow::Result<ClusterSearchResult> SearchQuery(VectorStore& store, ClusterHooks* cluster,
                                               const ParsedSearch& search, size_t index,
                                               ServerMetrics* metrics);

// The reader of scan ticket `scan`: this node's rows, or every member's when the node belongs
// to a cluster and the ticket does not say local_only (ClusterHooks::Scan).
arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> ScanReader(VectorStore& store,
                                                                    ClusterHooks* cluster,
                                                                    const ScanTicket& scan);

}  // namespace arbalest
