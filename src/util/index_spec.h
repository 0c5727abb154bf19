// Index selections written the Python way: "all", "3", "-1", "2:6", "-5:", "0,4,-1". Negative
// indices count from the end (for positions: from each prompt's own last token).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mechlens {

class IndexSpec {
 public:
  /// Parses `text`; `what` ("--positions") names the option in errors. Throws InputError.
  static IndexSpec parse(const std::string& text, const std::string& what);

  bool is_all() const { return items_.empty(); }
  const std::string& text() const { return text_; }
  /// Absolute indices into a dimension of `size`, in spec order. Throws InputError when an index
  /// falls outside 0..size-1 (naming `context`, e.g. "prompt 3 (7 tokens)").
  std::vector<int64_t> resolve(int64_t size, const std::string& context) const;
  /// Absolute indices per prompt of the given lengths (negative indices count from each prompt's
  /// own end), the same count in every prompt: [N][K]. Throws InputError naming the prompt when
  /// one is too short or when prompts would keep different counts.
  std::vector<std::vector<int64_t>> resolve_per_prompt(const std::vector<int64_t>& lengths) const;

 private:
  struct Item {
    std::optional<int64_t> start, stop;  // slice bounds; a single index uses start only
    bool single = false;
  };
  std::string text_;
  std::string what_;
  std::vector<Item> items_;
};

}  // namespace mechlens
