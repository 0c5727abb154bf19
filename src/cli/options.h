// Boost.Program_options helpers shared by the subcommands: parse, --help, required options.
#pragma once

#include <boost/program_options.hpp>

#include <string>
#include <vector>

namespace mechlens::cli {

namespace po = boost::program_options;

/// Parses `args` against `options` (plus --help). Returns false when help was printed.
bool parse_options(const std::string& command, const std::string& usage, const std::string& description,
                   po::options_description& options, const po::positional_options_description& positional,
                   const std::vector<std::string>& args, po::variables_map& vm);

}  // namespace mechlens::cli
