#include "access/system_accounts.hpp"

#include <cerrno>
#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>
#include <system_error>

namespace rsm::access {
namespace {

constexpr std::string_view blanks = " \t\r\v\f";

std::string_view trim(std::string_view s) {
    const auto b = s.find_first_not_of(blanks);
    if (b == std::string_view::npos) return {};
    const auto e = s.find_last_not_of(blanks);
    return s.substr(b, e - b + 1);
}

// Calls fn(line) for every line of `text` without its newline.
template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
    while (!text.empty()) {
        const auto nl = text.find('\n');
        fn(text.substr(0, nl));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
}

// A uid as shadow writes it in login.defs: decimal (shadow also takes 0x..
// and 0.. prefixes, which nobody uses for UID_MIN; we take decimal only).
std::optional<uid_t> parse_uid(std::string_view s) {
    unsigned long v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
    // uid_t is 32 bits; (uid_t)-1 is "no uid".
    if (v >= static_cast<unsigned long>(static_cast<uid_t>(-1))) return std::nullopt;
    return static_cast<uid_t>(v);
}

// The whole file, or nullopt if it does not exist.
std::optional<std::string> read_file(const std::string& path) {
    errno = 0;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int e = errno;
        if (e == ENOENT) return std::nullopt;
        throw std::system_error(e ? e : EIO, std::generic_category(), "reading " + path);
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw std::system_error(EIO, std::generic_category(), "reading " + path);
    return std::move(text).str();
}

}  // namespace

uid_t parse_uid_min(std::string_view login_defs) {
    uid_t uid_min = default_uid_min;
    for_each_line(login_defs, [&](std::string_view line) {
        line = trim(line);
        if (line.empty() || line.front() == '#') return;
        const auto sep = line.find_first_of(blanks);
        if (sep == std::string_view::npos || line.substr(0, sep) != "UID_MIN") return;
        std::string_view value = trim(line.substr(sep));
        // shadow strips double quotes around values.
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        if (auto v = parse_uid(value)) uid_min = *v;
    });
    return uid_min;
}

std::vector<std::string> parse_shells(std::string_view etc_shells) {
    std::vector<std::string> shells;
    for_each_line(etc_shells, [&](std::string_view line) {
        line = trim(line);
        if (line.empty() || line.front() != '/') return;  // comments and junk
        // The path ends at the first blank or comment (glibc does the same).
        const auto end = line.find_first_of(" \t#");
        shells.emplace_back(line.substr(0, end));
    });
    return shells;
}

bool shell_listed(const std::vector<std::string>& shells, std::string_view shell) {
    if (shell.empty()) shell = "/bin/sh";
    for (const auto& s : shells)
        if (s == shell) return true;
    return false;
}

SystemAccounts read_system_accounts(const std::string& login_defs_path, const std::string& shells_path) {
    SystemAccounts sys;
    if (auto text = read_file(login_defs_path)) sys.uid_min = parse_uid_min(*text);
    if (auto text = read_file(shells_path))
        sys.shells = parse_shells(*text);
    else
        sys.shells = {"/bin/sh", "/bin/csh"};
    return sys;
}

}  // namespace rsm::access
