// mechlens tokenize: text to token ids and back (GPT-2 BPE, or a tokenizer.json's SentencePiece-style BPE)
// with the files a checkpoint directory or --tokenizer holds; what --prompt does inside every command.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/command.h"
#include "cli/options.h"
#include "cli/prompts.h"
#include "io/tokenizer.h"

namespace mechlens::cli {

int run_tokenize(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("text", po::value<std::vector<std::string>>()->composing(), "texts to tokenize (positional), or ids with --decode")
      ("tokenizer", po::value<std::string>(), "directory with tokenizer.json, vocab.json + merges.txt, or encoder.json + vocab.bpe")
      ("checkpoint", po::value<std::string>(), "a Hugging Face checkpoint directory holding those files")
      ("prepend-bos", po::bool_switch(), "put the tokenizer's BOS first (<|endoftext|>, <s>)")
      ("decode", po::bool_switch(), "read token ids (1,2,3 or '1 2 3') and print their text")
      ("tokens", po::bool_switch(), "also print each token's text");
  // clang-format on
  po::positional_options_description positional;
  positional.add("text", -1);
  po::variables_map vm;
  if (!parse_options(
          "tokenize", "--tokenizer DIR TEXT... [--decode]",
          "Tokenize text (GPT-2's byte-level BPE, or a tokenizer.json's SentencePiece-style BPE: the ids --prompt "
          "gives every command), or decode ids.",
          options, positional, args, vm)) {
    return 0;
  }
  if (!vm.count("text")) throw UsageError{"give the text to tokenize (or ids with --decode)"};
  if (!vm.count("tokenizer") && !vm.count("checkpoint")) throw UsageError{"give --tokenizer DIR or --checkpoint DIR"};
  const std::unique_ptr<Tokenizer> tokenizer = tokenizer_from_options(vm);
  for (const std::string& text : vm["text"].as<std::vector<std::string>>()) {
    if (vm["decode"].as<bool>()) {
      fmt::print("{}\n", tokenizer->decode(parse_prompt(text, "--decode")));
      continue;
    }
    const Prompt ids = encode_prompt(*tokenizer, text, vm["prepend-bos"].as<bool>());
    fmt::print("{}\n", fmt::join(ids, " "));
    if (vm["tokens"].as<bool>()) {
      std::vector<std::string> pieces;
      for (int64_t id : ids) pieces.push_back("'" + tokenizer->decode({id}) + "'");
      fmt::print("{}\n", fmt::join(pieces, " "));
    }
  }
  return 0;
}

}  // namespace mechlens::cli
