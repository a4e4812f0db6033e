#include "login_conversation.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <utility>

#include "bus/error.hpp"
#include "bus/names.hpp"
#include "util/handles.hpp"

namespace rsm::session {
namespace {

// An sd_bus_error that frees itself.
struct ScopedBusError {
    sd_bus_error e{};
    ScopedBusError() = default;
    ScopedBusError(const ScopedBusError&) = delete;
    ScopedBusError& operator=(const ScopedBusError&) = delete;
    ~ScopedBusError() { sd_bus_error_free(&e); }
};

// The manager's error name when it is one of ours (say TimedOut when the
// gateway did not answer), so Login's reply passes it on; nullptr otherwise.
const char* rsm_error_name(const char* name) {
    namespace e = names::error;
    if (!name) return nullptr;
    for (const char* known : {e::failed, e::invalid_argument, e::authentication_failed, e::conversation_required,
                              e::login_denied, e::account_unavailable, e::password_expired, e::too_many_attempts,
                              e::throttled, e::timed_out})
        if (std::string_view(name) == known) return known;
    return nullptr;
}

}  // namespace

LoginConversation::LoginConversation(protocol::LoginMode mode, util::SecretString password, sd_bus* bus,
                                     std::uint64_t timeout_usec)
    : mode_{mode}, password_{std::move(password)}, bus_{bus}, timeout_usec_{timeout_usec} {
    // "account" mode has no secret to give: any prompt is a failure.
    if (mode_ == protocol::LoginMode::account) password_used_ = true;
}

LoginConversation::~LoginConversation() = default;  // password_ wipes itself

void LoginConversation::fail(const char* name, std::string message) {
    if (!failure_) failure_ = pam::Failure{name, std::move(message), {}};
}

std::optional<pam::Answers> LoginConversation::operator()(const std::vector<pam::Prompt>& round) {
    if (mode_ == protocol::LoginMode::conversation) return ask_manager(round);
    return answer_from_password(round);
}

std::optional<pam::Answers> LoginConversation::answer_from_password(const std::vector<pam::Prompt>& round) {
    pam::Answers answers(round.size());
    for (size_t i = 0; i < round.size(); ++i) {
        const auto& p = round[i];
        if (!pam::wants_answer(p.style)) {
            messages_.push_back(p);
            continue;
        }
        if (p.style == pam::Style::prompt_echo_off && !password_used_) {
            answers[i] = util::SecretString{password_.view()};
            password_used_ = true;
            continue;
        }
        // A second secret (OTP, new password) or a visible question: the
        // password alone cannot answer this stack.
        fail(names::error::conversation_required,
             "The PAM stack asks more than a password; log in with a conversation");
        return std::nullopt;
    }
    return answers;
}

std::optional<pam::Answers> LoginConversation::ask_manager(const std::vector<pam::Prompt>& round) {
    // Rounds of messages only are kept and go out with the next round that
    // asks something, or with Login's reply: the gateway never has to
    // answer a round that asks nothing.
    if (std::none_of(round.begin(), round.end(), [](const auto& p) { return pam::wants_answer(p.style); })) {
        messages_.insert(messages_.end(), round.begin(), round.end());
        return pam::Answers(round.size());
    }
    std::vector<pam::Prompt> sent = std::exchange(messages_, {});
    sent.insert(sent.end(), round.begin(), round.end());

    sd_bus_message* raw = nullptr;
    bus::check(sd_bus_message_new_method_call(bus_, &raw, nullptr, names::executor_manager_path,
                                              names::executor_manager_interface, "Converse"),
               "sd_bus_message_new_method_call(Converse)");
    MessagePtr call{raw};
    bus::check(sd_bus_message_open_container(call.get(), 'a', "(us)"), "open a(us)");
    for (const auto& p : sent)
        bus::check(sd_bus_message_append(call.get(), "(us)", static_cast<std::uint32_t>(p.style), p.text.c_str()),
                   "append (us)");
    bus::check(sd_bus_message_close_container(call.get()), "close a(us)");

    // A synchronous call from inside Login's handler: sd-bus queues whatever
    // else arrives meanwhile and dispatches it after the handler returns.
    ScopedBusError error;
    sd_bus_message* reply_raw = nullptr;
    int r = sd_bus_call(bus_, call.get(), timeout_usec_, &error.e, &reply_raw);
    MessagePtr reply{reply_raw};
    if (reply) (void)sd_bus_message_sensitive(reply.get());  // erase the answers when freed
    if (r < 0) {
        if (const char* name = rsm_error_name(error.e.name))
            fail(name, error.e.message ? error.e.message : "PAM conversation failed");
        else if (r == -ETIMEDOUT)
            fail(names::error::timed_out, "The PAM conversation was not answered in time");
        else
            fail(names::error::failed, std::string("PAM conversation failed: ") +
                                           (error.e.message ? error.e.message : std::strerror(-r)));
        return std::nullopt;
    }

    // Every copy is a SecretString (moves wipe their source), the reply wipes itself.
    pam::Answers answers;
    answers.reserve(sent.size());
    bool ok = sd_bus_message_enter_container(reply.get(), 'a', "s") > 0;
    const char* s = nullptr;
    while (ok && (r = sd_bus_message_read_basic(reply.get(), 's', &s)) > 0) answers.emplace_back(s);
    ok = ok && r >= 0 && sd_bus_message_exit_container(reply.get()) >= 0;
    if (!ok || answers.size() != sent.size()) {
        fail(names::error::failed, "The manager answered a PAM conversation round with " +
                                       std::to_string(answers.size()) + " answers for " +
                                       std::to_string(sent.size()) + " prompts");
        return std::nullopt;
    }
    // The answers to this round are the last ones (the kept messages came first).
    pam::Answers mine(std::make_move_iterator(answers.end() - static_cast<std::ptrdiff_t>(round.size())),
                      std::make_move_iterator(answers.end()));
    return mine;
}

}  // namespace rsm::session
