// The executor links a restarted manager takes back from systemd's fd store
// must be read up to their resync marker (bus/link_resync.hpp) before a new
// D-Bus connection can start on them. LinkRecovery does that in the event
// loop, for all links at once and against one deadline: the manager sends
// READY=1 without waiting for any executor, and an executor that never writes
// its marker (stopped, hung, or gone without closing the socket) is dropped
// at the deadline without delaying the others.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <systemd/sd-event.h>

#include "bus/link_resync.hpp"
#include "session/record.hpp"
#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm::manager {

class LinkRecovery {
public:
    // One link's outcome: `fd` positioned just after the marker and error 0,
    // or an empty fd and -ETIMEDOUT (the deadline), -ECONNRESET (EOF) or
    // another -errno. `record` is what add() was given.
    using Done = std::function<void(const std::string& id, session::Record record, UniqueFd fd, int error)>;

    // The deadline runs from construction, for every link added later too.
    LinkRecovery(sd_event* event, std::chrono::milliseconds deadline, Done done);
    ~LinkRecovery();  // pending links are closed (the fd store keeps its copies); `done` never runs
    LinkRecovery(const LinkRecovery&) = delete;
    LinkRecovery& operator=(const LinkRecovery&) = delete;

    // Reads what the link holds now; if the marker (or EOF) is already there,
    // `done` runs before add() returns, else the link waits in the loop.
    void add(const std::string& id, session::Record record, UniqueFd fd);

    // The record of a link still waiting for its marker, or nullptr.
    const session::Record* pending(const std::string& id) const;
    std::size_t size() const noexcept { return pending_.size(); }

private:
    struct Link {
        LinkRecovery* owner = nullptr;
        std::string id;
        session::Record record;
        UniqueFd fd;
        bus::ResyncReader reader;
        EventSourcePtr io;
    };
    static int on_io(sd_event_source* s, int fd, uint32_t events, void* userdata);
    static int on_deadline(sd_event_source* s, uint64_t usec, void* userdata);
    // Feeds the link; finishes it unless it needs more bytes.
    void feed(Link& link);
    void finish(const std::string& id, int error);

    sd_event* event_;
    Done done_;
    uint64_t deadline_usec_ = 0;  // CLOCK_MONOTONIC
    EventSourcePtr timer_;
    std::map<std::string, std::unique_ptr<Link>> pending_;
};

}  // namespace rsm::manager
