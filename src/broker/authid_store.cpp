#include "broker/authid_store.hpp"

#include <array>
#include <stdexcept>
#include <sys/random.h>

namespace rsm::broker {

std::string AuthidStore::issue(std::string_view user, std::string_view address, std::uint64_t now_usec) {
    for (auto it = cookies_.begin(); it != cookies_.end();)
        it = it->second.expires <= now_usec ? cookies_.erase(it) : std::next(it);
    while (cookies_.size() >= capacity_ && !cookies_.empty()) {
        auto oldest = cookies_.begin();
        for (auto it = cookies_.begin(); it != cookies_.end(); ++it)
            if (it->second.expires < oldest->second.expires) oldest = it;
        cookies_.erase(oldest);
    }
    std::array<unsigned char, 16> raw{};
    if (getrandom(raw.data(), raw.size(), 0) != static_cast<ssize_t>(raw.size()))
        throw std::runtime_error("getrandom failed");
    static constexpr char hex[] = "0123456789abcdef";
    std::string cookie;
    for (const unsigned char b : raw) {
        cookie += hex[b >> 4];
        cookie += hex[b & 15];
    }
    cookies_[cookie] = Entry{std::string(user), std::string(address), now_usec + lifetime_};
    return cookie;
}

bool AuthidStore::redeem(std::string_view cookie, std::string_view user, std::string_view address,
                         std::uint64_t now_usec) {
    const auto it = cookies_.find(cookie);
    if (it == cookies_.end()) return false;
    const bool ok = it->second.user == user && it->second.address == address && now_usec < it->second.expires;
    cookies_.erase(it);  // used up either way: a cookie is tried once
    return ok;
}

}  // namespace rsm::broker
