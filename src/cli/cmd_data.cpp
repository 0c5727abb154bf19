// `mechlens data`: generate a task's examples (with annotations and, on request, counterfactual
// pairs) into an HDF5 file that `mechlens record --tokens` reads, or a text file of prompts.
#include <fmt/ranges.h>

#include <filesystem>
#include <fstream>

#include "cli/command.h"
#include "cli/options.h"
#include "cli/task_input.h"
#include "store/record_writer.h"
#include "util/error.h"
#include "util/output_file.h"

namespace mechlens::cli {

int run_data(const std::vector<std::string>& args) {
  po::options_description options("options");
  add_task_options(options);
  // clang-format off
  options.add_options()
      ("out", po::value<std::string>(), "file to write: .h5 (tokens, lengths, annotations) or .txt (prompt ids)")
      ("pairs", po::bool_switch(), "also generate counterfactual pairs (query flip / changed start node)")
      ("show", po::value<int64_t>()->default_value(3), "examples to print in readable form");
  // clang-format on
  po::variables_map vm;
  if (!parse_options("data", "--task NAME [--task-option key=value ...] --n N --seed S [--out FILE] [--pairs]",
                     "Generate a synthetic task's examples deterministically from a seed and print a few of them.",
                     options, {}, args, vm)) {
    return 0;
  }
  if (!vm.count("task")) throw UsageError{"--task is required (matching or logic)"};
  const bool pairs = vm["pairs"].as<bool>();
  TaskPrompts generated = generate_task_prompts(vm, pairs);
  const Task& task = *generated.task;

  fmt::print("task {} {}\n", task.name(), task.settings_json());
  const int64_t show = std::min<int64_t>(vm["show"].as<int64_t>(), static_cast<int64_t>(generated.examples.size()));
  for (int64_t i = 0; i < show; ++i) {
    const Example& e = generated.examples[i];
    fmt::print("[{}] {} ({})\n    ids: {} | answer: {}\n", i, task.render(e), e.group, fmt::join(e.prompt, " "),
               fmt::join(e.answer, " "));
    if (pairs) fmt::print("    counterfactual: {}\n", task.render(generated.counterfactuals[i]));
  }
  if (!vm.count("out")) return 0;
  const std::string out = vm["out"].as<std::string>();
  const std::string ext = std::filesystem::path(out).extension().string();
  if (ext == ".txt") {
    std::string text;
    for (const auto& e : generated.examples) text += fmt::format("{}\n", fmt::join(e.prompt, " "));
    write_file_atomically(out, text);
  } else if (ext == ".h5" || ext == ".hdf5") {
    RecordSettings settings;  // a record without activations: tokens, lengths, annotations
    RecordProvenance provenance;
    provenance.input_sha256 = prompt_set_sha256(generated.prompts);
    provenance.task_json = task.settings_json();
    provenance.command_line = fmt::format("mechlens data {}", fmt::join(args, " "));
    RecordWriter writer = RecordWriter::create(out, settings, provenance, {}, generated.prompts.annotation_dims,
                                               generated.prompts.size());
    RecordBatch batch{generated.prompts.tokens, generated.prompts.lengths, {}, {}, generated.prompts.annotations};
    writer.append(batch);
    writer.finish();
  } else {
    throw UsageError{"--out must end in .h5, .hdf5 or .txt, got '" + out + "'"};
  }
  fmt::print("wrote {} examples to {}\n", generated.examples.size(), out);
  return 0;
}

}  // namespace mechlens::cli
