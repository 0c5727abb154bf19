#include "cli/model_loading.h"

#include <fmt/format.h>

#include "cli/command.h"
#include "io/checkpoint.h"
#include "runtime/weight_processing.h"

namespace mechlens::cli {

void add_weight_processing_options(po::options_description& options) {
  po::options_description processing("weight processing (TransformerLens's; exact; docs/CONFIG.md#weight-processing)");
  // clang-format off
  processing.add_options()
      ("fold-ln", po::bool_switch(), "fold each norm's scale (and LayerNorm bias) into the weights that read it")
      ("center-writing-weights", po::bool_switch(), "remove the d_model mean of W_E, W_pos, W_O, b_O, W_out, b_out (pre-LayerNorm models)")
      ("center-unembed", po::bool_switch(), "remove the vocabulary mean of W_U and b_U (logits shift; log-probs do not)")
      ("fold-value-biases", po::bool_switch(), "move sum_h b_V[h] W_O[h] into b_O")
      ("process-weights", po::bool_switch(), "all four, as TransformerLens's from_pretrained")
      ("model-dtype", po::value<std::string>()->default_value("f32"), "the weights' and the computation's dtype: f32, or bf16 (half the memory: 7B-class models; weights stored in bf16 are used from the memory-mapped file)");
  // clang-format on
  options.add(processing);
}

WeightProcessing weight_processing_from_options(const po::variables_map& vm) {
  const auto on = [&](const char* name) {
    return (vm.count(name) && vm[name].as<bool>()) || (vm.count("process-weights") && vm["process-weights"].as<bool>());
  };
  WeightProcessing processing;
  processing.fold_ln = on("fold-ln");
  processing.center_writing_weights = on("center-writing-weights");
  processing.center_unembed = on("center-unembed");
  processing.fold_value_biases = on("fold-value-biases");
  return processing;
}

HookedTransformer load_model(const std::string& checkpoint, const po::variables_map& vm) {
  LoadOptions options;
  const std::string dtype = vm.count("model-dtype") ? vm["model-dtype"].as<std::string>() : "f32";
  if (dtype == "bf16") options.dtype = torch::kBFloat16;
  else if (dtype != "f32") throw UsageError{"--model-dtype must be f32 or bf16, got '" + dtype + "'"};
  HookedTransformer model = load_checkpoint(checkpoint, options);
  process_weights(model, weight_processing_from_options(vm));
  model->eval();
  return model;
}

void require_unembedding(const HookedTransformer& model, const std::string& command) {
  if (model->config().has_unembed) return;
  throw UsageError{fmt::format(
      "mechlens {} reads answers from logits, and this model has no unembedding (an encoder without a head); "
      "use run, record, probe, or patch --metric cosine",
      command)};
}

}  // namespace mechlens::cli
