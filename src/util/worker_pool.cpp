#include "util/worker_pool.hpp"

#include <cerrno>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <system_error>
#include <unistd.h>

namespace rsm {

WorkerPool::WorkerPool(sd_event* event, unsigned workers) : wake_{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)} {
    if (!wake_) throw std::system_error(errno, std::generic_category(), "eventfd");
    sd_event_source* s = nullptr;
    if (const int r = sd_event_add_io(event, &s, wake_.get(), EPOLLIN, &WorkerPool::on_ready, this); r < 0)
        throw std::system_error(-r, std::generic_category(), "sd_event_add_io");
    source_.reset(s);
    for (unsigned i = 0; i < (workers ? workers : 1); ++i)
        workers_.emplace_back([this](const std::stop_token& stop) { work(stop); });
}

WorkerPool::~WorkerPool() {
    for (auto& w : workers_) w.request_stop();
    queued_.notify_all();
    workers_.clear();  // joins
}

void WorkerPool::submit(std::function<void()> work, std::function<void()> done) {
    const std::uint64_t id = next_id_++;
    waiting_.emplace(id, std::move(done));
    {
        const std::lock_guard lock{mutex_};
        jobs_.emplace_back(id, std::move(work));
    }
    queued_.notify_one();
}

void WorkerPool::work(const std::stop_token& stop) {
    for (;;) {
        std::pair<std::uint64_t, std::function<void()>> job;
        {
            std::unique_lock lock{mutex_};
            if (!queued_.wait(lock, stop, [this] { return !jobs_.empty(); })) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job.second();
        job.second = nullptr;  // its captures go here, on the worker, before the loop sees the result
        {
            const std::lock_guard lock{mutex_};
            finished_.push_back(job.first);
        }
        const std::uint64_t one = 1;
        // Fails only with EAGAIN, when the counter is near overflow: the loop is woken anyway.
        [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof one);
    }
}

int WorkerPool::on_ready(sd_event_source*, int fd, std::uint32_t, void* p) {
    auto* self = static_cast<WorkerPool*>(p);
    std::uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = ::read(fd, &count, sizeof count);
    std::vector<std::uint64_t> finished;
    {
        const std::lock_guard lock{self->mutex_};
        finished.swap(self->finished_);
    }
    for (const std::uint64_t id : finished) {
        const auto it = self->waiting_.find(id);
        if (it == self->waiting_.end()) continue;
        std::function<void()> done = std::move(it->second);
        self->waiting_.erase(it);
        done();
    }
    return 0;
}

}  // namespace rsm
