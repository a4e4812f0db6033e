// /org/rsm/Executor1 (org.rsm.Executor1): what the manager asks of this
// executor over the link. Owns the PAM handle of the one login it serves.
#pragma once

#include <optional>
#include <systemd/sd-bus.h>

#include "pam/pam_handle.hpp"
#include "util/handles.hpp"

namespace rsm::session {

class Executor {
public:
    // Registers the object on `bus`, which must outlive the Executor.
    explicit Executor(sd_bus* bus);
    Executor(const Executor&) = delete;
    Executor& operator=(const Executor&) = delete;

    // The handle of a successful login (it stays open for the session).
    const std::optional<pam::Handle>& pam() const noexcept { return pam_; }

private:
    static int method_login(sd_bus_message* m, void* userdata, sd_bus_error* error) noexcept;
    int login(sd_bus_message* m);

    sd_bus* bus_;
    SlotPtr slot_;
    bool login_called_ = false;
    std::optional<pam::Handle> pam_;

    static const sd_bus_vtable vtable_[];
};

}  // namespace rsm::session
