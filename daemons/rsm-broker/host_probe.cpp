#include "host_probe.hpp"

#include <cerrno>
#include <cstring>
#include <netdb.h>
#include <stdexcept>
#include <sys/epoll.h>

#include "util/log.hpp"

namespace rsm::broker {

void HostDirectory::add(const std::string& address) {
    if (addresses_.contains(address)) return;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* res = nullptr;
    std::vector<sockaddr_storage> out;
    if (const int r = getaddrinfo(address.c_str(), nullptr, &hints, &res); r != 0) {
        log::warning("cannot resolve an X2Go server; it counts as down",
                     {{"RSM_BROKER_HOST", address}, {"RSM_ERROR", gai_strerror(r)}});
    } else {
        for (const addrinfo* ai = res; ai; ai = ai->ai_next) {
            if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
            sockaddr_storage ss{};
            std::memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
            out.push_back(ss);
        }
        freeaddrinfo(res);
    }
    addresses_.emplace(address, std::move(out));
}

std::vector<sockaddr_storage> HostDirectory::lookup(const std::string& address, std::uint16_t port) const {
    const auto it = addresses_.find(address);
    if (it == addresses_.end()) return {};
    std::vector<sockaddr_storage> out = it->second;
    for (auto& ss : out) {
        if (ss.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(port);
        else if (ss.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(port);
    }
    return out;
}

HostProbe::HostProbe(sd_event* event, std::vector<ProbeTarget> targets, std::uint64_t timeout_usec, Done done)
    : event_{event}, targets_{std::move(targets)}, timeout_usec_{timeout_usec}, done_{std::move(done)} {
    sd_event_source* s = nullptr;
    if (const int r = sd_event_add_defer(event_, &s, &HostProbe::on_start, this); r < 0)
        throw std::runtime_error(std::string("sd_event_add_defer: ") + std::strerror(-r));
    start_.reset(s);
    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

int HostProbe::on_start(sd_event_source*, void* self) {
    static_cast<HostProbe*>(self)->try_next();
    return 0;
}

void HostProbe::try_next() {
    io_.reset();
    timer_.reset();
    socket_.reset();
    while (target_ < targets_.size()) {
        const auto& addrs = targets_[target_].addresses;
        if (address_ >= addrs.size()) {
            log::info("X2Go server's SSH port does not answer", {{"RSM_BROKER_HOST", targets_[target_].label}});
            ++target_;
            address_ = 0;
            continue;
        }
        const sockaddr_storage& ss = addrs[address_++];
        UniqueFd fd{::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
        if (!fd) continue;
        const socklen_t len = ss.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
        if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len) == 0) return finish(target_);
        if (errno != EINPROGRESS) continue;
        sd_event_source* s = nullptr;
        if (sd_event_add_io(event_, &s, fd.get(), EPOLLOUT, &HostProbe::on_writable, this) < 0) continue;
        io_.reset(s);
        std::uint64_t now = 0;
        sd_event_now(event_, CLOCK_MONOTONIC, &now);
        if (sd_event_add_time(event_, &s, CLOCK_MONOTONIC, now + timeout_usec_, 0, &HostProbe::on_timeout, this) < 0) {
            io_.reset();
            continue;
        }
        timer_.reset(s);
        socket_ = std::move(fd);
        return;
    }
    finish(std::nullopt);
}

int HostProbe::on_writable(sd_event_source*, int fd, std::uint32_t, void* self) {
    auto* probe = static_cast<HostProbe*>(self);
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
        probe->finish(probe->target_);
        return 0;
    }
    probe->try_next();
    return 0;
}

int HostProbe::on_timeout(sd_event_source*, std::uint64_t, void* self) {
    static_cast<HostProbe*>(self)->try_next();
    return 0;
}

void HostProbe::finish(std::optional<std::size_t> result) {
    io_.reset();
    timer_.reset();
    socket_.reset();
    if (auto d = std::exchange(done_, nullptr)) d(result);
}

}  // namespace rsm::broker
