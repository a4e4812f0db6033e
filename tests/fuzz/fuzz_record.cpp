// Fuzz target: session records (src/session/record.*), as the manager reads
// them back from /run/rsm/sessions after a restart. parse() either returns a
// Record or throws RecordError; an accepted record serialises (serialize()
// refuses only what parse() refuses) and parses back equal. The same bytes
// are also loaded as a file through load_records(), the path the manager
// takes, which must never throw.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <unistd.h>

#include "fuzz_check.hpp"
#include "session/record.hpp"

namespace s = rsm::session;

namespace {

constexpr char file_id[] = "0123456789abcdef0123456789abcdef";

// A private directory for load_records(), made once per process and removed at
// exit (a plain array: it must outlive the atexit handler). On tmpfs when
// there is one: ext4 flushes a truncated-then-written file on close, which
// costs milliseconds per run.
char dir_buffer[64];

std::string record_dir() {
    static const bool made = [] {
        bool ok = false;
        for (const char* base : {"/dev/shm", "/tmp"}) {
            std::snprintf(dir_buffer, sizeof dir_buffer, "%s/rsm-fuzz-record-XXXXXX", base);
            if ((ok = mkdtemp(dir_buffer) != nullptr)) break;
        }
        FUZZ_CHECK(ok);
        std::atexit([] {
            ::unlink((std::string{dir_buffer} + '/' + file_id).c_str());
            ::rmdir(dir_buffer);
        });
        return true;
    }();
    (void)made;
    return dir_buffer;
}

void write_file(const std::string& path, std::string_view text) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in{reinterpret_cast<const char*>(data), size};

    bool parsed = false;
    s::Record record;
    try {
        record = s::parse(in, "fuzz");
        parsed = true;
    } catch (const s::RecordError& e) {
        FUZZ_CHECK(std::string_view{e.what()}.starts_with("fuzz:"));
    }
    if (parsed) {
        const std::string text = s::serialize(record);  // must not throw
        FUZZ_CHECK(s::parse(text, "serialized") == record);
        FUZZ_CHECK(s::serialize(s::parse(text, "serialized")) == text);
    }

    write_file(record_dir() + '/' + file_id, in);
    const s::LoadedRecords loaded = s::load_records(record_dir());
    FUZZ_CHECK(loaded.records.size() + loaded.errors.size() == 1);
    // The file path agrees with parse(): a record is loaded exactly when it
    // parses and its ID is the file's name (records are far below the 64 KiB
    // limit, and so is every input here).
    FUZZ_CHECK(loaded.records.size() == (parsed && record.id == file_id ? 1u : 0u));
    if (!loaded.records.empty()) FUZZ_CHECK(loaded.records.front() == record);
    return 0;
}
