#include "volt/core/generator.h"

#include <utility>

namespace volt {

void Generator::manual_seed(uint64_t seed) {
  std::lock_guard lock(mutex_);
  seed_ = seed;
  offset_ = 0;
}

uint64_t Generator::seed() const {
  std::lock_guard lock(mutex_);
  return seed_;
}

uint64_t Generator::offset() const {
  std::lock_guard lock(mutex_);
  return offset_;
}

void Generator::set_offset(uint64_t offset) {
  std::lock_guard lock(mutex_);
  offset_ = offset;
}

uint64_t Generator::reserve(uint64_t blocks) { return draw(blocks).offset; }

namespace {
thread_local detail::PhiloxCapture* capture = nullptr;  // the graph capturing on this thread
}  // namespace

detail::PhiloxCapture* detail::exchange_philox_capture(PhiloxCapture* next) { return std::exchange(capture, next); }

PhiloxArgs Generator::philox_args(Device device, uint64_t blocks) {
  if (capture && capture->device() == device) return capture->capture_draw(*this, blocks);
  return draw(blocks);
}

PhiloxArgs Generator::draw(uint64_t blocks) {
  std::lock_guard lock(mutex_);
  const uint64_t first = offset_;
  offset_ += blocks;
  return PhiloxArgs{seed_, first, nullptr};
}

namespace {

Generator& process_generator() {
  static Generator gen(0);
  return gen;
}

thread_local Generator* guarded = nullptr;  // the innermost GeneratorGuard's on this thread

}  // namespace

Generator& default_generator() { return guarded ? *guarded : process_generator(); }

void manual_seed(uint64_t seed) { process_generator().manual_seed(seed); }

Generator& generator_for(Generator* gen) {
  if (guarded) return *guarded;
  return gen ? *gen : process_generator();
}

GeneratorGuard::GeneratorGuard(Generator& gen) : previous_(guarded) { guarded = &gen; }

GeneratorGuard::~GeneratorGuard() { guarded = previous_; }

}  // namespace volt
