#include "sdk/core/thread_pool.h"

#include <algorithm>

namespace krait {

int ThreadPool::hardware_threads() {
    unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int n_threads) {
    if (n_threads <= 0) n_threads = hardware_threads();
    for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    work_ready_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
        std::pair<int64_t, int64_t> chunk;
        const std::function<void(int64_t, int64_t)>* job;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            work_ready_.wait(lock, [&] { return stopping_ || generation_ != seen; });
            if (stopping_) return;
            seen = generation_;
            chunk = chunks_[index];
            job = job_;
        }
        if (chunk.first < chunk.second) (*job)(chunk.first, chunk.second);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (--pending_ == 0) work_done_.notify_one();
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
    std::vector<std::pair<int64_t, int64_t>> chunks(size(), {0, 0});
    int64_t begin = 0;
    for (int c = 0; c < n_chunks; ++c) {
        const int64_t my_units = units / n_chunks + (c < units % n_chunks ? 1 : 0);
        const int64_t end = std::min(n, begin + my_units * grain);
        chunks[c] = {begin, end};
        begin = end;
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        chunks_ = std::move(chunks);
        job_ = &fn;
        pending_ = static_cast<int>(workers_.size());
        ++generation_;
    }
    work_ready_.notify_all();
    fn(chunks_[0].first, chunks_[0].second);  // chunks_ is not modified while workers run
    std::unique_lock<std::mutex> lock(mutex_);
    work_done_.wait(lock, [&] { return pending_ == 0; });
}

}  // namespace krait
