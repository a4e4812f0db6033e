#include "session_call_slot.hpp"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/safe_path.hpp"

namespace rsm::pam {

namespace {

UniqueFd slot_file(int dir_fd, unsigned index) {
    const std::string name = "slot-" + std::to_string(index);
    UniqueFd fd{openat(dir_fd, name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0600)};
    struct stat st{};
    if (!fd || fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0) return {};
    return fd;
}

// A free slot, without waiting; starts at `first` so that waiters spread.
UniqueFd try_any(int dir_fd, unsigned slots, unsigned first) {
    for (unsigned i = 0; i < slots; ++i) {
        UniqueFd fd = slot_file(dir_fd, (first + i) % slots);
        if (fd && flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return fd;
    }
    return {};
}

void on_alarm(int) {}

// While a blocking flock() waits, SIGALRM every `tick` interrupts it (EINTR)
// so that the waiter can look at the other slots and at its deadline. A
// repeating timer: one that fired just before flock() began is followed by
// the next. The caller's signal mask and SIGALRM disposition come back.
class AlarmTicks {
public:
    explicit AlarmTicks(std::chrono::milliseconds tick) {
        struct sigaction sa{};
        sa.sa_handler = on_alarm;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;  // no SA_RESTART: flock() returns EINTR
        sigaction(SIGALRM, &sa, &old_action_);
        sigset_t alarm;
        sigemptyset(&alarm);
        sigaddset(&alarm, SIGALRM);
        sigprocmask(SIG_UNBLOCK, &alarm, &old_mask_);
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(tick).count();
        itimerval t{};
        t.it_interval.tv_sec = t.it_value.tv_sec = static_cast<time_t>(us / 1'000'000);
        t.it_interval.tv_usec = t.it_value.tv_usec = static_cast<suseconds_t>(us % 1'000'000);
        setitimer(ITIMER_REAL, &t, &old_timer_);
    }
    ~AlarmTicks() {
        setitimer(ITIMER_REAL, &old_timer_, nullptr);
        sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
        sigaction(SIGALRM, &old_action_, nullptr);
    }
    AlarmTicks(const AlarmTicks&) = delete;
    AlarmTicks& operator=(const AlarmTicks&) = delete;

private:
    struct sigaction old_action_{};
    sigset_t old_mask_{};
    itimerval old_timer_{};
};

}  // namespace

SessionCallSlot SessionCallSlot::take(const std::string& dir, std::chrono::milliseconds timeout,
                                      unsigned slots) noexcept {
    if (slots == 0) return {};
    try {
        const auto [parent, name] = safe::split_path(dir);
        UniqueFd parent_fd = safe::open_directory(parent, 0);
        if (mkdirat(parent_fd.get(), name.c_str(), 0700) < 0 && errno != EEXIST) return {};
        UniqueFd dir_fd = safe::open_directory(dir, 0);
        const unsigned first = static_cast<unsigned>(getpid()) % slots;
        if (UniqueFd fd = try_any(dir_fd.get(), slots, first)) return SessionCallSlot{std::move(fd)};

        const auto deadline = std::chrono::steady_clock::now() + timeout;
        UniqueFd mine = slot_file(dir_fd.get(), first);
        if (!mine) return {};
        AlarmTicks ticks{std::chrono::milliseconds(50)};
        while (std::chrono::steady_clock::now() < deadline) {
            if (flock(mine.get(), LOCK_EX) == 0) return SessionCallSlot{std::move(mine)};
            if (errno != EINTR) return {};
            if (UniqueFd fd = try_any(dir_fd.get(), slots, first)) return SessionCallSlot{std::move(fd)};
        }
    } catch (...) {
    }
    return {};
}

}  // namespace rsm::pam
