#include "call_queue.hpp"

#include <utility>

namespace rsm::bus {

struct QueuedCall::Entry {
    CallQueue* queue = nullptr;
    QueuedCall* owner = nullptr;  // null once cancelled
    MessagePtr call;
    sd_bus_message_handler_t handler = nullptr;
    void* userdata = nullptr;
    uint64_t timeout_usec = 0;
    CallQueue::SendFailed failed;
    std::function<void(sd_bus_message*)> floating;  // call_floating()'s reply, or empty
    bool is_floating = false;
    SlotPtr slot;        // once sent
    bool queued = false;  // in CallQueue::queue_
    std::list<Entry>::iterator self;
};

QueuedCall::QueuedCall(QueuedCall&& o) noexcept : entry_{std::exchange(o.entry_, nullptr)} {
    if (entry_) entry_->owner = this;
}

QueuedCall& QueuedCall::operator=(QueuedCall&& o) noexcept {
    if (this != &o) {
        reset();
        entry_ = std::exchange(o.entry_, nullptr);
        if (entry_) entry_->owner = this;
    }
    return *this;
}

void QueuedCall::reset() noexcept {
    if (Entry* e = std::exchange(entry_, nullptr)) e->queue->cancel(e);
}

CallQueue::CallQueue(sd_bus* bus, unsigned max_in_flight) : bus_{bus}, max_in_flight_{max_in_flight ? max_in_flight : 1} {}

CallQueue::~CallQueue() {
    queue_.clear();
    for (auto& e : entries_) {
        if (e.owner) e.owner->entry_ = nullptr;
        e.slot.reset();  // no callback any more
    }
    entries_.clear();
}

QueuedCall::Entry& CallQueue::add(sd_bus_message* call, uint64_t timeout_usec, SendFailed failed) {
    entries_.emplace_back();
    QueuedCall::Entry& e = entries_.back();
    e.self = std::prev(entries_.end());
    e.queue = this;
    e.call = ref_message(call);
    e.timeout_usec = timeout_usec;
    e.failed = std::move(failed);
    return e;
}

// Sends `e` now or queues it; on a failed send now, `e` is gone and -errno returned.
int CallQueue::start(QueuedCall::Entry& e) {
    if (in_flight_ < max_in_flight_ && queue_.empty()) {
        if (int r = send(e); r < 0) {
            erase(&e);
            return r;
        }
    } else {
        e.queued = true;
        queue_.push_back(&e);
    }
    return 0;
}

int CallQueue::call(QueuedCall& out, sd_bus_message* call, sd_bus_message_handler_t handler, void* userdata,
                    uint64_t timeout_usec, SendFailed failed) {
    out.reset();
    QueuedCall::Entry& e = add(call, timeout_usec, std::move(failed));
    e.handler = handler;
    e.userdata = userdata;
    if (int r = start(e); r < 0) return r;
    e.owner = &out;
    out.entry_ = &e;
    return 0;
}

int CallQueue::call_floating(sd_bus_message* call, std::function<void(sd_bus_message*)> reply, SendFailed failed) {
    QueuedCall::Entry& e = add(call, 0, std::move(failed));
    e.is_floating = true;
    e.floating = std::move(reply);
    return start(e);
}

int CallQueue::send(QueuedCall::Entry& e) {
    sd_bus_slot* slot = nullptr;
    const int r = sd_bus_call_async(bus_, &slot, e.call.get(), &CallQueue::on_reply, &e, e.timeout_usec);
    if (r < 0) return r;
    e.slot.reset(slot);
    e.call.reset();
    ++in_flight_;
    return 0;
}

int CallQueue::on_reply(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* e = static_cast<QueuedCall::Entry*>(userdata);
    CallQueue* self = e->queue;
    --self->in_flight_;
    int r = 0;
    if (e->is_floating) {
        if (e->floating) e->floating(m);
    } else if (e->owner) {
        // The owner stays true while its handler runs (it may reset or destroy it).
        QueuedCall* owner = e->owner;
        r = e->handler(m, e->userdata, error);
        if (e->owner == owner) owner->entry_ = nullptr;
    }
    // sd-bus holds its own reference to the slot while this callback runs.
    self->erase(e);
    self->pump();
    return r;
}

void CallQueue::pump() {
    while (in_flight_ < max_in_flight_ && !queue_.empty()) {
        QueuedCall::Entry* e = queue_.front();
        queue_.pop_front();
        e->queued = false;
        if (!e->owner && !e->is_floating) {
            erase(e);  // cancelled while queued
            continue;
        }
        if (int r = send(*e); r < 0) {
            SendFailed failed = std::move(e->failed);
            if (e->owner) e->owner->entry_ = nullptr;
            erase(e);
            if (failed) failed(r);
        }
    }
}

void CallQueue::cancel(QueuedCall::Entry* e) noexcept {
    e->owner = nullptr;
    e->failed = nullptr;
    // Queued: dropped when its turn comes. Sent: counted until its reply.
    if (e->queued) e->call.reset();
}

void CallQueue::erase(QueuedCall::Entry* e) noexcept { entries_.erase(e->self); }

}  // namespace rsm::bus
