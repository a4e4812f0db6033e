#include "session/reconnect_policy.hpp"

#include <stdexcept>
#include <tuple>

namespace rsm::session {
namespace {

[[noreturn]] void fail(const std::string& why) { throw std::invalid_argument(why); }

// 'X' for printable ASCII, else the byte in hex, so messages stay readable.
std::string quote_letter(char c) {
    if (c > 0x20 && c < 0x7f)
        return std::string{"'"} + c + "'";
    static constexpr char hex[] = "0123456789abcdef";
    const auto byte = static_cast<unsigned char>(c);
    return std::string{"byte 0x"} + hex[byte >> 4] + hex[byte & 0xf];
}

}  // namespace

ReconnectPolicy ReconnectPolicy::parse(std::string_view text) {
    if (text == "Default")
        return ReconnectPolicy{.depth = true};
    if (text.empty())
        fail("empty (expected letters of U, B, D, I, or C alone, or Default)");

    ReconnectPolicy policy;
    bool user = false;
    for (const char c : text) {
        bool* flag = nullptr;
        switch (c) {
        case 'U': flag = &user; break;
        case 'B': flag = &policy.depth; break;
        case 'D': flag = &policy.geometry; break;
        case 'I': flag = &policy.client_address; break;
        case 'C': flag = &policy.never; break;
        default:
            fail("unknown letter " + quote_letter(c) + " (expected letters of U, B, D, I, or C alone, or Default)");
        }
        if (*flag)
            fail("letter " + quote_letter(c) + " given twice");
        *flag = true;
    }
    if (policy.never && text.size() != 1)
        fail("C (never reconnect) must stand alone");
    return policy;
}

std::string ReconnectPolicy::to_string() const {
    if (never)
        return "C";
    std::string s = "U";
    if (depth)
        s += 'B';
    if (geometry)
        s += 'D';
    if (client_address)
        s += 'I';
    return s;
}

namespace {

bool matches(const Record& r, const SessionRequest& request, const ReconnectPolicy& policy) {
    if (!r.complete || (r.state != State::active && r.state != State::disconnected))
        return false;
    if (r.uid != request.uid || r.type != request.type)
        return false;
    if (policy.depth && r.depth != request.depth)
        return false;
    if (policy.geometry && (r.width != request.width || r.height != request.height))
        return false;
    if (policy.client_address &&
        (request.client_address.empty() || r.client_address != request.client_address))
        return false;
    return true;
}

// True if a is a better choice than b.
bool preferred(const Record& a, const Record& b) {
    const bool a_free = a.state == State::disconnected;
    const bool b_free = b.state == State::disconnected;
    // Larger is better for the first three, smaller id breaks the tie.
    return std::tie(a_free, a.disconnected_usec, a.created_usec, b.id) >
           std::tie(b_free, b.disconnected_usec, b.created_usec, a.id);
}

}  // namespace

std::optional<std::string> choose_session(const std::vector<const Record*>& candidates,
                                          const SessionRequest& request, const ReconnectPolicy& policy) {
    if (policy.never)
        return std::nullopt;
    const Record* best = nullptr;
    for (const Record* r : candidates) {
        if (r && matches(*r, request, policy) && (!best || preferred(*r, *best)))
            best = r;
    }
    if (!best)
        return std::nullopt;
    return best->id;
}

}  // namespace rsm::session
