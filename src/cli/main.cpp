// mechlens: one binary, `mechlens <command> [options]`. Only this file catches errors:
// mechlens::Error -> message and exit 1; bad usage -> message and exit 2.
#include <H5Cpp.h>
#include <fmt/format.h>
#include <boost/program_options/errors.hpp>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.h"
#include "parallel/communicator.h"
#include "runtime/device.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/process_setup.h"
#include "util/progress.h"

namespace {

using mechlens::cli::Command;

constexpr Command kCommands[] = {
    {"info", "describe a checkpoint: config, parameter count, every hook with its shape", mechlens::cli::run_info},
    {"run", "run a checkpoint on token ids: top-k next tokens, optional activation cache", mechlens::cli::run_run},
    {"init", "build a randomly initialised model from a config JSON and save it", mechlens::cli::run_init},
    {"record", "stream chosen hooks over many prompts into an HDF5 record", mechlens::cli::run_record, true},
    {"patch", "activation patching sweeps, ablations, attribution patching, circuit checks", mechlens::cli::run_patch,
     true},
    {"trace", "circuit tracing: span attention statistics, attention knock-out, information-flow graphs",
     mechlens::cli::run_trace, true},
    {"heads", "name every head with its evidence: pattern detectors, logit attribution, ablation, logit lens",
     mechlens::cli::run_heads, true},
    {"probe", "linear probes for a task variable per layer or head, with control task and baselines",
     mechlens::cli::run_probe},
    {"steer", "add alpha x a direction (difference of group means) at a layer and position; effect on the answer",
     mechlens::cli::run_steer},
    {"tokenize", "text to GPT-2 BPE token ids and back (the ids --prompt gives every command)",
     mechlens::cli::run_tokenize},
    {"match", "matching-mechanism scores per hop layer and head: from the weights, and from the attention",
     mechlens::cli::run_match},
    {"export", "a record or result as NumPy (+ JSON sidecars), CSV, CircuitsVis or bertviz files",
     mechlens::cli::run_export},
    {"view", "a self-contained HTML page: attention maps of a record, patching heatmaps, a trace",
     mechlens::cli::run_view},
    {"plot", "an SVG figure: one head's attention map, every head of a prompt, a patching heatmap",
     mechlens::cli::run_plot},
    {"data", "generate a synthetic task's examples, annotations and counterfactual pairs", mechlens::cli::run_data},
    {"train", "train a model on a task (AdamW, warm-up + cosine, evaluation, checkpoints, resume)",
     mechlens::cli::run_train},
    {"sweep", "train a grid of matching models (init rate x LayerNorm, orthogonal noise, depth) and tabulate them",
     mechlens::cli::run_sweep, true},
    {"eval", "accuracy of a checkpoint on held-out task examples, per group", mechlens::cli::run_eval},
};

void print_usage() {
  fmt::print(
      "usage: mechlens <command> [options]\n\n"
      "Mechanistic interpretability of transformers: hookable runtime, caches, checkpoints.\n\n"
      "commands:\n");
  for (const auto& command : kCommands) fmt::print("  {:<8} {}\n", command.name, command.summary);
  fmt::print(
      "\n`mechlens <command> --help` (or `mechlens help <command>`) describes a command's options;\n"
      "--verbose adds the source location to error messages; --threads N sets the intra-op threads\n"
      "(default: every core this process may use, shared among the MPI ranks on one machine; also\n"
      "MECHLENS_NUM_THREADS or OMP_NUM_THREADS): give each of several mechlens processes on one\n"
      "machine its share. `mechlens --version` prints the version.\n");
}

// The source location of an error, shown with --verbose (or MECHLENS_VERBOSE=1) only: it helps a
// developer, not a user.
std::string location_suffix(const mechlens::Error& e, bool verbose) {
  return verbose && !e.location().empty() ? fmt::format(" [{}]", e.location()) : "";
}

// The commands that divide their work between MPI ranks, for the message of the others.
std::string shared_commands() {
  std::string names;
  for (const auto& command : kCommands) {
    if (command.shared_by_ranks) names += names.empty() ? command.name : std::string(", ") + command.name;
  }
  return names;
}

// Joins the run's ranks (one process unless an MPI launcher started several): rank 0 speaks for
// the run; the others keep stderr for their errors only.
void join_ranks(const Command& command, mechlens::Communicator& comm) {
  if (comm.size() > 1 && !command.shared_by_ranks) {
    throw mechlens::cli::UsageError{
        fmt::format("runs as one process; of the commands, {} share their work between "
                    "the ranks of mpirun",
                    shared_commands())};
  }
  if (comm.rank() > 0) {
    if (!std::freopen("/dev/null", "w", stdout)) std::fclose(stdout);
    mechlens::ProgressBar::hide_in_this_process();
  }
}

// Runs the command; every error becomes a message on stderr and an exit code (1 error, 2 usage).
// `comm` is set once the run's ranks are known.
int run_command(const Command& command, const std::vector<std::string>& args, bool verbose, int threads,
                mechlens::Communicator*& comm) {
  const std::string name = command.name;
  try {
    comm = &mechlens::world();
    join_ranks(command, *comm);
    mechlens::configure_process(comm->local_size(), threads);
    return command.run(args);
  } catch (const mechlens::cli::UsageError& e) {
    fmt::print(stderr, "mechlens {}: {}\n(see `mechlens {} --help`)\n", name, e.message, name);
    return 2;
  } catch (const boost::program_options::error& e) {
    fmt::print(stderr, "mechlens {}: {}\n(see `mechlens {} --help`)\n", name, e.what(), name);
    return 2;
  } catch (const mechlens::Error& e) {
    fmt::print(stderr, "mechlens {}: error: {}{}\n", name, e.what(), location_suffix(e, verbose));
    return 1;
  } catch (const H5::Exception& e) {
    // Library code turns HDF5 failures into StoreError naming the file; this is the last net.
    fmt::print(stderr, "mechlens {}: error: HDF5: {}: {}\n", name, e.getFuncName(), e.getDetailMsg());
    return 1;
  } catch (const c10::Error& e) {
    fmt::print(stderr, "mechlens {}: internal tensor error: {}\n", name, e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "mechlens {}: error: {}\n", name, e.what());
    return 1;
  }
}

// Takes `--threads N` (or `--threads=N`) out of the words wherever it stands, as --verbose: the
// intra-op threads of this process (of each rank under mpirun). Returns 0 when absent, -1 after
// printing why a value is refused.
int take_threads_flag(std::vector<std::string>& words) {
  int threads = 0;
  for (auto it = words.begin(); it != words.end();) {
    std::string value;
    if (*it == "--threads") {
      if (it + 1 == words.end()) {
        fmt::print(stderr, "mechlens: --threads needs a number of threads (1 or more)\n");
        return -1;
      }
      value = *(it + 1);
      it = words.erase(it, it + 2);
    } else if (it->rfind("--threads=", 0) == 0) {
      value = it->substr(std::strlen("--threads="));
      it = words.erase(it);
    } else {
      ++it;
      continue;
    }
    const std::optional<int64_t> parsed = mechlens::parse_int(value);
    constexpr int64_t kMaxThreads = 4096;
    if (!parsed || *parsed < 1 || *parsed > kMaxThreads) {
      fmt::print(stderr, "mechlens: --threads takes a whole number of threads from 1 to {}, got '{}'\n", kMaxThreads,
                 value);
      return -1;
    }
    threads = static_cast<int>(*parsed);
  }
  return threads;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  const char* verbose_env = std::getenv("MECHLENS_VERBOSE");
  bool verbose = verbose_env && std::strcmp(verbose_env, "0") != 0 && verbose_env[0] != '\0';
  for (auto it = words.begin(); it != words.end();) {
    if (*it == "--verbose") {
      verbose = true;
      it = words.erase(it);
    } else {
      ++it;
    }
  }
  const int threads = take_threads_flag(words);
  if (threads < 0) return 2;
  if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    if (words.size() >= 2 && words[0] == "help") words = {words[1], "--help"};
    else {
      print_usage();
      return words.empty() ? 2 : 0;
    }
  }
  if (words[0] == "--version" || words[0] == "version") {
    fmt::print("mechlens {}\n", MECHLENS_VERSION);
    fmt::print("LibTorch: {}\nCUDA backend: {}\n", mechlens::torch_flavour(), mechlens::cuda_backend());
    return 0;
  }
  const std::string name = words[0];
  const Command* command = nullptr;
  for (const auto& candidate : kCommands) {
    if (name == candidate.name) command = &candidate;
  }
  if (!command) {
    fmt::print(stderr, "mechlens: unknown command '{}'\n\n", name);
    print_usage();
    return 2;
  }
  const std::vector<std::string> args(words.begin() + 1, words.end());
  mechlens::Communicator* comm = nullptr;
  const int code = run_command(*command, args, verbose, threads, comm);
  if (code != 0 && comm != nullptr && comm->size() > 1) {
    // The other ranks may be waiting for this one: end them all.
    fmt::print(stderr, "mechlens {}: rank {} of {} failed; ending the run\n", name, comm->rank(), comm->size());
    std::fflush(nullptr);
    comm->abort(code);
  }
  if (code != 0) {
    // After an error, end without the libraries' exit-time teardown: HDF5 1.10 crashes there while
    // closing a file whose close already failed (a full disk), which would turn a clear error into
    // a segmentation fault. Every output is already flushed or abandoned by then.
    std::fflush(nullptr);
    std::_Exit(code);
  }
  return 0;
}
