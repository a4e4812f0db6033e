#include "display_readiness.hpp"

#include <cerrno>
#include <fcntl.h>
#include <syslog.h>
#include <system_error>
#include <systemd/sd-journal.h>
#include <unistd.h>

namespace rsm::session {

void LineSplitter::feed(std::string_view data, const std::function<void(std::string_view)>& on_line) {
    for (char c : data) {
        if (c == '\n') {
            on_line(partial_);
            partial_.clear();
            continue;
        }
        if (c == '\0' || c == '\r') continue;
        partial_.push_back(c);
        if (partial_.size() >= max_line_) {
            on_line(partial_);
            partial_.clear();
        }
    }
}

void LineSplitter::finish(const std::function<void(std::string_view)>& on_line) {
    if (!partial_.empty()) on_line(partial_);
    partial_.clear();
}

DisplayOutput::DisplayOutput(Rules rules, const std::string& journal_identifier) : rules_{std::move(rules)} {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    read_.reset(p[0]);
    write_.reset(p[1]);
    if (fcntl(read_.get(), F_SETFL, O_NONBLOCK) < 0)
        throw std::system_error(errno, std::generic_category(), "fcntl(O_NONBLOCK)");
    // Without a journal (tests outside systemd) the lines are read and dropped.
    const int j = sd_journal_stream_fd(journal_identifier.c_str(), LOG_INFO, 0);
    if (j >= 0) {
        journal_.reset(j);
        (void)fcntl(j, F_SETFD, FD_CLOEXEC);
        (void)fcntl(j, F_SETFL, fcntl(j, F_GETFL) | O_NONBLOCK);
    }
}

DisplayOutput::Events DisplayOutput::read_available() {
    Events ev;
    if (!read_) return ev;
    const auto line = [&](std::string_view l) { on_line(l, ev); };
    char buf[4096];
    // A bounded number of reads a turn: a server writing without pause must
    // not keep the leader from its signals.
    for (int i = 0; i < 16; ++i) {
        const ssize_t n = read(read_.get(), buf, sizeof buf);
        if (n > 0) {
            splitter_.feed({buf, static_cast<std::size_t>(n)}, line);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        // EOF (or an error a pipe cannot have): the server is gone.
        splitter_.finish(line);
        read_.reset();
        ev.eof = true;
        break;
    }
    return ev;
}

void DisplayOutput::on_line(std::string_view line, Events& ev) {
    if (!rules_.ready_line.empty() && line.find(rules_.ready_line) != std::string_view::npos) {
        ++ev.ready_lines;
        if (!ready_seen_) ev.ready = true;
        ready_seen_ = true;
    }
    if (!rules_.suspend_line.empty() && line.find(rules_.suspend_line) != std::string_view::npos) ++ev.suspended;
    if (!rules_.resume_line.empty() && line.find(rules_.resume_line) != std::string_view::npos) ++ev.resuming;
    if (!rules_.start_line.empty() && !start_seen_ && line.find(rules_.start_line) != std::string_view::npos) {
        start_seen_ = true;
        ev.started = true;
    }
    if (!journal_ || line.empty()) return;
    std::string out{line};
    out.push_back('\n');
    // One write per line: a stream socket takes it whole or, when full, not
    // at all (EAGAIN) for lines this short; a partial write loses the rest.
    if (write(journal_.get(), out.data(), out.size()) < 0) ++dropped_;
}

}  // namespace rsm::session
