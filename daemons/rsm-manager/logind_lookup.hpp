// Which logind session a session leader opened, when the executor never
// said (a start that timed out with the leader stuck in a PAM session module
// after pam_systemd: the "opened" line comes only once pam_open_session
// returns). Asks logind GetSessionByPID(leader) and believes the answer
// only if that session's Leader is that pid and its User the session's uid,
// so that a pid reused by another process names nobody's session. All
// asynchronous on the manager's system bus.
#pragma once

#include <functional>
#include <string>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "util/handles.hpp"

namespace rsm::manager {

class LogindLeaderLookup {
public:
    // `found` runs once, from the loop: the session id, or "" (none, or not
    // that leader's / that user's). Destroying the lookup cancels it.
    // Throws std::system_error if the call cannot be sent.
    LogindLeaderLookup(sd_bus* system_bus, pid_t leader, uid_t uid, std::function<void(std::string id)> found);
    LogindLeaderLookup(const LogindLeaderLookup&) = delete;
    LogindLeaderLookup& operator=(const LogindLeaderLookup&) = delete;

private:
    static int on_session(sd_bus_message* m, void* userdata, sd_bus_error*);
    static int on_properties(sd_bus_message* m, void* userdata, sd_bus_error*);
    void finish(std::string id);

    sd_bus* bus_;
    pid_t leader_;
    uid_t uid_;
    std::function<void(std::string)> found_;
    SlotPtr call_;
};

}  // namespace rsm::manager
