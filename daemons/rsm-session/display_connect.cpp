#include "display_connect.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace rsm::session {
namespace {

[[noreturn]] void fail(int e, const std::string& what) { throw std::system_error(e, std::generic_category(), what); }

// The executor's effective ids and groups are the user's while alive (see the
// header for why this is safe here); the destructor puts root's back or
// aborts.
class EffectiveIds {
public:
    EffectiveIds(uid_t uid, gid_t gid) : euid_{geteuid()}, egid_{getegid()} {
        const int n = getgroups(0, nullptr);
        if (n < 0) fail(errno, "getgroups");
        groups_.resize(static_cast<std::size_t>(n));
        if (n > 0 && getgroups(n, groups_.data()) < 0) fail(errno, "getgroups");
        dumpable_ = prctl(PR_GET_DUMPABLE);
        // Groups first: once the euid is not 0 they cannot be changed.
        if (setgroups(0, nullptr) < 0) fail(errno, "setgroups");
        if (setresgid(static_cast<gid_t>(-1), gid, static_cast<gid_t>(-1)) < 0) {
            const int e = errno;
            restore();
            fail(e, "setresgid(" + std::to_string(gid) + ")");
        }
        if (setresuid(static_cast<uid_t>(-1), uid, static_cast<uid_t>(-1)) < 0) {
            const int e = errno;
            restore();
            fail(e, "setresuid(" + std::to_string(uid) + ")");
        }
        switched_uid_ = true;
    }
    ~EffectiveIds() { restore(); }
    EffectiveIds(const EffectiveIds&) = delete;
    EffectiveIds& operator=(const EffectiveIds&) = delete;

private:
    void restore() noexcept {
        // The real and saved uid are still 0: this cannot fail short of a
        // kernel refusing; running on with the user's ids would be worse.
        if (switched_uid_ && setresuid(static_cast<uid_t>(-1), euid_, static_cast<uid_t>(-1)) < 0) abort();
        switched_uid_ = false;
        if (setresgid(static_cast<gid_t>(-1), egid_, static_cast<gid_t>(-1)) < 0) abort();
        if (setgroups(groups_.size(), groups_.data()) < 0) abort();
        // The id change made the process non-dumpable; as root again it may
        // be what it was.
        if (dumpable_ >= 0) (void)prctl(PR_SET_DUMPABLE, dumpable_);
    }

    uid_t euid_;
    gid_t egid_;
    std::vector<gid_t> groups_;
    int dumpable_ = -1;
    bool switched_uid_ = false;
};

}  // namespace

UniqueFd connect_as_user(const std::string& path, uid_t uid, gid_t gid) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof sa.sun_path) fail(ENAMETOOLONG, "display socket path " + path);
    path.copy(sa.sun_path, path.size());

    UniqueFd fd;
    int error = 0;
    {
        // An executor that is not root (tests) connects as itself: it has
        // nothing to lend.
        std::optional<EffectiveIds> as_user;
        if (geteuid() == 0) as_user.emplace(uid, gid);
        // The socket too: its creator's credentials are the file's (f_cred).
        fd.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!fd)
            error = errno;
        else if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) < 0)
            error = errno;
    }
    if (error) fail(error, "connect to " + path);
    return fd;
}

std::string check_display_peer(int fd, pid_t pid, uid_t uid) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return std::string("SO_PEERCRED: ") + std::strerror(errno);
    if (pid > 0 && cred.pid == pid && cred.uid == uid) return {};
    return "peer is pid " + std::to_string(cred.pid) + " uid " + std::to_string(cred.uid) + ", expected pid " +
           std::to_string(pid) + " uid " + std::to_string(uid);
}

}  // namespace rsm::session
