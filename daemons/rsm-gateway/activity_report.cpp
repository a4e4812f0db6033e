#include "activity_report.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "util/log.hpp"

namespace rsm::gateway {

namespace {

constexpr const char* control_path = "/org/rsm/SessionControl1";
constexpr const char* control_interface = "org.rsm.SessionControl1";

}  // namespace

ActivityReporter::ActivityReporter(int control, std::uint64_t interval_usec) : interval_{interval_usec} {
    const int fd = fcntl(control, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) {
        error_ = std::string("fcntl(F_DUPFD): ") + std::strerror(errno);
        return;
    }
    sd_bus* raw = nullptr;
    int r = sd_bus_new(&raw);
    if (r < 0) {
        ::close(fd);
        error_ = std::string("sd_bus_new: ") + std::strerror(-r);
        return;
    }
    BusPtr bus{raw};
    // Both directions share one socket; sd-bus closes it with the bus.
    if ((r = sd_bus_set_fd(bus.get(), fd, fd)) < 0) {
        ::close(fd);
    } else if ((r = sd_bus_set_anonymous(bus.get(), 1)) >= 0) {
        // The SASL exchange runs in process(); calls queue until it is done.
        r = sd_bus_start(bus.get());
    }
    if (r < 0) {
        error_ = std::string("the control channel's D-Bus client: ") + std::strerror(-r);
        return;
    }
    sd_bus_slot* slot = nullptr;
    // Local only: a peer-to-peer connection has no bus to send AddMatch to.
    if (sd_bus_match_signal(bus.get(), &slot, nullptr, control_path, control_interface, nullptr, &on_signal, this) >= 0)
        signals_.reset(slot);
    bus_ = std::move(bus);
}

int ActivityReporter::on_signal(sd_bus_message* m, void* self, sd_bus_error*) {
    const char* why = nullptr;
    if (sd_bus_message_read_basic(m, 's', &why) < 0 || !why) why = "";
    const char* member = sd_bus_message_get_member(m);
    static_cast<ActivityReporter*>(self)->reason_ = std::string(member ? member : "?") + ": " + why;
    return 0;
}

void ActivityReporter::input(std::uint64_t now) {
    if (!bus_ || (reported_ && now - last_ < interval_)) return;
    reported_ = true;
    last_ = now;
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_method_call(bus_.get(), &raw, nullptr, control_path, control_interface,
                                           "ReportActivity");
    if (r < 0) return;
    const MessagePtr m{raw};
    // No reply wanted: nothing waits for it, nothing piles up unread.
    sd_bus_message_set_expect_reply(m.get(), 0);
    r = sd_bus_send(bus_.get(), m.get(), nullptr);
    if (r < 0) log::notice("ReportActivity not sent", {{"RSM_ERROR", std::strerror(-r)}});
}

int ActivityReporter::fd() const { return bus_ ? sd_bus_get_fd(bus_.get()) : -1; }

short ActivityReporter::events() const {
    if (!bus_) return 0;
    const int e = sd_bus_get_events(bus_.get());
    return e < 0 ? 0 : static_cast<short>(e);
}

bool ActivityReporter::process() {
    if (!bus_) return false;
    int r = 0;
    // Signals (DisconnectRequested, SessionEnding) and replies are read and
    // dropped: rsm closes the channel right after them anyway.
    while ((r = sd_bus_process(bus_.get(), nullptr)) > 0) {
    }
    if (r < 0 || sd_bus_is_open(bus_.get()) <= 0) {
        error_ = r < 0 ? std::strerror(-r) : "closed";
        signals_.reset();
        bus_.reset();
        return false;
    }
    return true;
}

}  // namespace rsm::gateway
