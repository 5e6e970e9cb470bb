// ThreadPool: a fixed set of workers that split one range of work at a time.
//
// Each session owns one pool (sessions never share threads, so concurrent
// sessions cannot slow each other down by queueing). parallel_for blocks
// until every chunk is done; the calling thread works on chunk 0 itself.
//
// Decode runs ~150 parallel_for calls per token, each only microseconds
// long, so waking sleeping threads through the kernel would dominate. Workers
// and the caller therefore spin briefly (about a third of a millisecond) on
// atomics before falling back to a condition variable, as OpenMP runtimes do.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace krait {

class ThreadPool {
public:
    // n_threads <= 0 means all hardware threads.
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return static_cast<int>(workers_.size()) + 1; }

    // Calls fn(begin, end) on disjoint sub-ranges covering [0, n), at most
    // size() of them, each a multiple of `grain` (except the last).
    void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

    static int hardware_threads();

private:
    void worker_loop(int index);

    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable work_ready_;
    std::condition_variable work_done_;
    // Written by the caller before generation_ is bumped (release), read by
    // workers after they see the new generation (acquire).
    const std::function<void(int64_t, int64_t)>* job_ = nullptr;
    std::vector<std::pair<int64_t, int64_t>> chunks_;  // chunk i runs on worker i-1 (0 on the caller)
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> stopping_{false};
};

}  // namespace krait
