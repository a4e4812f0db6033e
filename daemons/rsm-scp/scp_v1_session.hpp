// One xrdp-sesadmin conversation (SCP v1 management) on a connection that
// ScpConnection accepted and whose first message had version 1:
//
//   login   the first message must be a login; rsm checks the password
//           (Gateway1.LoginWithPassword, as any gateway login: rsm's
//           throttling and PAM account checks apply). Refused: a "denied"
//           message (sesadmin prints "connection denied: <reason>", then
//           "Error getting session list."), then the close.
//   list    each list request gets Gateway1.ListSessions of that user, in
//           sesman's list format (scp::v1_session_of). At most
//           max_requests per connection.
//   action  (no 0.9.21 client sends it) logged, then the close.
//
// Bounded everywhere: one message at a time (scp::FrameReader's 8 KiB
// bound, the stream's bounded input: nothing is read while rsm answers),
// request_timeout between messages, rsm's calls under their own timeouts;
// anything malformed ends the connection. `done` is called once, when the
// connection should be shut down (from the loop; it must not destroy this
// object from inside the call).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "byte_stream.hpp"
#include "gateway/gateway_client.hpp"
#include "scp/frame_reader.hpp"
#include "scp/scp_v1_mng.hpp"
#include "util/handles.hpp"

namespace rsm::scp_daemon {

class ScpV1Session {
public:
    using Done = std::function<void()>;
    // `stream` outlives this object; its callbacks become this object's,
    // except on_input, whose owner calls on_input() instead.
    ScpV1Session(sd_event* event, ByteStream& stream, scp::FrameReader reader, std::string peer,
                 std::string gateway_socket, Done done);
    ScpV1Session(const ScpV1Session&) = delete;
    ScpV1Session& operator=(const ScpV1Session&) = delete;
    ~ScpV1Session();

    // The first message (already read).
    void start(scp::Frame first);
    // New bytes on the stream.
    void on_input();

    static constexpr std::uint64_t request_timeout_usec = 10'000'000;
    static constexpr std::uint64_t list_timeout_usec = 10'000'000;
    static constexpr unsigned max_requests = 16;
    static constexpr std::size_t max_sessions = 1000;

private:
    enum class State { login, ready, listing, closing, done };
    static int on_timer(sd_event_source*, std::uint64_t, void* self);
    static int on_list_reply(sd_bus_message* m, void* self, sd_bus_error*);
    void handle(scp::Frame frame);
    void on_login(gateway::GatewayOutcome outcome);
    void handle_list_reply(sd_bus_message* m);
    void arm_timer(std::uint64_t usec);
    void send(std::vector<std::uint8_t> bytes);
    // Sends `bytes` (if any), then ends the conversation once they are out.
    void close(const std::string& why, std::vector<std::uint8_t> bytes = {});
    // Ends the conversation once what is queued is out.
    void finish_when_sent();
    void finish();

    sd_event* event_;
    ByteStream& stream_;
    scp::FrameReader reader_;
    std::string peer_;
    std::string gateway_socket_;
    Done done_;
    State state_ = State::login;
    bool peer_eof_ = false;
    unsigned requests_ = 0;
    std::string user_;
    EventSourcePtr timer_;
    std::unique_ptr<gateway::GatewayClient> gateway_;  // the login; ListSessions goes on its bus
    SlotPtr list_call_;                      // after gateway_: released first
};

}  // namespace rsm::scp_daemon
