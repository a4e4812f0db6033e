// Fuzz target: the gateway's client dictionary as read from a method call
// (src/protocol/client_info_bus.*, then client_info_from_map()).
//
// sd-bus has no public call that parses a message from raw bytes, and feeding
// raw bytes through a socket into a server bus would spend nearly every run
// in libsystemd's header checks, which are not instrumented (so libFuzzer
// gets no guidance there) and which every peer already passes before rsm's
// code runs. So the input is a small text program that builds the argument
// with sd-bus's own append calls, on a bus started on a socketpair (nothing
// is ever sent); the message is then sealed and rewound, and rsm's reader sees
// exactly what a handler sees. Every run reaches the reader, with any key, any
// variant type and any value sd-bus can carry.
//
// Program: lines. An optional first line "@SIG" makes the argument one of
// a{sv} (the default), a{ss}, as, s, v, or nothing ("@"), to cover a caller
// whose argument is not a dictionary. Every other line is one entry:
//   KEY <TAB> VALUE [<TAB> TYPE]
// TYPE is the variant's contents (default s): s o g y b n q i u x t d as ay
// a{sv} a{ss} (ss) v. Lists in VALUE are ','-separated ("k=v" for dicts).
// \\ \t \n and \xNN are escapes in KEY and VALUE.
//
// Checked against an oracle: the reader accepts exactly an a{sv} whose
// values are all strings, whose keys do not repeat and whose map
// client_info_from_map() accepts, and then returns what it returns; anything
// else is refused with org.rsm.Error.InvalidArgument.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <vector>

#include "bus/error.hpp"
#include "bus/names.hpp"
#include "fuzz_check.hpp"
#include "protocol/client_info_bus.hpp"
#include "util/handles.hpp"

namespace p = rsm::protocol;

namespace {

// sd-bus creates messages only on a started bus: one per process, on one end
// of a socketpair whose other end nobody reads.
sd_bus* bus() {
    static sd_bus* const instance = [] {
        int fds[2];
        FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) == 0);
        sd_bus* b = nullptr;
        FUZZ_CHECK(sd_bus_new(&b) >= 0);
        FUZZ_CHECK(sd_bus_set_fd(b, fds[0], fds[0]) >= 0);
        FUZZ_CHECK(sd_bus_start(b) >= 0);
        return b;  // lives as long as the process
    }();
    return instance;
}

std::string unescape(std::string_view in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '\\' || i + 1 == in.size()) {
            out += in[i];
            continue;
        }
        const char c = in[++i];
        if (c == 't') out += '\t';
        else if (c == 'n') out += '\n';
        else if (c == 'x' && i + 2 < in.size()) {
            out += static_cast<char>(std::strtoul(std::string{in.substr(i + 1, 2)}.c_str(), nullptr, 16));
            i += 2;
        } else out += c;
    }
    return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    for (;;) {
        const auto at = s.find(sep);
        parts.push_back(s.substr(0, at));
        if (at == std::string_view::npos) return parts;
        s.remove_prefix(at + 1);
    }
}

struct Entry {
    std::string key, value, type;
};

// Appends one value of `type` read from `value`; false when sd-bus refuses it
// (invalid UTF-8, an invalid object path ...) or the type is not known.
bool append_contents(sd_bus_message* m, const std::string& type, const std::string& value) {
    const char* v = value.c_str();
    if (type == "s" || type == "o" || type == "g") return sd_bus_message_append_basic(m, type[0], v) >= 0;
    if (type == "y" || type == "n" || type == "q" || type == "i" || type == "u" || type == "x" || type == "t") {
        const unsigned long long n = std::strtoull(v, nullptr, 0);
        return sd_bus_message_append_basic(m, type[0], &n) >= 0;  // little-endian: the low bytes
    }
    if (type == "b") {
        const int b = !value.empty() && value != "0";
        return sd_bus_message_append_basic(m, 'b', &b) >= 0;
    }
    if (type == "d") {
        const double d = std::strtod(v, nullptr);
        return sd_bus_message_append_basic(m, 'd', &d) >= 0;
    }
    if (type == "ay") return sd_bus_message_append_array(m, 'y', value.data(), value.size()) >= 0;
    if (type == "as") {
        if (sd_bus_message_open_container(m, 'a', "s") < 0) return false;
        for (auto item : split(value, ','))
            if (sd_bus_message_append_basic(m, 's', std::string{item}.c_str()) < 0) return false;
        return sd_bus_message_close_container(m) >= 0;
    }
    if (type == "a{sv}" || type == "a{ss}") {
        const std::string entry = type.substr(2, 2);
        if (sd_bus_message_open_container(m, 'a', type.substr(1).c_str()) < 0) return false;
        for (auto item : split(value, ',')) {
            const auto eq = item.find('=');
            const std::string k{item.substr(0, eq)};
            const std::string val{eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1)};
            if (sd_bus_message_open_container(m, 'e', entry.c_str()) < 0 ||
                sd_bus_message_append_basic(m, 's', k.c_str()) < 0)
                return false;
            if (type == "a{sv}" ? sd_bus_message_append(m, "v", "s", val.c_str()) < 0
                                : sd_bus_message_append_basic(m, 's', val.c_str()) < 0)
                return false;
            if (sd_bus_message_close_container(m) < 0) return false;
        }
        return sd_bus_message_close_container(m) >= 0;
    }
    if (type == "(ss)") {
        const auto comma = value.find(',');
        return sd_bus_message_append(m, "(ss)", value.substr(0, comma).c_str(),
                                     comma == std::string::npos ? "" : value.substr(comma + 1).c_str()) >= 0;
    }
    if (type == "v") return sd_bus_message_append(m, "v", "s", v) >= 0;
    return false;
}

bool append_argument(sd_bus_message* m, const std::string& top, const std::vector<Entry>& entries) {
    if (top.empty()) return true;
    if (top == "s") return sd_bus_message_append_basic(m, 's', entries.empty() ? "" : entries[0].key.c_str()) >= 0;
    if (top == "v") return sd_bus_message_append(m, "v", "s", entries.empty() ? "" : entries[0].key.c_str()) >= 0;
    if (top == "as") {
        if (sd_bus_message_open_container(m, 'a', "s") < 0) return false;
        for (const auto& e : entries)
            if (sd_bus_message_append_basic(m, 's', e.key.c_str()) < 0) return false;
        return sd_bus_message_close_container(m) >= 0;
    }
    const bool variants = top == "a{sv}";
    if (!variants && top != "a{ss}") return false;
    if (sd_bus_message_open_container(m, 'a', variants ? "{sv}" : "{ss}") < 0) return false;
    for (const auto& e : entries) {
        if (sd_bus_message_open_container(m, 'e', variants ? "sv" : "ss") < 0 ||
            sd_bus_message_append_basic(m, 's', e.key.c_str()) < 0)
            return false;
        if (variants) {
            if (sd_bus_message_open_container(m, 'v', e.type.c_str()) < 0 || !append_contents(m, e.type, e.value) ||
                sd_bus_message_close_container(m) < 0)
                return false;
        } else if (sd_bus_message_append_basic(m, 's', e.value.c_str()) < 0) {
            return false;
        }
        if (sd_bus_message_close_container(m) < 0) return false;
    }
    return sd_bus_message_close_container(m) >= 0;
}

// What the reader must answer: nullopt = refused.
std::optional<p::ClientInfo> expected(const std::string& top, const std::vector<Entry>& entries) {
    if (top != "a{sv}") return std::nullopt;
    p::ClientInfoMap map;
    for (const auto& e : entries) {
        // sd-bus carries C strings: a NUL ends them.
        if (e.type != "s" || !map.emplace(e.key.c_str(), e.value.c_str()).second) return std::nullopt;
    }
    p::ClientInfo info;
    if (p::client_info_from_map(map, info)) return std::nullopt;
    return info;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in{reinterpret_cast<const char*>(data), size};
    std::string top = "a{sv}";
    if (in.starts_with('@')) {
        const auto nl = in.find('\n');
        top = std::string{in.substr(1, nl == std::string_view::npos ? std::string_view::npos : nl - 1)};
        in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
    }
    std::vector<Entry> entries;
    if (!in.empty()) {
        if (in.ends_with('\n')) in.remove_suffix(1);
        for (auto line : split(in, '\n')) {
            const auto fields = split(line, '\t');
            if (fields.size() > 3) return 0;
            entries.push_back({unescape(fields[0]), fields.size() > 1 ? unescape(fields[1]) : std::string{},
                               fields.size() > 2 ? std::string{fields[2]} : std::string{"s"}});
        }
    }

    sd_bus_message* raw = nullptr;
    FUZZ_CHECK(sd_bus_message_new_method_call(bus(), &raw, "org.rsm.Gateway1", "/org/rsm/Gateway1",
                                              "org.rsm.Gateway1", "LoginWithPassword") >= 0);
    const rsm::MessagePtr message{raw};
    if (!append_argument(raw, top, entries)) return -1;  // sd-bus would not carry it: not interesting
    FUZZ_CHECK(sd_bus_message_seal(raw, 1, 0) >= 0);
    FUZZ_CHECK(sd_bus_message_rewind(raw, 1) >= 0);

    const auto want = expected(top, entries);
    try {
        const p::ClientInfo got = p::read_client_info(raw);
        FUZZ_CHECK(want.has_value());
        FUZZ_CHECK(got == *want);
    } catch (const rsm::bus::BusError& e) {
        FUZZ_CHECK(!want.has_value());
        FUZZ_CHECK(e.name() == rsm::names::error::invalid_argument);
    }
    return 0;
}
