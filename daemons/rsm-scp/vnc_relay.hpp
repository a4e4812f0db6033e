// The TCP face of an rsm Xvnc session for xrdp 0.9.21. xrdp's Xvnc module
// connects to 127.0.0.1:5900+display and authenticates with RFB 3.3 VNC
// authentication, using a password derived from the GUID of the SCP reply
// (scp/xrdp_vnc_password.hpp). rsm's Xvnc listens on no TCP port at all,
// only on a private unix socket that the manager hands out as
// ConnectSession's "display" fd, so this relay stands in between:
//
//   listen(port)  bind 127.0.0.1:port, backlog 1, accept ONE connection
//                 within accept_timeout, then close the listener;
//   xrdp side     server of RFB 3.3: version, security type 2 (VNC auth),
//                 a random challenge, check the response against the
//                 derived password, result (a wrong one: result 1, close);
//   Xvnc side     client of RFB 3.8 (or 3.3) with security type None on the
//                 display fd, concurrently;
//   then          bytes both ways (ClientInit onwards is the same in 3.3
//                 and 3.8) with bounded buffers, until either side closes.
//
// on_end is called once, from the loop, with the reason; the owner then
// closes the session's control channel (rsm marks it disconnected) and
// destroys the relay outside the callback.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "byte_stream.hpp"
#include "vnc_auth.hpp"

namespace rsm::scp_daemon {

class VncRelay {
public:
    using End = std::function<void(const std::string& reason)>;
    VncRelay(sd_event* event, UniqueFd display, std::string password, End on_end);
    VncRelay(const VncRelay&) = delete;
    VncRelay& operator=(const VncRelay&) = delete;
    ~VncRelay();

    // Binds 127.0.0.1:port and starts the Xvnc-side handshake. An error text
    // if the port cannot be had (in use: another session or service).
    std::optional<std::string> listen(std::uint16_t port);

    static constexpr std::uint64_t accept_timeout_usec = 5'000'000;
    static constexpr std::uint64_t handshake_timeout_usec = 10'000'000;
    static constexpr std::size_t buffer_size = 64 * 1024;

private:
    enum class ViewerState { waiting, version, response, ready, done };
    enum class ServerState { version, types, result, type33, ready };

    static int on_accept(sd_event_source*, int fd, std::uint32_t, void* self);
    static int on_timer(sd_event_source*, std::uint64_t, void* self);
    void arm_timer(std::uint64_t usec);
    void viewer_input();
    void server_input();
    void maybe_start_relay();
    void pump(ByteStream& from, ByteStream& to);
    void end(const std::string& reason);

    sd_event* event_;
    std::string password_;
    End on_end_;
    UniqueFd listener_;
    EventSourcePtr listen_source_;
    EventSourcePtr timer_;
    std::unique_ptr<ByteStream> server_;  // Xvnc, on the session's display fd
    std::unique_ptr<ByteStream> viewer_;  // xrdp, by TCP
    ViewerState viewer_state_ = ViewerState::waiting;
    ServerState server_state_ = ServerState::version;
    VncChallenge challenge_{};
    bool relaying_ = false;
    bool ended_ = false;
};

}  // namespace rsm::scp_daemon
