// Splitting a batch over threads, shared by the feature and stems kernels.
#pragma once

#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace stemscope {

/**
 * Calls run(begin, end) on `threads` contiguous ranges of [0, batch), one range on this thread and
 * the others on new threads, and rethrows the first exception any of them threw (after all joined).
 */
template <class Run>
void ForEachRange(size_t batch, size_t threads, Run&& run) {
  if (threads <= 1) {
    run(size_t{0}, batch);
    return;
  }
  std::vector<std::exception_ptr> errors(threads);
  std::vector<std::thread> pool;
  auto range = [&](size_t t) {
    try {
      run(batch * t / threads, batch * (t + 1) / threads);
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  try {
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(range, t);
  } catch (...) {
    for (auto& th : pool) th.join();
    throw;
  }
  range(0);
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace stemscope
