// The one error policy of rsm's bus layer.
//
// Inside rsm, code that must refuse a bus call throws BusError with a D-Bus
// error name (rsm::names::error::*) and a message that says what was wrong.
// Method handlers run their body through reply_errors(), the single funnel
// that turns BusError (and any other exception) into an sd_bus_error reply;
// no exception ever crosses back into libsystemd's C code.
#pragma once

#include <cerrno>
#include <exception>
#include <stdexcept>
#include <string>
#include <systemd/sd-bus.h>

#include "bus/names.hpp"
#include "util/log.hpp"

namespace rsm::bus {

class BusError : public std::runtime_error {
public:
    BusError(std::string name, const std::string& message)
        : std::runtime_error(message), name_(std::move(name)) {}
    const std::string& name() const noexcept { return name_; }

private:
    std::string name_;
};

// Sets *error from the current exception and returns the negative errno
// sd-bus expects from a failing handler.
inline int set_error_from_exception(sd_bus_error* error) noexcept {
    try {
        throw;
    } catch (const BusError& e) {
        return sd_bus_error_set(error, e.name().c_str(), e.what());
    } catch (const std::bad_alloc&) {
        return -ENOMEM;
    } catch (const std::exception& e) {
        log::error("Internal error in bus handler", {{"RSM_ERROR", e.what()}});
        return sd_bus_error_set(error, names::error::failed, e.what());
    } catch (...) {
        return sd_bus_error_set(error, names::error::failed, "unknown internal error");
    }
}

// Runs fn() (which returns an int, >= 0 on success) and funnels any
// exception into *error. Use as the whole body of every method handler.
template <class Fn>
int reply_errors(sd_bus_error* error, Fn&& fn) noexcept {
    try {
        return fn();
    } catch (...) {
        return set_error_from_exception(error);
    }
}

// Throws std::system_error for a negative sd-bus/sd-event return value.
int check(int r, const char* what);

}  // namespace rsm::bus
