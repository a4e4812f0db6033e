#include "protocol/client_info_bus.hpp"

#include <cstring>
#include <string>

#include "bus/error.hpp"
#include "bus/names.hpp"

namespace rsm::protocol {
namespace {

[[noreturn]] void invalid(const std::string& message) {
    throw bus::BusError(names::error::invalid_argument, message);
}

// A failure to read an argument whose signature the vtable already checked
// means a malformed message; report it as the caller's fault.
void check_read(int r, const char* what) {
    if (r < 0)
        invalid(std::string{"client: cannot read "} + what + ": " + std::strerror(-r));
}

}  // namespace

ClientInfo read_client_info(sd_bus_message* message) {
    ClientInfoMap entries;
    int r = sd_bus_message_enter_container(message, SD_BUS_TYPE_ARRAY, "{sv}");
    if (r <= 0)
        invalid("client: expected a dictionary of type a{sv}");
    for (;;) {
        r = sd_bus_message_enter_container(message, SD_BUS_TYPE_DICT_ENTRY, "sv");
        check_read(r, "dictionary entry");
        if (r == 0)
            break;
        const char* key = nullptr;
        check_read(sd_bus_message_read_basic(message, SD_BUS_TYPE_STRING, &key), "key");

        const char* contents = nullptr;
        check_read(sd_bus_message_peek_type(message, nullptr, &contents), "value");
        if (!contents || std::strcmp(contents, "s") != 0) {
            invalid("client: " + quote_untrusted(key) + " must be a string (type 's'), got type " +
                    quote_untrusted(contents ? contents : ""));
        }
        const char* value = nullptr;
        check_read(sd_bus_message_enter_container(message, SD_BUS_TYPE_VARIANT, "s"), "value");
        check_read(sd_bus_message_read_basic(message, SD_BUS_TYPE_STRING, &value), "value");
        check_read(sd_bus_message_exit_container(message), "value");
        check_read(sd_bus_message_exit_container(message), "dictionary entry");

        if (!entries.emplace(key, value).second)
            invalid("client: key " + quote_untrusted(key) + " appears more than once");
    }
    check_read(sd_bus_message_exit_container(message), "dictionary");

    ClientInfo info;
    if (auto error = client_info_from_map(entries, info))
        invalid(*error);
    return info;
}

}  // namespace rsm::protocol
