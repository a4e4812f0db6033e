// One question to an X2Go server's x2gobroker-agent: `ssh` as a child
// process (BatchMode, the broker's key, host keys checked against the
// configured known_hosts, ConnectTimeout) running
// `<agent_command> <user> <task> [args]` as agent_user on the host, with
// pipes on the caller's sd-event loop, a deadline (the child is killed
// after it) and bounded output. The agent's side is a ForceCommand'ed key
// (`command="/usr/lib/x2go/x2gobroker-agent"` in agent_user's
// authorized_keys, docs/broker.md). The answer is parsed by the caller
// (agent_output.hpp).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "broker_config.hpp"
#include "util/fd.hpp"
#include "util/handles.hpp"

namespace rsm::broker {

struct AgentTarget {
    std::string address;  // what ssh connects to
    std::uint16_t port = 22;
};

class AgentQuery {
public:
    // done(stdout, or nullopt and why), once, from the loop (never from the
    // constructor). `args`: the task and its arguments, each checked again
    // here (the far side runs them through a shell): plain words (task,
    // session name), or an authorized_keys line or path (broker/authkey.hpp),
    // sent single-quoted; anything else fails without running ssh.
    using Done = std::function<void(std::optional<std::string> output, std::string error)>;
    AgentQuery(sd_event* event, const BrokerConfig& config, AgentTarget target, std::string user,
               std::vector<std::string> args, Done done);
    AgentQuery(const AgentQuery&) = delete;
    AgentQuery& operator=(const AgentQuery&) = delete;
    ~AgentQuery();

    // The ssh command line (for tests and the log).
    static std::vector<std::string> command_line(const BrokerConfig& config, const AgentTarget& target,
                                                 const std::string& user, const std::vector<std::string>& args);

private:
    static int on_start(sd_event_source*, void* self);
    static int on_stdout(sd_event_source*, int fd, std::uint32_t, void* self);
    static int on_stderr(sd_event_source*, int fd, std::uint32_t, void* self);
    static int on_exit(sd_event_source*, int fd, std::uint32_t, void* self);
    static int on_deadline(sd_event_source*, std::uint64_t, void* self);
    void start();
    bool drain(int fd, std::string& into, std::size_t limit, bool& open);
    void maybe_finish();
    void fail(std::string why);
    void kill_child();

    sd_event* event_;
    const BrokerConfig& config_;
    AgentTarget target_;
    std::string user_;
    std::vector<std::string> args_;
    Done done_;
    pid_t pid_ = -1;
    UniqueFd pidfd_, out_fd_, err_fd_;
    EventSourcePtr start_, out_io_, err_io_, exit_io_, deadline_;
    std::string out_, err_;
    bool out_open_ = false, err_open_ = false, exited_ = false;
    int status_ = 0;
};

}  // namespace rsm::broker
