#include "shadow_session.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <system_error>

#include "bus/names.hpp"
#include "nx_connect.hpp"
#include "session/nx_display.hpp"
#include "xauthority.hpp"

namespace rsm::session {
namespace {

namespace err = names::error;

std::string seconds_text(uint64_t usec) {
    const uint64_t s = (usec + 999'999) / 1'000'000;
    return std::to_string(s) + (s == 1 ? " second" : " seconds");
}

std::string describe(const siginfo_t& si) {
    if (si.si_code == CLD_EXITED) return "exited with status " + std::to_string(si.si_status);
    const char* name = sigabbrev_np(si.si_status);
    return std::string("killed by signal SIG") + (name ? name : std::to_string(si.si_status));
}

}  // namespace

ShadowSession::ShadowSession(sd_event* event, ShadowParams params, ShadowTarget target, log::Fields fields,
                             Callbacks callbacks)
    : event_{event},
      params_{std::move(params)},
      target_{std::move(target)},
      fields_{std::move(fields)},
      callbacks_{std::move(callbacks)} {
    fields_.push_back({"RSM_SHADOW_USER", params_.requester});
    fields_.push_back({"RSM_SHADOW_DISPLAY", ":" + std::to_string(params_.display_number)});
}

ShadowSession::~ShadowSession() {
    kill_running(SIGKILL);
    if (files_written_) {
        (void)xauth::remove_file(params_.xauthority, target_.who.uid, target_.who.gid);
        (void)xauth::remove_file(params_.nx_options_file, target_.who.uid, target_.who.gid);
    }
}

void ShadowSession::start() {
    if (step_ != Step::idle) return;
    if (params_.ask_consent) ask();
    else start_agent();
}

std::vector<std::string> ShadowSession::environment(const std::string& xauthority) const {
    return {"DISPLAY=:" + std::to_string(target_.display),
            "XAUTHORITY=" + xauthority,
            "HOME=" + target_.who.home,
            "USER=" + target_.who.user,
            "LOGNAME=" + target_.who.user,
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "RSM_SESSION_ID=" + target_.session_id,
            "RSM_SHADOW_USER=" + params_.requester};
}

pid_t ShadowSession::spawn(const std::vector<std::string>& argv, const std::string& xauthority,
                           const std::string& identifier, int stderr_fd, bool agent) {
    const auto env = environment(xauthority);
    SpawnedProcess p = spawn_user_process(SpawnRequest{target_.who, argv, env, identifier, -1, stderr_fd});
    sd_event_source* s = nullptr;
    const int r = sd_event_add_child(event_, &s, p.pid, WEXITED, &ShadowSession::on_child, this);
    if (r < 0) {
        (void)kill(p.pid, SIGKILL);
        (void)waitpid(p.pid, nullptr, 0);
        throw std::system_error(-r, std::generic_category(), "sd_event_add_child");
    }
    if (agent) {
        agent_source_.reset(s);
        agent_error_ = std::move(p.error);
    } else {
        dialog_source_.reset(s);
        dialog_error_ = std::move(p.error);
    }
    return p.pid;
}

bool ShadowSession::arm_timer(uint64_t usec) {
    timer_.reset();
    sd_event_source* s = nullptr;
    if (sd_event_add_time_relative(event_, &s, CLOCK_MONOTONIC, usec, 0, &ShadowSession::on_timer, this) < 0)
        return false;
    timer_.reset(s);
    return true;
}

void ShadowSession::ask() {
    step_ = Step::asking;
    try {
        dialog_pid_ = spawn(params_.consent_argv, target_.xauthority, "rsm-shadow-consent", -1, false);
    } catch (const std::exception& e) {
        fail(err::failed, std::string("cannot ask the session's owner: ") + e.what());
        return;
    }
    if (!arm_timer(params_.consent_timeout_usec)) {
        fail(err::failed, "cannot arm the consent timer");
        return;
    }
    log::info("Asking the owner of session " + target_.session_id + " to let '" + params_.requester + "' shadow it",
              fields_);
}

void ShadowSession::start_agent() {
    step_ = Step::starting;
    const auto& who = target_.who;
    try {
        const auto cookie = xauth::new_cookie();
        cookie_hex_ = xauth::to_hex(cookie);
        // Its own display's cookie (the NX client's, checked by nxagent on
        // its X connection through the proxy) and the shadowed display's.
        files_written_ = true;
        xauth::write_file(params_.xauthority, who.uid, who.gid,
                          {xauth::Entry{target_.display, target_.cookie}, xauth::Entry{params_.display_number, cookie}});
        xauth::write_user_file(params_.nx_options_file, who.uid, who.gid,
                               nx_options_file_text(nx_shadow_options(params_.nx_options, target_.display, true, who.uid),
                                                    cookie_hex_, params_.display_number));
        output_.emplace(DisplayOutput::Rules{params_.ready_line, "", "", ""}, "rsm-shadow-" + target_.session_id);
        sd_event_source* s = nullptr;
        const int r = sd_event_add_io(event_, &s, output_->read_fd(), EPOLLIN, &ShadowSession::on_stderr, this);
        if (r < 0) throw std::system_error(-r, std::generic_category(), "sd_event_add_io");
        output_source_.reset(s);
        agent_pid_ = spawn(params_.argv, params_.xauthority, "rsm-shadow-" + target_.session_id, output_->write_fd(), true);
        output_->close_write_end();
    } catch (const std::exception& e) {
        fail(err::failed, std::string("cannot start the shadowing nxagent: ") + e.what());
        return;
    }
    if (!arm_timer(params_.startup_timeout_usec ? params_.startup_timeout_usec : default_startup_timeout_usec)) {
        fail(err::failed, "cannot arm the start timer");
        return;
    }
    log::info("Starting nxagent to shadow session " + target_.session_id + " for '" + params_.requester + "'",
              fields_);
}

void ShadowSession::fail(const char* error_name, const std::string& message) {
    timer_.reset();
    step_ = Step::done;
    kill_running(SIGTERM);
    // What ignores SIGTERM gets SIGKILL: the shadow must end for its display
    // number to be free again.
    if (dialog_pid_ > 0 || agent_pid_ > 0) (void)arm_timer(kill_grace_usec);
    if (!answered_) {
        answered_ = true;
        auto f = fields_;
        f.push_back({"RSM_ERROR", message});
        log::notice("Shadowing session " + target_.session_id + " for '" + params_.requester + "': " + message, f);
        if (callbacks_.on_failed) callbacks_.on_failed(error_name, message);
    }
    check_gone();
}

void ShadowSession::stop(const std::string& why) {
    if (step_ == Step::done) return;
    fail(err::failed, why);
}

void ShadowSession::kill_running(int sig) {
    // Each is its process group's leader (setsid in spawn_user_process).
    if (dialog_pid_ > 0) (void)kill(-dialog_pid_, sig);
    if (agent_pid_ > 0) (void)kill(-agent_pid_, sig);
}

void ShadowSession::check_gone() {
    if (gone_ || step_ != Step::done || dialog_pid_ > 0 || agent_pid_ > 0) return;
    gone_ = true;
    output_source_.reset();
    if (files_written_) {
        (void)xauth::remove_file(params_.xauthority, target_.who.uid, target_.who.gid);
        (void)xauth::remove_file(params_.nx_options_file, target_.who.uid, target_.who.gid);
        files_written_ = false;
    }
    if (callbacks_.on_gone) callbacks_.on_gone();
}

void ShadowSession::on_timeout() {
    timer_.reset();
    if (step_ == Step::done)
        kill_running(SIGKILL);
    else if (step_ == Step::asking)
        fail(err::consent_refused, "the owner of session " + target_.session_id + " did not answer within " +
                                       seconds_text(params_.consent_timeout_usec));
    else if (step_ == Step::starting)
        fail(err::timed_out, "the shadowing nxagent was not ready within " + seconds_text(params_.startup_timeout_usec));
}

int ShadowSession::on_child(sd_event_source* s, const siginfo_t* si, void* userdata) noexcept {
    auto* self = static_cast<ShadowSession*>(userdata);
    const bool dialog = self->dialog_source_.get() == s;
    const std::string how = describe(*si);
    if (dialog) {
        const auto why = spawn_failure(self->dialog_error_.get(), self->params_.consent_argv.front());
        self->dialog_source_.reset();
        self->dialog_error_.reset();
        self->dialog_pid_ = -1;
        if (self->step_ != Step::asking) {
            self->check_gone();
        } else if (!why && si->si_code == CLD_EXITED && si->si_status == 0) {
            self->timer_.reset();
            log::info("The owner of session " + self->target_.session_id + " agreed to be shadowed by '" +
                          self->params_.requester + "'",
                      self->fields_);
            self->start_agent();
        } else {
            self->fail(err::consent_refused,
                       why ? "the consent dialog could not start: " + *why
                           : "the owner of session " + self->target_.session_id + " refused (the dialog " + how + ")");
        }
        return 0;
    }
    const auto why = spawn_failure(self->agent_error_.get(), self->params_.argv.front());
    self->agent_source_.reset();
    self->agent_error_.reset();
    self->agent_pid_ = -1;
    auto f = self->fields_;
    f.push_back({"RSM_EXIT", how});
    log::info("The shadowing nxagent of session " + self->target_.session_id + " " + how, f);
    self->fail(err::session_failed, why ? "the shadowing nxagent could not start: " + *why
                                        : "the shadowing nxagent " + how + " before it was ready");
    return 0;
}

int ShadowSession::on_timer(sd_event_source*, uint64_t, void* userdata) noexcept {
    static_cast<ShadowSession*>(userdata)->on_timeout();
    return 0;
}

int ShadowSession::on_stderr(sd_event_source*, int, uint32_t, void* userdata) noexcept {
    static_cast<ShadowSession*>(userdata)->on_output();
    return 0;
}

void ShadowSession::on_output() {
    const auto ev = output_->read_available();
    if (ev.eof) output_source_.reset();
    if (!ev.ready || step_ != Step::starting) return;
    UniqueFd fd;
    try {
        fd = connect_loopback_tcp(static_cast<uint16_t>(params_.port));
    } catch (const std::exception& e) {
        fail(err::failed, std::string("cannot connect to the shadowing nxagent: ") + e.what());
        return;
    }
    // Any local user may bind a free port first: it must be the owner's.
    if (std::string why = check_tcp_peer_owner(fd.get(), static_cast<uint16_t>(params_.port), target_.who.uid);
        !why.empty()) {
        fail(err::session_failed, "the shadow's port is not the shadowing nxagent's (" + why + ")");
        return;
    }
    timer_.reset();
    step_ = Step::serving;
    answered_ = true;
    log::info("Session " + target_.session_id + " is shadowed by '" + params_.requester + "'", fields_);
    if (callbacks_.on_ready) callbacks_.on_ready(std::move(fd), cookie_hex_);
}

}  // namespace rsm::session
