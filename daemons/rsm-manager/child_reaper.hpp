// Reaps every child the manager spawns (executors) and reports how it ended.
// Child sources live here, not in the objects that spawned the children, so a
// child is reaped even after its owner (a gateway connection) is gone.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "util/handles.hpp"

namespace rsm::manager {

class ChildReaper {
public:
    explicit ChildReaper(sd_event* event) : event_(event) {}

    // Watches `pid`; `on_exit` (may be empty) runs once with the siginfo
    // si_code/si_status when it exits. Requires SIGCHLD blocked (main does).
    void watch(pid_t pid, std::string name, std::function<void(const siginfo_t&)> on_exit = {});
    // Sends `signal` to `pid` if it is a child not reaped yet (through its
    // pidfd where the kernel has them: never a recycled pid). Returns false
    // if it is not watched or the signal could not be sent.
    bool kill(pid_t pid, int signal) noexcept;
    // Children not reaped yet (exit-on-idle waits for them).
    std::size_t size() const { return children_.size(); }

private:
    struct Child {
        std::string name;
        std::function<void(const siginfo_t&)> on_exit;
        EventSourcePtr source;
    };
    static int on_child(sd_event_source* s, const siginfo_t* si, void* userdata);

    sd_event* event_;
    std::map<pid_t, Child> children_;
};

}  // namespace rsm::manager
