#include "session/display_allocator.hpp"

#include <cerrno>
#include <charconv>
#include <csignal>
#include <fcntl.h>
#include <stdexcept>
#include <string_view>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/fd.hpp"

namespace rsm::session {
namespace {

// Exists in any form, or cannot be checked.
bool path_taken(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 || (errno != ENOENT && errno != ENOTDIR);
}

// A UNIX socket file nobody listens on any more (connect() is refused) is
// removed; a listening one, or anything that is not a socket, stays.
bool remove_unanswered_socket(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) < 0 || !S_ISSOCK(st.st_mode)) return false;
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) return false;
    path.copy(sa.sun_path, path.size());
    UniqueFd s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (!s) return false;
    if (::connect(s.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0 || errno != ECONNREFUSED)
        return false;
    return ::unlink(path.c_str()) == 0;
}

}  // namespace

bool x_display_in_use_under(const std::string& tmp_dir, unsigned n) {
    const std::string number = std::to_string(n);
    return path_taken(tmp_dir + "/.X11-unix/X" + number) || path_taken(tmp_dir + "/.X" + number + "-lock");
}

bool x_display_in_use(unsigned n) { return x_display_in_use_under("/tmp", n); }

bool remove_stale_x_display_under(const std::string& tmp_dir, unsigned n) {
    const std::string number = std::to_string(n);
    const std::string lock = tmp_dir + "/.X" + number + "-lock";
    // The X server writes its pid as ten right-aligned characters and '\n'.
    const std::string socket_path = tmp_dir + "/.X11-unix/X" + number;
    UniqueFd fd{::open(lock.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
    if (!fd) return errno == ENOENT && remove_unanswered_socket(socket_path);
    char buf[32] = {};
    const ssize_t len = ::read(fd.get(), buf, sizeof buf - 1);
    if (len <= 0) return false;
    std::string_view text{buf, static_cast<std::size_t>(len)};
    while (!text.empty() && (text.front() == ' ')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    pid_t pid = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
    if (ec != std::errc{} || end != text.data() + text.size() || pid <= 0) return false;
    if (::kill(pid, 0) == 0 || errno != ESRCH) return false;
    (void)::unlink(socket_path.c_str());
    return ::unlink(lock.c_str()) == 0;
}

bool remove_stale_x_display(unsigned n) { return remove_stale_x_display_under("/tmp", n); }

DisplayAllocator::DisplayAllocator(unsigned first, unsigned last, Probe probe)
    : first_{first}, last_{last}, probe_{std::move(probe)} {
    if (first > last) {
        throw std::invalid_argument("display range " + std::to_string(first) + ".." + std::to_string(last) +
                                    ": first is greater than last");
    }
}

std::optional<unsigned> DisplayAllocator::allocate() {
    for (unsigned n = first_;; ++n) {
        if (!reserved(n) && !(probe_ && probe_(n))) {
            used_.insert(n);
            return n;
        }
        if (n == last_)  // before ++n, so last_ == UINT_MAX cannot wrap
            return std::nullopt;
    }
}

void DisplayAllocator::reserve(unsigned n) { used_.insert(n); }

void DisplayAllocator::release(unsigned n) { used_.erase(n); }

}  // namespace rsm::session
