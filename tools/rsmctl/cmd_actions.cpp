// rsmctl terminate, disconnect, terminate-user and reload: calls that act,
// each of which polkit may ask a password for.
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <pwd.h>

#include "client.hpp"

namespace rsm::ctl {

int Client::act(const std::vector<std::string>& ids, const char* method, const char* doing) {
    prepare_prompting();
    int result = exit_ok;
    for (const auto& id : ids) {
        if (!valid_session_id(id)) {
            std::fprintf(stderr, "rsmctl: '%s' is not a session id (32 lower-case hex digits)\n", id.c_str());
            merge_exit(result, exit_usage);
            continue;
        }
        merge_exit(result, call(
                               manager_bus_name, manager_path, manager_interface, method,
                               [&](sd_bus_message* m) { return sd_bus_message_append(m, "s", id.c_str()); },
                               nullptr, std::string("Could not ") + doing + " session " + id, true));
    }
    return result;
}

int Client::terminate_user(const std::vector<std::string>& users) {
    prepare_prompting();
    int result = exit_ok;
    for (const auto& user : users) {
        uint32_t uid = 0;
        if (const passwd* pw = getpwnam(user.c_str())) {
            uid = pw->pw_uid;
        } else {
            char* end = nullptr;
            errno = 0;
            const unsigned long n = std::strtoul(user.c_str(), &end, 10);
            if (user.empty() || !std::isdigit(static_cast<unsigned char>(user[0])) || errno || *end ||
                n >= UINT32_MAX) {
                std::fprintf(stderr, "rsmctl: no such user: %s\n", user.c_str());
                merge_exit(result, exit_no_such);
                continue;
            }
            uid = static_cast<uint32_t>(n);
        }
        merge_exit(result, call(
                               manager_bus_name, manager_path, manager_interface, "TerminateUser",
                               [&](sd_bus_message* m) { return sd_bus_message_append(m, "u", uid); }, nullptr,
                               "Could not terminate the sessions of " + user, true));
    }
    return result;
}

int Client::reload() {
    prepare_prompting();
    return call(manager_bus_name, manager_path, manager_interface, "Reload", nullptr, nullptr,
                "Could not reload the configuration", true);
}

}  // namespace rsm::ctl
