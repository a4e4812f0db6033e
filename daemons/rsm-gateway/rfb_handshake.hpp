// The client-facing half of an RFB 3.8 handshake up to the credentials, as a
// parser fed with the viewer's bytes: protocol version, security type
// VeNCrypt (19), VeNCrypt version 0.2, a sub-type (Plain 256, TLSPlain 259,
// X509Plain 262), the TLS boundary, and Plain's user name and password. It
// does no I/O: next() says what to send and what to do (start TLS, log in,
// give up), so the same code serves a TCP socket, a TLS session and, later,
// a WebSocket, and it can be fuzzed (tests/fuzz/fuzz_rfb_handshake.cpp).
//
// Every byte is hostile: lengths are bounded before anything is buffered
// beyond them, and anything outside the protocol ends in Step::fail.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rsm::gateway {

namespace rfb {
inline constexpr std::uint8_t security_vencrypt = 19;
inline constexpr std::uint32_t vencrypt_plain = 256;
inline constexpr std::uint32_t vencrypt_tls_plain = 259;
inline constexpr std::uint32_t vencrypt_x509_plain = 262;
// Bounds on Plain's lengths: Linux user names are at most 32 bytes (with a
// selector ":<32 hex>" after them); passwords of PAM stacks fit in 1 KiB.
inline constexpr std::uint32_t max_user_length = 128;
inline constexpr std::uint32_t max_password_length = 1024;
inline constexpr std::string_view server_version = "RFB 003.008\n";

// SecurityResult: OK, or failed with a reason (RFB 3.8; 3.7 has no reason).
std::string security_result_ok();
std::string security_result_failed(int minor, std::string_view reason);
}  // namespace rfb

// Which sub-types this connection offers (decided by the caller: X509Plain
// only with a certificate, Plain only from loopback).
struct Offer {
    bool x509_plain = false;
    bool tls_plain = true;
    bool plain = false;
};

enum class TlsKind { none, anonymous, x509 };

class RfbHandshake {
public:
    struct Step {
        enum class Kind { need_more, reply, start_tls, credentials, fail };
        Kind kind = Kind::need_more;
        std::string out;      // bytes to send before acting on `kind`
        std::string reason;   // fail: for the log
        TlsKind tls = TlsKind::none;  // start_tls: which credentials
    };

    explicit RfbHandshake(Offer offer);
    // Offers nothing: the viewer gets this reason right after the version
    // (RFB 3.7/3.8's empty list of security types; a browser over plain
    // HTTP from another host, which may not send a password in clear).
    void refuse(std::string reason) { refusal_ = std::move(reason); }
    ~RfbHandshake();
    RfbHandshake(const RfbHandshake&) = delete;
    RfbHandshake& operator=(const RfbHandshake&) = delete;

    // The bytes the server sends first.
    static std::string_view greeting() { return rfb::server_version; }
    // Appends the viewer's bytes (already decrypted, once inside TLS).
    void push(std::span<const std::uint8_t> bytes);
    // The next step; call again after acting on anything but need_more and
    // fail. After start_tls no unconsumed plaintext may be left (see
    // buffered()): bytes sent before the TLS handshake would otherwise be
    // taken for bytes inside it.
    Step next();
    std::size_t buffered() const noexcept { return input_.size(); }

    // After Step::credentials (the password is wiped when this object goes).
    const std::string& user() const noexcept { return user_; }
    const std::string& password() const noexcept { return password_; }
    int minor() const noexcept { return minor_; }
    std::uint32_t subtype() const noexcept { return subtype_; }
    bool inside_tls() const noexcept { return tls_ != TlsKind::none; }

    // How many bytes the parser will ever buffer: nothing it waits for is
    // longer (8 + the two bounded lengths).
    static constexpr std::size_t max_buffer = 8 + rfb::max_user_length + rfb::max_password_length;

private:
    enum class State { version, security_type, vencrypt_version, subtype, plain, done };
    Step fail(std::string reason, std::string out = {});
    void consume(std::size_t n);

    Offer offer_;
    std::string refusal_;
    State state_ = State::version;
    std::vector<std::uint8_t> input_;
    int minor_ = 0;
    std::uint32_t subtype_ = 0;
    TlsKind tls_ = TlsKind::none;
    std::string user_, password_;
};

// "alice", "alice:new", "alice:<session id or a unique prefix of one>".
struct UserSelector {
    enum class Kind { policy, new_session, session };
    std::string user;
    Kind kind = Kind::policy;
    std::string session_prefix;  // Kind::session: 1..32 lower-case hex digits
};
// nullopt-like: ok=false with a reason for a malformed selector.
struct SelectorResult {
    bool ok = false;
    UserSelector selector;
    std::string error;
};
SelectorResult parse_user_selector(std::string_view login_name);

}  // namespace rsm::gateway
