#include "sdk/core/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KRAIT_CPU_RELAX() _mm_pause()
#else
#define KRAIT_CPU_RELAX() std::this_thread::yield()
#endif

namespace krait {

namespace {
// ~16k pause instructions: a few hundred microseconds before sleeping.
constexpr int kSpinIterations = 1 << 14;
}  // namespace

int ThreadPool::hardware_threads() {
    unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int n_threads) {
    if (n_threads <= 0) n_threads = hardware_threads();
    chunks_.assign(static_cast<size_t>(n_threads), {0, 0});
    for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_.store(true, std::memory_order_release);
    }
    work_ready_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
        // Wait for a new generation: spin first, then sleep.
        uint64_t gen = generation_.load(std::memory_order_acquire);
        for (int spin = 0; gen == seen && !stopping_.load(std::memory_order_acquire); ++spin) {
            if (spin < kSpinIterations) {
                KRAIT_CPU_RELAX();
            } else {
                std::unique_lock<std::mutex> lock(mutex_);
                work_ready_.wait(lock, [&] {
                    return stopping_.load(std::memory_order_acquire) ||
                           generation_.load(std::memory_order_acquire) != seen;
                });
            }
            gen = generation_.load(std::memory_order_acquire);
        }
        if (stopping_.load(std::memory_order_acquire)) return;
        seen = gen;
        const auto chunk = chunks_[static_cast<size_t>(index)];
        if (chunk.first < chunk.second) (*job_)(chunk.first, chunk.second);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            std::lock_guard<std::mutex> lock(mutex_);  // pairs with the caller's predicate check
            work_done_.notify_one();
        }
    }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    grain = std::max<int64_t>(grain, 1);
    const int64_t units = (n + grain - 1) / grain;
    const int n_chunks = static_cast<int>(std::min<int64_t>(units, size()));
    if (n_chunks <= 1) {
        fn(0, n);
        return;
    }
    // Spread whole grains evenly over the chunks; idle workers get empty ranges.
    int64_t begin = 0;
    for (int c = 0; c < size(); ++c) {
        const int64_t my_units = c < n_chunks ? units / n_chunks + (c < units % n_chunks ? 1 : 0) : 0;
        const int64_t end = std::min(n, begin + my_units * grain);
        chunks_[static_cast<size_t>(c)] = {begin, end};
        begin = end;
    }
    job_ = &fn;
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    {
        std::lock_guard<std::mutex> lock(mutex_);  // so a worker about to sleep cannot miss it
        generation_.fetch_add(1, std::memory_order_release);
    }
    work_ready_.notify_all();

    fn(chunks_[0].first, chunks_[0].second);

    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
        if (spin < kSpinIterations) {
            KRAIT_CPU_RELAX();
        } else {
            std::unique_lock<std::mutex> lock(mutex_);
            work_done_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
        }
    }
}

}  // namespace krait
