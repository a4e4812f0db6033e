#include "util/log.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

namespace rsm::log {
namespace {

// True when stderr is the journal stream (JOURNAL_STREAM names its device and
// inode), i.e. we run as a systemd service: then log natively with fields.
bool stderr_is_journal() {
    const char* e = std::getenv("JOURNAL_STREAM");
    if (!e) return false;
    unsigned long dev = 0, ino = 0;
    if (std::sscanf(e, "%lu:%lu", &dev, &ino) != 2) return false;
    struct stat st {};
    if (fstat(STDERR_FILENO, &st) < 0) return false;
    return st.st_dev == dev && st.st_ino == ino;
}

bool debug_enabled() {
    const char* e = std::getenv("RSM_DEBUG");
    return e && *e == '1';
}

}  // namespace

void write(int priority, std::string_view message, const Fields& fields) {
    if (priority >= LOG_DEBUG && !debug_enabled()) return;
    const std::string_view ident = program_invocation_short_name;

    if (stderr_is_journal()) {
        std::vector<std::string> items;
        items.reserve(fields.size() + 3);
        items.push_back("MESSAGE=" + std::string(message));
        items.push_back("PRIORITY=" + std::to_string(priority));
        items.push_back("SYSLOG_IDENTIFIER=" + std::string(ident));
        for (const auto& f : fields) items.push_back(std::string(f.key) + "=" + f.value);
        std::vector<iovec> iov;
        iov.reserve(items.size());
        for (auto& i : items) iov.push_back({i.data(), i.size()});
        if (sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) >= 0) return;
    }
    std::string line = std::string(ident) + ": " + std::string(message);
    for (const auto& f : fields) line += " " + std::string(f.key) + "=" + f.value;
    line += "\n";
    (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace rsm::log
