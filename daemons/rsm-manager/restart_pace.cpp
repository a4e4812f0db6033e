#include "restart_pace.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <system_error>
#include <time.h>
#include <unistd.h>

#include "util/log.hpp"
#include "util/safe_path.hpp"

namespace rsm::manager {

namespace {

constexpr const char* file_name = "manager-starts";

uint64_t monotonic_usec() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

template <typename T>
bool parse_number(std::string_view s, T& out) noexcept {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

std::string read_small(int dir_fd) {
    UniqueFd fd = safe::open_regular(dir_fd, file_name, 0);
    char buf[64];
    std::string text;
    for (;;) {
        ssize_t n = read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > 64) break;  // not ours: parse_start_streak refuses it
    }
    return text;
}

}  // namespace

std::optional<StartStreak> parse_start_streak(std::string_view text) noexcept {
    if (text.empty() || text.back() != '\n') return std::nullopt;
    text.remove_suffix(1);
    const auto space = text.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    StartStreak s;
    if (!parse_number(text.substr(0, space), s.last_usec) || !parse_number(text.substr(space + 1), s.count) ||
        s.count == 0)
        return std::nullopt;
    return s;
}

std::string format_start_streak(const StartStreak& s) {
    return std::to_string(s.last_usec) + " " + std::to_string(s.count) + "\n";
}

StartStreak next_start_streak(const std::optional<StartStreak>& before, uint64_t now_usec,
                              uint64_t window_usec) noexcept {
    if (before && now_usec >= before->last_usec && now_usec - before->last_usec < window_usec &&
        before->count < 1'000'000)
        return {now_usec, before->count + 1};
    return {now_usec, 1};
}

uint64_t restart_delay_usec(unsigned count) noexcept {
    if (count <= 1) return 0;
    if (count >= 5) return 500'000;
    return 100'000u << (count - 2);  // 100, 200, 400 ms
}

uint64_t pace_restart(const std::string& runtime_dir) noexcept {
    try {
        UniqueFd dir = safe::open_directory(runtime_dir, 0);
        std::optional<StartStreak> before;
        try {
            before = parse_start_streak(read_small(dir.get()));
        } catch (const std::system_error& e) {
            if (e.code().value() != ENOENT) log::warning(std::string("Ignoring the start history: ") + e.what());
        }
        const StartStreak now = next_start_streak(before, monotonic_usec());
        {
            UniqueFd out = safe::create_fresh(dir.get(), file_name, 0600, 0);
            const std::string text = format_start_streak(now);
            if (write(out.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
                log::warning("Cannot write the start history");
        }
        const uint64_t delay = restart_delay_usec(now.count);
        if (delay) {
            log::notice("Started " + std::to_string(now.count) + " times in a row within " +
                            std::to_string(restart_window_usec / 1'000'000) + " s of each other; waiting " +
                            std::to_string(delay / 1000) + " ms before serving",
                        {{"RSM_RESTART_STREAK", std::to_string(now.count)}});
            timespec ts{static_cast<time_t>(delay / 1'000'000), static_cast<long>(delay % 1'000'000) * 1000};
            while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
            }
        }
        return delay;
    } catch (const std::exception& e) {
        log::warning(std::string("Cannot keep the start history: ") + e.what());
        return 0;
    }
}

}  // namespace rsm::manager
