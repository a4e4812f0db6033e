// Fuzz target: rsm-gateway's RFB 3.8 / VeNCrypt handshake parser
// (daemons/rsm-gateway/rfb_handshake.*), which reads what any client of the
// public port sends before it has authenticated, and the user-name selector.
//
// Input: byte 0 chooses the offer (bit 0 X509Plain, bit 1 TLSPlain, bit 2
// Plain) and the size of the pieces the stream arrives in (bits 3-7: 1-32
// bytes); the rest is the stream. After every piece the parser is stepped
// until it waits or fails. Checked: it never buffers more than one message
// (max_buffer) plus a piece; TLS starts only for an offered TLS sub-type and
// with nothing buffered; credentials come once, within the length bounds,
// for an offered sub-type; after a failure or the credentials it asks for
// nothing more; a selector that parses has a non-empty user without ':'.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "fuzz_check.hpp"
#include "rfb_handshake.hpp"

namespace g = rsm::gateway;
using Kind = g::RfbHandshake::Step::Kind;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const g::Offer offer{(data[0] & 1) != 0, (data[0] & 2) != 0, (data[0] & 4) != 0};
    const std::size_t piece = 1 + (data[0] >> 3);
    std::span<const std::uint8_t> rest(data + 1, size - 1);
    g::RfbHandshake h{offer};
    bool finished = false;
    while (!rest.empty()) {
        const std::size_t n = std::min(piece, rest.size());
        h.push(rest.first(n));
        rest = rest.subspan(n);
        for (;;) {
            const auto s = h.next();
            if (finished) {
                FUZZ_CHECK(s.kind == Kind::need_more && s.out.empty());
                break;
            }
            if (s.kind == Kind::need_more) {
                FUZZ_CHECK(s.out.empty());
                FUZZ_CHECK(h.buffered() <= g::RfbHandshake::max_buffer + piece);
                break;
            }
            if (s.kind == Kind::fail) {
                finished = true;
                continue;
            }
            if (s.kind == Kind::start_tls) {
                FUZZ_CHECK(h.buffered() == 0);
                FUZZ_CHECK((s.tls == g::TlsKind::x509 && offer.x509_plain) ||
                           (s.tls == g::TlsKind::anonymous && offer.tls_plain));
                continue;
            }
            if (s.kind == Kind::credentials) {
                finished = true;
                FUZZ_CHECK(!h.user().empty() && h.user().size() <= g::rfb::max_user_length);
                FUZZ_CHECK(h.password().size() <= g::rfb::max_password_length);
                FUZZ_CHECK(h.subtype() != g::rfb::vencrypt_plain || offer.plain);
                FUZZ_CHECK(h.inside_tls() == (h.subtype() != g::rfb::vencrypt_plain));
                const auto sel = g::parse_user_selector(h.user());
                if (sel.ok) {
                    FUZZ_CHECK(!sel.selector.user.empty());
                    FUZZ_CHECK(sel.selector.user.find(':') == std::string::npos);
                    FUZZ_CHECK(sel.selector.kind != g::UserSelector::Kind::session ||
                               (!sel.selector.session_prefix.empty() && sel.selector.session_prefix.size() <= 32));
                }
                continue;
            }
            FUZZ_CHECK(s.kind == Kind::reply && !s.out.empty());
        }
    }
    return 0;
}
