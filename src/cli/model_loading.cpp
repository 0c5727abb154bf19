#include "cli/model_loading.h"

#include "io/checkpoint.h"

namespace mechlens::cli {

void add_weight_processing_options(po::options_description& options) {
  po::options_description processing("weight processing (TransformerLens's; exact; docs/CONFIG.md#weight-processing)");
  // clang-format off
  processing.add_options()
      ("fold-ln", po::bool_switch(), "fold each norm's scale (and LayerNorm bias) into the weights that read it")
      ("center-writing-weights", po::bool_switch(), "remove the d_model mean of W_E, W_pos, W_O, b_O, W_out, b_out (pre-LayerNorm models)")
      ("center-unembed", po::bool_switch(), "remove the vocabulary mean of W_U and b_U (logits shift; log-probs do not)")
      ("fold-value-biases", po::bool_switch(), "move sum_h b_V[h] W_O[h] into b_O")
      ("process-weights", po::bool_switch(), "all four, as TransformerLens's from_pretrained");
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
  HookedTransformer model = load_checkpoint(checkpoint);
  process_weights(model, weight_processing_from_options(vm));
  model->eval();
  return model;
}

}  // namespace mechlens::cli
