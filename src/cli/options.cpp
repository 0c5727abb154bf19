#include "cli/options.h"

#include <fmt/format.h>

#include <iostream>

namespace mechlens::cli {

bool parse_options(const std::string& command, const std::string& usage, const std::string& description,
                   po::options_description& options, const po::positional_options_description& positional,
                   const std::vector<std::string>& args, po::variables_map& vm) {
  options.add_options()("help,h", "print this help");
  po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
  if (vm.count("help")) {
    fmt::print("usage: mechlens {} {}\n\n{}\n\n", command, usage, description);
    std::cout << options << std::endl;
    return false;
  }
  po::notify(vm);  // throws for missing required options
  return true;
}

}  // namespace mechlens::cli
