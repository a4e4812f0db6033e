#include "child_reaper.hpp"

#include <sys/wait.h>

#include "bus/error.hpp"
#include "util/log.hpp"

namespace rsm::manager {

void ChildReaper::watch(pid_t pid, std::string name, std::function<void(const siginfo_t&)> on_exit) {
    sd_event_source* raw = nullptr;
    bus::check(sd_event_add_child(event_, &raw, pid, WEXITED, &ChildReaper::on_child, this),
               "sd_event_add_child");
    children_[pid] = Child{std::move(name), std::move(on_exit), EventSourcePtr{raw}};
}

bool ChildReaper::kill(pid_t pid, int signal) noexcept {
    auto it = children_.find(pid);
    if (it == children_.end()) return false;
    return sd_event_source_send_child_signal(it->second.source.get(), signal, nullptr, 0) >= 0;
}

int ChildReaper::on_child(sd_event_source*, const siginfo_t* si, void* userdata) {
    auto* self = static_cast<ChildReaper*>(userdata);
    auto node = self->children_.extract(si->si_pid);
    if (node.empty()) return 0;
    Child& child = node.mapped();
    const bool exited = si->si_code == CLD_EXITED;
    log::Fields fields{{"RSM_CHILD", child.name},
                       {"RSM_CHILD_PID", std::to_string(si->si_pid)},
                       {exited ? "RSM_EXIT_STATUS" : "RSM_EXIT_SIGNAL", std::to_string(si->si_status)}};
    if (exited && si->si_status == 0)
        log::debug("Child exited", fields);
    else
        log::warning(exited ? "Child exited with an error" : "Child was killed by a signal", fields);
    // The source is freed with the node, after the callback: sd-event allows
    // unreferencing a child source from within its own dispatch.
    if (child.on_exit) child.on_exit(*si);
    return 0;
}

}  // namespace rsm::manager
