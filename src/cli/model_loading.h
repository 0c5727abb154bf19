// Loading the model a command analyses: the checkpoint (any format io/checkpoint.h reads) with the
// TransformerLens weight processing the user asked for. The options land in the command's
// provenance with every other option, so result files say which processing was applied.
#pragma once

#include <string>

#include "cli/options.h"
#include "runtime/model.h"
#include "runtime/weight_processing.h"

namespace mechlens::cli {

/// --fold-ln, --center-writing-weights, --center-unembed, --fold-value-biases, and --process-weights
/// for all four (TransformerLens's from_pretrained defaults), all off by default; and --model-dtype
/// (f32, bf16, or f16 on a GPU), the weights' and the computation's; and --device (cpu, cuda, cuda:N).
void add_weight_processing_options(po::options_description& options);

WeightProcessing weight_processing_from_options(const po::variables_map& vm);

/// load_checkpoint(checkpoint) in the --model-dtype, then process_weights with the options' choices,
/// then moved to --device (resolve_device's checks run before the checkpoint is read); in eval mode.
/// Commands whose analyses keep their tensors on the model's device take any --device; the others
/// refuse a GPU by name rather than fail inside LibTorch.
enum class DeviceUse { kAny, kCpuOnly };
HookedTransformer load_model(const std::string& checkpoint, const po::variables_map& vm,
                             DeviceUse use = DeviceUse::kAny);

/// Throws UsageError in commands that read answers from logits when the model has no unembedding
/// (an encoder without a head): `run`, `record`, `patch --metric cosine` and `probe` serve those.
void require_unembedding(const HookedTransformer& model, const std::string& command);

}  // namespace mechlens::cli
