// A session record: what rsm knows about one desktop session, as kept in
// memory by the manager and on disk in /run/rsm/sessions/<id> (RuntimeDirectory,
// preserved across manager restarts).
//
// Two steps: a *minimal* record (complete == false) is written as soon as the
// executor exists in its scope (id, user, type, unit, executor pid, created);
// the *full* record (complete == true) when the executor announces the ready
// session (display, leader, logind session ...). A connect to a session whose
// record is not complete is refused as "not ready", never raced.
//
// File format: UTF-8 "KEY=value" lines, one per field, keys upper-case as in
// serialize(); values may not contain newlines or NULs. Unknown keys are
// ignored (forward compatibility); missing required keys (ID, UID, USER, TYPE)
// and malformed numbers are errors naming the line and key.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace rsm::session {

enum class State {
    starting,      // executor in its scope, display not ready yet
    active,        // ready, a gateway holds the control channel
    disconnected,  // ready, nobody connected
    closing,       // ending
};
const char* to_string(State s) noexcept;
std::optional<State> state_from_string(std::string_view s) noexcept;

struct Record {
    std::string id;    // 32 lower-case hex digits
    uint32_t uid = 0;
    std::string user;
    std::string type;  // display type: "xvnc", "xvfb", "xorg", "null"
    State state = State::starting;
    bool complete = false;  // full record (announced) or minimal
    std::string unit;       // "rsm-session-<id>.scope"
    uint32_t executor_pid = 0;
    uint32_t leader_pid = 0;
    std::string logind_session;  // "" when pam_systemd is not in the stack
    std::string display;         // ":N", "" for null
    int display_number = -1;     // -1 for none
    uint32_t width = 0, height = 0, depth = 0;
    std::string desktop;
    std::string client_address, client_name;
    // CLOCK_REALTIME microseconds, 0 = never (logind's convention).
    uint64_t created_usec = 0, connected_usec = 0, disconnected_usec = 0;

    bool operator==(const Record&) const = default;
};

// Now, as records keep time: CLOCK_REALTIME in microseconds.
uint64_t now_realtime_usec();

// Text form (see the file comment). serialize() throws std::invalid_argument
// if a string field holds a newline or NUL or is not valid UTF-8 (parse()
// would refuse it). Every key is written; DISPLAY_NUMBER is empty for -1,
// COMPLETE is 0 or 1.
std::string serialize(const Record& r);
// `origin` names the source in errors ("/run/rsm/sessions/<id>"). Throws
// RecordError with "origin:line: KEY: what is wrong" ("origin: KEY: missing"
// for an absent required key). Numbers are plain decimal digits (no sign,
// spaces or leading zeros) within the field's range; a key given twice, a
// line without '=' and a value that is not UTF-8 are errors too. Empty lines
// are ignored.
Record parse(std::string_view text, const std::string& origin);

struct RecordError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Writes dir/<id> atomically (temporary file in dir, fsync not needed on
// /run, rename), mode 0644. Throws std::system_error, or
// std::invalid_argument if r.id is not a valid session id (it is a file name)
// or serialize() refuses the record.
void write_record(const std::string& dir, const Record& r);
// Removes dir/<id>; a missing file is not an error. Throws std::system_error,
// or std::invalid_argument for an invalid id.
void remove_record(const std::string& dir, const std::string& id);

struct LoadedRecords {
    std::vector<Record> records;
    std::vector<std::string> errors;  // one per unreadable or invalid file (the file is left alone)
};
// Reads every regular file in dir whose name is a valid session id (other
// names, such as write_record's temporary files, are skipped), sorted by id.
// A record whose ID differs from its file name, a file that is not a regular
// file and one over 64 KiB are errors. A missing dir gives no records and no
// errors. Never throws for a bad file or directory.
LoadedRecords load_records(const std::string& dir);

}  // namespace rsm::session
