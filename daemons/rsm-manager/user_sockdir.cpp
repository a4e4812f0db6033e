#include "user_sockdir.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>

#include "util/fd.hpp"

namespace rsm::manager {

std::string ensure_user_sockdir(const std::string& runtime_dir, uid_t uid) {
    const std::string parent = runtime_dir + "/user";
    const std::string name = std::to_string(uid);
    const std::string path = parent + "/" + name;
    auto fail = [](const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); };
    if (mkdir(parent.c_str(), 0755) < 0 && errno != EEXIST) fail("cannot create " + parent);
    UniqueFd dir{open(parent.c_str(), O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)};
    if (!dir) fail("cannot open " + parent);
    if (mkdirat(dir.get(), name.c_str(), 0700) < 0 && errno != EEXIST) fail("cannot create " + path);
    // Open without following links, then fix owner and mode on the fd: a
    // pre-planted symlink or a wrong owner cannot redirect us.
    UniqueFd sock{openat(dir.get(), name.c_str(), O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)};
    if (!sock) fail(path + " is not a directory");
    struct stat st {};
    if (fstat(sock.get(), &st) < 0) fail("cannot stat " + path);
    if (st.st_uid != uid && fchown(sock.get(), uid, static_cast<gid_t>(-1)) < 0) fail("cannot chown " + path);
    if ((st.st_mode & 07777) != 0700 && fchmod(sock.get(), 0700) < 0) fail("cannot chmod " + path);
    return path;
}

UniqueFd open_user_sockdir(const std::string& runtime_dir, uid_t uid) noexcept {
    try {
        UniqueFd dir{open((runtime_dir + "/user").c_str(), O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)};
        if (!dir) return {};
        UniqueFd sock{openat(dir.get(), std::to_string(uid).c_str(), O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)};
        struct stat st {};
        if (!sock || fstat(sock.get(), &st) < 0 || st.st_uid != uid) return {};
        return sock;
    } catch (...) {
        return {};
    }
}

std::string xauthority_file_name(const std::string& session_id) { return "Xauthority-" + session_id; }
std::string vnc_socket_name(const std::string& session_id) { return "vnc-" + session_id; }
std::string xpra_socket_name(const std::string& session_id) { return "xpra-" + session_id; }
std::string nx_options_file_name(const std::string& session_id) { return "nx-options-" + session_id; }
std::string shadow_xauthority_file_name(const std::string& session_id, unsigned display) {
    return "Xauthority-shadow-" + session_id + "-" + std::to_string(display);
}
std::string shadow_options_file_name(const std::string& session_id, unsigned display) {
    return "nx-options-shadow-" + session_id + "-" + std::to_string(display);
}

void remove_session_files(const std::string& runtime_dir, uid_t uid, const std::string& session_id,
                          const log::Fields& f) {
    UniqueFd sockdir = open_user_sockdir(runtime_dir, uid);
    if (!sockdir) return;
    for (const std::string& name : {vnc_socket_name(session_id), xpra_socket_name(session_id), xauthority_file_name(session_id),
                                     nx_options_file_name(session_id)})
        if (unlinkat(sockdir.get(), name.c_str(), 0) < 0 && errno != ENOENT)
            log::warning("Could not remove " + name + " from the socket directory of uid " + std::to_string(uid) +
                             ": " + std::strerror(errno),
                         f);
}

}  // namespace rsm::manager
