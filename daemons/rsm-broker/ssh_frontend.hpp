// rsm-broker as a command (x2goclient's ssh:// broker URL runs it over SSH,
// as ForceCommand or the user's shell): SSH already authenticated the
// user, so the user is the caller's own account; --user may only name it
// (or anyone, for root). The output is the HTTP body, byte for byte.
//   rsm-broker --task listsessions|selectsession|testcon|setpass
//              [--user U] [--sid S] [--authid A] [--config PATH]
#pragma once

#include <string>
#include <vector>

namespace rsm::broker {

// Runs the task; the process's exit status.
int run_ssh_frontend(const std::string& config_path, const std::vector<std::string>& args);

}  // namespace rsm::broker
