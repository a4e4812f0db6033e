#include "ws_upgrade.hpp"

#include "ws_frame.hpp"

namespace rsm::gateway::ws {

namespace {

bool iequal(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

UpgradeAnswer refuse(unsigned status, std::string why) {
    UpgradeAnswer a;
    a.status = status;
    a.error = std::move(why);
    return a;
}

}  // namespace

bool lists_token(std::string_view value, std::string_view token) noexcept {
    for (;;) {
        const std::size_t comma = value.find(',');
        if (iequal(trim(value.substr(0, comma)), token)) return true;
        if (comma == std::string_view::npos) return false;
        value.remove_prefix(comma + 1);
    }
}

UpgradeAnswer check_upgrade(const UpgradeRequest& r, std::string_view scheme) {
    if (!lists_token(r.upgrade, "websocket")) return refuse(400, "not a WebSocket upgrade (Upgrade: websocket)");
    if (!lists_token(r.connection, "upgrade")) return refuse(400, "not a WebSocket upgrade (Connection: Upgrade)");
    if (trim(r.version) != "13") return refuse(400, "unsupported WebSocket version (Sec-WebSocket-Version: 13)");
    if (!valid_key(trim(r.key))) return refuse(400, "missing or malformed Sec-WebSocket-Key");
    // A page from another site must not reach the gateway through the
    // visitor's browser (cross-site WebSocket hijacking): browsers always
    // send Origin, and noVNC's page is this server's.
    if (!r.origin.empty()) {
        const std::string_view origin = trim(r.origin);
        const std::string_view host = trim(r.host);
        const bool same = !host.empty() && origin.size() == scheme.size() + 3 + host.size() &&
                          iequal(origin.substr(0, scheme.size()), scheme) &&
                          origin.substr(scheme.size(), 3) == "://" && iequal(origin.substr(scheme.size() + 3), host);
        if (!same) return refuse(403, "WebSocket from a page of another origin refused");
    }
    UpgradeAnswer a;
    a.ok = true;
    a.status = 101;
    a.accept = accept_key(trim(r.key));
    if (a.accept.empty()) return refuse(400, "cannot compute Sec-WebSocket-Accept");
    // noVNC 1.3 asks for none; websockify's clients ask for "binary". An
    // answer without one of the offered sub-protocols fails in the client.
    if (lists_token(r.protocols, "binary")) a.protocol = "binary";
    else if (!trim(r.protocols).empty()) return refuse(400, "only the WebSocket sub-protocol \"binary\" is served");
    return a;
}

}  // namespace rsm::gateway::ws
