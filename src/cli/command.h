// The subcommand interface of the `mechlens` binary: each command parses its own options.
#pragma once

#include <string>
#include <vector>

namespace mechlens::cli {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);  // args after the command name
  /// Whether the command divides its work between the ranks of an MPI run (mpirun -n K mechlens
  /// ...); the others refuse to run as several ranks.
  bool shared_by_ranks = false;
};

/// Thrown for bad command-line usage; main() prints it with the command's help and exits 2.
struct UsageError {
  std::string message;
};

int run_info(const std::vector<std::string>& args);
int run_run(const std::vector<std::string>& args);
int run_init(const std::vector<std::string>& args);
int run_record(const std::vector<std::string>& args);
int run_data(const std::vector<std::string>& args);
int run_train(const std::vector<std::string>& args);
int run_sweep(const std::vector<std::string>& args);
int run_eval(const std::vector<std::string>& args);
int run_patch(const std::vector<std::string>& args);
int run_export(const std::vector<std::string>& args);
int run_view(const std::vector<std::string>& args);
int run_plot(const std::vector<std::string>& args);
int run_trace(const std::vector<std::string>& args);
int run_match(const std::vector<std::string>& args);
int run_heads(const std::vector<std::string>& args);
int run_probe(const std::vector<std::string>& args);
int run_steer(const std::vector<std::string>& args);
int run_tokenize(const std::vector<std::string>& args);

}  // namespace mechlens::cli
