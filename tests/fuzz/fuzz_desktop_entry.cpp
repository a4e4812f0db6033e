// Fuzz target: desktop entries (src/session/desktop_entry.*): GLib's key-file
// reader, Exec= shell-word splitting and rsm's field-code rules. A user can
// not write /usr/share/xsessions, but a package can ship anything there, and
// the manager (root) reads it for every CreateSession naming a desktop. The
// input is written as <dir>/fuzz.desktop; find_desktop_session() returns an
// entry, nothing, or throws std::runtime_error naming the file.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unistd.h>

#include "fuzz_check.hpp"
#include "session/desktop_entry.hpp"

namespace {

// A private xsessions directory, made once per process and removed at
// exit (a plain array: it must outlive the atexit handler). On tmpfs when
// there is one: ext4 flushes a truncated-then-written file on close, which
// costs milliseconds per run.
char dir_buffer[64];

std::string entry_dir() {
    static const bool made = [] {
        bool ok = false;
        for (const char* base : {"/dev/shm", "/tmp"}) {
            std::snprintf(dir_buffer, sizeof dir_buffer, "%s/rsm-fuzz-desktop-XXXXXX", base);
            if ((ok = mkdtemp(dir_buffer) != nullptr)) break;
        }
        FUZZ_CHECK(ok);
        std::atexit([] {
            ::unlink((std::string{dir_buffer} + "/fuzz.desktop").c_str());
            ::rmdir(dir_buffer);
        });
        return true;
    }();
    (void)made;
    return dir_buffer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = entry_dir() + "/fuzz.desktop";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(::write(fd, data, size) == static_cast<ssize_t>(size));
    ::close(fd);

    try {
        const auto session = rsm::session::find_desktop_session("fuzz", {entry_dir()});
        if (session) {
            FUZZ_CHECK(session->name == "fuzz");
            FUZZ_CHECK(!session->argv.empty());
            FUZZ_CHECK(!session->wayland);
        }
    } catch (const std::runtime_error& e) {
        FUZZ_CHECK(std::string_view{e.what()}.starts_with(path + ": "));
    }
    return 0;
}
