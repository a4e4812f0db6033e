#include "util/safe_path.hpp"

#include <cerrno>
#include <fcntl.h>
#include <stdexcept>
#include <system_error>
#include <unistd.h>

namespace rsm::safe {
namespace {

[[noreturn]] void fail(int e, const std::string& what) { throw std::system_error(e, std::generic_category(), what); }

// A planted entry between unlinkat and openat(O_EXCL) is retried this often,
// then the caller gets EEXIST: a user racing us only makes their own file fail.
constexpr int create_attempts = 3;

}  // namespace

UniqueFd open_directory(const std::string& path, std::optional<uid_t> owner) {
    UniqueFd fd{::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
    if (!fd) fail(errno, "open directory " + path);
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) fail(errno, "fstat " + path);
    if (owner && st.st_uid != *owner)
        fail(EPERM, path + " belongs to uid " + std::to_string(st.st_uid) + ", not " + std::to_string(*owner));
    return fd;
}

UniqueFd open_regular(int dir_fd, const std::string& name, std::optional<uid_t> owner) {
    UniqueFd fd{::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)};
    if (!fd) fail(errno, "open " + name);
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) fail(errno, "fstat " + name);
    if (!S_ISREG(st.st_mode)) fail(EINVAL, name + " is not a regular file");
    if (owner && st.st_uid != *owner)
        fail(EPERM, name + " belongs to uid " + std::to_string(st.st_uid) + ", not " + std::to_string(*owner));
    return fd;
}

UniqueFd create_fresh(int dir_fd, const std::string& name, mode_t mode, uid_t owner) {
    for (int attempt = 1;; ++attempt) {
        // unlinkat never follows a symlink: the link goes, not its target.
        if (::unlinkat(dir_fd, name.c_str(), 0) < 0 && errno != ENOENT) fail(errno, "unlink " + name);
        // O_EXCL: never an existing entry, so never a FIFO, device or link.
        UniqueFd fd{::openat(dir_fd, name.c_str(),
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, mode)};
        if (!fd) {
            if (errno == EEXIST && attempt < create_attempts) continue;
            fail(errno, "create " + name);
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) < 0) fail(errno, "fstat " + name);
        if (!S_ISREG(st.st_mode)) fail(EINVAL, name + " is not a regular file");
        if (st.st_uid != owner) {
            (void)::unlinkat(dir_fd, name.c_str(), 0);
            fail(EPERM, name + " was created for uid " + std::to_string(st.st_uid) + ", not " + std::to_string(owner));
        }
        return fd;
    }
}

int remove_entry(int dir_fd, const std::string& name, mode_t type, std::optional<uid_t> owner) {
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) return -errno;
    if (S_ISDIR(st.st_mode) || (type != 0 && (st.st_mode & S_IFMT) != type)) return -EPERM;
    if (owner && st.st_uid != *owner) return -EPERM;
    return ::unlinkat(dir_fd, name.c_str(), 0) < 0 ? -errno : 0;
}

std::pair<std::string, std::string> split_path(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) throw std::invalid_argument(path + ": no directory part");
    std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    std::string name = path.substr(slash + 1);
    if (name.empty() || name == "." || name == "..") throw std::invalid_argument(path + ": no file name");
    return {std::move(dir), std::move(name)};
}

}  // namespace rsm::safe
