// One shadowing of this executor's session (Executor1.Shadow; docs/nx.md
// "Shadowing"): when someone else asks, the owner's consent dialog (a
// program run as the owner on the session's display; exit status 0 is
// consent, anything else or no answer within the timeout refuses), then
// nxagent in shadow mode as the owner, on a display number of its own,
// attached to the session's display, listening on 127.0.0.1 only with a
// cookie of its own; once it listens, a connection to it (checked to be the
// owner's) for the gateway.
//
// Both programs are the executor's children, in the session's scope, each
// in its own process group. Every step has a deadline. on_gone comes once
// whatever was started is reaped and the shadow's files are removed, also
// after a failure or stop(); the object may be destroyed only after it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>
#include <systemd/sd-event.h>
#include <vector>

#include "display_readiness.hpp"
#include "session_info.hpp"
#include "user_process.hpp"
#include "util/fd.hpp"
#include "util/handles.hpp"
#include "util/log.hpp"

namespace rsm::session {

// The session being shadowed.
struct ShadowTarget {
    UserIdentity who;  // its owner
    std::string session_id;
    unsigned display = 0;              // its X display
    std::vector<uint8_t> cookie;       // its MIT-MAGIC-COOKIE-1
    std::string xauthority;            // its Xauthority file (the dialog's XAUTHORITY)
};

class ShadowSession {
public:
    struct Callbacks {
        // nxagent listens: `display` is connected to it; `cookie_hex` is
        // its NX cookie (the client's cookie= option).
        std::function<void(UniqueFd display, const std::string& cookie_hex)> on_ready;
        // Refused or failed before on_ready (error name, message).
        std::function<void(const char* error_name, const std::string& message)> on_failed;
        // Everything is gone (see above).
        std::function<void()> on_gone;
    };

    // After SIGTERM, what still runs this long later gets SIGKILL.
    static constexpr uint64_t kill_grace_usec = 5'000'000;

    ShadowSession(sd_event* event, ShadowParams params, ShadowTarget target, log::Fields fields, Callbacks callbacks);
    ~ShadowSession();  // SIGKILLs what still runs (no callback)
    ShadowSession(const ShadowSession&) = delete;
    ShadowSession& operator=(const ShadowSession&) = delete;

    // Asks the owner, or starts nxagent at once when no consent is needed.
    // Failures come through on_failed (then on_gone), never as exceptions.
    void start();
    // Ends it (SIGTERM to what runs); on_failed if not ready yet, then on_gone.
    void stop(const std::string& why);
    bool gone() const noexcept { return gone_; }
    uint32_t display_number() const noexcept { return params_.display_number; }

private:
    enum class Step { idle, asking, starting, serving, done };

    void ask();
    void start_agent();
    void fail(const char* error_name, const std::string& message);
    void kill_running(int sig);
    void check_gone();
    std::vector<std::string> environment(const std::string& xauthority) const;
    bool arm_timer(uint64_t usec);
    void on_timeout();
    void on_output();
    pid_t spawn(const std::vector<std::string>& argv, const std::string& xauthority, const std::string& identifier,
                int stderr_fd, bool agent);

    static int on_child(sd_event_source* s, const siginfo_t* si, void* userdata) noexcept;
    static int on_timer(sd_event_source* s, uint64_t usec, void* userdata) noexcept;
    static int on_stderr(sd_event_source* s, int fd, uint32_t revents, void* userdata) noexcept;

    sd_event* event_;
    ShadowParams params_;
    ShadowTarget target_;
    log::Fields fields_;
    Callbacks callbacks_;
    Step step_ = Step::idle;
    bool answered_ = false;  // on_ready or on_failed came
    bool gone_ = false;
    pid_t dialog_pid_ = -1, agent_pid_ = -1;
    UniqueFd dialog_error_, agent_error_;  // their spawn error pipes
    EventSourcePtr dialog_source_, agent_source_, timer_, output_source_;
    std::optional<DisplayOutput> output_;
    std::string cookie_hex_;
    bool files_written_ = false;
};

}  // namespace rsm::session
