// Fuzz target: rsm-gateway's WebSocket frame decoder
// (daemons/rsm-gateway/ws_frame.*), fed the input in two pieces.
//
// Checked: a decoded frame is within the bounds (control frames 125 bytes,
// data frames max_frame_payload), re-encoding its payload gives a frame the
// decoder reads back the same once masked, and a failure has a close code
// and a reason.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_check.hpp"
#include "ws_frame.hpp"

namespace ws = rsm::gateway::ws;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> in(data, size);
    const std::size_t cut = size ? data[0] % (size + 1) : 0;
    ws::Decoder d;
    d.push(in.first(cut));
    ws::Frame f;
    bool pushed_rest = false;
    for (;;) {
        const auto r = d.next(f);
        if (r == ws::Decoder::Result::need_more) {
            if (pushed_rest) break;
            d.push(in.subspan(cut));
            pushed_rest = true;
            continue;
        }
        if (r == ws::Decoder::Result::error) {
            FUZZ_CHECK(d.close_code() >= 1000 && !d.error_text().empty());
            FUZZ_CHECK(d.next(f) == ws::Decoder::Result::error);
            break;
        }
        const bool control = static_cast<std::uint8_t>(f.opcode) >= 8;
        FUZZ_CHECK(f.payload.size() <= (control ? ws::max_control_payload : ws::max_frame_payload));
        FUZZ_CHECK(!control || f.fin);
        std::string e;
        ws::encode(f.opcode == ws::Opcode::continuation ? ws::Opcode::binary : f.opcode, f.payload, e);
        std::vector<std::uint8_t> m(e.begin(), e.end());
        const std::size_t header = m[1] == 126 ? 4 : m[1] == 127 ? 10 : 2;
        m[1] |= 0x80;
        m.insert(m.begin() + static_cast<std::ptrdiff_t>(header), 4, 0);  // a zero mask
        ws::Decoder back;
        back.push(m);
        ws::Frame g;
        FUZZ_CHECK(back.next(g) == ws::Decoder::Result::frame);
        FUZZ_CHECK(g.payload == f.payload);
    }
    return 0;
}
