// ThreadPool: a session's handle on the process's one set of worker threads.
//
// Every ThreadPool of a process shares the same workers (one fewer than the hardware threads: the
// calling thread is the other one), so sessions never oversubscribe the machine with threads of their
// own. A pool's size (a session's n_threads) is how many chunks parallel_for cuts a range into, and so
// the most threads that work on one call: its maximum share of the machine. The chunks depend only on
// the range, the grain and size(), never on which thread runs them or how busy the machine is, so
// results are the same bitwise whoever runs them.
//
// parallel_for: the caller runs chunk 0, offers the others to the shared workers, then takes any chunk
// no worker has claimed yet, so a call never waits for a worker that is busy elsewhere. When as many
// callers are inside parallel_for as there are hardware threads, the caller runs all its chunks itself:
// the cores are already busy, and handing chunks around would only add switches.
//
// Decode runs ~150 parallel_for calls per token, each only microseconds long, so waking sleeping
// threads through the kernel would dominate. Idle workers (and a caller waiting for a chunk a worker
// is running) therefore spin briefly (about a third of a millisecond) on atomics before sleeping on a
// condition variable, as OpenMP runtimes do; a lone session keeps that benefit, and workers that find
// no work sleep instead of spinning against other sessions.
#pragma once

#include <cstdint>
#include <functional>

namespace krait {

class ThreadPool {
public:
    // n_threads <= 0 means all hardware threads. Starts the shared workers on first use.
    explicit ThreadPool(int n_threads);
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return size_; }

    // Calls fn(begin, end) on disjoint sub-ranges covering [0, n), at most size() of them, each a
    // multiple of `grain` (except the last). May be called from several threads at once, on the same
    // pool or on different ones, and from inside fn. If fn throws, chunks not started yet are
    // skipped and the first exception is rethrown here once no chunk runs any more.
    void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) const;

    static int hardware_threads();
    // The shared workers (hardware_threads() - 1), for tests and benchmarks.
    static int shared_workers();

private:
    int size_;
};

}  // namespace krait
