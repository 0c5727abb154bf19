#include "cli/prompts.h"

#include "cli/command.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/record_reader.h"
#include "util/error.h"
#include "util/parse.h"

namespace mechlens::cli {

namespace {

bool is_hdf5_path(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  return ext == ".h5" || ext == ".hdf5";
}

}  // namespace

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

std::vector<Prompt> read_answer_file(const std::string& path, int64_t batch, size_t min_ids, size_t max_ids,
                                     int64_t d_vocab) {
  std::vector<Prompt> lines = read_prompt_file(path);
  MECHLENS_CHECK(InputError, int64_t(lines.size()) == batch, "{}: {} answer lines for {} prompts", path, lines.size(),
                 batch);
  const std::string expected =
      min_ids == max_ids ? fmt::format("{} ids", min_ids) : fmt::format("{} to {} ids", min_ids, max_ids);
  const size_t width = lines[0].size();
  for (size_t i = 0; i < lines.size(); ++i) {
    MECHLENS_CHECK(InputError, lines[i].size() >= min_ids && lines[i].size() <= max_ids && lines[i].size() == width,
                   "{}: the answers of prompt {} hold {} ids; expected {}, as many on every line as on the first ({})",
                   path, i, lines[i].size(), expected, width);
    for (const int64_t id : lines[i]) {
      MECHLENS_CHECK(InputError, id >= 0 && id < d_vocab,
                     "{}: the answers of prompt {}: token {} is not an id in 0..{} (d_vocab={})", path, i, id,
                     d_vocab - 1, d_vocab);
    }
  }
  return lines;
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

void add_token_options(po::options_description& options) {
  // clang-format off
  options.add_options()
      ("tokens", po::value<std::vector<std::string>>()->composing(), "a prompt of token ids, 1,2,3 or '1 2 3' (repeat for more prompts)")
      ("tokens-file", po::value<std::string>(), "prompts from a file: one prompt of ids per line, or a record's .h5 (/tokens)")
      ("prompt", po::value<std::vector<std::string>>()->composing(), "a prompt as text, tokenized by --tokenizer or the checkpoint directory's tokenizer (repeat for more prompts)")
      ("tokenizer", po::value<std::string>(), "tokenizer directory for --prompt: tokenizer.json (GPT-2 or Llama/Mistral BPE), vocab.json + merges.txt, or encoder.json + vocab.bpe")
      ("prepend-bos", po::bool_switch(), "with --prompt: put the tokenizer's BOS first (GPT-2: <|endoftext|>; Llama/Mistral: <s>; BERT: [CLS] first and [SEP] last; TransformerLens's to_tokens does by default)");
  // clang-format on
}

bool has_token_options(const po::variables_map& vm) {
  return vm.count("tokens") + vm.count("tokens-file") + vm.count("prompt") > 0;
}

std::unique_ptr<Tokenizer> tokenizer_from_options(const po::variables_map& vm) {
  if (vm.count("tokenizer")) return load_tokenizer(vm["tokenizer"].as<std::string>());
  if (vm.count("checkpoint") && dir_has_tokenizer(vm["checkpoint"].as<std::string>())) {
    return load_tokenizer(vm["checkpoint"].as<std::string>());
  }
  throw UsageError{
      "--prompt needs a tokenizer: --tokenizer DIR (tokenizer.json, vocab.json + merges.txt, or encoder.json + "
      "vocab.bpe), or a Hugging Face checkpoint directory that holds one"};
}

Prompt encode_prompt(const Tokenizer& tokenizer, const std::string& text, bool prepend_bos) {
  MECHLENS_CHECK(InputError, !prepend_bos || tokenizer.bos_token() >= 0,
                 "--prepend-bos: the tokenizer ({}) has no BOS token (GPT-2's <|endoftext|>, or a tokenizer.json "
                 "post-processor's leading special token)",
                 tokenizer.kind());
  Prompt ids = tokenizer.encode(text);
  if (prepend_bos) ids = tokenizer.add_special_tokens(std::move(ids));
  return ids;
}

namespace {

std::vector<Prompt> text_prompts(const po::variables_map& vm) {
  if (!vm.count("prompt")) {
    if (vm.count("prepend-bos") && vm["prepend-bos"].as<bool>()) throw UsageError{"--prepend-bos applies to --prompt"};
    return {};
  }
  const std::unique_ptr<Tokenizer> tokenizer = tokenizer_from_options(vm);
  std::vector<Prompt> out;
  for (const std::string& text : vm["prompt"].as<std::vector<std::string>>()) {
    Prompt ids = encode_prompt(*tokenizer, text, vm["prepend-bos"].as<bool>());
    MECHLENS_CHECK(InputError, !ids.empty(), "--prompt '{}' has no tokens", text);
    out.push_back(std::move(ids));
  }
  return out;
}

}  // namespace

PromptSet prompts_from_options(const po::variables_map& vm) {
  std::vector<Prompt> inline_prompts;
  if (vm.count("tokens")) {
    for (const std::string& text : vm["tokens"].as<std::vector<std::string>>()) {
      std::error_code ignored;
      if (std::filesystem::exists(text, ignored) || is_hdf5_path(text) || text.find(".txt") != std::string::npos) {
        throw UsageError{
            fmt::format("--tokens takes token ids (e.g. --tokens 1,2,3); for the file '{}' use "
                        "--tokens-file",
                        text)};
      }
      inline_prompts.push_back(parse_prompt(text, "--tokens"));
    }
  }
  for (Prompt& prompt : text_prompts(vm)) inline_prompts.push_back(std::move(prompt));
  if (!vm.count("tokens-file")) {
    if (inline_prompts.empty()) throw UsageError{"give prompts with --tokens IDS, --prompt TEXT or --tokens-file FILE"};
    return make_prompt_set(inline_prompts);
  }
  PromptSet from_file = load_prompt_set(vm["tokens-file"].as<std::string>());
  if (inline_prompts.empty()) return from_file;
  MECHLENS_CHECK(InputError, from_file.annotations.empty(),
                 "{}: a record's annotated prompts cannot be mixed with --tokens", vm["tokens-file"].as<std::string>());
  const torch::Tensor lengths = from_file.lengths.to(torch::kLong).contiguous();
  for (int64_t i = 0; i < from_file.size(); ++i) {
    const int64_t length = lengths[i].item<int64_t>();
    const torch::Tensor row = from_file.tokens[i].narrow(0, 0, length).to(torch::kLong).contiguous();
    inline_prompts.emplace_back(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + length);
  }
  return make_prompt_set(inline_prompts);
}

PromptBatch batch_of(const PromptSet& prompts) {
  PromptBatch batch;
  batch.tokens = prompts.tokens.to(torch::kLong);
  const torch::Tensor lengths = prompts.lengths.to(torch::kLong).contiguous();
  batch.lengths.assign(lengths.data_ptr<int64_t>(), lengths.data_ptr<int64_t>() + lengths.numel());
  const torch::Tensor mask = torch::arange(batch.tokens.size(1)).unsqueeze(0).lt(lengths.unsqueeze(1));
  if (!mask.all().item<bool>()) batch.attention_mask = mask.to(torch::kLong);
  return batch;
}

torch::Tensor equal_length_tokens(const PromptSet& set, const std::string& source, const std::string& analysis) {
  const int64_t shortest = set.lengths.min().item<int64_t>(), longest = set.lengths.max().item<int64_t>();
  MECHLENS_CHECK(InputError, shortest == longest, "{}: {} needs prompts of equal length, got lengths {}..{}", source,
                 analysis, shortest, longest);
  return set.tokens.narrow(1, 0, longest).contiguous();
}

}  // namespace mechlens::cli
