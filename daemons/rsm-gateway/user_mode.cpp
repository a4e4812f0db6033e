#include "user_mode.hpp"

#include <cerrno>
#include <cstring>
#include <pwd.h>
#include <unistd.h>
#include <vector>

namespace rsm::gateway {

bool user_mode_admits(const std::optional<ServedUser>& served, std::string_view requested) {
    return !served || (!served->name.empty() && requested == served->name);
}

bool user_mode_admits_uid(const std::optional<ServedUser>& served, uid_t logged_in) {
    return !served || logged_in == served->uid;
}

std::optional<ServedUser> served_user_of(uid_t uid, std::string& error) {
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buf(static_cast<std::size_t>(size > 0 ? size : 16384));
    passwd pw{};
    passwd* found = nullptr;
    int r;
    while ((r = getpwuid_r(uid, &pw, buf.data(), buf.size(), &found)) == ERANGE && buf.size() < (1u << 20))
        buf.resize(buf.size() * 2);
    if (r != 0) {
        error = std::string("getpwuid_r: ") + std::strerror(r);
        return std::nullopt;
    }
    if (!found || !pw.pw_name || !*pw.pw_name) {
        error = "uid " + std::to_string(uid) + " has no passwd entry";
        return std::nullopt;
    }
    return ServedUser{pw.pw_name, uid};
}

}  // namespace rsm::gateway
