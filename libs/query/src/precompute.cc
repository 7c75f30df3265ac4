// Symbols precomputed into the index (issue 11): the answers a question
// about the code a recording ran needs, computed once by the same
// Symbolizer calls RecordingSymbols would make, so that answers are the
// same whichever way they come.
#include <algorithm>

#include "omni/index/builder.h"
#include "omni/query/session.h"
#include "omni/replay/executions.h"

namespace omni::query {

PrecomputeStats precompute_symbols(const std::string& trace_dir, int zstd_level,
                                   symbols::Symbolizer& symbolizer) {
  index::SymbolRows rows;
  PrecomputeStats stats;
  {
    // The reader's read transaction must end before store_symbols writes.
    index::IndexReader reader(trace_dir);
    std::vector<index::ObjectRow> objects = reader.objects();
    std::vector<uint64_t> pcs = replay::translated_instructions(reader);
    std::vector<uint64_t> entries = reader.call_targets();
    for (const index::ObjectRow& o : objects) {
      int handle = symbolizer.add_object(o.path, o.bias);
      auto first = std::lower_bound(pcs.begin(), pcs.end(), o.start);
      auto last = std::lower_bound(first, pcs.end(), o.end);
      // All at once: a function's scopes are read once even where it spans pages.
      std::vector<symbols::CodeAnswer> answers =
          symbolizer.code_answers(handle, std::vector<uint64_t>(first, last));
      stats.addresses += answers.size();
      for (auto page_first = answers.begin(); page_first != answers.end();) {
        uint64_t page = page_first->pc >> 12;
        auto page_last = std::find_if(page_first, answers.end(), [&](const symbols::CodeAnswer& a) {
          return a.pc >> 12 != page;
        });
        std::string data =
            symbols::encode_code_page(std::vector<symbols::CodeAnswer>(page_first, page_last));
        stats.bytes += data.size();
        rows.code.push_back({o.id, page, std::move(data)});
        page_first = page_last;
      }
      auto entry_first = std::lower_bound(entries.begin(), entries.end(), o.start);
      auto entry_last = std::lower_bound(entry_first, entries.end(), o.end);
      if (entry_first == entry_last) continue;
      std::string data = symbols::encode_functions(symbols::compute_function_answers(
          symbolizer, handle, std::vector<uint64_t>(entry_first, entry_last)));
      stats.functions += static_cast<uint64_t>(entry_last - entry_first);
      stats.bytes += data.size();
      rows.functions.push_back({o.id, std::move(data)});
    }
  }
  index::store_symbols(trace_dir, rows, zstd_level);
  return stats;
}

}  // namespace omni::query
