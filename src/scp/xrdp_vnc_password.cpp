#include "scp/xrdp_vnc_password.hpp"

#include <array>
#include <cstdio>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdexcept>

namespace rsm::scp {

std::string guid_hex(const Guid& guid) {
    std::string out;
    char buf[3];
    for (auto b : guid) {
        std::snprintf(buf, sizeof buf, "%02x", b);
        out += buf;
    }
    return out;
}

std::string xrdp_vnc_password(const Guid& guid) {
    const std::string g = guid_hex(guid);
    const std::string text = "xrdp_vnc" + g + g;
    std::array<unsigned char, 20> digest{};
    if (gnutls_hash_fast(GNUTLS_DIG_SHA1, text.data(), text.size(), digest.data()) < 0)
        throw std::runtime_error("SHA1 is not available from GnuTLS");
    char out[9];
    std::snprintf(out, sizeof out, "%02x%02x%02x%02x", digest[0], digest[1], digest[2], digest[3]);
    return out;
}

}  // namespace rsm::scp
