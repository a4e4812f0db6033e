#include "session_entry.hpp"

namespace rsm::manager {

std::string executor_fd_name(const std::string& id) { return "executor-" + id; }

log::Fields session_fields(const session::Record& r) {
    return {{"RSM_SESSION_ID", r.id}, {"USER", r.user}, {"RSM_UID", std::to_string(r.uid)},
            {"RSM_DISPLAY_TYPE", r.type}, {"UNIT", r.unit}};
}

// Record fields the executor owns, by record-file KEY, and whether they differ.
std::vector<std::string> merge_from_executor(session::Record& into, const session::Record& from) {
    std::vector<std::string> changed;
    auto set = [&](auto& dst, const auto& src, const char* key) {
        if (dst != src) {
            dst = src;
            changed.emplace_back(key);
        }
    };
    set(into.state, from.state, "STATE");
    set(into.display, from.display, "DISPLAY");
    if (from.display_number >= 0) set(into.display_number, from.display_number, "DISPLAY_NUMBER");
    if (from.leader_pid) set(into.leader_pid, from.leader_pid, "LEADER_PID");
    if (from.executor_pid) set(into.executor_pid, from.executor_pid, "EXECUTOR_PID");
    set(into.logind_session, from.logind_session, "LOGIND_SESSION");
    set(into.client_address, from.client_address, "CLIENT_ADDRESS");
    set(into.client_name, from.client_name, "CLIENT_NAME");
    if (from.created_usec) set(into.created_usec, from.created_usec, "CREATED_USEC");
    set(into.connected_usec, from.connected_usec, "CONNECTED_USEC");
    set(into.disconnected_usec, from.disconnected_usec, "DISCONNECTED_USEC");
    return changed;
}

}  // namespace rsm::manager
