// SessionRegistry::find_by_pid: which session a process belongs to, from its
// cgroup (for the admin bus's GetSessionByPID and polkit subjects).
#include "session_registry.hpp"

#include <cstdlib>
#include <string_view>
#include <systemd/sd-login.h>

#include "session/session_id.hpp"
#include "session_entry.hpp"

namespace rsm::manager {

// Asks sd-login, which reads the cgroup path the way systemd names units:
// sd_pid_get_unit() is the *system* unit (a user's own
// `systemd-run --user --scope --unit=rsm-session-<id>` is a user unit inside
// user@<uid>.service and never matches), sd_pid_get_session() the logind
// session. Either answer must agree with what the record says of the session.
const session::Record* SessionRegistry::find_by_pid(pid_t pid) const {
    if (pid <= 0) return nullptr;
    auto owned = [](char* raw) {
        std::string out = raw ? raw : "";
        free(raw);
        return out;
    };
    // The executor's scope (and, without pam_systemd, the whole session).
    char* raw = nullptr;
    if (sd_pid_get_unit(pid, &raw) >= 0) {
        const std::string unit = owned(raw);
        constexpr std::string_view prefix = "rsm-session-", suffix = ".scope";
        if (unit.size() > prefix.size() + suffix.size() && unit.starts_with(prefix) && unit.ends_with(suffix)) {
            const std::string id = unit.substr(prefix.size(), unit.size() - prefix.size() - suffix.size());
            const Entry* e = session::valid_session_id(id) ? lookup(id) : nullptr;
            // The record must name this scope, and its executor must live in it.
            if (e && e->record.unit == unit && e->record.executor_pid) {
                char* exec_unit = nullptr;
                if (sd_pid_get_unit(static_cast<pid_t>(e->record.executor_pid), &exec_unit) >= 0 &&
                    owned(exec_unit) == unit)
                    return &e->record;
            }
            return nullptr;
        }
    }
    // The logind session pam_systemd opened for the leader: the recorded one,
    // of the session's user, with the recorded leader still in it.
    raw = nullptr;
    if (sd_pid_get_session(pid, &raw) < 0) return nullptr;
    const std::string logind = owned(raw);
    uid_t owner = 0;
    if (logind.empty() || sd_session_get_uid(logind.c_str(), &owner) < 0) return nullptr;
    for (auto& [id, e] : entries_) {
        const session::Record& r = e->record;
        if (r.logind_session != logind || r.uid != owner || !r.leader_pid) continue;
        char* leader_session = nullptr;
        if (sd_pid_get_session(static_cast<pid_t>(r.leader_pid), &leader_session) >= 0 &&
            owned(leader_session) == logind)
            return &r;
    }
    return nullptr;
}

}  // namespace rsm::manager
