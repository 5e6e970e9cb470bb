// ThreadPool over the process's shared workers; the design and its reasons are in thread_pool.h.
#include "sdk/core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

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

// One parallel_for call, on its caller's stack. Chunk 0 is the caller's; the others go to whoever
// claims them first (next_), workers or the caller.
struct Job {
    const std::function<void(int64_t, int64_t)>* fn;
    const std::pair<int64_t, int64_t>* chunks;
    int n_chunks;
    std::atomic<int> next{1};
    std::atomic<int> finished{0};  // chunks done, the caller's included
    // The first exception a chunk threw (a kernel's error, std::bad_alloc), rethrown by the caller
    // once every chunk is done: it may neither end a worker thread nor unwind the caller's stack
    // while other threads still run chunks of this job. Written by the one chunk that set `failed`.
    std::atomic<bool> failed{false};
    std::exception_ptr error;
};

class Workers {
public:
    static Workers& instance() {
        // Never destroyed: sessions may outlive static destruction (bindings freeing at exit).
        static Workers* workers = new Workers(ThreadPool::hardware_threads() - 1);
        return *workers;
    }

    int count() const { return static_cast<int>(threads_.size()); }

    void run(Job& job) {
        const int callers = active_callers_.fetch_add(1, std::memory_order_acq_rel) + 1;
        // All cores busy with callers (or no workers): run every chunk here, in the same chunks.
        const bool share = !threads_.empty() && callers < ThreadPool::hardware_threads();
        if (share) {
            std::lock_guard<std::mutex> lock(mutex_);
            queue_.push_back(&job);
            queued_.fetch_add(1, std::memory_order_release);
            if (sleeping_workers_ > 0) work_ready_.notify_all();
        }
        run_chunk(job, 0);
        int mine = 1;
        for (int c; (c = job.next.fetch_add(1, std::memory_order_acq_rel)) < job.n_chunks; ++mine) run_chunk(job, c);
        job.finished.fetch_add(mine, std::memory_order_seq_cst);
        if (share) {
            // Every chunk is claimed: take the job off the queue so no worker looks at it again.
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = std::find(queue_.begin(), queue_.end(), &job);
            if (it != queue_.end()) {
                queue_.erase(it);
                queued_.fetch_sub(1, std::memory_order_release);
            }
        }
        active_callers_.fetch_sub(1, std::memory_order_acq_rel);
        // Wait for chunks that workers are still running.
        for (int spin = 0; job.finished.load(std::memory_order_acquire) != job.n_chunks; ++spin) {
            if (spin < kSpinIterations) {
                KRAIT_CPU_RELAX();
            } else {
                std::unique_lock<std::mutex> lock(mutex_);
                sleeping_callers_.fetch_add(1, std::memory_order_seq_cst);
                chunk_done_.wait(lock, [&] { return job.finished.load(std::memory_order_seq_cst) == job.n_chunks; });
                sleeping_callers_.fetch_sub(1, std::memory_order_seq_cst);
            }
        }
        if (job.error) std::rethrow_exception(job.error);
    }

private:
    explicit Workers(int n) {
        threads_.reserve(static_cast<size_t>(std::max(n, 0)));
        // A thread that cannot be started (no memory, a process thread limit) leaves fewer workers:
        // the chunks, and so the results, depend on the pools' sizes, not on how many workers run them.
        try {
            for (int i = 0; i < n; ++i) threads_.emplace_back([this] { loop(); });
        } catch (...) {
        }
    }

    static void run_chunk(Job& job, int c) noexcept {
        const auto chunk = job.chunks[c];
        // Once a chunk has failed the call fails: the chunks not started yet are skipped.
        if (chunk.first >= chunk.second || job.failed.load(std::memory_order_acquire)) return;
        try {
            (*job.fn)(chunk.first, chunk.second);
        } catch (...) {
            if (!job.failed.exchange(true, std::memory_order_acq_rel)) job.error = std::current_exception();
        }
    }

    void loop() {
        for (;;) {
            // Spin while the queue is empty, briefly, then sleep.
            for (int spin = 0; queued_.load(std::memory_order_acquire) == 0; ++spin) {
                if (spin < kSpinIterations) {
                    KRAIT_CPU_RELAX();
                } else {
                    std::unique_lock<std::mutex> lock(mutex_);
                    ++sleeping_workers_;
                    work_ready_.wait(lock, [&] { return queued_.load(std::memory_order_acquire) != 0; });
                    --sleeping_workers_;
                    break;
                }
            }
            Job* job = nullptr;
            int c = 0;
            {
                // Claim a chunk under the lock: the job cannot leave the queue (and its caller's
                // stack) while we look at it; once a chunk is ours, its caller waits for it.
                std::lock_guard<std::mutex> lock(mutex_);
                while (!queue_.empty()) {
                    Job* front = queue_.front();
                    c = front->next.fetch_add(1, std::memory_order_acq_rel);
                    if (c < front->n_chunks) {
                        job = front;
                        break;
                    }
                    queue_.pop_front();  // all its chunks are claimed
                    queued_.fetch_sub(1, std::memory_order_release);
                }
            }
            if (!job) continue;
            run_chunk(*job, c);
            // The job may be gone as soon as this lands: touch only the pool's own members after it.
            job->finished.fetch_add(1, std::memory_order_seq_cst);
            if (sleeping_callers_.load(std::memory_order_seq_cst) > 0) {
                std::lock_guard<std::mutex> lock(mutex_);
                chunk_done_.notify_all();
            }
        }
    }

    std::vector<std::thread> threads_;
    std::mutex mutex_;
    std::condition_variable work_ready_;
    std::condition_variable chunk_done_;
    std::deque<Job*> queue_;               // jobs with chunks perhaps unclaimed (mutex_)
    std::atomic<int> queued_{0};           // queue_.size(), read while spinning
    int sleeping_workers_ = 0;             // mutex_
    std::atomic<int> sleeping_callers_{0};
    std::atomic<int> active_callers_{0};   // threads inside parallel_for with more than one chunk
};

}  // namespace

int ThreadPool::hardware_threads() {
    unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<int>(n);
}

int ThreadPool::shared_workers() { return Workers::instance().count(); }

ThreadPool::ThreadPool(int n_threads) : size_(n_threads <= 0 ? hardware_threads() : n_threads) {
    if (size_ > 1) Workers::instance();  // start the workers now rather than in the first call
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) const {
    if (n <= 0) return;
    grain = std::max<int64_t>(grain, 1);
    const int64_t units = (n + grain - 1) / grain;
    const int n_chunks = static_cast<int>(std::min<int64_t>(units, size()));
    if (n_chunks <= 1) {
        fn(0, n);
        return;
    }
    // Spread whole grains evenly over the chunks (as before the pool was shared: same chunks).
    constexpr int kInline = 16;
    std::pair<int64_t, int64_t> inline_chunks[kInline];
    std::vector<std::pair<int64_t, int64_t>> heap_chunks;
    std::pair<int64_t, int64_t>* chunks = inline_chunks;
    if (n_chunks > kInline) {
        heap_chunks.resize(static_cast<size_t>(n_chunks));
        chunks = heap_chunks.data();
    }
    int64_t begin = 0;
    for (int c = 0; c < n_chunks; ++c) {
        const int64_t my_units = units / n_chunks + (c < units % n_chunks ? 1 : 0);
        const int64_t end = std::min(n, begin + my_units * grain);
        chunks[c] = {begin, end};
        begin = end;
    }
    Job job;
    job.fn = &fn;
    job.chunks = chunks;
    job.n_chunks = n_chunks;
    Workers::instance().run(job);
}

}  // namespace krait
