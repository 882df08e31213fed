#include "volt/core/thread_pool.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "volt/core/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define VOLT_CPU_RELAX() _mm_pause()
#define VOLT_HAS_FP_MODE 1
#else
#define VOLT_CPU_RELAX() std::this_thread::yield()
#define VOLT_HAS_FP_MODE 0
#endif

namespace volt {

int cpus_available() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

namespace {

constexpr int kMaxThreads = 1024;

int threads_from_environment() { return detail::threads_from_setting(std::getenv("VOLT_NUM_THREADS")); }

std::atomic<int> requested_threads{0};  // 0: not set, follow the environment
thread_local bool in_region = false;

// The MXCSR bits of the flush mode: flush-to-zero (results) and denormals-are-zero (inputs).
constexpr uint32_t kFlushBits = 0x8040;
uint32_t fp_mode() {
#if VOLT_HAS_FP_MODE
  return _mm_getcsr() & kFlushBits;
#else
  return 0;
#endif
}
void set_fp_mode(uint32_t mode) {
#if VOLT_HAS_FP_MODE
  const uint32_t csr = _mm_getcsr();
  if ((csr & kFlushBits) != mode) _mm_setcsr((csr & ~kFlushBits) | mode);
#else
  (void)mode;
#endif
}

// Waits until `word` differs from `old`: spinning first (the next job of a training step comes
// within microseconds), then yielding, then sleeping in the kernel.
uint32_t wait_change(const std::atomic<uint32_t>& word, uint32_t old) {
  constexpr auto kSpin = std::chrono::microseconds(20), kYield = std::chrono::microseconds(200);
  uint32_t now = word.load(std::memory_order_acquire);
  if (now != old) return now;
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  for (unsigned i = 1;; ++i) {
    now = word.load(std::memory_order_acquire);
    if (now != old) return now;
    if (i % 64 != 0) {
      VOLT_CPU_RELAX();
      continue;
    }
    const auto spent = Clock::now() - start;
    if (spent > kYield) break;
    if (spent > kSpin) std::this_thread::yield();
  }
  while ((now = word.load(std::memory_order_acquire)) == old)
    word.wait(old, std::memory_order_acquire);
  return now;
}

class Pool {
 public:
  explicit Pool(int workers) {
    threads_.reserve(static_cast<std::size_t>(workers));
    for (int i = 0; i < workers; ++i)
      threads_.emplace_back([this, i] { work(i + 1); });
  }
  ~Pool() {
    stop_.store(true, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    for (std::thread& t : threads_)
      t.join();
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  int workers() const { return static_cast<int>(threads_.size()); }

  // Chunk 0 on the caller, chunk i on worker i; chunks <= workers() + 1.
  void run(int64_t begin, int64_t end, int64_t chunks, detail::ChunkFn fn, const void* context) {
    job_ = Job{fn, context, begin, end, chunks, fp_mode()};
    error_ = nullptr;
    pending_.store(static_cast<uint32_t>(threads_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);  // publishes job_
    generation_.notify_all();
    run_chunk(0);
    uint32_t left = pending_.load(std::memory_order_acquire);
    while (left != 0)
      left = wait_change(pending_, left);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  struct Job {
    detail::ChunkFn fn = nullptr;
    const void* context = nullptr;
    int64_t begin = 0, end = 0, chunks = 0;
    uint32_t fp_mode = 0;  // the caller's, which the chunks run in
  };

  void run_chunk(int64_t i) {
    const bool was = in_region;
    in_region = true;
    try {
      job_.fn(job_.context, chunk_begin(job_.begin, job_.end, job_.chunks, i),
              chunk_begin(job_.begin, job_.end, job_.chunks, i + 1));
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
    in_region = was;
  }

  void work(int64_t index) {
    uint32_t seen = 0;
    for (;;) {
      seen = wait_change(generation_, seen);
      if (stop_.load(std::memory_order_relaxed)) return;
      if (index < job_.chunks) {
        set_fp_mode(job_.fp_mode);
        run_chunk(index);
      }
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
    }
  }

  Job job_;
  std::atomic<uint32_t> generation_{0};
  std::atomic<uint32_t> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
};

// The pool and the lock its user holds. A forked child has none of the parent's threads: it
// drops both (leaking the parent's copies, which it cannot destroy) and starts afresh.
std::mutex* pool_mutex = new std::mutex;
Pool* pool = nullptr;

void forget_pool_in_child() {
  pool_mutex = new std::mutex;
  pool = nullptr;
}

int64_t chunk_count(int64_t begin, int64_t end, int64_t grain, int threads) {
  const int64_t n = end - begin;
  if (n <= 0) return 0;
  return std::clamp<int64_t>(n / std::max<int64_t>(grain, 1), 1, threads);
}

void run_serially(int64_t begin, int64_t end, int64_t chunks, detail::ChunkFn fn, const void* context) {
  for (int64_t i = 0; i < chunks; ++i)
    fn(context, chunk_begin(begin, end, chunks, i), chunk_begin(begin, end, chunks, i + 1));
}

}  // namespace

int get_num_threads() {
  const int n = requested_threads.load(std::memory_order_relaxed);
  if (n > 0) return n;
  static const int from_environment = threads_from_environment();
  return from_environment;
}

void set_num_threads(int n) {
  VOLT_CHECK(n >= 1 && n <= kMaxThreads, "set_num_threads: ", n, " is not a thread count from 1 to ", kMaxThreads);
  requested_threads.store(n, std::memory_order_relaxed);
}

bool in_parallel_region() { return in_region; }

bool set_flush_denormal(bool on) {
  if (!VOLT_HAS_FP_MODE) return false;
  set_fp_mode(on ? kFlushBits : 0);
  return true;
}

bool flush_denormal() { return fp_mode() == kFlushBits; }

int64_t parallel_chunks(int64_t begin, int64_t end, int64_t grain) {
  return chunk_count(begin, end, grain, get_num_threads());
}

namespace detail {

int threads_from_setting(const char* value) {
  if (value == nullptr || *value == '\0') return std::min(cpus_available(), kMaxThreads);
  const std::string_view text(value);
  int n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  VOLT_CHECK(ec == std::errc() && end == text.data() + text.size() && n >= 1 && n <= kMaxThreads, "VOLT_NUM_THREADS: '",
             text, "' is not a whole number from 1 to ", kMaxThreads);
  return n;
}

void parallel_run(int64_t begin, int64_t end, int64_t grain, ChunkFn fn, const void* context) {
  const int threads = get_num_threads();  // read once: set_num_threads may run meanwhile
  const int64_t chunks = chunk_count(begin, end, grain, threads);
  if (chunks <= 1) return fn(context, begin, end);
  // Inside a chunk, or while another thread's job holds the pool: the same chunks, one after
  // another, so the result does not depend on who got the pool.
  if (in_region) return run_serially(begin, end, chunks, fn, context);
  std::unique_lock<std::mutex> lock(*pool_mutex, std::try_to_lock);
  if (!lock.owns_lock()) return run_serially(begin, end, chunks, fn, context);
  const int workers = threads - 1;
  if (pool == nullptr || pool->workers() != workers) {
    static const bool registered = pthread_atfork(nullptr, nullptr, forget_pool_in_child) == 0;
    (void)registered;
    delete pool;
    pool = nullptr;
    pool = new Pool(workers);
  }
  pool->run(begin, end, chunks, fn, context);
}

}  // namespace detail
}  // namespace volt
