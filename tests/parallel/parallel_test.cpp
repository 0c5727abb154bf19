// The communicator layer: launch detection from each launcher's variables, dealing shards to
// ranks, the single-process communicator, and the refusal to run several ranks without MPI.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "parallel/communicator.h"
#include "parallel/work_split.h"
#include "util/error.h"

namespace mechlens {
namespace {

// Sets environment variables for one test and restores them after it.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, const char*>> values) {
    for (const auto& [name, value] : values) {
      const char* old = std::getenv(name);
      saved_.push_back({name, old ? std::optional<std::string>(old) : std::nullopt});
      ::setenv(name, value, 1);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, old] : saved_) {
      if (old) ::setenv(name.c_str(), old->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST(LaunchInfo, ReadsEachLaunchersVariables) {
  EXPECT_EQ(launch_info_from_environment().size, 1);  // ctest starts no launcher
  {
    ScopedEnv env{{"OMPI_COMM_WORLD_RANK", "2"},
                  {"OMPI_COMM_WORLD_SIZE", "3"},
                  {"OMPI_COMM_WORLD_LOCAL_SIZE", "3"},
                  {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}};
    const LaunchInfo info = launch_info_from_environment();
    EXPECT_EQ(info.rank, 2);
    EXPECT_EQ(info.size, 3);
    EXPECT_EQ(info.local_size, 3);
    EXPECT_EQ(info.local_rank, 1);  // which of the node's GPUs --device cuda takes
    EXPECT_EQ(info.launcher, "OpenMPI");
  }
  {
    // A batch script's own process: SLURM_NTASKS is the job's, but no srun step started ranks.
    ScopedEnv env{{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}};
    EXPECT_EQ(launch_info_from_environment().size, 1);
  }
  {
    ScopedEnv env{{"SLURM_PROCID", "5"},
                  {"SLURM_STEP_NUM_TASKS", "64"},
                  {"SLURM_STEP_TASKS_PER_NODE", "8(x8)"},
                  {"SLURM_LOCALID", "5"}};
    const LaunchInfo info = launch_info_from_environment();
    EXPECT_EQ(info.rank, 5);
    EXPECT_EQ(info.size, 64);
    EXPECT_EQ(info.local_size, 1);  // "8(x8)" is not a plain number: cores are not divided
    EXPECT_EQ(info.local_rank, 5);
    EXPECT_EQ(info.launcher, "Slurm");
  }
  {
    ScopedEnv env{{"PMI_RANK", "x"}, {"PMI_SIZE", "4"}};  // unreadable rank: not a launch
    EXPECT_EQ(launch_info_from_environment().size, 1);
  }
  {
    ScopedEnv env{{"PMI_RANK", "3"}, {"PMI_SIZE", "4"}};  // no local rank given: 0
    EXPECT_EQ(launch_info_from_environment().local_rank, 0);
  }
}

TEST(WorkSplit, EveryItemGoesToExactlyOneRankInTurn) {
  const std::vector<int64_t> items{3, 4, 7, 8, 9, 12, 13};
  EXPECT_EQ(deal_to_rank(items, 0, 3), (std::vector<int64_t>{3, 8, 13}));
  EXPECT_EQ(deal_to_rank(items, 1, 3), (std::vector<int64_t>{4, 9}));
  EXPECT_EQ(deal_to_rank(items, 2, 3), (std::vector<int64_t>{7, 12}));
  EXPECT_EQ(deal_to_rank(items, 0, 1), items);
  EXPECT_TRUE(deal_to_rank(items, 7, 8).empty());
}

TEST(WorkSplit, UnequalItemsGoCostliestFirstToTheLeastLoadedRank) {
  // A depth grid's runs cost as their layers (2..6); one is finished (cost 0: no owner).
  const std::vector<double> costs{2, 3, 4, 0, 6, 5};
  // 6 -> r0, 5 -> r1, 4 -> r1 (5 < 6), 3 -> r0 (6 < 9), 2 -> r0 (9 = 9: the lower rank).
  EXPECT_EQ(assign_by_cost(costs, 2), (std::vector<int>{0, 0, 1, -1, 0, 1}));
  EXPECT_EQ(assign_by_cost(costs, 1), (std::vector<int>{0, 0, 0, -1, 0, 0}));
  // More ranks than items: each item alone, the rest idle.
  EXPECT_EQ(assign_by_cost({1, 1}, 4), (std::vector<int>{0, 1}));
  // Equal costs deal in turns, in order.
  EXPECT_EQ(assign_by_cost({1, 1, 1, 1, 1}, 2), (std::vector<int>{0, 1, 0, 1, 0}));
  EXPECT_TRUE(assign_by_cost({}, 3).empty());
}

TEST(SingleProcess, CollectivesAreTheIdentity) {
  const std::unique_ptr<Communicator> one = make_single_process();
  EXPECT_EQ(one->rank(), 0);
  EXPECT_EQ(one->size(), 1);
  EXPECT_EQ(one->all_gather("abc"), (std::vector<std::string>{"abc"}));
  one->report_progress(5);
  EXPECT_EQ(one->collect_progress(), 0);
  EXPECT_EQ(one->finish_progress(), 0);
  const std::unique_ptr<Communicator> team = one->split(3);  // a team of its own
  EXPECT_EQ(team->rank(), 0);
  EXPECT_EQ(team->size(), 1);
  EXPECT_EQ(team->all_gather("d"), (std::vector<std::string>{"d"}));
  EXPECT_EQ(world().size(), 1);  // not launched by mpirun
}

TEST(MakeCommunicator, SeveralRanksWithoutMpiAreRefusedWithTheRemedy) {
  LaunchInfo launch;
  launch.rank = 1;
  launch.size = 2;
  launch.launcher = "OpenMPI";
  if (built_with_mpi()) GTEST_SKIP() << "this build has MPI; the refusal is tested by the build without it";
  try {
    make_communicator(launch);
    FAIL() << "two ranks started without MPI";
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("rank 1 of 2 by OpenMPI"), std::string::npos) << message;
    EXPECT_NE(message.find("-DMECHLENS_MPI=ON"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace mechlens
