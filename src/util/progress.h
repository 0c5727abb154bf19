// A progress bar with rate and ETA on stderr, for training, sweeps and recording.
// Redraws at most every 100 ms; prints nothing when disabled (e.g. --quiet).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace mechlens {

class ProgressOverall;

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
  friend class ProgressOverall;
  void draw(const std::string& suffix);
  void draw_line(const std::string& counts, double fraction, double eta, const std::string& suffix);

  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  bool enabled_;
  bool finished_ = false;
  ProgressOverall* overall_ = nullptr;  // the bar this one reports to instead of drawing, if any
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

/// One bar over work done in units (e.g. prompt groups) that each run several stages with bars of
/// their own: while it lives, the enabled ProgressBars of this thread draw nothing and report their
/// progress to it, so one line shows the whole run, its ETA, and the current stage. A unit's stages
/// are taken to weigh the same; `stages_per_unit` is how many bars a unit usually draws (a unit
/// with fewer still ends at next_unit()).
class ProgressOverall {
 public:
  ProgressOverall(std::string label, int64_t units, int64_t stages_per_unit, bool enabled = true);
  ~ProgressOverall();
  ProgressOverall(const ProgressOverall&) = delete;
  ProgressOverall& operator=(const ProgressOverall&) = delete;

  /// Names the current unit on the line (e.g. "group 3 of 8").
  void begin_unit(const std::string& name);
  /// The current unit is done.
  void end_unit();
  void finish();
  /// Units done, counting the current unit's stages: in [0, units].
  double done() const;

 private:
  friend class ProgressBar;
  void stage_started(const std::string& label);
  void stage_advanced(double fraction);  // of the current stage, in [0, 1]
  void stage_finished();
  void draw(bool force);

  ProgressBar line_;  // draws the overall line (its own counts unused)
  ProgressOverall* outer_;
  int64_t units_, stages_per_unit_;
  int64_t unit_ = 0, stages_done_ = 0;
  double stage_fraction_ = 0;
  std::string unit_name_, stage_label_;
};

}  // namespace mechlens
