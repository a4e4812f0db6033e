// Blocking calls OFF the event loop: NSS lookups (getgrouplist, getaddrinfo)
// may wait on a directory or DNS server for seconds, and a daemon's one loop
// must keep serving everyone else meanwhile. A few worker threads run the
// calls; each result is handed back on the loop (woken through an eventfd),
// in the order the calls finish.
//
// Thread rule: the work function runs on a worker and must touch only what
// it captured by value; the done function stays on the loop thread (it is
// never copied to, run on or destroyed on a worker).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm {

class WorkerPool {
public:
    // Throws std::system_error if the eventfd or its event source cannot be
    // made. Block the signals the loop handles before constructing one: the
    // workers inherit the mask.
    explicit WorkerPool(sd_event* event, unsigned workers = 4);
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;
    // Drops the done functions of calls not answered yet and waits for the
    // workers to finish the call each is in (at shutdown only).
    ~WorkerPool();

    // work() on a worker, then done(result) on the loop, once; never from
    // inside run(). done may call run() again but must not destroy the pool.
    template <class R>
    void run(std::function<R()> work, std::function<void(R)> done) {
        auto result = std::make_shared<std::optional<R>>();
        submit([work = std::move(work), result] { result->emplace(work()); },
               [done = std::move(done), result] { done(std::move(**result)); });
    }

    std::size_t pending() const noexcept { return waiting_.size(); }

private:
    void submit(std::function<void()> work, std::function<void()> done);
    void work(const std::stop_token& stop);
    static int on_ready(sd_event_source*, int fd, std::uint32_t, void* self);

    UniqueFd wake_;
    EventSourcePtr source_;
    // Loop thread only.
    std::map<std::uint64_t, std::function<void()>> waiting_;
    std::uint64_t next_id_ = 1;
    // Shared with the workers, under mutex_.
    std::mutex mutex_;
    std::condition_variable_any queued_;
    std::deque<std::pair<std::uint64_t, std::function<void()>>> jobs_;
    std::vector<std::uint64_t> finished_;
    std::vector<std::jthread> workers_;  // last: stopped and joined first
};

}  // namespace rsm
