// Fuzz target: the gateway's argument validators (src/protocol/validate.*).
// Every validator sees the whole input, and each one that accepts it must
// have accepted something its documented rules allow; the input is also read
// as a client dictionary ("key=value" lines) for client_info_from_map().
#include <arpa/inet.h>
#include <cstddef>
#include <cstdint>
#include <glib.h>
#include <netinet/in.h>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "protocol/validate.hpp"

namespace p = rsm::protocol;

namespace {

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool accepts(const p::ValidationError& e) { return !e; }

bool utf8(std::string_view s) { return g_utf8_validate_len(s.data(), s.size(), nullptr) != FALSE; }

// The rules of validate.hpp, restated independently of validate.cpp.
bool user_name_ok(std::string_view s) {
    if (s.empty() || s.size() > p::max_user_name_length) return false;
    if (s.back() == '$') s.remove_suffix(1);
    if (s.empty() || s.front() == '-' || s == "." || s == "..") return false;
    bool digits_only = true;
    for (char c : s) {
        if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
        if (c < '0' || c > '9') digits_only = false;
    }
    return !digits_only;
}

bool group_name_ok(std::string_view s) {
    if (s.empty() || s.size() > p::max_group_name_length || s.front() == '-' || !utf8(s)) return false;
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || c == ':') return false;
    }
    return true;
}

bool secret_ok(std::string_view s) {
    return s.size() <= p::max_secret_bytes && s.find('\0') == std::string_view::npos && utf8(s);
}

bool host_name_ok(std::string_view s) {
    if (s.empty() || s.size() > p::max_host_name_length) return false;
    for (char c : s)
        if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
    return true;
}

bool gateway_ok(std::string_view s) {
    if (s.empty() || s.size() > p::max_gateway_name_length) return false;
    for (char c : s)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return false;
    return true;
}

// An accepted address is a literal inet_pton reads, and its canonical form is
// a fixed point: canonicalising it again gives it back.
void check_address(std::string_view in) {
    std::string canonical = "unchanged";
    if (p::canonicalize_address(in, canonical)) {
        FUZZ_CHECK(canonical == "unchanged");  // written only on success
        return;
    }
    FUZZ_CHECK(!canonical.empty() && canonical.size() < INET6_ADDRSTRLEN);
    in6_addr v6{};
    in_addr v4{};
    const std::string copy{in};
    FUZZ_CHECK(inet_pton(AF_INET, copy.c_str(), &v4) == 1 || inet_pton(AF_INET6, copy.c_str(), &v6) == 1);
    std::string again;
    FUZZ_CHECK(!p::canonicalize_address(canonical, again));
    FUZZ_CHECK(again == canonical);
}

// The quoted form is safe to log: printable ASCII only, no quote or backslash
// from the input unescaped, bounded length.
void check_quote(std::string_view in) {
    const std::string q = p::quote_untrusted(in);
    FUZZ_CHECK(q.size() >= 2 && q.front() == '\'');
    FUZZ_CHECK(q.size() <= 2 + 4 * 64 + 3);
    for (char c : q) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f);
    const std::string_view body = std::string_view{q}.substr(1, q.size() - (in.size() > 64 ? 5 : 2));
    FUZZ_CHECK(body.find('\'') == std::string_view::npos);
    FUZZ_CHECK(q.substr(q.size() - (in.size() > 64 ? 4 : 1)) == (in.size() > 64 ? "'..." : "'"));
}

void check_client_map(std::string_view in) {
    p::ClientInfoMap map;
    while (!in.empty()) {
        const auto nl = in.find('\n');
        std::string_view line = in.substr(0, nl);
        in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
        const auto eq = line.find('=');
        map.insert_or_assign(std::string{line.substr(0, eq)},
                             eq == std::string_view::npos ? std::string{} : std::string{line.substr(eq + 1)});
    }
    p::ClientInfo info{"a", "b", "c"};
    const p::ClientInfo before = info;
    if (p::client_info_from_map(map, info)) {
        FUZZ_CHECK(info == before);  // untouched on failure
        return;
    }
    for (const auto& [key, value] : map) FUZZ_CHECK(key == "address" || key == "host_name" || key == "gateway");
    if (info.address.empty()) {
        FUZZ_CHECK(!map.contains("address"));
    } else {
        std::string again;
        FUZZ_CHECK(!p::canonicalize_address(info.address, again) && again == info.address);
    }
    FUZZ_CHECK(info.host_name.empty() ? !map.contains("host_name") : host_name_ok(info.host_name));
    FUZZ_CHECK(info.gateway.empty() ? !map.contains("gateway") : gateway_ok(info.gateway));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in{reinterpret_cast<const char*>(data), size};

    FUZZ_CHECK(accepts(p::validate_user_name(in)) == user_name_ok(in));
    FUZZ_CHECK(accepts(p::validate_group_name(in)) == group_name_ok(in));
    FUZZ_CHECK(accepts(p::validate_password(in)) == secret_ok(in));
    FUZZ_CHECK(accepts(p::validate_answer(in)) == secret_ok(in));
    FUZZ_CHECK(accepts(p::validate_host_name(in)) == host_name_ok(in));
    FUZZ_CHECK(accepts(p::validate_gateway_name(in)) == gateway_ok(in));
    check_address(in);
    check_quote(in);
    check_client_map(in);
    return 0;
}
