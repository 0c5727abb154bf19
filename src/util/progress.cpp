#include "util/progress.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

namespace mechlens {
namespace {

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{:02}:{:02}", s / 60, s % 60);
}

bool hidden_in_process = false;
thread_local ProgressOverall* active_overall = nullptr;

}  // namespace

void ProgressBar::hide_in_this_process() { hidden_in_process = true; }

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total, 1)),
      enabled_(enabled && !hidden_in_process),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {
  if (enabled_ && active_overall != nullptr) {
    overall_ = active_overall;
    enabled_ = false;  // the overall bar draws this one's progress
    overall_->stage_started(label_);
  }
}

ProgressBar::~ProgressBar() {
  if (overall_ != nullptr && !finished_) overall_->stage_finished();
  if (enabled_ && !finished_ && done_ > 0) std::fputc('\n', stderr);
}

void ProgressBar::advance(int64_t steps, const std::string& suffix) {
  done_ = std::min(done_ + steps, total_);
  if (overall_ != nullptr) overall_->stage_advanced(static_cast<double>(done_) / static_cast<double>(total_));
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ >= std::chrono::milliseconds(100) || done_ == total_) {
    last_draw_ = now;
    draw(suffix);
  }
}

void ProgressBar::finish() {
  if (finished_) return;
  if (overall_ != nullptr) overall_->stage_finished();
  if (done_ != total_) draw("");  // advance() already drew the final state otherwise
  if (enabled_) std::fputc('\n', stderr);
  finished_ = true;
}

void ProgressBar::draw(const std::string& suffix) {
  if (!enabled_) return;
  const double fraction = static_cast<double>(done_) / static_cast<double>(total_);
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0.0;
  draw_line(fmt::format("{}/{} {:.1f}/s", done_, total_, rate), fraction, eta, suffix);
}

void ProgressBar::draw_line(const std::string& counts, double fraction, double eta, const std::string& suffix) {
  constexpr int kWidth = 30;
  const int filled = std::clamp(static_cast<int>(fraction * kWidth), 0, kWidth);
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  fmt::print(stderr, "\r{} [{}{}] {} elapsed {} eta {} {}", label_, std::string(filled, '#'),
             std::string(kWidth - filled, '.'), counts, format_duration(elapsed), format_duration(eta), suffix);
  std::fflush(stderr);
}

ProgressOverall::ProgressOverall(std::string label, int64_t units, int64_t stages_per_unit, bool enabled)
    : line_(std::move(label), units, enabled),
      outer_(active_overall),
      units_(std::max<int64_t>(units, 1)),
      stages_per_unit_(std::max<int64_t>(stages_per_unit, 1)) {
  // An overall inside another is one stage of it (line_ reports there), and its stages' bars report there too.
  if (line_.enabled_) active_overall = this;
}

ProgressOverall::~ProgressOverall() {
  // Unfinished (an error ended the work): end the line as it stands, without drawing it complete.
  if (!line_.finished_ && line_.enabled_) std::fputc('\n', stderr);
  line_.finished_ = true;
  if (active_overall == this) active_overall = outer_;
}

double ProgressOverall::done() const {
  const double within = (static_cast<double>(stages_done_) + stage_fraction_) / static_cast<double>(stages_per_unit_);
  return std::min(static_cast<double>(units_), static_cast<double>(unit_) + std::min(within, 1.0));
}

void ProgressOverall::begin_unit(const std::string& name) {
  unit_name_ = name;
  draw(true);
}

void ProgressOverall::end_unit() {
  unit_ = std::min(unit_ + 1, units_);
  stages_done_ = 0;
  stage_fraction_ = 0;
  stage_label_.clear();
  draw(true);
}

void ProgressOverall::finish() {
  if (line_.finished_) return;
  unit_ = units_;
  stages_done_ = 0;
  stage_fraction_ = 0;
  stage_label_.clear();
  unit_name_.clear();
  draw(true);
  if (line_.enabled_) std::fputc('\n', stderr);
  if (line_.overall_ != nullptr) line_.overall_->stage_finished();
  line_.finished_ = true;
  if (active_overall == this) active_overall = outer_;
}

void ProgressOverall::stage_started(const std::string& label) {
  stage_label_ = label;
  stage_fraction_ = 0;
  draw(true);  // stages are few: each is named as it starts
}

void ProgressOverall::stage_advanced(double fraction) {
  stage_fraction_ = std::clamp(fraction, 0.0, 1.0);
  draw(false);
}

void ProgressOverall::stage_finished() {
  ++stages_done_;
  stage_fraction_ = 0;
  draw(false);
}

void ProgressOverall::draw(bool force) {
  if (!line_.enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - line_.last_draw_ < std::chrono::milliseconds(100)) return;
  line_.last_draw_ = now;
  const double units_done = done();
  const double elapsed = std::chrono::duration<double>(now - line_.start_).count();
  const double eta = units_done > 0 ? elapsed / units_done * (static_cast<double>(units_) - units_done) : 0.0;
  std::string suffix = unit_name_;
  if (!stage_label_.empty()) suffix += (suffix.empty() ? "" : ": ") + stage_label_;
  // Padding clears the end of a longer previous line (\r does not).
  line_.draw_line(fmt::format("{:.1f}/{}", units_done, units_), units_done / static_cast<double>(units_), eta,
                  fmt::format("{:<48}", suffix));
}

}  // namespace mechlens
