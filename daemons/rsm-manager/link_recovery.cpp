#include "link_recovery.hpp"

#include <cerrno>
#include <sys/epoll.h>
#include <time.h>
#include <utility>

namespace rsm::manager {

namespace {

uint64_t monotonic_usec() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

LinkRecovery::LinkRecovery(sd_event* event, std::chrono::milliseconds deadline, Done done)
    : event_{event}, done_{std::move(done)},
      deadline_usec_{monotonic_usec() + static_cast<uint64_t>(deadline.count()) * 1000u} {}

LinkRecovery::~LinkRecovery() {
    timer_.reset();
    pending_.clear();
}

const session::Record* LinkRecovery::pending(const std::string& id) const {
    auto it = pending_.find(id);
    return it == pending_.end() ? nullptr : &it->second->record;
}

void LinkRecovery::add(const std::string& id, session::Record record, UniqueFd fd) {
    auto link = std::make_unique<Link>();
    link->owner = this;
    link->id = id;
    link->record = std::move(record);
    link->fd = std::move(fd);
    Link& ref = *link;
    pending_[id] = std::move(link);
    feed(ref);
}

void LinkRecovery::feed(Link& link) {
    const int r = link.reader.feed(link.fd.get());
    if (r != 0) {
        finish(link.id, r < 0 ? r : 0);
        return;
    }
    if (link.io) return;  // still waiting; the io source stays armed
    int e = 0;
    if (!timer_) {
        sd_event_source* t = nullptr;
        e = sd_event_add_time(event_, &t, CLOCK_MONOTONIC, deadline_usec_, 0, &LinkRecovery::on_deadline, this);
        if (e >= 0) timer_.reset(t);
    }
    if (e >= 0) {
        sd_event_source* s = nullptr;
        e = sd_event_add_io(event_, &s, link.fd.get(), EPOLLIN, &LinkRecovery::on_io, &link);
        if (e >= 0) link.io.reset(s);
    }
    if (e < 0) finish(link.id, e);
}

int LinkRecovery::on_io(sd_event_source*, int, uint32_t, void* userdata) {
    auto& link = *static_cast<Link*>(userdata);
    link.owner->feed(link);
    return 0;
}

int LinkRecovery::on_deadline(sd_event_source*, uint64_t, void* userdata) {
    auto* self = static_cast<LinkRecovery*>(userdata);
    while (!self->pending_.empty()) self->finish(self->pending_.begin()->first, -ETIMEDOUT);
    return 0;
}

void LinkRecovery::finish(const std::string& id, int error) {
    auto node = pending_.extract(id);
    if (node.empty()) return;
    Link& link = *node.mapped();
    // Off the epoll set before anyone else (sd-bus) watches the same fd.
    link.io.reset();
    UniqueFd fd = std::move(link.fd);
    if (error < 0) fd.reset();
    if (pending_.empty()) timer_.reset();
    done_(id, std::move(link.record), std::move(fd), error);
}

}  // namespace rsm::manager
