// What x2gobroker-agent prints, read at the edge: its output comes from a
// remote host over SSH and is untrusted. Formats as the agent writes them
// (/usr/lib/x2go/x2gobroker-agent.pl of x2gobroker-agent 0.0.4.3) and as
// python-x2gobroker reads them (x2gobroker/agent.py):
//   every task      "OK\n" first, then the task's lines (else it failed)
//   listsessions    x2golistsessions --all-servers: one session a line,
//                   pid|name|display|server|status|init_time|cookie|client|
//                   gr_port|snd_port|last_time|user|age|fs_port[|tekictrl|tekidata]
//   getservers      x2gogetservers: "<server> <sessions>" (PostgreSQL
//                   backend) or "<server>" alone (SQLite backend: a server
//                   with at least one session, count not given)
// A line that does not fit is an error that says which and why; nothing of
// it is echoed to a client.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rsm::broker {

inline constexpr std::size_t max_agent_output = 64 * 1024;

struct AgentLines {
    std::optional<std::vector<std::string>> lines;  // the non-empty lines after "OK"
    std::string error;
};
AgentLines parse_agent_reply(std::string_view output);

// One session of x2golistsessions, validated field by field: `line` is
// safe to send to a client as SESSION_INFO (printable ASCII, no newline).
struct AgentSession {
    std::string line;
    std::string name;    // x2go session id, e.g. alice-50-1701234567_stRxterm_dp24
    std::string server;  // the X2Go server's hostname
    std::string user;
    char status = 0;     // 'R' running, 'S' suspended ('T', 'F' are never listed as live)
};
struct SessionParse {
    std::optional<AgentSession> session;
    std::string error;
};
SessionParse parse_session_line(std::string_view line);

// getservers: server name -> sessions there (1 where the backend gives no count).
struct ServersParse {
    std::optional<std::map<std::string, unsigned>> servers;
    std::string error;
};
ServersParse parse_getservers(const std::vector<std::string>& lines);

// Names that may appear in the agent's command line (it runs through a
// shell on the far side): POSIX user names and x2go session ids.
bool valid_agent_user(std::string_view user);
bool valid_session_name(std::string_view name);
// A host name as X2Go servers report theirs: letters, digits, '.', '-', '_'.
bool valid_server_name(std::string_view name);

}  // namespace rsm::broker
