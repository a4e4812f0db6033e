// The pace of a crash loop. systemd 252 restarts a failed service after a
// fixed RestartSec= (growing delays, RestartSteps=, came with systemd 254).
// rsm-manager.service restarts at once (RestartSec=0: after one crash the
// gateways wait ~0.1 s, not the 0.5 s a fixed pace would cost every time),
// and the manager slows a loop down itself: it remembers when it last
// started and how many starts came each within `window` of the one before
// (a file in its runtime directory, CLOCK_MONOTONIC, which survives the
// service's restarts but not a reboot), and before it takes its sockets it
// waits 0 ms on the first start of a streak, then 100, 200 and 400 ms, then
// 500 ms on every further one: a loop costs at most two starts a second.
// Sessions do not depend on it (executors keep their sessions and re-announce).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rsm::manager {

struct StartStreak {
    uint64_t last_usec = 0;  // CLOCK_MONOTONIC of the latest start
    unsigned count = 0;      // starts in the streak, that one included
};

inline constexpr uint64_t restart_window_usec = 10'000'000;

// "<last_usec> <count>\n"; nullopt for anything else (a torn or foreign file
// counts as no history).
std::optional<StartStreak> parse_start_streak(std::string_view text) noexcept;
std::string format_start_streak(const StartStreak& s);

// The streak after a start at `now_usec`: one more when the start before
// was within `window_usec`, else a new streak of 1.
StartStreak next_start_streak(const std::optional<StartStreak>& before, uint64_t now_usec,
                              uint64_t window_usec = restart_window_usec) noexcept;

// The wait before the count-th start of a streak serves anything.
uint64_t restart_delay_usec(unsigned count) noexcept;

// Reads and updates `runtime_dir`/manager-starts and sleeps the delay.
// Returns the delay slept (usec). Errors are logged, never thrown: pacing
// must not keep the manager from starting.
uint64_t pace_restart(const std::string& runtime_dir) noexcept;

}  // namespace rsm::manager
