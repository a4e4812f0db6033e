// An sd_bus_error that frees itself: for the error out-parameter of
// sd_bus_call() and of handler funnels run outside a handler.
#pragma once

#include <systemd/sd-bus.h>

namespace rsm::bus {

struct ErrorBuffer {
    sd_bus_error e = SD_BUS_ERROR_NULL;
    ErrorBuffer() = default;
    ErrorBuffer(const ErrorBuffer&) = delete;
    ErrorBuffer& operator=(const ErrorBuffer&) = delete;
    ~ErrorBuffer() { sd_bus_error_free(&e); }
};

}  // namespace rsm::bus
