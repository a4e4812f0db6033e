// Which of the user's sessions an xpra client asks for, read from its first
// hello (xpra_session.cpp; docs/rsm-gateway.md, "xpra clients"):
//   - the user name's selector, as for VNC viewers: "alice" (rsm's reconnect
//     policy), "alice:new", "alice:<id prefix>", and for xpra also
//     "alice:desktop": by the policy among her whole-desktop sessions, else a
//     new one (display type "xpra-desktop" instead of the seamless "xpra").
//     In an xpra URL a ':' after the user separates a password, so a
//     selector goes in --username=alice:desktop;
//   - "start-new-session" (what `xpra start tcp://alice@HOST:PORT/` and
//     `xpra start-desktop tcp://...` send, xpra/scripts/main.py
//     run_remote_server): always a new session, mode "start" seamless,
//     "start-desktop" a desktop; other modes (shadow) are refused. rsm runs
//     the session program: the client's --start commands are not used;
//   - "display" (--display=:N, tcp://HOST:PORT/N): with the plain selector,
//     her session on that X display (of either xpra type).
// All of it is untrusted input: every refusal says what was wrong.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "rfb_handshake.hpp"
#include "xpra_codec.hpp"

namespace rsm::gateway::xpra {

// The display types of rsm an xpra client reaches (their CreateSession names).
enum class SessionKind { seamless, desktop };
std::string_view to_string(SessionKind k) noexcept;  // "xpra", "xpra-desktop"
std::optional<SessionKind> session_kind_from_string(std::string_view type) noexcept;

struct Target {
    UserSelector selector;
    SessionKind kind = SessionKind::seamless;  // of a new or policy-chosen session
    std::string display = {};                  // ":N", or "" for none
};

struct TargetResult {
    std::optional<Target> target;
    std::string error = {};         // for the journal
    std::string client_error = {};  // for the client's disconnect packet
};

// `caps`: the hello's capabilities (a dict).
TargetResult target_of_hello(const Value& caps);

}  // namespace rsm::gateway::xpra
