// Structured logging to the journal.
//
//   log::info("Login succeeded", {{"RSM_USER", user}, {"RSM_CLIENT_ADDRESS", addr}});
//
// Every entry carries MESSAGE=, PRIORITY= and the given fields (upper-case
// journal field names). When stderr is not connected to the journal (a
// terminal, a test harness), a readable line goes to stderr instead, with the
// fields appended as KEY=value, so tests can read what the journal would get.
// The identifier is the program's name; debug entries are written only when
// RSM_DEBUG=1 is in the environment. There is no logging state to set up.
#pragma once

#include <string>
#include <string_view>
#include <syslog.h>
#include <utility>
#include <vector>

namespace rsm::log {

struct Field {
    std::string_view key;
    std::string value;
};
using Fields = std::vector<Field>;

void write(int priority, std::string_view message, const Fields& fields = {});

inline void debug(std::string_view m, const Fields& f = {}) { write(LOG_DEBUG, m, f); }
inline void info(std::string_view m, const Fields& f = {}) { write(LOG_INFO, m, f); }
inline void notice(std::string_view m, const Fields& f = {}) { write(LOG_NOTICE, m, f); }
inline void warning(std::string_view m, const Fields& f = {}) { write(LOG_WARNING, m, f); }
inline void error(std::string_view m, const Fields& f = {}) { write(LOG_ERR, m, f); }


}  // namespace rsm::log
