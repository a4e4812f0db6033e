// Which of a VNC viewer's bytes are the user's doing: the relay reports
// activity to rsm (SessionControl1.ReportActivity, the session's idle
// timer) for input only, not for the FramebufferUpdateRequests a viewer
// sends after every update of a changing screen (a clock would keep an
// abandoned session "active" for ever).
//
// The client-to-server stream after the security handshake (RFC 6143,
// 7.5, and the extensions viewers use): ClientInit's byte, then messages.
// KeyEvent, PointerEvent, ClientCutText, SetDesktopSize, xvp and QEMU's
// extended key event are input; SetPixelFormat, SetEncodings,
// FramebufferUpdateRequest, EnableContinuousUpdates, ClientFence and
// QEMU's audio messages are not. A message type it cannot frame stops the
// scan: from then on every byte counts as input (never idle by mistake).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace rsm::gateway {

class RfbInputScanner {
public:
    // Feeds the next bytes the viewer sent; true if they complete (or
    // hold) an input message.
    bool feed(std::span<const std::uint8_t> bytes);
    bool lost() const noexcept { return lost_; }

private:
    bool client_init_seen_ = false;
    bool lost_ = false;
    std::vector<std::uint8_t> head_;  // the current message's fixed part, so far
    std::uint64_t skip_ = 0;          // its variable part still to come
};

}  // namespace rsm::gateway
