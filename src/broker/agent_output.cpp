#include "broker/agent_output.hpp"

#include <charconv>

namespace rsm::broker {

namespace {

bool all_of(std::string_view s, bool (*ok)(char)) {
    for (const char c : s)
        if (!ok(c)) return false;
    return true;
}
bool alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool name_char(char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; }
bool session_char(char c) { return name_char(c) || c == '@' || c == '+'; }
bool user_char(char c) { return name_char(c) || c == '@'; }
bool time_char(char c) { return digit(c) || c == '-' || c == ':' || c == 'T'; }
bool hex_char(char c) { return digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool address_char(char c) { return hex_char(c) || c == '.' || c == ':'; }

bool number(std::string_view s) { return !s.empty() && s.size() <= 20 && all_of(s, digit); }
// Ports and the age are integers; x2goserver writes -1 for some unused ports.
bool optional_signed(std::string_view s) { return s.empty() || number(s[0] == '-' ? s.substr(1) : s); }

std::string shown(std::string_view s) {
    std::string out;
    for (const char c : s.substr(0, 40)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out + (s.size() > 40 ? "..." : "");
}

}  // namespace

bool valid_agent_user(std::string_view user) {
    return !user.empty() && user.size() <= 64 && user[0] != '-' && user[0] != '.' && all_of(user, user_char);
}

bool valid_session_name(std::string_view name) {
    return !name.empty() && name.size() <= 128 && name[0] != '-' && all_of(name, session_char);
}

bool valid_server_name(std::string_view name) {
    return !name.empty() && name.size() <= 253 && name[0] != '-' && all_of(name, name_char);
}

AgentLines parse_agent_reply(std::string_view output) {
    if (output.size() > max_agent_output) return {std::nullopt, "the agent's output is longer than 64 KiB"};
    if (output.find('\0') != std::string_view::npos) return {std::nullopt, "the agent's output contains a NUL byte"};
    std::vector<std::string> lines;
    bool first = true;
    while (!output.empty()) {
        const std::size_t nl = output.find('\n');
        std::string_view line = output.substr(0, nl);
        output = nl == std::string_view::npos ? std::string_view{} : output.substr(nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (first) {
            // x2gobroker: result[0].startswith('OK')
            if (!line.starts_with("OK")) return {std::nullopt, "the agent did not answer OK: '" + shown(line) + "'"};
            first = false;
            continue;
        }
        if (!line.empty()) lines.emplace_back(line);
    }
    if (first) return {std::nullopt, "the agent answered nothing"};
    return {std::move(lines), {}};
}

SessionParse parse_session_line(std::string_view line) {
    if (line.size() > 1024) return {std::nullopt, "session line longer than 1024 bytes"};
    std::vector<std::string_view> f;
    for (std::size_t start = 0;;) {
        const std::size_t bar = line.find('|', start);
        f.push_back(line.substr(start, bar == std::string_view::npos ? std::string_view::npos : bar - start));
        if (bar == std::string_view::npos) break;
        start = bar + 1;
    }
    if (f.size() < 14 || f.size() > 16)
        return {std::nullopt, "session line has " + std::to_string(f.size()) + " fields, not 14 to 16: '" + shown(line) + "'"};
    const auto bad = [&](const char* what) {
        return SessionParse{std::nullopt, std::string("session line: invalid ") + what + ": '" + shown(line) + "'"};
    };
    if (!number(f[0])) return bad("agent pid");
    if (!valid_session_name(f[1])) return bad("session name");
    if (!number(f[2])) return bad("display");
    if (!valid_server_name(f[3])) return bad("server");
    if (f[4].size() != 1 || std::string_view("RSTF").find(f[4][0]) == std::string_view::npos) return bad("status");
    if (!all_of(f[5], time_char) || !all_of(f[10], time_char) || f[5].size() > 32 || f[10].size() > 32) return bad("time");
    if (!all_of(f[6], hex_char) || f[6].size() > 64) return bad("cookie");
    if (!all_of(f[7], address_char) || f[7].size() > 64) return bad("client address");
    if (!optional_signed(f[8]) || !optional_signed(f[9]) || !optional_signed(f[13])) return bad("port");
    if (!valid_agent_user(f[11])) return bad("user");
    if (!optional_signed(f[12])) return bad("age");
    for (std::size_t i = 14; i < f.size(); ++i)
        if (!optional_signed(f[i])) return bad("port");
    AgentSession s{std::string(line), std::string(f[1]), std::string(f[3]), std::string(f[11]), f[4][0]};
    return {std::move(s), {}};
}

ServersParse parse_getservers(const std::vector<std::string>& lines) {
    std::map<std::string, unsigned> out;
    for (const std::string& l : lines) {
        const std::size_t sp = l.find(' ');
        const std::string name = l.substr(0, sp);
        if (!valid_server_name(name)) return {std::nullopt, "getservers: invalid server name: '" + shown(l) + "'"};
        unsigned count = 1;
        if (sp != std::string::npos) {
            const std::string_view n = std::string_view(l).substr(sp + 1);
            const auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), count);
            if (ec != std::errc{} || p != n.data() + n.size() || n.empty())
                return {std::nullopt, "getservers: invalid session count: '" + shown(l) + "'"};
        }
        out[name] = std::max(out[name], count);
    }
    return {std::move(out), {}};
}

}  // namespace rsm::broker
