#include "xauthority.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/fsuid.h>
#include <sys/random.h>
#include <stdexcept>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

#include "util/fd.hpp"

namespace rsm::session::xauth {
namespace {

constexpr std::uint16_t family_wild = 0xffff;
constexpr const char* auth_name = "MIT-MAGIC-COOKIE-1";

void put_u16(std::string& out, std::size_t v) {
    if (v > 0xffff) throw std::length_error("Xauthority field longer than 65535 bytes");
    out.push_back(static_cast<char>((v >> 8) & 0xff));
    out.push_back(static_cast<char>(v & 0xff));
}

void put_field(std::string& out, const std::string& s) {
    put_u16(out, s.size());
    out += s;
}

// Filesystem accesses as the user while alive; back to the previous fsuid/fsgid
// (root) after. A non-root fsuid also drops the filesystem capabilities
// (CAP_DAC_OVERRIDE, CAP_FOWNER ...), so the checks are the user's own.
class AsUser {
public:
    AsUser(uid_t uid, gid_t gid) noexcept
        : old_gid_{static_cast<gid_t>(setfsgid(gid))}, old_uid_{static_cast<uid_t>(setfsuid(uid))} {
        // setfsuid(-1) fails and returns the current value: the only way to check.
        ok_ = static_cast<uid_t>(setfsuid(static_cast<uid_t>(-1))) == uid &&
              static_cast<gid_t>(setfsgid(static_cast<gid_t>(-1))) == gid;
    }
    ~AsUser() {
        setfsuid(old_uid_);
        setfsgid(old_gid_);
    }
    AsUser(const AsUser&) = delete;
    AsUser& operator=(const AsUser&) = delete;
    bool ok() const noexcept { return ok_; }

private:
    gid_t old_gid_;
    uid_t old_uid_;
    bool ok_ = false;
};

[[noreturn]] void fail(int e, const std::string& what) { throw std::system_error(e, std::generic_category(), what); }

}  // namespace

std::vector<std::uint8_t> new_cookie() {
    std::vector<std::uint8_t> cookie(cookie_size);
    std::size_t got = 0;
    while (got < cookie.size()) {
        ssize_t n = getrandom(cookie.data() + got, cookie.size() - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(errno, "getrandom");
        }
        got += static_cast<std::size_t>(n);
    }
    return cookie;
}

std::string encode_entry(unsigned display_number, const std::vector<std::uint8_t>& cookie) {
    std::string out;
    put_u16(out, family_wild);
    put_field(out, "");  // FamilyWild matches any address
    put_field(out, std::to_string(display_number));
    put_field(out, auth_name);
    put_field(out, std::string(cookie.begin(), cookie.end()));
    return out;
}

std::string to_hex(const std::vector<std::uint8_t>& bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (auto b : bytes) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0xf]);
    }
    return out;
}

bool from_hex(const std::string& hex, std::vector<std::uint8_t>& out) {
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    out.clear();
    if (hex.size() % 2) return false;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
    }
    return true;
}

void write_file(const std::string& path, uid_t uid, gid_t gid, unsigned display_number,
                const std::vector<std::uint8_t>& cookie) {
    const std::string data = encode_entry(display_number, cookie);
    AsUser as_user{uid, gid};
    if (!as_user.ok()) fail(EPERM, "setfsuid/setfsgid(" + std::to_string(uid) + ")");
    UniqueFd fd{open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600)};
    if (!fd) fail(errno, "open " + path);
    struct stat st {};
    if (fstat(fd.get(), &st) < 0) fail(errno, "fstat " + path);
    if (!S_ISREG(st.st_mode)) fail(EINVAL, path + " is not a regular file");
    // An older file may have had a looser mode.
    if (fchmod(fd.get(), 0600) < 0) fail(errno, "fchmod " + path);
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(errno, "write " + path);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::close(fd.release()) < 0) fail(errno, "close " + path);
}

int remove_file(const std::string& path, uid_t uid, gid_t gid) noexcept {
    AsUser as_user{uid, gid};
    if (!as_user.ok()) return -EPERM;
    return unlink(path.c_str()) < 0 ? -errno : 0;
}

}  // namespace rsm::session::xauth
