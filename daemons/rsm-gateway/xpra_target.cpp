#include "xpra_target.hpp"

#include <array>
#include <utility>

namespace rsm::gateway::xpra {

namespace {

constexpr std::array<std::pair<SessionKind, std::string_view>, 2> kind_names{{
    {SessionKind::seamless, "xpra"},
    {SessionKind::desktop, "xpra-desktop"},
}};

// start-new-session's modes (xpra/server/proxy/proxy_server.py) that rsm serves.
constexpr std::array<std::pair<SessionKind, std::string_view>, 2> start_modes{{
    {SessionKind::seamless, "start"},
    {SessionKind::desktop, "start-desktop"},
}};

constexpr std::string_view desktop_suffix = ":desktop";

const std::string* string_cap(const Value& caps, std::string_view key) {
    const Value* v = caps.find(key);
    return v ? v->string() : nullptr;
}

TargetResult refuse(std::string error, std::string client_error) {
    TargetResult r;
    r.error = std::move(error);
    r.client_error = std::move(client_error);
    return r;
}

// ":N" from "N" or ":N" (N at most 5 digits); nullopt if malformed, "" if empty.
std::optional<std::string> normalise_display(std::string_view d) {
    if (d.empty()) return std::string();
    if (d.front() == ':') d.remove_prefix(1);
    if (d.empty() || d.size() > 5 || d.find_first_not_of("0123456789") != std::string_view::npos)
        return std::nullopt;
    return ":" + std::string(d);
}

}  // namespace

std::string_view to_string(SessionKind k) noexcept {
    for (const auto& [kind, name] : kind_names)
        if (kind == k) return name;
    return "xpra";
}

std::optional<SessionKind> session_kind_from_string(std::string_view type) noexcept {
    for (const auto& [kind, name] : kind_names)
        if (name == type) return kind;
    return std::nullopt;
}

TargetResult target_of_hello(const Value& caps) {
    const std::string* username = string_cap(caps, "username");
    std::string name = username ? *username : std::string();
    Target t;
    bool by_desktop = false;
    if (name.size() > desktop_suffix.size() && name.ends_with(desktop_suffix) &&
        name.find(':') == name.size() - desktop_suffix.size()) {
        name.resize(name.size() - desktop_suffix.size());
        by_desktop = true;
        t.kind = SessionKind::desktop;
    }
    const SelectorResult selected = parse_user_selector(name);
    if (!selected.ok)
        return refuse("user name: " + selected.error,
                      "rsm-gateway: give a user name: xpra attach tcp://USER@HOST:PORT/ (or --username= "
                      "USER:new, USER:desktop, USER:SESSION-ID)");
    t.selector = selected.selector;

    const std::string* display = string_cap(caps, "display");
    const auto shown = normalise_display(display ? std::string_view(*display) : std::string_view());
    if (!shown) return refuse("invalid display " + *display, "rsm-gateway: invalid display: use :N");
    t.display = *shown;

    const Value* start = caps.find("start-new-session");
    if (!start) return TargetResult{t};
    // xpra start[-desktop] tcp://...: a new session of that kind.
    if (!start->dict())
        return refuse("start-new-session is not a dict", "invalid packet: start-new-session must be a dict");
    const std::string* mode = string_cap(*start, "mode");
    std::optional<SessionKind> kind;
    for (const auto& [k, m] : start_modes)
        if (mode && *mode == m) kind = k;
    if (!kind) {
        const std::string shown_mode = mode ? *mode : std::string("(none)");
        return refuse("start-new-session mode " + shown_mode + " is not served",
                      "rsm-gateway: cannot start a session of mode '" + shown_mode + "' (start, start-desktop)");
    }
    if (by_desktop || t.selector.kind == UserSelector::Kind::session)
        return refuse("start-new-session with a session selector in the user name",
                      "rsm-gateway: xpra start starts a new session: give the plain user name");
    const std::string* start_display = string_cap(*start, "display");
    if (!t.display.empty() || (start_display && !start_display->empty()))
        return refuse("start-new-session names a display",
                      "rsm-gateway: rsm chooses a new session's display: give none");
    t.kind = *kind;
    t.selector.kind = UserSelector::Kind::new_session;
    return TargetResult{t};
}

}  // namespace rsm::gateway::xpra
