#include "xauthority.hpp"

#include <X11/Xauth.h>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <memory>
#include <sys/fsuid.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

#include "util/fd.hpp"
#include "util/safe_path.hpp"

namespace rsm::session::xauth {
namespace {

constexpr const char* auth_name = "MIT-MAGIC-COOKIE-1";

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
    write_file(path, uid, gid, {Entry{display_number, cookie}});
}

void write_file(const std::string& path, uid_t uid, gid_t gid, const std::vector<Entry>& entries) {
    const auto [dir_path, name] = safe::split_path(path);
    std::string auth = auth_name;
    AsUser as_user{uid, gid};
    if (!as_user.ok()) fail(EPERM, "setfsuid/setfsgid(" + std::to_string(uid) + ")");
    // Only the last component is the user's: the socket directory's parents are root's.
    const UniqueFd dir = safe::open_directory(dir_path, uid);
    UniqueFd fd = safe::create_fresh(dir.get(), name, 0600, uid);
    if (fchmod(fd.get(), 0600) < 0) fail(errno, "fchmod " + path);  // whatever the umask
    std::unique_ptr<FILE, int (*)(FILE*)> file{fdopen(fd.get(), "w"), &fclose};
    if (!file) fail(errno, "fdopen " + path);
    fd.release();  // the FILE owns it now
    for (const Entry& e : entries) {
        std::string number = std::to_string(e.display);
        std::string data(e.cookie.begin(), e.cookie.end());
        Xauth entry{};
        entry.family = FamilyWild;  // any address: the same cookie for local and TCP clients
        entry.address_length = 0;
        entry.address = const_cast<char*>("");
        entry.number_length = static_cast<unsigned short>(number.size());
        entry.number = number.data();
        entry.name_length = static_cast<unsigned short>(auth.size());
        entry.name = auth.data();
        entry.data_length = static_cast<unsigned short>(data.size());
        entry.data = data.data();
        if (XauWriteAuth(file.get(), &entry) != 1) fail(errno ? errno : EIO, "write " + path);
    }
    if (fflush(file.get()) != 0) fail(errno ? errno : EIO, "write " + path);
    if (fclose(file.release()) != 0) fail(errno, "close " + path);
}

void write_user_file(const std::string& path, uid_t uid, gid_t gid, const std::string& text) {
    const auto [dir_path, name] = safe::split_path(path);
    AsUser as_user{uid, gid};
    if (!as_user.ok()) fail(EPERM, "setfsuid/setfsgid(" + std::to_string(uid) + ")");
    const UniqueFd dir = safe::open_directory(dir_path, uid);
    UniqueFd fd = safe::create_fresh(dir.get(), name, 0600, uid);
    if (fchmod(fd.get(), 0600) < 0) fail(errno, "fchmod " + path);
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(errno, "write " + path);
        }
        done += static_cast<std::size_t>(n);
    }
}

int remove_file(const std::string& path, uid_t uid, gid_t gid) noexcept {
    try {
        const auto [dir_path, name] = safe::split_path(path);
        AsUser as_user{uid, gid};
        if (!as_user.ok()) return -EPERM;
        UniqueFd dir{open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
        if (!dir) return -errno;
        return unlinkat(dir.get(), name.c_str(), 0) < 0 ? -errno : 0;
    } catch (...) {
        return -EINVAL;
    }
}

}  // namespace rsm::session::xauth
