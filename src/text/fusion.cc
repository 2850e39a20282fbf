#include "text/fusion.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "text/words.h"

namespace arbalest {
namespace {

constexpr double kKeywordAlpha = 0.3;
constexpr double kNaturalLanguageAlpha = 0.7;
constexpr size_t kMaxKeywordWords = 2;
constexpr size_t kMinNaturalLanguageWords = 8;

// Adds weight / (kRrfK + rank) to each row of `ranked`, once per row.
void AddRankScores(std::span<const uint64_t> ranked, double weight,
                   std::unordered_map<uint64_t, double>* scores,
                   std::unordered_set<uint64_t>* seen) {
  seen->clear();
  for (size_t i = 0; i < ranked.size(); ++i) {
    if (!seen->insert(ranked[i]).second) continue;
    (*scores)[ranked[i]] += weight / (kRrfK + static_cast<double>(i + 1));
  }
}

}  // namespace

arrow::Result<std::vector<ScoredRow>> FuseReciprocalRank(std::span<const uint64_t> dense,
                                                         std::span<const uint64_t> text,
                                                         double alpha) {
  if (!(alpha >= 0.0 && alpha <= 1.0)) {
    return arrow::Status::Invalid("fusion alpha must be in [0, 1], got ", alpha);
  }
  std::unordered_map<uint64_t, double> scores;
  std::unordered_set<uint64_t> seen;
  AddRankScores(dense, alpha, &scores, &seen);
  AddRankScores(text, 1.0 - alpha, &scores, &seen);
  std::vector<ScoredRow> fused;
  fused.reserve(scores.size());
  for (const auto& [row, score] : scores) {
    if (score > 0.0) fused.push_back({row, score});
  }
  std::sort(fused.begin(), fused.end(), RanksBefore);
  return fused;
}

double AdaptiveAlpha(std::string_view query) {
  const size_t words = SplitWords(query).size();
  if (words == 0) return 1.0;
  if (words <= kMaxKeywordWords) return kKeywordAlpha;
  if (words >= kMinNaturalLanguageWords) return kNaturalLanguageAlpha;
  const double position = static_cast<double>(words - kMaxKeywordWords) /
                          static_cast<double>(kMinNaturalLanguageWords - kMaxKeywordWords);
  return kKeywordAlpha + position * (kNaturalLanguageAlpha - kKeywordAlpha);
}

}  // namespace arbalest
