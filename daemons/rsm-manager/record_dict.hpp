// The executor's record dictionary (a{sv}: Executor1's StateChanged, and the
// replies of StartSession and Attach) as the manager reads it into a
// session::Record. Keys are those of dbus/org.rsm.Executor1.xml; unknown
// keys are skipped (a newer executor may send more).
#pragma once

#include <string>
#include <systemd/sd-bus.h>
#include <vector>

#include "session/record.hpp"

namespace rsm::manager {

// Reads the dictionary at the message's read position into `r`: only the
// keys present are set. Throws std::runtime_error on a malformed dictionary.
void read_record_dict(sd_bus_message* m, session::Record& r);

// Appends the dictionary entry {key: <as values>} (the link's argv and list
// parameters). Returns sd-bus's result.
int append_strings_dict_entry(sd_bus_message* m, const char* key, const std::vector<std::string>& values);

}  // namespace rsm::manager
