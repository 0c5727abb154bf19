// `mechlens run`: top-k next-token predictions for prompts of token ids, and optionally what the
// selected hooks hold (summary statistics, or every activation saved to a safetensors file).
#include <fmt/ranges.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>

#include "cli/ablation_options.h"
#include "cli/command.h"
#include "cli/model_loading.h"
#include "cli/options.h"
#include "cli/prompts.h"
#include "cli/run_report.h"
#include "cli/task_input.h"
#include "hooks/hook_names.h"
#include "io/checkpoint.h"
#include "store/result_file.h"
#include "util/shape_format.h"

namespace mechlens::cli {
namespace {

bool is_hdf5_output(const std::string& path) {
  const std::string extension = std::filesystem::path(path).extension().string();
  return extension == ".h5" || extension == ".hdf5";
}

// Statistics over real tokens only: padded positions (mask 0) are left out, and so is the -inf
// that marks masked attention scores.
void print_cache_summary(const ActivationCache& cache, const torch::Tensor& attention_mask) {
  fmt::print("\n{:<36} {:<22} {:>11} {:>11} {:>11} {:>11}\n", "hook", "shape", "mean", "std", "min", "max");
  for (const auto& name : cache.names()) {
    torch::Tensor values = cache.at(name).to(torch::kFloat64);
    torch::Tensor keep = torch::isfinite(values);
    const auto& dims = cache.dims(name);
    const int64_t pos_dim = position_dim(dims);
    if (attention_mask.defined() && !dims.empty() && dims[0] == "batch" && pos_dim >= 0) {
      std::vector<int64_t> view(dims.size(), 1);
      view[0] = attention_mask.size(0);
      view[pos_dim] = attention_mask.size(1);
      keep = keep.logical_and(attention_mask.ne(0).view(view));
    }
    torch::Tensor kept = values.masked_select(keep);
    const bool any = kept.numel() > 0;
    fmt::print("{:<36} {:<22} {:>11.4g} {:>11.4g} {:>11.4g} {:>11.4g}\n", name, format_shape(values.sizes()),
               any ? kept.mean().item<double>() : 0.0, kept.numel() > 1 ? kept.std().item<double>() : 0.0,
               any ? kept.min().item<double>() : 0.0, any ? kept.max().item<double>() : 0.0);
  }
}

}  // namespace

int run_run(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("checkpoint", po::value<std::string>()->required(), "checkpoint file (.safetensors); also the first argument")
      ("top-k", po::value<int64_t>()->default_value(5), "predictions to show per prompt")
      ("cache", po::value<std::vector<std::string>>()->multitoken()->composing(),
       "hooks to cache: names, globs (blocks.*.attn.hook_pattern) or shorthand (pattern); '*' = all")
      ("save-cache", po::value<std::string>(), "write cached activations, tokens and logits to this .h5 (HDF5, h5py-readable) or .safetensors")
      ("format", po::value<std::string>()->default_value("text"), "output format: text or json (with --cache: {predictions, cache: [{name, dims, shape}]})");
  // clang-format on
  add_token_options(options);
  add_ablation_options(options);
  add_weight_processing_options(options);
  po::variables_map vm;
  if (!parse_options("run", "--checkpoint CK (--tokens IDS... | --tokens-file F) [--top-k K] [--cache PATTERN...]",
                     "Run a checkpoint on prompts of token ids and print the top-k next-token predictions "
                     "at each prompt's last token (an encoder without a head, such as a sentence-transformers "
                     "BERT: its mean-pooled sentence embeddings and their cosine similarities). Prompts of "
                     "different lengths are right-padded and masked.",
                     options, {}, args, vm)) {
    return 0;
  }
  const PromptSet prompt_set = prompts_from_options(vm);
  const int64_t top_k = vm["top-k"].as<int64_t>();
  const std::string format = vm["format"].as<std::string>();
  if (format != "text" && format != "json") throw UsageError{"--format must be text or json, got '" + format + "'"};
  std::vector<std::string> cache_patterns;
  if (vm.count("cache")) cache_patterns = vm["cache"].as<std::vector<std::string>>();
  if (vm.count("save-cache") && cache_patterns.empty()) cache_patterns = {"*"};

  HookedTransformer model = load_model(vm["checkpoint"].as<std::string>(), vm);
  torch::NoGradGuard no_grad;
  const bool has_unembed = model->config().has_unembed;
  if (has_unembed && (top_k < 1 || top_k > model->config().d_vocab)) {
    throw UsageError{fmt::format("--top-k must be in 1..d_vocab={}", model->config().d_vocab)};
  }
  model->check_tokens(prompt_set.tokens);
  const PromptBatch batch = batch_of(prompt_set);
  ForwardOptions forward_options;
  forward_options.attention_mask = batch.attention_mask;
  std::string ablation;
  const HookScope ablated =
      apply_ablation(vm, model, batch.tokens, torch::tensor(batch.lengths, torch::kLong), ablation);
  if (!ablation.empty() && format == "text") fmt::print("{}\n", ablation);

  torch::Tensor logits;  // [batch, pos, d_vocab]; an encoder without a head: hidden states [batch, pos, d_model]
  ActivationCache cache;
  // One batch: the report and the files read logits and activations on the host.
  CacheOptions on_host;
  on_host.device = torch::Device(torch::kCPU);
  if (cache_patterns.empty()) {
    logits = model->forward(batch.tokens, forward_options).to(torch::kCPU);
  } else {
    std::tie(logits, cache) =
        model->run_with_cache(batch.tokens, model->names_filter(cache_patterns), forward_options, on_host);
    logits = logits.to(torch::kCPU);
  }
  // Token strings when the checkpoint's task is known: predictions read as words, not only ids.
  const std::vector<std::string> vocab = known_vocab(vm["checkpoint"].as<std::string>(), "");
  const nlohmann::ordered_json json_out = has_unembed ? report_predictions(logits, batch, vocab, top_k, format)
                                                      : report_encoder_output(logits, batch, format);
  if (format == "json" && cache.empty()) fmt::print("{}\n", json_out.dump(2));
  if (format == "json" && !cache.empty()) {
    // With --cache, the JSON also names what each hook held (values: --save-cache).
    nlohmann::ordered_json hooks = nlohmann::ordered_json::array();
    for (const auto& name : cache.names()) {
      hooks.push_back({{"name", name}, {"dims", cache.dims(name)}, {"shape", cache.at(name).sizes().vec()}});
    }
    fmt::print("{}\n", nlohmann::ordered_json{{"predictions", json_out}, {"cache", hooks}}.dump(2));
  }
  if (!cache.empty() && format == "text") print_cache_summary(cache, batch.attention_mask);
  if (vm.count("save-cache") && is_hdf5_output(vm["save-cache"].as<std::string>())) {
    // HDF5 (h5py-readable with Debian's packages alone): labelled datasets and provenance.
    Provenance provenance;
    provenance.checkpoint = vm["checkpoint"].as<std::string>();
    provenance.checkpoint_sha256 = checkpoint_sha256(provenance.checkpoint);
    provenance.command_line = fmt::format("mechlens run {}", fmt::join(args, " "));
    provenance.model_config_json = model->config().to_json().dump();
    provenance.vocab = vocab;
    write_result_file(vm["save-cache"].as<std::string>(), "mechlens-cache", 1, [&](H5::H5File& file) {
      write_provenance(file, provenance);
      const H5::Group root = file.openGroup("/");
      write_tensor(root, "tokens", batch.tokens, {"batch", "pos"});
      write_tensor(root, "lengths", torch::tensor(batch.lengths, torch::kLong), {"batch"});
      if (has_unembed) write_tensor(root, "logits", logits, {"batch", "pos", "d_vocab"});
      else write_tensor(root, "hidden_states", logits, {"batch", "pos", "d_model"});
      const H5::Group acts = file.createGroup("acts");
      for (const auto& name : cache.names()) write_tensor(acts, name, cache.at(name), cache.dims(name));
    });
    if (format == "text")
      fmt::print("\nsaved {} activations to {}\n", cache.size(), vm["save-cache"].as<std::string>());
  } else if (vm.count("save-cache")) {
    NamedTensors tensors{{"tokens", batch.tokens}, {has_unembed ? "logits" : "hidden_states", logits}};
    std::map<std::string, std::string> metadata{{"format", "mechlens-cache"}};
    for (const auto& name : cache.names()) {
      tensors.emplace_back(name, cache.at(name));
      metadata["dims." + name] = fmt::format("{}", fmt::join(cache.dims(name), ","));
    }
    if (batch.attention_mask.defined()) tensors.emplace_back("attention_mask", batch.attention_mask);
    write_safetensors(vm["save-cache"].as<std::string>(), tensors, metadata);
    if (format == "text")
      fmt::print("\nsaved {} activations to {}\n", cache.size(), vm["save-cache"].as<std::string>());
  }
  return 0;
}

}  // namespace mechlens::cli
