// Progress bars: one overall bar over units of staged work takes its stages' progress and draws
// the only line; without one, each bar draws its own.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "util/progress.h"

namespace mechlens {
namespace {

TEST(ProgressOverallTest, StagesAdvanceTheirUnitInEqualShares) {
  ProgressOverall overall("groups", 2, 2, /*enabled=*/true);
  ::testing::internal::CaptureStderr();
  overall.begin_unit("group 1 of 2");
  EXPECT_DOUBLE_EQ(overall.done(), 0.0);
  {
    ProgressBar first("set-up", 4);
    first.advance(2);
    EXPECT_DOUBLE_EQ(overall.done(), 0.25);  // half of the first of two stages
    first.finish();
    EXPECT_DOUBLE_EQ(overall.done(), 0.5);
    ProgressBar second("patching", 10);
    second.advance(5);
    EXPECT_DOUBLE_EQ(overall.done(), 0.75);
  }  // a bar left unfinished ends its stage too
  EXPECT_DOUBLE_EQ(overall.done(), 1.0);
  ProgressBar extra("one stage more than planned", 1);
  extra.finish();
  EXPECT_DOUBLE_EQ(overall.done(), 1.0);  // stays within its unit
  overall.end_unit();
  overall.begin_unit("group 2 of 2");
  ProgressBar only("set-up", 2);
  only.finish();
  EXPECT_DOUBLE_EQ(overall.done(), 1.5);
  overall.end_unit();  // a unit with fewer stages still ends here
  EXPECT_DOUBLE_EQ(overall.done(), 2.0);
  overall.finish();
  const std::string drawn = ::testing::internal::GetCapturedStderr();
  // The stages' own lines are never drawn; the overall line names the unit and the current stage.
  EXPECT_EQ(drawn.find("\rset-up ["), std::string::npos) << drawn;
  EXPECT_EQ(drawn.find("\rpatching ["), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("\rgroups ["), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("group 1 of 2: set-up"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("2.0/2"), std::string::npos) << drawn;
  EXPECT_EQ(drawn.back(), '\n');
}

TEST(ProgressOverallTest, AnOverallEndedByAnErrorIsNotDrawnComplete) {
  ::testing::internal::CaptureStderr();
  try {
    ProgressOverall overall("groups", 4, 1);
    overall.begin_unit("group 1 of 4");
    ProgressBar stage("set-up", 2);
    stage.advance(1);
    throw std::runtime_error("bad input");
  } catch (const std::runtime_error&) {
  }
  const std::string drawn = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(drawn.find("4.0/4"), std::string::npos) << drawn;
  EXPECT_EQ(drawn.back(), '\n');
  ProgressBar after("after", 1);  // the overall is no longer active
  ::testing::internal::CaptureStderr();
  after.finish();
  EXPECT_NE(::testing::internal::GetCapturedStderr().find("\rafter ["), std::string::npos);
}

TEST(ProgressOverallTest, BarsDrawThemselvesWhenNoOverallIsActive) {
  {
    ProgressOverall disabled("quiet", 3, 1, /*enabled=*/false);  // --quiet: neither it nor its stages draw
    ::testing::internal::CaptureStderr();
    ProgressBar stage("stage", 1, /*enabled=*/false);
    stage.finish();
    EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  }
  ::testing::internal::CaptureStderr();
  {
    ProgressOverall finished("done", 1, 1);
    finished.finish();  // no longer active
    ProgressBar after("after", 2);
    after.advance(2);
    after.finish();
  }
  const std::string drawn = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(drawn.find("\rafter [##############################] 2/2"), std::string::npos) << drawn;
}

}  // namespace
}  // namespace mechlens
