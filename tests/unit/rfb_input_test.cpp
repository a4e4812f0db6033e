// daemons/rsm-gateway/rfb_input: which of a viewer's bytes are input
// (what the relay reports to rsm as activity), messages split anywhere.
#include <catch2/catch.hpp>

#include <vector>

#include "rfb_input.hpp"

using rsm::gateway::RfbInputScanner;
using Bytes = std::vector<std::uint8_t>;

namespace {

const Bytes client_init{1};
const Bytes set_encodings{2, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 0};
const Bytes update_request{3, 1, 0, 0, 0, 0, 4, 0, 3, 0};
const Bytes pointer{5, 0, 0, 10, 0, 20};
const Bytes key{4, 1, 0, 0, 0, 0, 0xff, 0x0d};
const Bytes fence{248, 0, 0, 0, 0, 0, 0, 1, 3, 'a', 'b', 'c'};
const Bytes qemu_key{255, 0, 0, 1, 0, 0, 0xff, 0x0d, 0, 0, 0, 0x1c};
const Bytes qemu_audio_format{255, 1, 0, 2, 3, 2, 0, 0, 0xac, 0x44};

Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes all;
    for (const Bytes& p : parts) all.insert(all.end(), p.begin(), p.end());
    return all;
}

}  // namespace

TEST_CASE("update requests, encodings and fences are not input", "[gateway][rfb_input]") {
    RfbInputScanner s;
    CHECK_FALSE(s.feed(cat({client_init, set_encodings, update_request, fence, qemu_audio_format, update_request})));
    CHECK_FALSE(s.lost());
}

TEST_CASE("keys, pointer moves and QEMU's key event are input, split anywhere", "[gateway][rfb_input]") {
    for (const Bytes& input : {pointer, key, qemu_key}) {
        const Bytes all = cat({client_init, update_request, input, update_request});
        // One byte at a time: input exactly when its message completes.
        RfbInputScanner s;
        std::size_t seen = 0;
        for (std::size_t i = 0; i < all.size(); ++i)
            if (s.feed({&all[i], 1})) seen = i;
        CHECK(seen == 1 + update_request.size() + input.size() - 1);
        RfbInputScanner whole;
        CHECK(whole.feed(all));
    }
}

TEST_CASE("a clipboard text's body is skipped, whatever it holds", "[gateway][rfb_input]") {
    RfbInputScanner s;
    const Bytes cut{6, 0, 0, 0, 0, 0, 0, 8, 5, 0, 0, 10, 0, 20, 4, 1};  // 8 bytes that look like messages
    CHECK(s.feed(cat({client_init, cut})));
    CHECK_FALSE(s.feed(update_request));
    CHECK_FALSE(s.lost());
}

TEST_CASE("a message that cannot be framed makes every later byte input", "[gateway][rfb_input]") {
    RfbInputScanner s;
    CHECK(s.feed(cat({client_init, Bytes{77, 0, 0}})));
    CHECK(s.lost());
    CHECK(s.feed(update_request));
}
