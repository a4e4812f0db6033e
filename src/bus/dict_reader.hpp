// The one reader of a{sv} dictionaries (D-Bus "vardicts": options, records,
// credentials, properties) from an sd_bus_message.
//
// The walk over the array and its entries is the same everywhere; what a key
// means and which types it may have is the caller's. So read_dict() does the
// walk and hands each entry to the caller positioned on its variant, and the
// caller reads the variant (sd_bus_message_read(m, "v", "s", &v)) or skips
// it (sd_bus_message_skip(m, "v")). Callers turn a failure into their own
// error (a BusError for a method argument, -errno for a reply) with the step
// that failed.
#pragma once

#include <functional>
#include <string_view>
#include <systemd/sd-bus.h>

namespace rsm::bus {

// Where a dictionary could not be read.
enum class DictStep {
    dictionary,      // the read position is not at an a{sv}
    entry,           // entering a dict entry
    key,             // reading its key
    value,           // peeking at its variant
    entry_end,       // leaving the entry (the callee left the variant unread?)
    dictionary_end,  // leaving the array
};
// "dictionary", "dictionary entry", "key", "value", "dictionary entry end",
// "dictionary end".
const char* to_string(DictStep s) noexcept;

struct DictFailure {
    DictStep step = DictStep::dictionary;
    int error = 0;  // negative errno
};

// Called once per entry with its key and the variant's contents signature
// ("s", "u", "as" ...); the message stands on the variant, which the callee
// must consume. Returns >= 0 to go on, < 0 to stop (read_dict returns that
// value, with step value). May throw: the exception passes through.
using DictEntryReader = std::function<int(std::string_view key, std::string_view contents)>;

// Reads the a{sv} at the message's read position, leaving it right after the
// dictionary. Returns 0, or a negative errno with *failure (if given) saying
// where.
int read_dict(sd_bus_message* m, const DictEntryReader& on_entry, DictFailure* failure = nullptr);

}  // namespace rsm::bus
