#include "protocol/client_info_bus.hpp"

#include <cstring>
#include <string>
#include <string_view>

#include "bus/dict_reader.hpp"
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
    bus::DictFailure failure;
    const int r = bus::read_dict(
        message,
        [&](std::string_view key, std::string_view contents) {
            if (contents != "s") {
                invalid("client: " + quote_untrusted(key) + " must be a string (type 's'), got type " +
                        quote_untrusted(contents));
            }
            const char* value = nullptr;
            check_read(sd_bus_message_enter_container(message, SD_BUS_TYPE_VARIANT, "s"), "value");
            check_read(sd_bus_message_read_basic(message, SD_BUS_TYPE_STRING, &value), "value");
            check_read(sd_bus_message_exit_container(message), "value");
            if (!entries.emplace(std::string{key}, value).second)
                invalid("client: key " + quote_untrusted(key) + " appears more than once");
            return 0;
        },
        &failure);
    if (r < 0) {
        if (failure.step == bus::DictStep::dictionary)
            invalid("client: expected a dictionary of type a{sv}");
        check_read(r, bus::to_string(failure.step));
    }

    ClientInfo info;
    if (auto error = client_info_from_map(entries, info))
        invalid(*error);
    return info;
}

}  // namespace rsm::protocol
