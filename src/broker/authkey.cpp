#include "broker/authkey.hpp"

#include <algorithm>
#include <array>
#include <glib.h>
#include <vector>

#include "broker/agent_output.hpp"

namespace rsm::broker {

namespace {

constexpr std::array<std::string_view, 7> key_types{
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"};
// Options a client may ask for; all are dropped for authkey_options.
constexpr std::array<std::string_view, 6> client_options{
    "no-X11-forwarding", "no-pty", "no-user-rc", "no-agent-forwarding", "no-port-forwarding", "restrict"};
constexpr std::size_t max_base64 = 4096;  // a 16384-bit RSA key is ~2800

bool is_key_type(std::string_view t) { return std::find(key_types.begin(), key_types.end(), t) != key_types.end(); }

std::vector<std::string_view> split_blanks(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
        const std::size_t start = i;
        while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
        if (i > start) out.push_back(s.substr(start, i - start));
    }
    return out;
}

bool options_allowed(std::string_view opts) {
    std::size_t start = 0;
    while (start <= opts.size()) {
        const std::size_t comma = std::min(opts.find(',', start), opts.size());
        const std::string_view o = opts.substr(start, comma - start);
        if (std::find(client_options.begin(), client_options.end(), o) == client_options.end()) return false;
        start = comma + 1;
    }
    return true;
}

// The base64 decodes to string(type) first, as every SSH public key blob.
std::string check_blob(std::string_view type, std::string_view b64) {
    if (b64.empty() || b64.size() > max_base64 || b64.size() % 4 != 0) return "the key's base64 has a wrong length";
    const auto b64_char = [](char c) { return g_ascii_isalnum(c) || c == '+' || c == '/'; };
    const std::size_t pad = b64.find('=');
    if (!std::all_of(b64.begin(), b64.begin() + static_cast<long>(std::min(pad, b64.size())), b64_char) ||
        (pad != std::string_view::npos && (b64.size() - pad > 2 || b64.substr(pad).find_first_not_of('=') != std::string_view::npos)))
        return "the key is not base64";
    const std::string text(b64);
    gsize n = 0;
    guchar* raw = g_base64_decode(text.c_str(), &n);
    const std::string blob(reinterpret_cast<const char*>(raw), n);
    g_free(raw);
    if (blob.size() < 4 + type.size()) return "the key blob is too short";
    const std::size_t len = (std::size_t{static_cast<unsigned char>(blob[0])} << 24) |
                            (std::size_t{static_cast<unsigned char>(blob[1])} << 16) |
                            (std::size_t{static_cast<unsigned char>(blob[2])} << 8) | static_cast<unsigned char>(blob[3]);
    if (len != type.size() || blob.compare(4, len, type) != 0) return "the key blob is not of the named type";
    return {};
}

}  // namespace

std::string expiry_timespec(std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    const std::size_t n = std::strftime(buf, sizeof buf, "%Y%m%d%H%M%SZ", &tm);
    return std::string(buf, n);
}

PublicKeyCheck authorized_key_line(std::string_view pubkey, std::time_t expires) {
    if (pubkey.empty()) return {std::nullopt, "no public key"};
    if (pubkey.size() > 16384) return {std::nullopt, "the public key is too long"};
    for (const char c : pubkey)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f)
            if (c != '\t') return {std::nullopt, "the public key has a control or non-ASCII character"};
    const auto words = split_blanks(pubkey);
    std::size_t i = 0;
    if (!words.empty() && !is_key_type(words[0])) {
        if (!options_allowed(words[0]))
            return {std::nullopt, "the public key's options are not among no-X11-forwarding, no-pty, no-user-rc, "
                                  "no-agent-forwarding, no-port-forwarding, restrict (or its type is unknown)"};
        i = 1;
    }
    if (words.size() < i + 2) return {std::nullopt, "the public key is not '[options] type base64 [comment]'"};
    if (!is_key_type(words[i]))
        return {std::nullopt, "the public key's type is not ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521 or sk-*"};
    if (auto why = check_blob(words[i], words[i + 1]); !why.empty()) return {std::nullopt, why};
    std::string line;
    line.append(authkey_options).append(",expiry-time=\"").append(expiry_timespec(expires)).append("\" ");
    line.append(words[i]).append(" ").append(words[i + 1]).append(" ").append(authkey_comment);
    return {std::move(line), {}};
}

bool valid_authorized_key_line(std::string_view line) {
    const auto words = split_blanks(line);
    if (words.size() != 4 || words[3] != authkey_comment || !is_key_type(words[1])) return false;
    // <authkey_options>,expiry-time="YYYYMMDDHHMMSSZ"
    const std::string_view o = words[0];
    const std::string head = std::string(authkey_options) + ",expiry-time=\"";
    if (o.size() != head.size() + 16 || !o.starts_with(head) || !o.ends_with("Z\"")) return false;
    const std::string_view stamp = o.substr(head.size(), 14);
    if (!std::all_of(stamp.begin(), stamp.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    if (words[0].size() + words[1].size() + words[2].size() + words[3].size() + 3 != line.size()) return false;  // single spaces
    return check_blob(words[1], words[2]).empty();
}

bool valid_authorized_keys_path(std::string_view path) {
    if (path.empty() || path.size() > 255 || path[0] == '-' || path.find("..") != std::string_view::npos) return false;
    return std::all_of(path.begin(), path.end(), [](char c) {
        return g_ascii_isalnum(c) || c == '%' || c == '.' || c == '_' || c == '/' || c == '-';
    });
}

std::string agent_shell_word(std::string_view arg) {
    if (valid_session_name(arg)) return std::string(arg);
    return "'" + std::string(arg) + "'";
}

}  // namespace rsm::broker
