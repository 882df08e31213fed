// The main of every *_mpi_test: the default process group around the tests, one report (rank
// 0's), and every rank's result in its exit code, which mpirun passes on.
#include <gtest/gtest.h>

#include "volt/parallel/process_group.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  volt::parallel::init_process_group("mpi");
  if (volt::parallel::get_rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int result = RUN_ALL_TESTS();
  volt::parallel::get_default_group().barrier()->wait();
  volt::parallel::destroy_process_group();
  return result;
}
