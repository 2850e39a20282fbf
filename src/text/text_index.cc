#include "text/text_index.h"

#include <algorithm>
#include <limits>
#include <mutex>
#include <string>
#include <utility>

#include "text/bm25.h"

namespace arbalest {
namespace {

constexpr uint64_t kMaxUint32 = std::numeric_limits<uint32_t>::max();

// Rough heap cost of one unordered_map node beyond its value: the next pointer, the cached
// hash and the bucket slot.
constexpr uint64_t kHashNodeOverhead = 3 * sizeof(void*);

}  // namespace

TextIndex::TextIndex(Tokenizer tokenizer) : tokenizer_(std::move(tokenizer)) {}

arrow::Status TextIndex::Add(uint64_t row, std::string_view text) {
  return Add(row, std::span<const std::string_view>(&text, 1));
}

arrow::Status TextIndex::Add(uint64_t row, std::span<const std::string_view> fields) {
  ARROW_ASSIGN_OR_RAISE(TokenizedRows text, Tokenize(fields, /*rows=*/1));
  return Add(row, std::move(text));
}

arrow::Result<TextIndex::TokenizedRows> TextIndex::Tokenize(
    std::span<const std::string_view> fields, size_t rows) const {
  TokenizedRows text;
  const size_t fields_per_row = rows == 0 ? 0 : fields.size() / rows;
  text.ends_.reserve(rows);
  StringMap<uint32_t> ids;
  std::vector<std::string> row_terms;
  for (size_t row = 0; row < rows; ++row) {
    row_terms.clear();
    for (std::string_view field : fields.subspan(row * fields_per_row, fields_per_row)) {
      tokenizer_.TokenizeInto(field, &row_terms);
    }
    if (row_terms.size() > kMaxUint32) {
      return arrow::Status::CapacityError("a row has ", row_terms.size(),
                                          " terms; the text index takes at most ", kMaxUint32);
    }
    const size_t begin = text.terms_.size();
    for (std::string& term : row_terms) {
      const auto next_id = static_cast<uint32_t>(ids.size());
      text.terms_.push_back(ids.try_emplace(std::move(term), next_id).first->second);
    }
    std::sort(text.terms_.begin() + static_cast<ptrdiff_t>(begin), text.terms_.end());
    text.ends_.push_back(text.terms_.size());
  }
  text.vocabulary_.resize(ids.size());
  while (!ids.empty()) {
    auto node = ids.extract(ids.begin());
    text.vocabulary_[node.mapped()] = std::move(node.key());
  }
  return text;
}

arrow::Status TextIndex::Add(uint64_t first_row, TokenizedRows text) {
  const size_t rows = text.size();
  std::unique_lock lock(mutex_);
  if (docs_.size() + rows > kMaxUint32) {
    return arrow::Status::CapacityError("text index is full: ", docs_.size(), " documents, ", rows,
                                        " more do not fit");
  }
  // Grow geometrically: reserving exactly what each batch needs would copy the tables anew
  // on every batch.
  if (docs_.capacity() < docs_.size() + rows) {
    docs_.reserve(std::max(docs_.size() + rows, 2 * docs_.capacity()));
  }
  if (const size_t rows_after = slot_of_row_.size() + rows;
      rows_after > slot_of_row_.bucket_count() * slot_of_row_.max_load_factor()) {
    slot_of_row_.reserve(std::max(rows_after, 2 * slot_of_row_.size()));
  }
  std::vector<Term*> term_of;
  term_of.reserve(text.vocabulary_.size());
  for (std::string& term : text.vocabulary_) {
    term_of.push_back(&terms_.try_emplace(std::move(term)).first->second);
  }
  size_t begin = 0;
  for (size_t i = 0; i < rows; ++i) {
    Insert(first_row + i, std::span<uint32_t>(text.terms_).subspan(begin, text.ends_[i] - begin),
           term_of);
    begin = text.ends_[i];
  }
  CompactIfMostlyRemoved();
  return arrow::Status::OK();
}

void TextIndex::Insert(uint64_t row, std::span<uint32_t> ids, const std::vector<Term*>& term_of) {
  const auto slot = static_cast<uint32_t>(docs_.size());
  if (auto [it, added] = slot_of_row_.try_emplace(row, slot); !added) {
    Tombstone(it->second);  // erases the entry
    slot_of_row_[row] = slot;
  }
  Document& doc = docs_.emplace_back(
      Document{.row = row, .length = static_cast<uint32_t>(ids.size()), .live = true, .terms = {}});
  size_t distinct = 0;
  for (size_t i = 0; i < ids.size(); ++i) distinct += i == 0 || ids[i] != ids[i - 1];
  doc.terms.reserve(distinct);
  for (size_t begin = 0; begin < ids.size();) {
    size_t end = begin + 1;
    while (end < ids.size() && ids[end] == ids[begin]) ++end;
    Term* term = term_of[ids[begin]];
    term->postings.push_back({slot, static_cast<uint32_t>(end - begin)});
    ++term->doc_freq;
    doc.terms.push_back(term);
    begin = end;
  }
  total_length_ += doc.length;
}

bool TextIndex::Remove(uint64_t row) {
  std::unique_lock lock(mutex_);
  auto it = slot_of_row_.find(row);
  if (it == slot_of_row_.end()) return false;
  Tombstone(it->second);
  CompactIfMostlyRemoved();
  return true;
}

void TextIndex::Tombstone(uint32_t slot) {
  Document& doc = docs_[slot];
  for (Term* term : doc.terms) --term->doc_freq;
  doc.terms = {};
  doc.live = false;
  total_length_ -= doc.length;
  slot_of_row_.erase(doc.row);
}

// Renumbers live documents densely (keeping their order, so posting lists stay sorted), drops
// removed documents' postings, and drops terms left without postings. Linear in the index
// size; running it only once removed rows outnumber live ones keeps the cost per removal
// amortised constant.
void TextIndex::CompactIfMostlyRemoved() {
  const size_t live = slot_of_row_.size();
  if (docs_.size() - live <= live) return;
  constexpr uint32_t kRemoved = kMaxUint32;  // never a slot: Add keeps slots below it
  std::vector<uint32_t> new_slot(docs_.size(), kRemoved);
  uint32_t next = 0;
  for (uint32_t old = 0; old < docs_.size(); ++old) {
    if (!docs_[old].live) continue;
    new_slot[old] = next;
    if (next != old) docs_[next] = std::move(docs_[old]);
    slot_of_row_[docs_[next].row] = next;
    ++next;
  }
  docs_.resize(next);
  for (auto it = terms_.begin(); it != terms_.end();) {
    std::vector<Posting>& postings = it->second.postings;
    size_t kept = 0;
    for (const Posting& posting : postings) {
      const uint32_t slot = new_slot[posting.slot];
      if (slot != kRemoved) postings[kept++] = {slot, posting.term_freq};
    }
    postings.resize(kept);
    if (kept == 0) {
      it = terms_.erase(it);
      continue;
    }
    if (kept < postings.capacity() / 2) postings.shrink_to_fit();
    ++it;
  }
}

std::vector<std::string> TextIndex::QueryTerms(std::string_view query) const {
  std::vector<std::string> query_terms = tokenizer_.Tokenize(query);
  std::sort(query_terms.begin(), query_terms.end());
  query_terms.erase(std::unique(query_terms.begin(), query_terms.end()), query_terms.end());
  return query_terms;
}

Bm25Stats TextIndex::QueryStats(std::string_view query) const {
  const std::vector<std::string> query_terms = QueryTerms(query);
  Bm25Stats stats;
  std::shared_lock lock(mutex_);
  stats.docs = slot_of_row_.size();
  stats.total_length = total_length_;
  for (const std::string& text : query_terms) {
    auto it = terms_.find(text);
    stats.doc_freq[text] = it == terms_.end() ? 0 : it->second.doc_freq;
  }
  return stats;
}

std::vector<ScoredRow> TextIndex::Search(std::string_view query, size_t k, const RowFilter* filter,
                                         const Bm25Stats* global) const {
  const std::vector<std::string> query_terms = QueryTerms(query);

  // Document-at-a-time: one cursor per query term walks its posting list; all lists are
  // sorted by slot, so the smallest slot under any cursor is the next candidate document.
  struct Cursor {
    const Posting* next;
    const Posting* end;
    double idf;
  };
  std::shared_lock lock(mutex_);
  const bool use_global = global != nullptr && global->docs > 0;
  const uint64_t num_docs = use_global ? global->docs : slot_of_row_.size();
  std::vector<Cursor> cursors;
  for (const std::string& text : query_terms) {
    auto it = terms_.find(text);
    if (it == terms_.end() || it->second.doc_freq == 0) continue;
    uint64_t doc_freq = it->second.doc_freq;
    if (use_global) {
      if (auto freq = global->doc_freq.find(text); freq != global->doc_freq.end()) {
        doc_freq = std::max<uint64_t>(doc_freq, freq->second);
      }
    }
    const std::vector<Posting>& postings = it->second.postings;
    cursors.push_back({postings.data(), postings.data() + postings.size(),
                       Bm25Idf(std::max(num_docs, doc_freq), doc_freq)});
  }
  // A live posting implies a live document of length >= 1, so avgdl > 0 when it is used (the
  // global total counts this index's documents too, unless they came after it was gathered).
  const double avg_doc_length =
      use_global && global->total_length > 0
          ? static_cast<double>(global->total_length) / static_cast<double>(global->docs)
          : AvgDocLength();
  TopRows top(k);
  while (true) {
    uint32_t slot = kMaxUint32;
    for (const Cursor& cursor : cursors) {
      if (cursor.next != cursor.end) slot = std::min(slot, cursor.next->slot);
    }
    if (slot == kMaxUint32) break;
    const Document& doc = docs_[slot];
    const bool eligible = doc.live && (filter == nullptr || filter->Allows(doc.row));
    double score = 0;
    for (Cursor& cursor : cursors) {
      if (cursor.next == cursor.end || cursor.next->slot != slot) continue;
      if (eligible) {
        score += Bm25TermScore(cursor.idf, cursor.next->term_freq, doc.length, avg_doc_length);
      }
      ++cursor.next;
    }
    if (eligible) top.Offer({doc.row, score});
  }
  return top.Take();
}

double TextIndex::AvgDocLength() const {
  const size_t live = slot_of_row_.size();
  return live == 0 ? 0.0 : static_cast<double>(total_length_) / static_cast<double>(live);
}

TextIndexStats TextIndex::Stats() const {
  std::shared_lock lock(mutex_);
  TextIndexStats stats;
  stats.live_rows = slot_of_row_.size();
  stats.removed_rows = docs_.size() - slot_of_row_.size();
  stats.terms = terms_.size();
  uint64_t dictionary_bytes = 0;
  for (const auto& [text, term] : terms_) {
    stats.postings += term.postings.size();
    stats.posting_bytes += term.postings.capacity() * sizeof(Posting);
    dictionary_bytes += sizeof(std::pair<const std::string, Term>) + kHashNodeOverhead;
    if (text.capacity() > std::string().capacity()) dictionary_bytes += text.capacity() + 1;
  }
  uint64_t document_bytes = docs_.capacity() * sizeof(Document) +
                            slot_of_row_.size() * (sizeof(uint64_t) * 2 + kHashNodeOverhead);
  for (const Document& doc : docs_) document_bytes += doc.terms.capacity() * sizeof(Term*);
  stats.total_bytes = stats.posting_bytes + dictionary_bytes + document_bytes;
  stats.avg_doc_length = AvgDocLength();
  return stats;
}

}  // namespace arbalest
