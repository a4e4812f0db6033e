#include "nx_protocol.hpp"

#include <array>
#include <charconv>

namespace rsm::nx {
namespace {

constexpr std::array<std::pair<Command, const char*>, 10> commands{{
    {Command::hello, "hello"},
    {Command::login, "login"},
    {Command::set, "set"},
    {Command::listsession, "listsession"},
    {Command::startsession, "startsession"},
    {Command::attachsession, "attachsession"},
    {Command::restoresession, "restoresession"},
    {Command::terminate, "terminate"},
    {Command::bye, "bye"},
    {Command::quit, "quit"},
}};

bool blank(char c) { return c == ' ' || c == '\t'; }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string_view trim(std::string_view s) {
    while (!s.empty() && blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && blank(s.back())) s.remove_suffix(1);
    return s;
}

// Consumes `word` case-insensitively at the front of `s`.
bool eat(std::string_view& s, std::string_view word) {
    if (s.size() < word.size()) return false;
    for (std::size_t i = 0; i < word.size(); ++i)
        if (lower(s[i]) != word[i]) return false;
    s.remove_prefix(word.size());
    return true;
}

int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The first two numbers of a version ("3.5.0-9" -> 3, 5).
std::optional<std::pair<unsigned, unsigned>> major_minor(std::string_view v) {
    unsigned a = 0, b = 0;
    auto r = std::from_chars(v.data(), v.data() + v.size(), a);
    if (r.ec != std::errc{} || r.ptr == v.data() + v.size() || *r.ptr != '.') return std::nullopt;
    const char* p = r.ptr + 1;
    r = std::from_chars(p, v.data() + v.size(), b);
    if (r.ec != std::errc{} || r.ptr == p) return std::nullopt;
    return std::pair{a, b};
}

}  // namespace

const char* to_string(Command c) noexcept {
    for (const auto& [e, name] : commands)
        if (e == c) return name;
    return "unknown";
}

Command command_from_string(std::string_view word) noexcept {
    for (const auto& [e, name] : commands) {
        const std::string_view n{name};
        if (n.size() != word.size()) continue;
        bool same = true;
        for (std::size_t i = 0; i < n.size() && same; ++i) same = lower(word[i]) == n[i];
        if (same) return e;
    }
    return Command::unknown;
}

std::optional<CommandLine> split_command(std::string_view line) {
    line = trim(line);
    if (line.empty()) return std::nullopt;
    std::size_t end = 0;
    while (end < line.size() && !blank(line[end])) ++end;
    CommandLine c;
    c.word.reserve(end);
    for (std::size_t i = 0; i < end; ++i) c.word.push_back(lower(line[i]));
    c.command = command_from_string(c.word);
    c.args = std::string{trim(line.substr(end))};
    return c;
}

std::optional<Parameters> parse_parameters(std::string_view text) {
    Parameters out;
    std::string_view s = trim(text);
    while (!s.empty()) {
        if (!s.starts_with("--")) return std::nullopt;
        s.remove_prefix(2);
        std::size_t n = 0;
        if (s.empty() || !alpha(s[0])) return std::nullopt;
        while (n < s.size() && (alpha(s[n]) || digit(s[n]) || s[n] == '_' || s[n] == '-')) ++n;
        std::string name{s.substr(0, n)};
        s.remove_prefix(n);
        if (!s.starts_with("=\"")) return std::nullopt;
        s.remove_prefix(2);
        const std::size_t close = s.find('"');
        if (close == std::string_view::npos) return std::nullopt;
        out.emplace_back(std::move(name), std::string{s.substr(0, close)});
        s.remove_prefix(close + 1);
        // Pairs are separated by blanks (or end the line).
        if (!s.empty() && !blank(s.front())) return std::nullopt;
        s = trim(s);
    }
    return out;
}

std::optional<std::string> unquote(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
        char c = value[i];
        if (c == '%') {
            if (i + 2 >= value.size()) return std::nullopt;  // "%X" or "%" at the end
            const int hi = hex(value[i + 1]), lo = hex(value[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            c = static_cast<char>(hi << 4 | lo);
            i += 2;
        }
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
        out.push_back(c);
    }
    return out;
}

std::optional<std::string> hello_version(std::string_view args) {
    std::string_view s = trim(args);
    if (!eat(s, "nxclient")) return std::nullopt;
    s = trim(s);
    if (!eat(s, "-")) return std::nullopt;
    s = trim(s);
    if (!eat(s, "version")) return std::nullopt;
    if (s.empty() || !blank(s.front())) return std::nullopt;
    s = trim(s);
    if (s.empty() || s.size() > 32) return std::nullopt;
    for (char c : s)
        if (!digit(c) && c != '.') return std::nullopt;
    if (!major_minor(s)) return std::nullopt;
    return std::string{s};
}

bool version_compatible(std::string_view client, std::string_view server) noexcept {
    const auto a = major_minor(client), b = major_minor(server);
    return a && b && *a == *b;
}

std::string reply(int code, std::string_view message, bool newline) {
    std::string out = "NX> " + std::to_string(code) + " ";
    for (char c : message) out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c);
    if (newline && !message.empty()) out.push_back('\n');
    return out;
}

bool LineReader::feed(std::string_view data) {
    if (overflow_) return false;
    buffer_.append(data);
    // Only the unfinished last line counts against the bound.
    const std::size_t nl = buffer_.rfind('\n');
    const std::size_t open = nl == std::string::npos ? buffer_.size() : buffer_.size() - nl - 1;
    if (open > max_line) {
        overflow_ = true;
        buffer_.clear();
        return false;
    }
    return true;
}

std::optional<std::string> LineReader::next() {
    const std::size_t nl = buffer_.find('\n');
    if (nl == std::string::npos) return std::nullopt;
    std::string line = buffer_.substr(0, nl);
    buffer_.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() > max_line) line.resize(max_line);
    return line;
}

}  // namespace rsm::nx
