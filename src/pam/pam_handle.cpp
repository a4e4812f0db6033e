#include "pam/pam_handle.hpp"

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string.h>
#include <utility>

namespace rsm::pam {

const char* to_string(Style s) noexcept {
    switch (s) {
    case Style::prompt_echo_off: return "prompt_echo_off";
    case Style::prompt_echo_on: return "prompt_echo_on";
    case Style::error_msg: return "error_msg";
    case Style::text_info: return "text_info";
    }
    return "unknown";
}

std::optional<Style> style_from_int(int style) noexcept {
    switch (style) {
    case PAM_PROMPT_ECHO_OFF: return Style::prompt_echo_off;
    case PAM_PROMPT_ECHO_ON: return Style::prompt_echo_on;
    case PAM_ERROR_MSG: return Style::error_msg;
    case PAM_TEXT_INFO: return Style::text_info;
    default: return std::nullopt;
    }
}

namespace {

// Frees a response array the way PAM would (free(3)), wiping answers first.
void free_responses(pam_response* r, int n) noexcept {
    if (!r) return;
    for (int i = 0; i < n; ++i) {
        if (!r[i].resp) continue;
        explicit_bzero(r[i].resp, std::strlen(r[i].resp));
        std::free(r[i].resp);
    }
    std::free(r);
}

// PAM_FAIL_DELAY's callback (see disable_fail_delay): no delay at all.
void no_fail_delay(int /*status*/, unsigned /*usec*/, void* /*appdata*/) {}

}  // namespace

Handle::Handle(const std::string& service, const std::string& user, Conversation conversation)
    : conv_{std::make_unique<ConvState>(ConvState{std::move(conversation)})} {
    const pam_conv conv{&Handle::converse_trampoline, conv_.get()};
    // pam_start copies the pam_conv struct, so a local is fine.
    int r = pam_start(service.c_str(), user.empty() ? nullptr : user.c_str(), &conv, &pamh_);
    if (r != PAM_SUCCESS) {
        // pam_start may leave a handle behind on failure; end it.
        if (pamh_) pam_end(std::exchange(pamh_, nullptr), r);
        throw std::runtime_error("pam_start(" + service + ") failed: " + pam_strerror(nullptr, r));
    }
}

Handle::~Handle() { close(); }

Handle::Handle(Handle&& o) noexcept
    : conv_{std::move(o.conv_)},
      pamh_{std::exchange(o.pamh_, nullptr)},
      last_{o.last_},
      cred_{std::exchange(o.cred_, false)},
      session_open_{std::exchange(o.session_open_, false)},
      handed_over_{std::exchange(o.handed_over_, false)} {}

Handle& Handle::operator=(Handle&& o) noexcept {
    if (this != &o) {
        close();
        conv_ = std::move(o.conv_);
        pamh_ = std::exchange(o.pamh_, nullptr);
        last_ = o.last_;
        cred_ = std::exchange(o.cred_, false);
        session_open_ = std::exchange(o.session_open_, false);
        handed_over_ = std::exchange(o.handed_over_, false);
    }
    return *this;
}

void Handle::close() noexcept {
    if (!pamh_) return;
    // No conversation while tearing down: whoever answered is gone by now
    // (the executor link closed), and nothing here should ask anything.
    if (conv_) conv_->fn = nullptr;
    if (session_open_) remember(pam_close_session(pamh_, PAM_SILENT));
    if (cred_) remember(pam_setcred(pamh_, PAM_DELETE_CRED | PAM_SILENT));
    session_open_ = cred_ = false;
    pam_end(std::exchange(pamh_, nullptr), handed_over_ ? (last_ | PAM_DATA_SILENT) : last_);
}

void Handle::hand_over() noexcept {
    handed_over_ = true;
    session_open_ = cred_ = false;
}

void Handle::set_conversation(Conversation conversation) { conv_->fn = std::move(conversation); }

int Handle::disable_fail_delay() {
    void (*fn)(int, unsigned, void*) = &no_fail_delay;
    return remember(pam_set_item(pamh_, PAM_FAIL_DELAY, reinterpret_cast<const void*>(fn)));
}

int Handle::set_item(int item, const std::string& value) {
    return remember(pam_set_item(pamh_, item, value.c_str()));
}

std::string Handle::user() const {
    const void* item = nullptr;
    if (pam_get_item(pamh_, PAM_USER, &item) != PAM_SUCCESS || !item) return {};
    return static_cast<const char*>(item);
}

int Handle::authenticate(int flags) { return remember(pam_authenticate(pamh_, flags)); }
int Handle::acct_mgmt(int flags) { return remember(pam_acct_mgmt(pamh_, flags)); }
int Handle::chauthtok_expired(int flags) {
    return remember(pam_chauthtok(pamh_, flags | PAM_CHANGE_EXPIRED_AUTHTOK));
}

int Handle::establish_cred(int flags) {
    int r = remember(pam_setcred(pamh_, flags | PAM_ESTABLISH_CRED));
    if (r == PAM_SUCCESS) cred_ = true;
    return r;
}

int Handle::open_session(int flags) {
    int r = remember(pam_open_session(pamh_, flags));
    if (r == PAM_SUCCESS) session_open_ = true;
    return r;
}

int Handle::close_session(int flags) {
    int r = remember(pam_close_session(pamh_, flags));
    // Closed or not, a second close in the destructor would not help.
    session_open_ = false;
    return r;
}

std::vector<std::string> Handle::getenvlist() const {
    std::vector<std::string> out;
    char** env = pam_getenvlist(pamh_);
    if (!env) return out;
    // The list and its strings are malloc'ed copies that we own; free them
    // even if copying throws.
    struct FreeList {
        char** env;
        ~FreeList() {
            for (char** e = env; *e; ++e) std::free(*e);
            std::free(env);
        }
    } guard{env};
    for (char** e = env; *e; ++e) out.emplace_back(*e);
    return out;
}

int Handle::converse_trampoline(int n, const pam_message** msg, pam_response** resp, void* appdata) noexcept {
    if (!resp) return PAM_CONV_ERR;
    *resp = nullptr;
    if (n <= 0 || n > PAM_MAX_NUM_MSG || !msg || !appdata) return PAM_CONV_ERR;
    auto* state = static_cast<ConvState*>(appdata);
    if (!state->fn) return PAM_CONV_ERR;

    // The answers wipe themselves however the round ends.
    std::optional<Answers> answers;
    std::vector<Prompt> prompts;
    try {
        prompts.reserve(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) {
            // Linux-PAM passes an array of pointers (msg[i]), not a pointer to an array.
            auto style = style_from_int(msg[i]->msg_style);
            if (!style) return PAM_CONV_ERR;
            prompts.push_back({*style, msg[i]->msg ? msg[i]->msg : ""});
        }
        answers = state->fn(prompts);
    } catch (const std::bad_alloc&) {
        return PAM_BUF_ERR;
    } catch (...) {
        return PAM_CONV_ERR;
    }
    if (!answers || answers->size() != prompts.size()) return PAM_CONV_ERR;

    // The one place for malloc: PAM frees the array and every resp string
    // with free(3), so they must come from calloc/strdup, not new.
    auto* r = static_cast<pam_response*>(std::calloc(static_cast<size_t>(n), sizeof(pam_response)));
    if (!r) return PAM_BUF_ERR;
    for (int i = 0; i < n; ++i) {
        const auto idx = static_cast<size_t>(i);
        if (!wants_answer(prompts[idx].style)) continue;
        // strdup: PAM (the module) frees it with free(3).
        r[i].resp = strdup((*answers)[idx].c_str());
        if (!r[i].resp) {
            free_responses(r, n);
            return PAM_BUF_ERR;
        }
    }
    *resp = r;
    return PAM_SUCCESS;
}

}  // namespace rsm::pam
