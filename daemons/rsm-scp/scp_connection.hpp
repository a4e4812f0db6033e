// One TCP connection from xrdp to rsm-scp: one SCP v0 request, one reply.
//
//   read    the request, within request_timeout, at most one message
//           (scp::FrameReader's bound); malformed or late: deny, close
//   login   gateway::GatewayClient: LoginWithPassword, then for a display request
//           CreateSession + ConnectSession (asynchronous, in the loop)
//   reply   accept (display, a fresh random GUID) once the session's display
//           is reachable where xrdp will look for it (VncRelay for Xvnc),
//           deny otherwise. Every path replies before closing: a close
//           without a reply leaves the RDP client black with no message.
//   relay   for Xvnc the object lives on while its VncRelay does, holding
//           the session's control channel; closing it tells rsm the
//           session is disconnected.
//
// The connection tells its owner when it is finished through `retire`; the
// owner destroys it outside the loop callback.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "byte_stream.hpp"
#include "gateway/gateway_client.hpp"
#include "scp/frame_reader.hpp"
#include "scp/scp_v0.hpp"
#include "scp_v1_session.hpp"
#include "vnc_relay.hpp"

namespace rsm::scp_daemon {

class ScpConnection {
public:
    using Retire = std::function<void(ScpConnection*)>;
    ScpConnection(sd_event* event, UniqueFd socket, std::string peer, std::string gateway_socket, Retire retire);
    ScpConnection(const ScpConnection&) = delete;
    ScpConnection& operator=(const ScpConnection&) = delete;
    ~ScpConnection();

    static constexpr std::uint64_t request_timeout_usec = 10'000'000;

private:
    static int on_timer(sd_event_source*, std::uint64_t, void* self);
    void on_input();
    void handle_request(scp::V0Request request);
    // Version 1 (xrdp-sesadmin): the rest of the connection is ScpV1Session's.
    void start_v1(scp::Frame first);
    void on_gateway(gateway::GatewayOutcome outcome);
    // Code 20 (scp_connection_xorg.cpp): xrdp reaches xorgxrdp on its own.
    void accept_xorg(gateway::GatewayOutcome outcome);
    static int on_control_event(sd_event_source*, int fd, std::uint32_t revents, void* self);
    void deny(const std::string& why);
    void send_reply(std::vector<std::uint8_t> bytes);
    void finish_scp();
    void maybe_retire();

    sd_event* event_;
    std::string peer_;  // xrdp's end of the TCP connection, for the log
    std::string gateway_socket_;
    Retire retire_;
    std::unique_ptr<ByteStream> scp_;
    scp::FrameReader reader_;
    EventSourcePtr timer_;
    std::unique_ptr<gateway::GatewayClient> gateway_;
    std::unique_ptr<VncRelay> relay_;
    std::unique_ptr<ScpV1Session> v1_;  // after scp_: uses it
    UniqueFd control_;
    EventSourcePtr control_watch_;  // code 20: the control channel's end
    std::string user_;
    scp::V0Code code_ = scp::V0Code::xvnc;
    std::string session_id_;
    bool replied_ = false;
    bool scp_done_ = false;  // reply sent (or peer gone)
    bool relay_done_ = true;
    bool retired_ = false;
};

}  // namespace rsm::scp_daemon
