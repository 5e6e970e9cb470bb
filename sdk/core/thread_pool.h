// ThreadPool: a fixed set of workers that split one range of work at a time.
//
// Each session owns one pool (sessions never share threads, so concurrent
// sessions cannot slow each other down by queueing). parallel_for blocks
// until every chunk is done; the calling thread works on chunk 0 itself.
#pragma once

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
    const std::function<void(int64_t, int64_t)>* job_ = nullptr;
    std::vector<std::pair<int64_t, int64_t>> chunks_;  // chunk i runs on worker i-1 (0 on the caller)
    uint64_t generation_ = 0;
    int pending_ = 0;
    bool stopping_ = false;
};

}  // namespace krait
