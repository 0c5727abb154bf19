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

}  // namespace

void ProgressBar::hide_in_this_process() { hidden_in_process = true; }

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total, 1)),
      enabled_(enabled && !hidden_in_process),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  if (enabled_ && !finished_ && done_ > 0) std::fputc('\n', stderr);
}

void ProgressBar::advance(int64_t steps, const std::string& suffix) {
  done_ = std::min(done_ + steps, total_);
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ >= std::chrono::milliseconds(100) || done_ == total_) {
    last_draw_ = now;
    draw(suffix);
  }
}

void ProgressBar::finish() {
  if (finished_) return;
  if (done_ != total_) draw("");  // advance() already drew the final state otherwise
  if (enabled_) std::fputc('\n', stderr);
  finished_ = true;
}

void ProgressBar::draw(const std::string& suffix) {
  if (!enabled_) return;
  constexpr int kWidth = 30;
  const double fraction = static_cast<double>(done_) / static_cast<double>(total_);
  const int filled = static_cast<int>(fraction * kWidth);
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0.0;
  fmt::print(stderr, "\r{} [{}{}] {}/{} {:.1f}/s elapsed {} eta {} {}", label_, std::string(filled, '#'),
             std::string(kWidth - filled, '.'), done_, total_, rate, format_duration(elapsed), format_duration(eta),
             suffix);
  std::fflush(stderr);
}

}  // namespace mechlens
