// Companions: programs a gateway asks rsm to run in a session next to its
// display server (CreateSession option "companions", names of
// [companion.<name>] tables in rsm.toml), e.g. xrdp's channel server. The
// manager expands the configured templates into CompanionCommands and hands
// them to the executor (StartSession param "companions", a(sasasst)); the
// session leader starts each as the user once the display is ready, waits
// for its ready socket (see util/unix_sockets.hpp) and
// stops it with the session. A companion that exits is logged and not
// restarted: the session goes on without it.
#pragma once

#include <cstdint>
#include <string>
#include <systemd/sd-bus.h>
#include <vector>

namespace rsm::session {

struct CompanionCommand {
    std::string name;                      // the [companion.<name>] it came from
    std::vector<std::string> argv;         // expanded, not empty
    std::vector<std::string> environment;  // "NAME=value", over the session's
    std::string ready_socket;              // expanded; "" = do not wait
    std::uint64_t ready_timeout_usec = 0;

    bool operator==(const CompanionCommand&) const = default;
};

// The D-Bus signature of a list of companions.
inline constexpr const char* companions_signature = "a(sasasst)";

// Appends `{"companions", <variant a(sasasst)>}` to an open a{sv}. Returns a
// negative errno on failure.
int append_companions_entry(sd_bus_message* m, const std::vector<CompanionCommand>& companions);

// Reads the variant's a(sasasst) (the message positioned at the variant) and
// validates it: names of letters, digits, '-' and '_'; argv not empty; every
// environment entry NAME=value; ready_socket "" or an absolute path that fits
// sockaddr_un; at most 8 companions. Throws std::invalid_argument.
std::vector<CompanionCommand> read_companions_variant(sd_bus_message* m);

// `base` ("NAME=value" entries) with `extra` set over it, order kept.
std::vector<std::string> merge_environment(std::vector<std::string> base, const std::vector<std::string>& extra);

}  // namespace rsm::session
