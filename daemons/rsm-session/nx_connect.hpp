// A connection to nxagent's listen port, as ConnectSession hands it to the
// gateway (display type "nxagent", protocol "nx"). nxagent listens on
// 127.0.0.1:<4000+N> (session/nx_display.hpp) and accepts 127.0.0.1 only.
//
// A TCP port is no file: any local user can bind 127.0.0.1:<port> while
// nxagent does not hold it (between a suspend and the SIGHUP that makes it
// listen again, or after it died) and would then receive the gateway's
// client stream. So after connecting, the executor asks the kernel
// (NETLINK_SOCK_DIAG) who owns the other end: it must be the session's user
// (SO_PEERCRED has no meaning for TCP). Kernels that report an accepted-
// but-not-yet-accept()ed socket as uid 0 get the same check on the
// listening socket(s) of the port instead. Anything else is refused.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>
#include <sys/types.h>

#include "util/fd.hpp"

namespace rsm::session {

// A connected, blocking TCP socket to 127.0.0.1:`port`. The connect is
// non-blocking and waited for at most 1 s (loopback: microseconds; a full
// backlog drops the SYN). Throws std::system_error (ECONNREFUSED when
// nothing listens, ETIMEDOUT).
UniqueFd connect_loopback_tcp(uint16_t port);

// True when connect_loopback_tcp's failure `e` means the port does not accept
// connections (yet): ECONNREFUSED (nothing listens) or ETIMEDOUT. The
// executor answers those with org.rsm.Error.DisplayNotListening.
bool not_listening(const std::system_error& e) noexcept;

// Empty when the socket at the other end of `fd` (a connection to
// 127.0.0.1:`port` made by us) belongs to `uid`, else why not.
std::string check_tcp_peer_owner(int fd, uint16_t port, uid_t uid);

}  // namespace rsm::session
