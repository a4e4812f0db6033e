// One PAM transaction, owned: pam_start .. pam_end, with a C++ conversation.
//
//   pam::Handle h{"rsm", "alice", conversation};
//   h.set_item(PAM_RHOST, "192.0.2.7");
//   if (int r = h.authenticate(PAM_DISALLOW_NULL_AUTHTOK); r != PAM_SUCCESS) ...
//
// Operations return PAM's status unchanged; pam/pam_error.hpp turns a failing
// status into an rsm error. The destructor undoes what succeeded, in PAM's
// order: pam_close_session, pam_setcred(PAM_DELETE_CRED), pam_end. After
// hand_over() (a forked process took the transaction) it only ends this copy.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <security/pam_appl.h>
#include <string>
#include <string_view>
#include <vector>

#include "util/secret_string.hpp"

namespace rsm::pam {

// PAM's message styles; the numbers are PAM's and go over the bus as they are.
enum class Style : std::uint32_t {
    prompt_echo_off = PAM_PROMPT_ECHO_OFF,
    prompt_echo_on = PAM_PROMPT_ECHO_ON,
    error_msg = PAM_ERROR_MSG,
    text_info = PAM_TEXT_INFO,
};
const char* to_string(Style s) noexcept;
// nullopt for styles rsm does not speak (PAM_BINARY_PROMPT, PAM_RADIO_TYPE).
std::optional<Style> style_from_int(int style) noexcept;
// True for the styles that need an answer.
constexpr bool wants_answer(Style s) noexcept {
    return s == Style::prompt_echo_off || s == Style::prompt_echo_on;
}

struct Prompt {
    Style style;
    std::string text;
};

// One round of a PAM conversation. Returns exactly one answer per prompt in
// the round (the entries for error_msg/text_info are ignored), or nullopt to
// fail the round: the module then sees PAM_CONV_ERR. It may throw; the
// trampoline turns that into PAM_CONV_ERR (PAM_BUF_ERR for bad_alloc).
// Answers are secrets (passwords, OTPs): they wipe themselves.
using Answers = std::vector<util::SecretString>;
using Conversation = std::function<std::optional<Answers>(const std::vector<Prompt>&)>;

class Handle {
public:
    // pam_start(service, user). An empty user lets the stack ask for one.
    // Throws std::runtime_error when pam_start fails.
    Handle(const std::string& service, const std::string& user, Conversation conversation);
    ~Handle();
    Handle(Handle&&) noexcept;
    Handle& operator=(Handle&&) noexcept;
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;

    // Replaces the conversation for later operations; an empty one fails every round.
    void set_conversation(Conversation conversation);
    // Sets PAM_FAIL_DELAY to a function that does nothing, so modules'
    // pam_fail_delay() (pam_unix: about 2 s, randomized) no longer sleeps
    // after a failure. rsm-manager pads every failed login to one fixed
    // delay instead, so failures cannot be told apart by their timing.
    [[nodiscard]] int disable_fail_delay();

    // pam_set_item for string items (PAM_RHOST, PAM_TTY, PAM_RUSER,
    // PAM_XDISPLAY ...). Returns PAM's status.
    [[nodiscard]] int set_item(int item, const std::string& value);
    // PAM_USER as the stack left it (modules may canonicalize it); "" if unset.
    std::string user() const;

    [[nodiscard]] int authenticate(int flags = 0);
    [[nodiscard]] int acct_mgmt(int flags = 0);
    // pam_chauthtok(PAM_CHANGE_EXPIRED_AUTHTOK): after acct_mgmt said PAM_NEW_AUTHTOK_REQD.
    [[nodiscard]] int chauthtok_expired(int flags = 0);
    // pam_setcred(PAM_ESTABLISH_CRED); remembered so the destructor deletes them.
    [[nodiscard]] int establish_cred(int flags = 0);
    // Remembered so the destructor closes it.
    [[nodiscard]] int open_session(int flags = 0);
    [[nodiscard]] int close_session(int flags = 0);
    // pam_getenvlist: "NAME=value" entries the stack set (pam_env, pam_systemd ...).
    std::vector<std::string> getenvlist() const;

    // Ends the transaction now, as the destructor would: pam_close_session and
    // pam_setcred(PAM_DELETE_CRED) if they are due, then pam_end. For a process
    // that leaves with _exit (the session leader). Idempotent.
    void end() noexcept { close(); }
    // Another process forked from this one (the session leader) owns the
    // transaction from now on and ends it itself. This copy forgets the
    // session and credentials and its pam_end carries PAM_DATA_SILENT, so the
    // modules free this process's memory but leave alone what the other
    // process still uses (its session, credential caches).
    void hand_over() noexcept;
    bool handed_over() const noexcept { return handed_over_; }

    // The status of the last operation (what pam_end is told).
    int last_status() const noexcept { return last_; }
    bool session_open() const noexcept { return session_open_; }
    bool cred_established() const noexcept { return cred_; }
    pam_handle_t* get() const noexcept { return pamh_; }

private:
    // Stable address for PAM's appdata_ptr, whatever happens to the Handle.
    struct ConvState {
        Conversation fn;
    };
    static int converse_trampoline(int n, const pam_message** msg, pam_response** resp, void* appdata) noexcept;
    int remember(int status) noexcept { return last_ = status; }
    void close() noexcept;

    std::unique_ptr<ConvState> conv_;
    pam_handle_t* pamh_ = nullptr;
    int last_ = PAM_SUCCESS;
    bool cred_ = false;
    bool session_open_ = false;
    bool handed_over_ = false;
};

}  // namespace rsm::pam
