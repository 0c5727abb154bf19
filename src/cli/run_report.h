// What `mechlens run` prints about a model's output: the top-k next-token predictions at each
// prompt's last token (models with an unembedding), or, for an encoder without a head, the
// mean-pooled sentence embeddings' norms and cosine similarities (sentence-transformers' pooling).
#pragma once

#include <torch/types.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "cli/prompts.h"

namespace mechlens::cli {

/// logits [batch, pos, d_vocab]; `vocab` labels ids when known. Prints in text format; returns the
/// JSON array [{prompt, top_k: [{token, logit, prob, text?}]}].
nlohmann::ordered_json report_predictions(const torch::Tensor& logits, const PromptBatch& batch,
                                          const std::vector<std::string>& vocab, int64_t top_k,
                                          const std::string& format);

/// hidden [batch, pos, d_model]: mean over each prompt's real tokens. Prints in text format; returns
/// [{prompt, embedding_norm, cosine: [similarity with every prompt]}].
nlohmann::ordered_json report_encoder_output(const torch::Tensor& hidden, const PromptBatch& batch,
                                             const std::string& format);

}  // namespace mechlens::cli
