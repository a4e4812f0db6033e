// nxagent's NX display string: what rsm puts in the options file nxagent
// reads ("-display nx/nx,options=<file>:<N>"), so that the cookie is never on
// a command line (/proc/<pid>/cmdline is world-readable). See docs/nx.md.
//
// rsm always adds listen=<port>,loopback=1,accept=127.0.0.1: nxagent listens
// on 127.0.0.1 only and accepts connections from 127.0.0.1 only; the port is
// nx_port_base + the display number. The cookie is the session's
// MIT-MAGIC-COOKIE-1 (nxagent authenticates its own X connection through the
// proxy with it, so both must be the same).
#pragma once

#include <string>
#include <string_view>

namespace rsm::session {

inline constexpr unsigned nx_port_base = 4000;

// "nx/nx,<extra>,listen=<port>,loopback=1,accept=127.0.0.1" (no ",<extra>"
// when empty). `extra` is checked by config (config::check_nx_options).
std::string nx_display_options(std::string_view extra, unsigned port);

// True for what nx_display_options() makes: "nx/nx," followed by
// comma-separated NAME=value options of [A-Za-z0-9._-] (the executor checks
// what it gets over the link with this).
bool valid_nx_display_options(std::string_view options) noexcept;

// A shadowing nxagent's display string (docs/nx.md "Shadowing"): what
// nx_display_options() makes, then ",shadow=:<target>,shadowmode=<1|0>,
// shadowuid=<uid>" (interactive or view only). `options` must be what
// valid_nx_display_options() accepts.
std::string nx_shadow_options(std::string_view options, unsigned target_display, bool interactive, unsigned uid);

// The options file's text: "<options>,cookie=<cookie_hex>:<display>" (no newline).
std::string nx_options_file_text(std::string_view options, std::string_view cookie_hex, unsigned display);

}  // namespace rsm::session
