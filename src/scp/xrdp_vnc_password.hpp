// The VNC password xrdp 0.9.21 uses for an Xvnc session sesman started: it
// authenticates with RFB's VNC authentication (DES challenge) using the
// first 4 bytes of SHA1("xrdp_vnc" + G + G) as 8 lower-case hex digits,
// where G is the lower-case hex of the session's 16-byte GUID from the SCP
// v0 reply (xrdp vnc/vnc.c rfbHashEncryptBytes, sesman/env.c).
#pragma once

#include <string>

#include "scp/scp_v0.hpp"

namespace rsm::scp {

std::string guid_hex(const Guid& guid);
// Throws std::runtime_error if the hash cannot be computed (GnuTLS).
std::string xrdp_vnc_password(const Guid& guid);

}  // namespace rsm::scp
