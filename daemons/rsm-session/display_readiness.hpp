// Readiness of a display server that says it on stderr rather than with
// -displayfd ([display.*] ready_line; nxagent prints "Info: Waiting for
// connection from '127.0.0.1' on socket 'tcp:localhost:<port>'." when it
// listens), and lines that tell its state later ([display.*] suspend_line:
// nxagent's "Session: Session suspended at '...'" when its NX client went
// away; resume_line: its "Session: Resuming session at '...'" once it acts on
// the SIGHUP that answers that).
//
// The session leader gives the server a pipe as stderr (stdout stays the
// journal) and reads it for the whole session in its poll() loop: every line
// goes on to the journal under the server's identifier, so nothing is lost,
// and the leader reads whatever is there each time the pipe is readable, so
// the server never waits for us longer than one loop turn. The journal
// stream is non-blocking: when journald cannot keep up, lines are dropped
// (and counted), never the server blocked.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "util/fd.hpp"

namespace rsm::session {

// A byte stream cut into lines (no I/O; unit-tested). NUL bytes (nxagent pads
// some messages with them) and carriage returns are dropped; a line longer
// than `max_line` is cut there and the rest is the next line.
class LineSplitter {
public:
    explicit LineSplitter(std::size_t max_line = 1024) : max_line_{max_line} {}
    // Calls on_line for every line `data` completes (without its '\n').
    void feed(std::string_view data, const std::function<void(std::string_view)>& on_line);
    // At EOF: a last line without '\n', if any.
    void finish(const std::function<void(std::string_view)>& on_line);

private:
    std::size_t max_line_;
    std::string partial_;
};

class DisplayOutput {
public:
    struct Rules {
        std::string ready_line;    // substring that marks the server ready; "" = never
        std::string suspend_line;  // substring that says it suspended itself; "" = none
        std::string start_line;    // substring that says it takes X clients now; "" = none
        // substring that says it acts on a SIGHUP after a suspend (nxagent's
        // "Session: Resuming session"); "" = none
        std::string resume_line = {};
    };
    struct Events {
        bool ready = false;      // the ready line came (first time only)
        unsigned ready_lines = 0;  // ready lines seen in this read (nxagent: listening again)
        unsigned suspended = 0;  // suspend lines seen in this read
        bool started = false;    // the start line came (first time only)
        unsigned resuming = 0;   // resume lines seen in this read
        bool eof = false;        // the server closed its stderr (it exited)
    };

    // Creates the pipe (both ends CLOEXEC, the read end non-blocking) and
    // the journal stream the lines go to. Throws std::system_error.
    DisplayOutput(Rules rules, const std::string& journal_identifier);

    int read_fd() const noexcept { return read_.get(); }
    // The end for the server's stderr; close it once the server has it.
    int write_fd() const noexcept { return write_.get(); }
    void close_write_end() noexcept { write_.reset(); }
    bool open() const noexcept { return static_cast<bool>(read_); }

    // Reads what the pipe holds now (never blocks), forwards the lines,
    // reports what they said. At EOF the read end is closed.
    Events read_available();

    std::size_t dropped_lines() const noexcept { return dropped_; }

private:
    void on_line(std::string_view line, Events& ev);

    Rules rules_;
    UniqueFd read_, write_, journal_;
    LineSplitter splitter_;
    bool ready_seen_ = false;
    bool start_seen_ = false;
    std::size_t dropped_ = 0;
};

}  // namespace rsm::session
