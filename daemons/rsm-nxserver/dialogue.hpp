// The nxserver dialogue as a state machine without I/O (docs/nx.md): lines
// in, text out plus at most one request for rsm (log in, list, start,
// restore, terminate); the answer to a request comes back through one of
// the on_* calls. main.cpp does the I/O and the rsm calls; the unit tests
// feed lines and answers and read the replies.
//
// Prompts, codes and texts follow Neatx (lib/protocol.py,
// lib/app/nxserver_login.py, lib/app/nxserver.py), which copied NoMachine
// 3's nxserver: login and nxserver are one program here, so after a
// successful login the dialogue goes on in the same stream.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nx_protocol.hpp"

namespace rsm::nx {

inline constexpr const char* server_version = "3.5.0";

enum class RequestKind { none, login, list, start, restore, shadow, terminate };

struct Request {
    RequestKind kind = RequestKind::none;
    std::string user;      // login
    std::string password;  // login; main wipes it once sent
    std::string session_id;  // restore, shadow, terminate
    unsigned width = 0, height = 0;  // start
};

// A session as listsession shows it (from rsm's ListSessions).
struct SessionRow {
    std::string id;
    int display = -1;
    std::string state;  // rsm's: "active", "disconnected", "starting", ...
    std::string type;   // rsm's display type; only "nxagent" rows are shown
    unsigned width = 0, height = 0, depth = 24;
};

// What startsession/restoresession got from ConnectSession, attachsession
// from ShadowSession.
struct SessionInfo {
    std::string id;
    int display = -1;
    std::string cookie;  // ConnectSession's nx_cookie
    bool shadow = false;  // attachsession: NX session type "shadow"
};

struct Output {
    std::string text;  // to the client, as is
    Request request;   // for main to carry out (kind none: nothing)
    bool quit = false;  // end the program after writing text
    bool relay = false;  // after text: connect the stream to the session
};

class Dialogue {
public:
    struct Settings {
        unsigned default_width = 1024, default_height = 768;
        std::string host_name = "localhost";  // for "NX> 103 Welcome to: <host> user: <user>"
    };
    Dialogue() = default;
    explicit Dialogue(Settings settings) : settings_{std::move(settings)} {}

    // The banner and the first prompt.
    std::string greeting() const;
    // One line from the client (no newline). Lines that arrive while a
    // request is out are the caller's to hold back (busy()).
    Output on_line(std::string_view line);
    bool busy() const noexcept { return state_ == State::waiting; }
    // The login name, once logged in.
    const std::string& user() const noexcept { return user_; }

    // Answers to requests.
    enum class LoginResult { ok, refused, error };
    Output on_login(LoginResult result);
    Output on_list(const std::vector<SessionRow>& sessions);
    Output on_session(const SessionInfo& info);
    Output on_failure(std::string_view message);  // 500 <message>; the dialogue goes on
    Output on_terminated(std::string_view session_id);

    // `statuses`: listsession's --status words (Neatx's "suspended,running"),
    // lower case; empty lists every status. `types`: its --type words
    // ("unix-desktop"; "shadow" first lists the running sessions one may
    // attach to, as Neatx does); empty lists every type.
    static std::string session_table(std::string_view user, const std::vector<SessionRow>& sessions,
                                     const std::vector<std::string>& statuses = {},
                                     const std::vector<std::string>& types = {});
    static std::string session_info(const SessionInfo& info);

private:
    enum class State { greeting, user_prompt, password_prompt, parameters_prompt, waiting, logged_in, done };
    Output before_login(const CommandLine& c);
    // `confirm`: echo the command first (not when its parameters came after
    // the 106 prompt: it was echoed then).
    Output after_login(const CommandLine& c, bool confirm = true);
    Output prompt(Output out) const;
    Output error(int code, std::string_view message, bool fatal = false);

    Settings settings_{};
    State state_ = State::greeting;
    std::string user_;
    bool logged_in_ = false;
    bool have_session_ = false;  // a session is ready for bye's relay
    RequestKind pending_ = RequestKind::none;
    std::vector<std::string> list_statuses_;  // the pending listsession's --status filter
    std::vector<std::string> list_types_;     // and its --type filter
    CommandLine asked_;  // the command whose parameters the 106 prompt asks for
};

}  // namespace rsm::nx
