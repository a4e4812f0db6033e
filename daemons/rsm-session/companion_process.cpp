#include "companion_process.hpp"

#include <charconv>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <set>
#include <string_view>
#include <unistd.h>

namespace rsm::session::companion {

namespace {

constexpr unsigned long so_acceptcon = 0x10000;  // __SO_ACCEPTCON: a listening socket

// The inodes of listening sockets bound to `path`, from /proc/net/unix:
//   Num: RefCount Protocol Flags Type St Inode Path
std::set<unsigned long> listening_inodes(const std::string& path) {
    std::set<unsigned long> inodes;
    std::ifstream in("/proc/net/unix");
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
        std::string_view rest{line};
        std::string_view field[7];
        bool ok = true;
        for (auto& f : field) {
            const auto start = rest.find_first_not_of(' ');
            if (start == std::string_view::npos) {
                ok = false;
                break;
            }
            rest.remove_prefix(start);
            const auto end = rest.find(' ');
            f = rest.substr(0, end);
            rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
        }
        if (!ok || rest.size() < 2) continue;
        rest.remove_prefix(1);  // the one space before the path
        if (rest != path) continue;
        unsigned long flags = 0, inode = 0;
        if (std::from_chars(field[3].data(), field[3].data() + field[3].size(), flags, 16).ec != std::errc{}) continue;
        if (std::from_chars(field[6].data(), field[6].data() + field[6].size(), inode).ec != std::errc{}) continue;
        if (flags & so_acceptcon) inodes.insert(inode);
    }
    return inodes;
}

}  // namespace

bool listens_on(pid_t pid, const std::string& path) noexcept {
    try {
        const auto inodes = listening_inodes(path);
        if (inodes.empty()) return false;
        const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
        DIR* d = opendir(dir.c_str());
        if (!d) return false;
        bool found = false;
        while (const dirent* e = readdir(d)) {
            if (e->d_name[0] == '.') continue;
            char target[64] = {};
            const ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof target - 1);
            if (n <= 0) continue;
            const std::string_view t{target, static_cast<std::size_t>(n)};
            if (!t.starts_with("socket:[") || !t.ends_with(']')) continue;
            unsigned long inode = 0;
            const auto digits = t.substr(8, t.size() - 9);
            if (std::from_chars(digits.data(), digits.data() + digits.size(), inode).ec != std::errc{}) continue;
            if (inodes.count(inode)) {
                found = true;
                break;
            }
        }
        closedir(d);
        return found;
    } catch (...) {
        return false;
    }
}

}  // namespace rsm::session::companion
