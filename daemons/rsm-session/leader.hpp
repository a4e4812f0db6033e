// The session leader's state and steps (class Leader), private to the
// leader's three files (leader_process.hpp is the interface):
//   leader_process.cpp   the run: PAM session, environment, spawning, the end
//   leader_display.cpp   the display server: start, readiness, suspend and
//                        listening again, its end
//   leader_children.cpp  companions, signals, reaping, stopping what the
//                        session started
#pragma once

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <map>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <security/pam_appl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>
#include <utility>
#include <vector>

#include "display_readiness.hpp"
#include "session/nx_display.hpp"
#include "user_process.hpp"
#include "util/log.hpp"
#include "util/unix_sockets.hpp"
#include "xauthority.hpp"

#include "leader_process.hpp"

namespace rsm::session::leader {

constexpr int leader_signals[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1};
// User processes get this long after SIGTERM before SIGKILL.
constexpr auto stop_grace = std::chrono::seconds(5);
// After SIGKILL only a process stuck in the kernel (state D, a hung NFS
// mount) takes longer: the PAM session is closed anyway, the manager's sweep
// of the cgroups (docs/design-notes.md, "How a session ends") does the rest.
constexpr auto kill_grace = std::chrono::seconds(2);
// Members of a group that are not our children are looked at this often;
// SIGCHLD wakes us for the rest (the leader is their subreaper).
constexpr auto group_poll_interval = std::chrono::milliseconds(100);
// How long a display server gets to exit after SIGTERM when the session
// program died first (then SIGKILL).
constexpr auto display_exit_grace = std::chrono::milliseconds(500);
constexpr std::size_t max_display_line = 32;
// A suspended nxagent gets SIGHUP this often until it says it resumes
// (read_display_output()).
constexpr auto relisten_interval = std::chrono::milliseconds(20);
constexpr unsigned relisten_max_tries = 500;  // 10 s
// How often the leader looks whether a companion listens yet.
constexpr auto companion_poll_interval = std::chrono::milliseconds(50);

using Clock = std::chrono::steady_clock;

// Reasons go on one line.
std::string one_line(std::string s);
[[noreturn]] void throw_errno(int e, const std::string& what);
// The display server ended because we asked it to (SIGTERM: X servers exit
// 0), rather than of its own accord.
bool ended_by_us(int status, bool sent_kill);

class Leader {
public:
    Leader(pam::Handle& pam, LeaderSpec spec, UniqueFd status, pid_t executor)
        : pam_{pam},
          spec_{std::move(spec)},
          who_{spec_.uid, spec_.gid, spec_.user, spec_.home},
          status_{std::move(status)},
          executor_{executor},
          x11_{spec_.xdg_session_type == "x11"} {}

    [[noreturn]] void run() noexcept;

private:
    // In order of importance (see reap()).
    enum class Role { display_server, session_program, reconnect_command, companion };
    struct Child {
        pid_t pid;
        Role role;
        UniqueFd error;  // the spawn error pipe
        std::string program;
    };
    struct Exit {
        Child child;
        int status;
    };

    static const char* to_string(Role r) {
        switch (r) {
        case Role::display_server: return "display server";
        case Role::session_program: return "session program";
        case Role::reconnect_command: return "reconnect command";
        case Role::companion: return "companion";
        }
        return "process";
    }

    log::Fields fields() const {
        return {{"RSM_SESSION_ID", spec_.session_id}, {"RSM_USER", spec_.user}, {"RSM_UID", std::to_string(spec_.uid)}};
    }
    log::Fields fields(const Child& c) const {
        auto f = fields();
        f.push_back({"RSM_CHILD", to_string(c.role)});
        f.push_back({"RSM_CHILD_PID", std::to_string(c.pid)});
        return f;
    }

    std::string display_name() const { return ":" + std::to_string(spec_.display_number); }

    void setup_signals();
    void open_pam_session();
    void watch_executor();
    void build_environment();
    void spawn(Role role, const std::vector<std::string>& argv, int fd3,
               const std::vector<std::string>* env = nullptr, int stderr_fd = -1);
    void start_display_server();
    void start_companions();
    void start_session_programs();
    void wait_for_companions();
    void wait_for_display_socket();
    void wait(bool starting);
    bool read_display_number();
    bool read_display_output();
    bool display_server_running() const;
    void relisten();
    void handle_signals();
    void reap();
    std::vector<Exit> collect_exits() noexcept;
    void on_child_exit(Child child, int status);
    std::optional<Exit> end_display_server();
    void run_reconnect_command();
    void sleep_until_signal(Clock::time_point deadline) noexcept;
    bool wait_for_groups(Clock::time_point deadline) noexcept;
    void stop_children() noexcept;
    [[noreturn]] void end(const std::string& reason, bool failed) noexcept;
    void send_line(const std::string& line) noexcept;

    pam::Handle& pam_;
    LeaderSpec spec_;
    UserIdentity who_;
    UniqueFd status_;
    pid_t executor_;
    bool x11_;
    UniqueFd sigfd_;
    bool xauth_written_ = false;
    std::vector<std::uint8_t> cookie_;
    std::vector<std::string> env_;
    std::vector<Child> children_;
    // Process groups (= pids of the group leaders) to stop at the end: those of
    // the display server and the session program, which may outlive their
    // leader for the moment between its exit and the end, and of running
    // reconnect commands.
    std::vector<pid_t> groups_;
    UniqueFd ready_;  // read end of the display server's readiness pipe
    // The display server's stderr, when its readiness or state is read there
    // ([display.*] ready_line / suspend_line; display_readiness.hpp).
    std::optional<DisplayOutput> output_;
    bool nx_options_written_ = false;
    bool programs_started_ = false;
    // SIGHUPs sent since the server said it suspended itself, until it says
    // it resumes (0: not repeating); the next is due at relisten_due_ (see
    // read_display_output()).
    unsigned relisten_tries_ = 0;
    bool relisten_sent_ = false;  // SIGHUP sent, the ready line not seen again yet
    Clock::time_point relisten_due_{};
    Clock::time_point suspended_at_{};
    std::string ready_buffer_;
    std::string display_;
    pid_t display_pid_ = 0;  // the display server the leader started (0: none)
    std::map<pid_t, std::string> companion_names_;  // running companions
};

}  // namespace rsm::session::leader
