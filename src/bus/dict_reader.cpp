#include "bus/dict_reader.hpp"

#include <cerrno>

namespace rsm::bus {

const char* to_string(DictStep s) noexcept {
    switch (s) {
    case DictStep::dictionary: return "dictionary";
    case DictStep::entry: return "dictionary entry";
    case DictStep::key: return "key";
    case DictStep::value: return "value";
    case DictStep::entry_end: return "dictionary entry end";
    case DictStep::dictionary_end: return "dictionary end";
    }
    return "unknown";
}

int read_dict(sd_bus_message* m, const DictEntryReader& on_entry, DictFailure* failure) {
    auto fail = [&](DictStep step, int r) {
        if (failure) *failure = DictFailure{step, r};
        return r;
    };
    int r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
    // 0: the read position is at the end of the message or container.
    if (r <= 0) return fail(DictStep::dictionary, r < 0 ? r : -ENXIO);
    for (;;) {
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
        if (r < 0) return fail(DictStep::entry, r);
        if (r == 0) break;
        const char* key = nullptr;
        r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &key);
        if (r < 0) return fail(DictStep::key, r);
        const char* contents = nullptr;
        r = sd_bus_message_peek_type(m, nullptr, &contents);
        if (r <= 0 || !contents) return fail(DictStep::value, r < 0 ? r : -EBADMSG);
        r = on_entry(key, contents);
        if (r < 0) return fail(DictStep::value, r);
        r = sd_bus_message_exit_container(m);
        if (r < 0) return fail(DictStep::entry_end, r);
    }
    r = sd_bus_message_exit_container(m);
    if (r < 0) return fail(DictStep::dictionary_end, r);
    return 0;
}

}  // namespace rsm::bus
