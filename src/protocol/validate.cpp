#include "protocol/validate.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <netinet/in.h>
#include <sys/socket.h>

// GLib's headers define inline helpers through macros with C casts, which
// our warning set would turn into errors at this include.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#include <glib.h>
#pragma GCC diagnostic pop

namespace rsm::protocol {
namespace {

bool is_ascii_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

bool is_valid_utf8(std::string_view s) {
    // g_utf8_validate_len with an explicit length also refuses embedded NULs,
    // but callers check NUL first to give the more useful message.
    return g_utf8_validate_len(s.data(), s.size(), nullptr) != FALSE;
}

// The shared rules for passwords and PAM answers; `what` names the kind.
ValidationError validate_secret(std::string_view secret, std::string_view what) {
    if (secret.size() > max_secret_bytes)
        return std::string{what} + " is longer than " + std::to_string(max_secret_bytes) + " bytes";
    if (secret.find('\0') != std::string_view::npos)
        return std::string{what} + " contains a NUL byte";
    if (!is_valid_utf8(secret))
        return std::string{what} + " is not valid UTF-8";
    return std::nullopt;
}

}  // namespace

ValidationError validate_user_name(std::string_view name) {
    if (name.empty())
        return "user name is empty";
    if (name.size() > max_user_name_length)
        return "user name is longer than " + std::to_string(max_user_name_length) + " characters";
    std::string_view body = name;
    if (body.back() == '$')
        body.remove_suffix(1);
    if (body.empty())
        return "user name has nothing before '$'";
    for (char c : body) {
        if (!is_ascii_alnum(c) && c != '.' && c != '_' && c != '-')
            return "user name may contain only letters, digits, '.', '_' and '-' (and a final '$')";
    }
    if (body.front() == '-')
        return "user name must not start with '-'";
    if (std::all_of(body.begin(), body.end(), is_ascii_digit))
        return "user name must not be all digits";
    if (body == "." || body == "..")
        return "user name must not be '.' or '..'";
    return std::nullopt;
}

ValidationError validate_group_name(std::string_view name) {
    if (name.empty())
        return "group name is empty";
    if (name.size() > max_group_name_length)
        return "group name is longer than " + std::to_string(max_group_name_length) + " bytes";
    if (!is_valid_utf8(name))
        return "group name is not valid UTF-8";
    for (char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f)
            return "group name contains a control character";
        if (c == ':')
            return "group name must not contain ':'";
    }
    if (name.front() == '-')
        return "group name must not start with '-'";
    return std::nullopt;
}

ValidationError validate_password(std::string_view password) {
    return validate_secret(password, "password");
}

ValidationError validate_answer(std::string_view answer) {
    return validate_secret(answer, "answer");
}

ValidationError canonicalize_address(std::string_view address, std::string& canonical) {
    if (address.empty())
        return "address is empty";
    // INET6_ADDRSTRLEN covers the longest literal inet_pton accepts (a full
    // IPv6 with embedded IPv4); anything longer is not an address.
    if (address.size() >= INET6_ADDRSTRLEN)
        return "address is not an IPv4 or IPv6 literal";
    // inet_pton reads a C string: an embedded NUL would silently cut it.
    if (address.find('\0') != std::string_view::npos)
        return "address contains a NUL byte";
    const std::string copy{address};
    std::array<char, INET6_ADDRSTRLEN> text{};
    in_addr v4{};
    in6_addr v6{};
    if (inet_pton(AF_INET, copy.c_str(), &v4) == 1) {
        if (!inet_ntop(AF_INET, &v4, text.data(), text.size()))
            return "address cannot be formatted";
    } else if (inet_pton(AF_INET6, copy.c_str(), &v6) == 1) {
        if (!inet_ntop(AF_INET6, &v6, text.data(), text.size()))
            return "address cannot be formatted";
    } else {
        return "address is not an IPv4 or IPv6 literal";
    }
    canonical = text.data();
    return std::nullopt;
}

ValidationError validate_host_name(std::string_view host_name) {
    if (host_name.empty())
        return "host name is empty";
    if (host_name.size() > max_host_name_length)
        return "host name is longer than " + std::to_string(max_host_name_length) + " characters";
    for (char c : host_name) {
        if (!is_ascii_alnum(c) && c != '-' && c != '_' && c != '.')
            return "host name may contain only letters, digits, '-', '_' and '.'";
    }
    return std::nullopt;
}

ValidationError validate_gateway_name(std::string_view gateway) {
    if (gateway.empty())
        return "gateway name is empty";
    if (gateway.size() > max_gateway_name_length)
        return "gateway name is longer than " + std::to_string(max_gateway_name_length) + " characters";
    for (char c : gateway) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u > 0x7e)
            return "gateway name may contain only printable ASCII characters";
    }
    return std::nullopt;
}

ValidationError client_info_from_map(const ClientInfoMap& entries, ClientInfo& out) {
    ClientInfo info;
    for (const auto& [key, value] : entries) {
        ValidationError error;
        if (key == "address") {
            error = canonicalize_address(value, info.address);
        } else if (key == "host_name") {
            error = validate_host_name(value);
            info.host_name = value;
        } else if (key == "gateway") {
            error = validate_gateway_name(value);
            info.gateway = value;
        } else {
            return "client: unknown key " + quote_untrusted(key) + " (known: address, host_name, gateway)";
        }
        if (error)
            return "client: " + key + ": " + *error;
    }
    out = std::move(info);
    return std::nullopt;
}

std::string quote_untrusted(std::string_view text) {
    constexpr std::size_t limit = 64;
    std::string quoted = "'";
    for (std::size_t i = 0; i < text.size() && i < limit; ++i) {
        const auto u = static_cast<unsigned char>(text[i]);
        if (u >= 0x20 && u < 0x7f && u != '\\' && u != '\'') {
            quoted += text[i];
        } else {
            static constexpr char hex[] = "0123456789abcdef";
            quoted += "\\x";
            quoted += hex[u >> 4];
            quoted += hex[u & 0xf];
        }
    }
    quoted += '\'';
    if (text.size() > limit)
        quoted += "...";
    return quoted;
}

}  // namespace rsm::protocol
