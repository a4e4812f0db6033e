// The broker's authid cookies: after a successful authentication the client
// gets a fresh random cookie (AUTHID: / next-authid), which stands in for
// the password on its next request from the same address, once, within
// the lifetime. Bounded: the oldest cookie goes first.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace rsm::broker {

class AuthidStore {
public:
    AuthidStore(std::uint64_t lifetime_usec, std::size_t capacity) : lifetime_{lifetime_usec}, capacity_{capacity} {}

    // A new cookie for (user, address), valid until now + lifetime.
    std::string issue(std::string_view user, std::string_view address, std::uint64_t now_usec);
    // True (and the cookie is used up) if it was issued to (user, address)
    // and has not expired.
    bool redeem(std::string_view cookie, std::string_view user, std::string_view address, std::uint64_t now_usec);
    std::size_t size() const noexcept { return cookies_.size(); }

private:
    struct Entry {
        std::string user, address;
        std::uint64_t expires = 0;
    };
    std::uint64_t lifetime_;
    std::size_t capacity_;
    std::map<std::string, Entry, std::less<>> cookies_;
};

}  // namespace rsm::broker
