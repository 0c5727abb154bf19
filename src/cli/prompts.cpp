#include "cli/prompts.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/record_reader.h"
#include "util/error.h"
#include "util/parse.h"

namespace mechlens::cli {

Prompt parse_prompt(const std::string& text, const std::string& source) {
  std::string cleaned = text;
  std::replace(cleaned.begin(), cleaned.end(), ',', ' ');
  std::istringstream stream(cleaned);
  Prompt prompt;
  std::string word;
  while (stream >> word) {
    const std::optional<int64_t> id = parse_int(word);
    MECHLENS_CHECK(InputError, id.has_value(), "{}: '{}' is not an integer token id (token {} of the prompt)", source,
                   word, prompt.size());
    prompt.push_back(*id);
  }
  MECHLENS_CHECK(InputError, !prompt.empty(), "{}: prompt holds no token ids", source);
  return prompt;
}

std::vector<Prompt> read_prompt_file(const std::string& path) {
  std::ifstream in(path);
  MECHLENS_CHECK(InputError, in.good(), "{}: cannot open token file", path);
  std::vector<Prompt> prompts;
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    prompts.push_back(parse_prompt(line, fmt::format("{}:{}", path, line_number)));
  }
  MECHLENS_CHECK(InputError, !prompts.empty(), "{}: token file holds no prompts", path);
  return prompts;
}

PromptBatch make_batch(const std::vector<Prompt>& prompts) {
  MECHLENS_CHECK(InputError, !prompts.empty(), "no prompts given");
  PromptBatch batch;
  size_t max_len = 0;
  for (const auto& prompt : prompts) max_len = std::max(max_len, prompt.size());
  const auto batch_size = static_cast<int64_t>(prompts.size());
  batch.tokens = torch::zeros({batch_size, static_cast<int64_t>(max_len)}, torch::kLong);
  torch::Tensor mask = torch::zeros_like(batch.tokens);
  bool padded = false;
  for (int64_t b = 0; b < batch_size; ++b) {
    const auto& prompt = prompts[b];
    const auto len = static_cast<int64_t>(prompt.size());
    batch.tokens[b].narrow(0, 0, len).copy_(torch::tensor(prompt, torch::kLong));
    mask[b].narrow(0, 0, len).fill_(1);
    batch.lengths.push_back(len);
    padded = padded || prompt.size() != max_len;
  }
  if (padded) batch.attention_mask = mask;
  return batch;
}

namespace {

bool is_hdf5_path(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  return ext == ".h5" || ext == ".hdf5";
}

}  // namespace

// Prompts from a text file (one prompt of ids per line) or from /tokens of an earlier record.
PromptSet load_prompt_set(const std::string& path) {
  if (!is_hdf5_path(path)) return make_prompt_set(read_prompt_file(path));
  RecordReader reader(path);
  PromptSet set;
  set.tokens = reader.read_tokens();
  set.lengths = reader.read_lengths();
  for (const auto& name : reader.annotations()) {
    set.annotations.emplace_back(name, reader.read_annotation(name));
    set.annotation_dims[name] = reader.annotation_dims(name);
  }
  MECHLENS_CHECK(InputError, set.size() > 0, "{}: record holds no prompts", path);
  return set;
}

}  // namespace mechlens::cli
