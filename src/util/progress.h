// A progress bar with rate and ETA on stderr, for training, sweeps and recording.
// Redraws at most every 100 ms; prints nothing when disabled (e.g. --quiet).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace mechlens {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, bool enabled = true);
  ~ProgressBar();

  /// Advances by `steps`; `suffix` (e.g. "loss 0.123") is shown after the ETA.
  void advance(int64_t steps = 1, const std::string& suffix = "");
  /// Draws the final state and ends the line.
  void finish();

  /// Turns every bar of this process off (the ranks of an MPI run other than rank 0, whose bar
  /// covers them all).
  static void hide_in_this_process();

 private:
  void draw(const std::string& suffix);

  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace mechlens
