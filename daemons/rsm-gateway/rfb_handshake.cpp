#include "rfb_handshake.hpp"

#include <algorithm>
#include <cstring>

namespace rsm::gateway {

namespace {

void put32(std::string& s, std::uint32_t v) {
    for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint32_t get32(const std::uint8_t* b) {
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

bool digit(std::uint8_t c) { return c >= '0' && c <= '9'; }

}  // namespace

namespace rfb {

std::string security_result_ok() { return std::string(4, '\0'); }

std::string security_result_failed(int minor, std::string_view reason) {
    std::string s;
    put32(s, 1);
    if (minor >= 8) {
        put32(s, static_cast<std::uint32_t>(reason.size()));
        s.append(reason);
    }
    return s;
}

}  // namespace rfb

RfbHandshake::RfbHandshake(Offer offer) : offer_{offer} {}

RfbHandshake::~RfbHandshake() {
    explicit_bzero(password_.data(), password_.size());
    if (!input_.empty()) explicit_bzero(input_.data(), input_.size());
}

void RfbHandshake::push(std::span<const std::uint8_t> bytes) { input_.insert(input_.end(), bytes.begin(), bytes.end()); }

void RfbHandshake::consume(std::size_t n) {
    explicit_bzero(input_.data(), std::min(n, input_.size()));
    input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(std::min(n, input_.size())));
}

RfbHandshake::Step RfbHandshake::fail(std::string reason, std::string out) {
    state_ = State::done;
    Step s;
    s.kind = Step::Kind::fail;
    s.reason = std::move(reason);
    s.out = std::move(out);
    return s;
}

RfbHandshake::Step RfbHandshake::next() {
    Step s;
    // A viewer never sends more than the message the server waits for.
    if (input_.size() > max_buffer && state_ != State::done) return fail("the viewer sent more than the handshake holds");
    switch (state_) {
    case State::version: {
        if (input_.size() < 12) return s;
        const std::uint8_t* b = input_.data();
        if (std::memcmp(b, "RFB 003.", 8) != 0 || b[11] != '\n' || !digit(b[8]) || !digit(b[9]) || !digit(b[10]))
            return fail("the viewer sent no RFB protocol version");
        minor_ = (b[8] - '0') * 100 + (b[9] - '0') * 10 + (b[10] - '0');
        consume(12);
        if (minor_ < 7) {
            // RFB 3.3: the server names the security type; 0 is a failure
            // followed by a reason. VeNCrypt needs 3.7 at least.
            std::string out;
            put32(out, 0);
            const std::string_view why = "This server requires RFB 3.7 or later (VeNCrypt)";
            put32(out, static_cast<std::uint32_t>(why.size()));
            out.append(why);
            return fail("the viewer speaks RFB 3." + std::to_string(minor_) + ", without VeNCrypt", out);
        }
        minor_ = std::min(minor_, 8);  // 3.889 (Apple) and later speak 3.8 here
        if (!refusal_.empty()) {
            // No security types, then the reason (RFB 3.7 and 3.8, 7.1.2).
            std::string out(1, '\0');
            put32(out, static_cast<std::uint32_t>(refusal_.size()));
            out.append(refusal_);
            return fail("refused before authentication: " + refusal_, out);
        }
        s.kind = Step::Kind::reply;
        s.out = {'\x01', static_cast<char>(rfb::security_vencrypt)};
        state_ = State::security_type;
        return s;
    }
    case State::security_type: {
        if (input_.empty()) return s;
        const std::uint8_t type = input_[0];
        consume(1);
        if (type != rfb::security_vencrypt)
            return fail("the viewer chose security type " + std::to_string(type) + ", not VeNCrypt",
                        rfb::security_result_failed(minor_, "Security type not offered"));
        s.kind = Step::Kind::reply;
        s.out = {'\x00', '\x02'};
        state_ = State::vencrypt_version;
        return s;
    }
    case State::vencrypt_version: {
        if (input_.size() < 2) return s;
        const bool ok = input_[0] == 0 && input_[1] == 2;
        consume(2);
        if (!ok) return fail("the viewer wants a VeNCrypt version other than 0.2", std::string(1, '\xff'));
        s.kind = Step::Kind::reply;
        s.out.push_back('\0');
        std::vector<std::uint32_t> types;
        if (offer_.x509_plain) types.push_back(rfb::vencrypt_x509_plain);
        if (offer_.tls_plain) types.push_back(rfb::vencrypt_tls_plain);
        if (offer_.plain) types.push_back(rfb::vencrypt_plain);
        s.out.push_back(static_cast<char>(types.size()));
        for (const auto t : types) put32(s.out, t);
        state_ = State::subtype;
        return s;
    }
    case State::subtype: {
        if (input_.size() < 4) return s;
        subtype_ = get32(input_.data());
        consume(4);
        const bool offered = (subtype_ == rfb::vencrypt_x509_plain && offer_.x509_plain) ||
                             (subtype_ == rfb::vencrypt_tls_plain && offer_.tls_plain) ||
                             (subtype_ == rfb::vencrypt_plain && offer_.plain);
        // VeNCrypt has no failure message at this point: the connection closes.
        if (!offered) return fail("the viewer chose VeNCrypt sub-type " + std::to_string(subtype_) + ", not offered");
        state_ = State::plain;
        if (subtype_ == rfb::vencrypt_plain) return next();
        tls_ = subtype_ == rfb::vencrypt_x509_plain ? TlsKind::x509 : TlsKind::anonymous;
        s.kind = Step::Kind::start_tls;
        s.out = {'\x01'};  // "go ahead with the TLS handshake"
        s.tls = tls_;
        if (!input_.empty()) return fail("the viewer sent bytes before the TLS handshake");
        return s;
    }
    case State::plain: {
        if (input_.size() < 8) return s;
        const std::uint32_t ulen = get32(input_.data());
        const std::uint32_t plen = get32(input_.data() + 4);
        if (ulen == 0 || ulen > rfb::max_user_length || plen > rfb::max_password_length)
            return fail("the viewer sent a user name or password of an impossible length",
                        rfb::security_result_failed(minor_, "Authentication failed"));
        if (input_.size() < 8 + std::size_t{ulen} + plen) return s;
        user_.assign(reinterpret_cast<const char*>(input_.data() + 8), ulen);
        password_.assign(reinterpret_cast<const char*>(input_.data() + 8 + ulen), plen);
        consume(8 + std::size_t{ulen} + plen);
        state_ = State::done;
        s.kind = Step::Kind::credentials;
        return s;
    }
    case State::done: break;
    }
    return s;
}

SelectorResult parse_user_selector(std::string_view login_name) {
    SelectorResult r;
    const auto colon = login_name.find(':');
    r.selector.user = std::string(login_name.substr(0, colon));
    if (r.selector.user.empty()) {
        r.error = "empty user name";
        return r;
    }
    for (const char c : r.selector.user) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            r.error = "control character in the user name";
            return r;
        }
    }
    if (colon == std::string_view::npos) {
        r.ok = true;
        return r;
    }
    const std::string_view rest = login_name.substr(colon + 1);
    if (rest == "new") {
        r.selector.kind = UserSelector::Kind::new_session;
        r.ok = true;
        return r;
    }
    if (rest.empty() || rest.size() > 32 ||
        !std::all_of(rest.begin(), rest.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); })) {
        r.error = "the selector after ':' is neither \"new\" nor a session id (lower-case hex)";
        return r;
    }
    r.selector.kind = UserSelector::Kind::session;
    r.selector.session_prefix = std::string(rest);
    r.ok = true;
    return r;
}

}  // namespace rsm::gateway
