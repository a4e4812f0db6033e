#include "session/display_allocator.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdexcept>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

#include "session/nx_display.hpp"
#include "util/fd.hpp"
#include "util/safe_path.hpp"
#include "util/unix_sockets.hpp"

namespace rsm::session {
namespace {

constexpr std::string_view x11_socket_prefix = "/tmp/.X11-unix/X";

// "X<n>" as an X server names it (no sign, no leading zero).
std::optional<unsigned> display_of(std::string_view digits) {
    unsigned n = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec != std::errc{} || end != digits.data() + digits.size() || digits.empty() ||
        (digits.size() > 1 && digits.front() == '0'))
        return std::nullopt;
    return n;
}

}  // namespace

std::set<unsigned> x_displays_listening(std::string_view text) {
    std::set<unsigned> out;
    for (const auto& e : unix_sockets::parse_table(text)) {
        if (!e.listening) continue;
        std::string_view path = e.path;
        if (path.front() == '@') path.remove_prefix(1);  // the abstract name
        if (!path.starts_with(x11_socket_prefix)) continue;
        if (auto n = display_of(path.substr(x11_socket_prefix.size()))) out.insert(*n);
    }
    return out;
}

std::set<unsigned> x_displays_listening() { return x_displays_listening(unix_sockets::system_table_text()); }

bool x_display_in_use_under(const std::string& tmp_dir, unsigned n, const std::set<unsigned>& listening) {
    if (listening.count(n)) return true;
    struct stat st {};
    const std::string path = tmp_dir + "/.X11-unix/X" + std::to_string(n);
    return ::lstat(path.c_str(), &st) == 0 || (errno != ENOENT && errno != ENOTDIR);
}

bool x_display_in_use(unsigned n) {
    // The file first: it is the cheap answer for every number a server holds.
    return x_display_in_use_under("/tmp", n) || x_displays_listening().count(n) != 0;
}

bool remove_stale_x_display_under(const std::string& tmp_dir, unsigned n, uid_t owner,
                                  const std::set<unsigned>& listening, std::optional<uid_t> dir_owner) {
    if (listening.count(n)) return false;
    try {
        // /tmp/.X11-unix is root's (systemd-tmpfiles' x11.conf); one a user
        // made in its place is theirs to clean.
        const UniqueFd dir = safe::open_directory(tmp_dir + "/.X11-unix", dir_owner);
        return safe::remove_entry(dir.get(), "X" + std::to_string(n), S_IFSOCK, owner) == 0;
    } catch (const std::exception&) {
        return false;
    }
}

bool remove_stale_x_display(unsigned n, uid_t owner) {
    return remove_stale_x_display_under("/tmp", n, owner, x_displays_listening(), 0);
}

bool loopback_port_in_use(unsigned port) {
    if (port == 0 || port > 65535) return true;
    // No SO_REUSEADDR: a port a lingering connection (TIME_WAIT) still holds
    // counts as taken too; the next number will do.
    const UniqueFd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (!fd) return true;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0;
}

bool nx_port_in_use(unsigned n) { return n <= 65535 - nx_port_base && loopback_port_in_use(nx_port_base + n); }

DisplayAllocator::DisplayAllocator(unsigned first, unsigned last, Probe probe) : probe_{std::move(probe)} {
    set_range(first, last);
}

void DisplayAllocator::set_range(unsigned first, unsigned last) {
    if (first > last) {
        throw std::invalid_argument("display range " + std::to_string(first) + ".." + std::to_string(last) +
                                    ": first is greater than last");
    }
    first_ = first;
    last_ = last;
}

std::optional<unsigned> DisplayAllocator::allocate(const Probe& also_taken) {
    for (unsigned n = first_;; ++n) {
        if (!reserved(n) && !(probe_ && probe_(n)) && !(also_taken && also_taken(n))) {
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
