// Token prompts from the command line or a file (one prompt of integer ids per line), padded
// into a batch with an attention mask.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include "cli/options.h"
#include "io/tokenizer.h"
#include "store/recorder.h"

#include <string>
#include <vector>

namespace mechlens::cli {

using Prompt = std::vector<int64_t>;

/// Parses "1 2 3" or "1,2,3". Throws InputError naming `source` and the bad text.
Prompt parse_prompt(const std::string& text, const std::string& source);

/// One prompt per non-empty line; '#' starts a comment line.
std::vector<Prompt> read_prompt_file(const std::string& path);

/// Answer token ids, one line per prompt of `batch`: `min_ids` to `max_ids` ids on every line, as
/// many as on the first, each in 0..d_vocab-1 (e.g. "correct wrong"). Throws InputError naming the
/// file, the prompt and what was expected.
std::vector<Prompt> read_answer_file(const std::string& path, int64_t batch, size_t min_ids, size_t max_ids,
                                     int64_t d_vocab);

struct PromptBatch {
  torch::Tensor tokens;          // [batch, max_len] int64, right-padded with 0
  torch::Tensor attention_mask;  // [batch, max_len] int64, 1 = token; undefined if no padding
  std::vector<int64_t> lengths;  // per prompt
};

PromptBatch make_batch(const std::vector<Prompt>& prompts);

/// Prompts from a text file (one prompt of ids per line) or from /tokens (with annotations) of a
/// record (.h5/.hdf5).
PromptSet load_prompt_set(const std::string& path);

/// The prompt options, one meaning in every command: `--tokens IDS...` (inline ids, one prompt per
/// value: "1,2,3" or "1 2 3"), `--prompt TEXT...` (text, through the tokenizer of `--tokenizer DIR` or
/// of the checkpoint directory; `--prepend-bos`) and `--tokens-file F` (a text file or a record's .h5).
void add_token_options(po::options_description& options);
/// Whether any of them was given.
bool has_token_options(const po::variables_map& vm);
/// The tokenizer of --prompt: --tokenizer DIR, else the checkpoint directory's tokenizer files.
std::unique_ptr<Tokenizer> tokenizer_from_options(const po::variables_map& vm);
/// The ids of `text`, with the tokenizer's BOS first when `prepend_bos` (InputError when it has none).
Prompt encode_prompt(const Tokenizer& tokenizer, const std::string& text, bool prepend_bos);
/// The prompts of both options (inline ones first). Throws UsageError pointing a file given to
/// --tokens at --tokens-file.
PromptSet prompts_from_options(const po::variables_map& vm);

/// The prompts as [N, T] without padding; throws InputError naming `source` and the lengths when
/// they differ (`analysis`, e.g. "patching", says what needs them equal).
torch::Tensor equal_length_tokens(const PromptSet& set, const std::string& source, const std::string& analysis);
/// The prompts as a padded batch with its attention mask.
PromptBatch batch_of(const PromptSet& prompts);

}  // namespace mechlens::cli
