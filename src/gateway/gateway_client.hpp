// rsm-scp's side of one login: a peer-to-peer D-Bus connection to the
// manager's gateway socket (/run/rsm/gateway.sock), on which it logs the
// user in (LoginWithPassword, with the RDP client's address: rsm-scp is a
// trusted gateway) and, for a display request, gets a session
// (CreateSession: the reconnect policy picks an existing one or starts one)
// and connects to it (ConnectSession: the display and control fds). Every
// call is asynchronous on the caller's event loop; `done` is called exactly
// once, from the loop, unless the client is destroyed first.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm::gateway {

struct GatewayRequest {
    std::string user;
    std::string password;        // wiped once sent
    std::string client_address;  // "" if xrdp did not tell
    std::string gateway = "xrdp";  // the login's "gateway" label (journal, records)
    bool want_session = true;    // false: authentication only (SCP code 4)
    std::string type;            // "xvnc" or "xorg"
    unsigned width = 0, height = 0, depth = 24;
    // CreateSession's "companions": what xrdp expects next to the display
    // (["chansrv"]: xrdp waits ~16 s for chansrv's socket before it shows
    // anything). Used only when a new session starts.
    std::vector<std::string> companions;
};

struct GatewayOutcome {
    bool ok = false;
    std::string error_name;  // the D-Bus error (for the log), when !ok
    std::string error_message;
    std::string session_id;
    bool reused = false;
    int display_number = -1;  // from ConnectSession's details "display" (":N")
    std::string protocol;     // "rfb", "x11"
    UniqueFd display;
    UniqueFd control;
};

// ConnectSession's fds dictionary (at the reply's read position): keeps
// copies of "display" and "control" (the message owns the received ones).
// A negative errno on a malformed reply.
int read_connect_fds(sd_bus_message* m, UniqueFd& display, UniqueFd& control);

class GatewayClient {
public:
    using Done = std::function<void(GatewayOutcome)>;
    GatewayClient(sd_event* event, std::string socket_path);
    GatewayClient(const GatewayClient&) = delete;
    GatewayClient& operator=(const GatewayClient&) = delete;
    ~GatewayClient();

    void start(GatewayRequest request, Done done);
    // The logged-in connection, for further calls (ScpV1Session's ListSessions).
    sd_bus* bus() const noexcept { return bus_.get(); }

    // How long one gateway call may take: CreateSession answers when the
    // display server is ready, which for a new session is seconds.
    static constexpr std::uint64_t call_timeout_usec = 90'000'000;

private:
    enum class Step { login, create, connect };
    static int on_reply(sd_bus_message* m, void* self, sd_bus_error*);
    void handle_reply(sd_bus_message* m);
    bool call_login();
    bool call_create();
    bool call_connect();
    void finish_error(std::string name, std::string message);
    void finish();

    sd_event* event_;
    std::string socket_path_;
    BusPtr bus_;
    SlotPtr pending_;
    Step step_ = Step::login;
    GatewayRequest request_;
    GatewayOutcome outcome_;
    Done done_;
};

}  // namespace rsm::gateway
