#include "cli/model_loading.h"

#include <fmt/format.h>

#include <cstdlib>

#include "cli/command.h"
#include "io/checkpoint.h"
#include "parallel/communicator.h"
#include "runtime/device.h"
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
      ("model-dtype", po::value<std::string>()->default_value("f32"), "the weights' and the computation's dtype: f32; bf16 (half the memory: 7B-class models; weights stored in bf16 are used from the memory-mapped file); f16 (GPU only: LibTorch's CPU kernels lack it)");
  po::options_description placement("where the model runs");
  placement.add_options()
      ("device", po::value<std::string>()->default_value("cpu"), "cpu, cuda (this process's GPU: under mpirun or srun, the node's GPUs round robin by local rank) or cuda:N; needs a build with CUDA (README, \"Build flavours\"). Inputs move to it, results come back once per batch");
  // clang-format on
  options.add(processing);
  options.add(placement);
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

HookedTransformer load_model(const std::string& checkpoint, const po::variables_map& vm, DeviceUse use) {
  // The device first: a GPU that is not there is reported before a large checkpoint is read.
  const std::string device_text = vm.count("device") ? vm["device"].as<std::string>() : "cpu";
  // scripts/check_gpu.sh sets MECHLENS_GPU_UNCHECKED=1 to compare these commands' GPU results with
  // their CPU results, the check they need before they take --device cuda.
  const char* unchecked = std::getenv("MECHLENS_GPU_UNCHECKED");
  const bool checking = unchecked != nullptr && std::string(unchecked) == "1";
  if (use == DeviceUse::kCpuOnly && device_text != "cpu" && !checking)
    throw UsageError{
        fmt::format("--device {}: this command's analyses run on the CPU for now; run, record, patch, "
                    "eval, train and sweep run on GPUs",
                    device_text)};
  const torch::Device device = resolve_device(device_text, "--device", launch_info_from_environment().local_rank);
  LoadOptions options;
  const std::string dtype = vm.count("model-dtype") ? vm["model-dtype"].as<std::string>() : "f32";
  if (dtype == "bf16") options.dtype = torch::kBFloat16;
  else if (dtype == "f16") options.dtype = torch::kHalf;
  else if (dtype != "f32") throw UsageError{"--model-dtype must be f32, bf16 or f16, got '" + dtype + "'"};
  if (options.dtype == torch::kHalf && !device.is_cuda())
    throw UsageError{
        "--model-dtype f16 runs on a GPU only (LibTorch's CPU kernels lack half precision); "
        "use bf16 on the CPU, or add --device cuda"};
  HookedTransformer model = load_checkpoint(checkpoint, options);
  // Weight processing runs where the weights are read (the CPU), then the model moves once.
  process_weights(model, weight_processing_from_options(vm));
  if (device != model->device()) model->to(device);
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
