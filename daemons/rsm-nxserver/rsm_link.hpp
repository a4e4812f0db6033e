// rsm-nxserver's side of rsm: a trusted gateway connection to the manager's
// gateway socket (GatewayClient's LoginWithPassword with the SSH client's
// address; the `nx` account is in the rsm-gateway group, docs/nx.md), then
// ListSessions, CreateSession + ConnectSession, ConnectSession of a listed
// session, and TerminateSession on it. One call at a time; every callback
// runs from the event loop, never after the link is destroyed.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dialogue.hpp"
#include "gateway/gateway_client.hpp"
#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm::nx {

struct Connected {
    bool ok = false;
    std::string error;  // for the client's NX> 500 line
    SessionInfo info;
    UniqueFd display;  // the TCP stream to nxagent
    UniqueFd control;  // org.rsm.SessionControl1; closing it disconnects
};

class RsmLink {
public:
    RsmLink(sd_event* event, std::string socket_path);

    using LoginDone = std::function<void(Dialogue::LoginResult, std::string error)>;
    using ListDone = std::function<void(bool ok, std::vector<SessionRow>, std::string error)>;
    using ConnectDone = std::function<void(Connected)>;
    using TerminateDone = std::function<void(bool ok, std::string error)>;

    void login(std::string user, std::string password, std::string client_address, LoginDone done);
    void list(ListDone done);
    void start(unsigned width, unsigned height, ConnectDone done);
    // The user's session `id`, if it is an nxagent session that is
    // disconnected (suspended): connected again.
    void restore(std::string id, ConnectDone done);
    // Session `id` (anyone's) shown and controlled through a shadowing
    // nxagent (ShadowSession): rsm asks its owner when it is someone else's.
    void shadow(std::string id, ConnectDone done);
    void terminate(std::string id, TerminateDone done);

private:
    using Reply = std::function<void(sd_bus_message*)>;
    bool call(const char* method, const std::function<int(sd_bus_message*)>& append, Reply reply);
    static int on_reply(sd_bus_message* m, void* self, sd_bus_error*);
    // ConnectSession (rsm waits for nxagent to listen again after a loss).
    void connect(std::string id, ConnectDone done);

    sd_event* event_;
    std::string socket_path_;
    std::unique_ptr<gateway::GatewayClient> gateway_;
    SlotPtr pending_;
    Reply reply_;
};

// The rows of ListSessions' reply (a(susssssuuuttss)); false if malformed.
bool read_session_rows(sd_bus_message* m, std::vector<SessionRow>& rows);

}  // namespace rsm::nx
