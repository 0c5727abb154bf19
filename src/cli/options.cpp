#include "cli/options.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <limits>

#include "cli/command.h"
#include "util/edit_distance.h"

namespace mechlens::cli {
namespace {

// The hidden option that collects bare arguments no command expects.
constexpr const char* kStrayArguments = "unexpected-argument";

constexpr const char* kOutputOptions[] = {"out", "json", "report", "save-cache", "graph-json", "dot", "csv"};

// Every command's output files are checked before any work: a directory, or a path whose folder
// does not exist, would otherwise fail only at the final rename, after minutes of work; an existing
// file is replaced only with --force (or continued with --resume).
void check_output_paths(const po::variables_map& vm) {
  const bool force = vm.count("force") && vm["force"].as<bool>();
  const bool resume = vm.count("resume") && vm["resume"].as<bool>();
  for (const char* option : kOutputOptions) {
    if (!vm.count(option) || vm[option].value().type() != typeid(std::string)) continue;
    const std::string path = vm[option].as<std::string>();
    if (path == "-") continue;  // stdout
    std::error_code error;
    const std::filesystem::path target(path);
    if (path.empty() || std::filesystem::is_directory(target, error)) {
      throw UsageError{fmt::format("--{} '{}' is a directory; expected a file path", option, path)};
    }
    const std::filesystem::path folder = target.parent_path();
    if (!folder.empty() && !std::filesystem::is_directory(folder, error)) {
      throw UsageError{fmt::format("--{} '{}': folder '{}' does not exist", option, path, folder.string())};
    }
    if (std::filesystem::exists(target, error) && !force && !(resume && std::string(option) == "out")) {
      throw UsageError{fmt::format("--{} '{}' exists; add --force to replace it", option, path)};
    }
  }
}

// The command's option closest to an unknown one: a prefix of it (--n for --n-examples) or within a
// few edits; empty when nothing is close.
std::string closest_option(const std::string& unknown, const po::options_description& options) {
  std::string name = unknown;
  while (!name.empty() && name[0] == '-') name.erase(0, 1);
  std::string best;
  size_t best_distance = 3;
  for (const auto& option : options.options()) {
    const std::string& candidate = option->long_name();
    if (candidate.empty()) continue;
    const bool prefix = name.rfind(candidate + "-", 0) == 0 || candidate.rfind(name, 0) == 0;
    const size_t distance = prefix ? 1 : edit_distance(name, candidate);
    if (distance < best_distance) best_distance = distance, best = candidate;
  }
  return best;
}

// Why a bare argument is unexpected: most often the second word of a list given to an option that
// takes one value (`--tokens 1 2 3`).
std::string stray_argument_hint(const std::vector<std::string>& args, const std::string& stray) {
  const auto at = std::find(args.begin(), args.end(), stray);
  if (at - args.begin() >= 2 && at[-2].rfind("--", 0) == 0 && at[-2].find('=') == std::string::npos &&
      at[-1].rfind("-", 0) != 0) {
    return fmt::format(
        " after {} {}: an option takes one value; give a list as one argument ('{} {} ...' or {},{},...)", at[-2],
        at[-1], at[-1], stray, at[-1], stray);
  }
  return " (options are written --name VALUE)";
}

}  // namespace

bool parse_options(const std::string& command, const std::string& usage, const std::string& description,
                   po::options_description& options, const po::positional_options_description& positional,
                   const std::vector<std::string>& args, po::variables_map& vm) {
  // clang-format off
  options.add_options()("help,h", "print this help");
  // clang-format on
  bool writes = false;
  for (const char* option : kOutputOptions) writes = writes || options.find_nothrow(option, false) != nullptr;
  if (writes) {
    // clang-format off
    options.add_options()("force", po::bool_switch(), "replace output files that exist");
    // clang-format on
  }
  // Commands that read a checkpoint also take it as their first argument (`mechlens heads CK ...`),
  // as `info` does; any other bare argument is collected so that the error can name it.
  po::positional_options_description accepted = positional;
  if (positional.max_total_count() == 0 && options.find_nothrow("checkpoint", false) != nullptr) {
    accepted.add("checkpoint", 1);
  }
  po::options_description hidden;
  if (accepted.max_total_count() != std::numeric_limits<unsigned>::max()) {
    // clang-format off
    hidden.add_options()(kStrayArguments, po::value<std::vector<std::string>>());
    // clang-format on
    accepted.add(kStrayArguments, -1);
  }
  po::options_description parsed;
  parsed.add(options).add(hidden);
  try {
    po::store(po::command_line_parser(args).options(parsed).positional(accepted).run(), vm);
  } catch (const po::unknown_option& e) {
    const std::string suggestion = closest_option(e.get_option_name(), options);
    throw UsageError{fmt::format("unrecognised option '{}'{}", e.get_option_name(),
                                 suggestion.empty() ? "" : fmt::format("; did you mean --{}?", suggestion))};
  }
  if (vm.count(kStrayArguments)) {
    const std::string stray = vm[kStrayArguments].as<std::vector<std::string>>().front();
    throw UsageError{fmt::format("unexpected argument '{}'{}", stray, stray_argument_hint(args, stray))};
  }
  if (vm.count("help")) {
    fmt::print("usage: mechlens {} {}\n\n{}\n\n", command, usage, description);
    std::cout << options << std::endl;
    return false;
  }
  try {
    po::notify(vm);  // throws for missing required options
  } catch (const po::required_option& e) {
    // A missing positional argument is named as the usage line names it, not as an option.
    std::string name = e.get_option_name();
    while (!name.empty() && name[0] == '-') name.erase(0, 1);
    if (accepted.max_total_count() > 0 && accepted.name_for_position(0) == name) {
      throw UsageError{fmt::format("missing the {} to read: mechlens {} {}", name, command, usage)};
    }
    throw;
  }
  check_output_paths(vm);
  return true;
}

}  // namespace mechlens::cli
