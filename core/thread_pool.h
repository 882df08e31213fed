// The CPU threads volt's kernels share (PyTorch's at::parallel_for and set_num_threads).
//
// A kernel splits its work with parallel_for; the split depends only on the range, the grain
// and get_num_threads(), never on timing, so a fixed thread count gives bitwise-identical
// results run after run. The calling thread computes the first chunk itself and one pool thread
// each of the others; between jobs a pool thread spins briefly (a training step's kernels come
// microseconds apart) and then sleeps. A parallel_for inside a chunk, or one called while another
// thread holds the pool, runs serially on its caller.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

namespace volt {

// Threads the CPU kernels use: set_num_threads(n) if called, else VOLT_NUM_THREADS if set (an
// invalid value is an error naming it), else the CPUs this process may run on.
int get_num_threads();
// The CPUs this process may run on (its affinity mask; else the machine's count).
int cpus_available();
// n >= 1; 1 runs every kernel on its caller. Takes effect for the next parallel_for.
void set_num_threads(int n);
// Whether the calling thread is inside a parallel_for chunk.
bool in_parallel_region();

// Flushes subnormal floats to zero on the calling thread (x86's FTZ and DAZ; PyTorch's
// torch.set_flush_denormal), or restores IEEE gradual underflow. Adam's moments of weights whose
// inputs are mostly zero decay into the subnormal range, where every operation takes a slow
// microcode path; flushing them keeps the update at full speed. parallel_for's chunks run in
// their caller's mode. Returns false, changing nothing, where the CPU has no such mode.
bool set_flush_denormal(bool on);
// Whether the calling thread flushes subnormals.
bool flush_denormal();

namespace detail {
// The thread count a VOLT_NUM_THREADS value asks for (null or empty: the CPUs this process may
// run on); anything but a whole number from 1 to 1024 is an error naming the variable.
int threads_from_setting(const char* value);
using ChunkFn = void (*)(const void* context, int64_t begin, int64_t end);
void parallel_run(int64_t begin, int64_t end, int64_t grain, ChunkFn fn, const void* context);
}  // namespace detail

// f(chunk_begin, chunk_end) over [begin, end) cut into at most get_num_threads() contiguous
// chunks of at least `grain` elements each (the last may be shorter; one chunk when the range
// is at most `grain`). Returns when every chunk is done; an exception thrown by a chunk is
// rethrown here (the first one, the others' work still finishes).
template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
  if (end <= begin) return;
  static_assert(std::is_invocable_v<const F&, int64_t, int64_t>, "parallel_for: f(int64_t begin, int64_t end)");
  detail::parallel_run(
      begin, end, grain, [](const void* context, int64_t b, int64_t e) { (*static_cast<const F*>(context))(b, e); },
      &f);
}

// The boundaries parallel_for uses: chunk i of `chunks` over [begin, end).
int64_t parallel_chunks(int64_t begin, int64_t end, int64_t grain);
inline int64_t chunk_begin(int64_t begin, int64_t end, int64_t chunks, int64_t i) {
  return begin + static_cast<int64_t>(static_cast<__int128>(end - begin) * i / chunks);
}

}  // namespace volt
