#include "unix_sockets.hpp"

#include <algorithm>
#include <charconv>
#include <dirent.h>
#include <cerrno>
#include <fcntl.h>
#include <utility>
#include <unistd.h>

#include "util/fd.hpp"

namespace rsm::unix_sockets {

namespace {

constexpr unsigned long so_acceptcon = 0x10000;  // __SO_ACCEPTCON: a listening socket
constexpr unsigned long ss_connected = 3;        // socket_state SS_CONNECTED

template <typename T>
bool number(std::string_view s, T& out, int base) {
    if (s.empty()) return false;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
    return ec == std::errc{} && end == s.data() + s.size();
}

// One line: seven space-separated fields, then " path" (optional).
bool parse_line(std::string_view rest, Entry& e) {
    std::string_view field[7];
    for (auto& f : field) {
        const auto start = rest.find_first_not_of(' ');
        if (start == std::string_view::npos) return false;
        rest.remove_prefix(start);
        const auto end = rest.find(' ');
        f = rest.substr(0, end);
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    }
    unsigned long flags = 0, state = 0;
    if (!number(field[3], flags, 16) || !number(field[5], state, 16) || !number(field[6], e.inode, 10)) return false;
    e.listening = (flags & so_acceptcon) != 0;
    e.connected = state == ss_connected;
    e.path = rest.size() >= 2 ? std::string(rest.substr(1)) : std::string();
    return true;
}

std::vector<Entry> read_table() { return parse_table(system_table_text()); }

}  // namespace

std::vector<Entry> parse_table(std::string_view text) {
    std::vector<Entry> entries;
    bool header = true;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        const std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (std::exchange(header, false)) continue;
        Entry e;
        if (parse_line(line, e) && !e.path.empty()) entries.push_back(std::move(e));
    }
    return entries;
}

std::string system_table_text() {
    UniqueFd fd{::open("/proc/net/unix", O_RDONLY | O_CLOEXEC | O_NOCTTY)};
    if (!fd) return {};
    std::string text;
    char buf[16384];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    return text;
}

std::set<unsigned long> held_by(pid_t pid) {
    std::set<unsigned long> inodes;
    const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = opendir(dir.c_str());
    if (!d) return inodes;
    while (const dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        char target[64] = {};
        const ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof target - 1);
        if (n <= 0) continue;
        const std::string_view t{target, static_cast<std::size_t>(n)};
        if (!t.starts_with("socket:[") || !t.ends_with(']')) continue;
        unsigned long inode = 0;
        if (number(t.substr(8, t.size() - 9), inode, 10)) inodes.insert(inode);
    }
    closedir(d);
    return inodes;
}

bool listens_on(pid_t pid, const std::string& path) noexcept {
    try {
        auto table = read_table();
        std::erase_if(table, [&](const Entry& e) { return !e.listening || e.path != path; });
        if (table.empty()) return false;
        const auto held = held_by(pid);
        return std::any_of(table.begin(), table.end(), [&](const Entry& e) { return held.count(e.inode) > 0; });
    } catch (...) {
        return false;
    }
}

std::size_t accepted_on(pid_t pid, const std::string& path) noexcept {
    try {
        auto table = read_table();
        std::erase_if(table, [&](const Entry& e) { return e.listening || !e.connected || e.path != path; });
        if (table.empty()) return 0;
        const auto held = held_by(pid);
        return static_cast<std::size_t>(
            std::count_if(table.begin(), table.end(), [&](const Entry& e) { return held.count(e.inode) > 0; }));
    } catch (...) {
        return 0;
    }
}

}  // namespace rsm::unix_sockets
