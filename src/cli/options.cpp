#include "cli/options.h"

#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli/command.h"

namespace mechlens::cli {
namespace {

// Every command's output files are checked before any work: a directory, or a path whose folder
// does not exist, would otherwise fail only at the final rename, after minutes of work.
void check_output_paths(const po::variables_map& vm) {
  for (const char* option : {"out", "json", "save-cache"}) {
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
  }
}

}  // namespace

bool parse_options(const std::string& command, const std::string& usage, const std::string& description,
                   po::options_description& options, const po::positional_options_description& positional,
                   const std::vector<std::string>& args, po::variables_map& vm) {
  // clang-format off
  options.add_options()("help,h", "print this help");
  // clang-format on
  po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
  if (vm.count("help")) {
    fmt::print("usage: mechlens {} {}\n\n{}\n\n", command, usage, description);
    std::cout << options << std::endl;
    return false;
  }
  po::notify(vm);  // throws for missing required options
  check_output_paths(vm);
  return true;
}

}  // namespace mechlens::cli
