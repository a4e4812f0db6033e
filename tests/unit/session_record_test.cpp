// Tests for src/session/record: the text form (round trip, each validation
// with its line and key), atomic writes, removal and loading a directory.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "session/record.hpp"
#include "temp_dir.hpp"

using rsm::session::LoadedRecords;
using rsm::session::parse;
using rsm::session::Record;
using rsm::session::RecordError;
using rsm::session::serialize;
using rsm::session::State;

namespace {

const std::string id1 = "0123456789abcdef0123456789abcdef";
const std::string id2 = "fedcba9876543210fedcba9876543210";

Record full_record() {
    Record r;
    r.id = id1;
    r.uid = 4294967295u;
    r.user = "alice";
    r.type = "xvnc";
    r.state = State::disconnected;
    r.complete = true;
    r.unit = "rsm-session-" + id1 + ".scope";
    r.executor_pid = 1234;
    r.leader_pid = 1240;
    r.logind_session = "c7";
    r.display = ":12";
    r.display_number = 12;
    r.width = 1920;
    r.height = 1080;
    r.depth = 24;
    r.desktop = "xfce";
    r.client_address = "2001:db8::1";
    r.client_name = "Álice's laptop = mine";
    r.created_usec = 18446744073709551615u;
    r.connected_usec = 1700000000000001;
    r.disconnected_usec = 1700000000000002;
    return r;
}

const std::string minimal = "ID=" + id1 + "\nUID=1000\nUSER=alice\nTYPE=xvnc\n";

// The RecordError `text` must raise.
std::string parse_error(const std::string& text) {
    try {
        parse(text, "rec");
    } catch (const RecordError& e) {
        return e.what();
    }
    FAIL("expected a RecordError for:\n" << text);
    return {};
}

}  // namespace

TEST_CASE("record: state names", "[record]") {
    for (const State s : {State::starting, State::active, State::disconnected, State::closing})
        CHECK(rsm::session::state_from_string(rsm::session::to_string(s)) == s);
    CHECK(std::string{rsm::session::to_string(State::disconnected)} == "disconnected");
    CHECK_FALSE(rsm::session::state_from_string("Active"));
    CHECK_FALSE(rsm::session::state_from_string(""));
}

TEST_CASE("record: serialize and parse round-trip every field", "[record]") {
    const Record r = full_record();
    const std::string text = serialize(r);
    CHECK(parse(text, "rec") == r);

    SECTION("the text is KEY=value lines with the documented keys") {
        for (const char* line : {"ID=0123456789abcdef0123456789abcdef\n", "UID=4294967295\n", "USER=alice\n",
                                 "TYPE=xvnc\n", "STATE=disconnected\n", "COMPLETE=1\n", "EXECUTOR_PID=1234\n",
                                 "LEADER_PID=1240\n", "LOGIND_SESSION=c7\n", "DISPLAY=:12\n", "DISPLAY_NUMBER=12\n",
                                 "WIDTH=1920\n", "HEIGHT=1080\n", "DEPTH=24\n", "DESKTOP=xfce\n",
                                 "CLIENT_ADDRESS=2001:db8::1\n", "CLIENT_NAME=Álice's laptop = mine\n",
                                 "CREATED_USEC=18446744073709551615\n", "CONNECTED_USEC=1700000000000001\n",
                                 "DISCONNECTED_USEC=1700000000000002\n"}) {
            CHECK_THAT(text, Catch::Contains(line));
        }
        CHECK_THAT(text, Catch::StartsWith("ID="));
    }
    SECTION("a minimal record round-trips, with no display number") {
        Record m;
        m.id = id2;
        m.uid = 0;
        m.user = "root";
        m.type = "null";
        CHECK(m.display_number == -1);
        const std::string t = serialize(m);
        CHECK_THAT(t, Catch::Contains("\nDISPLAY_NUMBER=\n"));
        CHECK_THAT(t, Catch::Contains("\nCOMPLETE=0\n"));
        CHECK(parse(t, "rec") == m);
    }
}

TEST_CASE("record: parse fills defaults for absent optional keys", "[record]") {
    const Record r = parse(minimal, "rec");
    CHECK(r.id == id1);
    CHECK(r.uid == 1000);
    CHECK(r.user == "alice");
    CHECK(r.type == "xvnc");
    CHECK(r.state == State::starting);
    CHECK_FALSE(r.complete);
    CHECK(r.display_number == -1);
    CHECK(r.created_usec == 0);
}

TEST_CASE("record: unknown keys and empty lines are ignored", "[record]") {
    const Record r = parse("\nFUTURE_KEY=whatever\n" + minimal + "\nlower=x\nDEPTH=16", "rec");
    CHECK(r.depth == 16);  // the last line needs no newline
    CHECK(r.user == "alice");
}

TEST_CASE("record: serialize refuses what parse would refuse", "[record]") {
    Record r = full_record();
    SECTION("newline") {
        r.client_name = "a\nSTATE=closing";
        CHECK_THROWS_AS(serialize(r), std::invalid_argument);
    }
    SECTION("NUL") {
        r.desktop = std::string{"x\0y", 3};
        CHECK_THROWS_WITH(serialize(r), Catch::Contains("DESKTOP"));
    }
    SECTION("invalid UTF-8") {
        r.client_name = "\xff\xfe";
        CHECK_THROWS_WITH(serialize(r), Catch::Contains("CLIENT_NAME") && Catch::Contains("UTF-8"));
    }
}

TEST_CASE("record: parse errors name origin, line and key", "[record]") {
    SECTION("missing required keys") {
        CHECK(parse_error("UID=1\nUSER=a\nTYPE=x\n") == "rec: ID: missing");
        CHECK(parse_error("ID=" + id1 + "\nUSER=a\nTYPE=x\n") == "rec: UID: missing");
        CHECK(parse_error("ID=" + id1 + "\nUID=1\nTYPE=x\n") == "rec: USER: missing");
        CHECK(parse_error("ID=" + id1 + "\nUID=1\nUSER=a\n") == "rec: TYPE: missing");
    }
    SECTION("invalid id") {
        CHECK_THAT(parse_error("UID=1\nID=../../etc/passwd\nUSER=a\nTYPE=x\n"),
                   Catch::StartsWith("rec:2: ID: not a session id"));
        CHECK_THAT(parse_error("ID=" + std::string(32, 'A') + "\nUID=1\nUSER=a\nTYPE=x\n"),
                   Catch::StartsWith("rec:1: ID: not a session id"));
    }
    SECTION("empty user and type") {
        CHECK(parse_error("ID=" + id1 + "\nUID=1\nUSER=\nTYPE=x\n") == "rec:3: USER: empty");
        CHECK(parse_error("ID=" + id1 + "\nUID=1\nUSER=a\nTYPE=\n") == "rec:4: TYPE: empty");
    }
    SECTION("numbers are strictly decimal") {
        for (const char* bad : {"-1", "+1", " 1", "1 ", "0x10", "01", "1e3", "", "4294967296", "1.0"}) {
            INFO(bad);
            CHECK_THAT(parse_error(minimal + "EXECUTOR_PID=" + bad + "\n"),
                       Catch::StartsWith("rec:5: EXECUTOR_PID: expected a decimal number from 0 to 4294967295"));
        }
        CHECK(parse(minimal + "EXECUTOR_PID=0\n", "rec").executor_pid == 0);
        CHECK(parse(minimal + "EXECUTOR_PID=4294967295\n", "rec").executor_pid == 4294967295u);
    }
    SECTION("64-bit times") {
        CHECK_THAT(parse_error(minimal + "CREATED_USEC=18446744073709551616\n"),
                   Catch::StartsWith("rec:5: CREATED_USEC: expected a decimal number"));
    }
    SECTION("display number: empty or 0..INT_MAX") {
        CHECK(parse(minimal + "DISPLAY_NUMBER=0\n", "rec").display_number == 0);
        CHECK(parse(minimal + "DISPLAY_NUMBER=\n", "rec").display_number == -1);
        CHECK_THAT(parse_error(minimal + "DISPLAY_NUMBER=-1\n"), Catch::StartsWith("rec:5: DISPLAY_NUMBER: "));
        CHECK_THAT(parse_error(minimal + "DISPLAY_NUMBER=2147483648\n"),
                   Catch::StartsWith("rec:5: DISPLAY_NUMBER: "));
    }
    SECTION("unknown state") {
        CHECK(parse_error(minimal + "STATE=running\n") == "rec:5: STATE: unknown state \"running\"");
    }
    SECTION("complete is 0 or 1") {
        CHECK(parse_error(minimal + "COMPLETE=yes\n") == "rec:5: COMPLETE: expected 0 or 1, got \"yes\"");
        CHECK(parse(minimal + "COMPLETE=1\n", "rec").complete);
    }
    SECTION("a line without '='") {
        CHECK(parse_error(minimal + "garbage\n") == "rec:5: expected KEY=value");
    }
    SECTION("an empty key") {
        CHECK(parse_error(minimal + "=x\n") == "rec:5: empty key");
    }
    SECTION("a key given twice") {
        CHECK(parse_error(minimal + "\nUSER=mallory\n") == "rec:6: USER: given twice (first on line 3)");
    }
    SECTION("invalid UTF-8 or NUL in a value") {
        CHECK(parse_error(minimal + "CLIENT_NAME=\xc3\x28\n") == "rec:5: CLIENT_NAME: not valid UTF-8");
        CHECK(parse_error(minimal + std::string{"DESKTOP=a\0b\n", 12}) == "rec:5: DESKTOP: not valid UTF-8");
    }
}

TEST_CASE("record: write_record writes atomically with mode 0644, load_records reads back", "[record]") {
    rsm::test::TempDir dir;
    const Record r = full_record();
    rsm::session::write_record(dir.path(), r);

    struct stat st {};
    REQUIRE(::stat((dir.path() / id1).c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0644);
    // Only the record is left: the temporary file was renamed.
    CHECK(std::distance(std::filesystem::directory_iterator{dir.path()}, std::filesystem::directory_iterator{}) == 1);

    const LoadedRecords loaded = rsm::session::load_records(dir.path());
    CHECK(loaded.errors.empty());
    REQUIRE(loaded.records.size() == 1);
    CHECK(loaded.records[0] == r);

    // Rewriting replaces.
    Record changed = r;
    changed.state = State::active;
    rsm::session::write_record(dir.path(), changed);
    CHECK(rsm::session::load_records(dir.path()).records.at(0).state == State::active);
}

TEST_CASE("record: write_record refuses ids that are not file-name safe", "[record]") {
    rsm::test::TempDir dir;
    Record r = full_record();
    r.id = "../escape";
    CHECK_THROWS_AS(rsm::session::write_record(dir.path(), r), std::invalid_argument);
    CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("record: write_record reports a missing directory and leaves nothing", "[record]") {
    rsm::test::TempDir dir;
    CHECK_THROWS_AS(rsm::session::write_record(dir.path() / "missing", full_record()), std::system_error);
    Record bad = full_record();
    bad.user = "a\nb";
    CHECK_THROWS_AS(rsm::session::write_record(dir.path(), bad), std::invalid_argument);
    CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("record: remove_record removes, a missing file is fine", "[record]") {
    rsm::test::TempDir dir;
    rsm::session::write_record(dir.path(), full_record());
    rsm::session::remove_record(dir.path(), id1);
    CHECK_FALSE(std::filesystem::exists(dir.path() / id1));
    CHECK_NOTHROW(rsm::session::remove_record(dir.path(), id1));
    CHECK_THROWS_AS(rsm::session::remove_record(dir.path(), "../x"), std::invalid_argument);
}

TEST_CASE("record: load_records skips other names and reports bad files without throwing", "[record]") {
    rsm::test::TempDir dir;
    Record second = full_record();
    second.id = id2;
    rsm::session::write_record(dir.path(), second);
    rsm::session::write_record(dir.path(), full_record());
    dir.write("." + id1 + ".Ab12Cd", "half-written");  // a temporary file
    dir.write("README", "not a record");
    const std::string bad_id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    dir.write(bad_id, "ID=" + bad_id + "\nUID=x\nUSER=a\nTYPE=b\n");
    const std::string other_id = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    dir.write(other_id, minimal);  // holds id1
    const std::string dir_id = "cccccccccccccccccccccccccccccccc";
    std::filesystem::create_directory(dir.path() / dir_id);
    const std::string big_id = "dddddddddddddddddddddddddddddddd";
    dir.write(big_id, minimal + std::string(70000, '\n'));

    const LoadedRecords loaded = rsm::session::load_records(dir.path());
    REQUIRE(loaded.records.size() == 2);
    CHECK(loaded.records[0].id == id1);  // sorted by id
    CHECK(loaded.records[1].id == id2);
    REQUIRE(loaded.errors.size() == 4);
    const std::string base = dir.path().string() + "/";
    CHECK_THAT(loaded.errors[0], Catch::StartsWith(base + bad_id + ":2: UID: expected a decimal number"));
    CHECK(loaded.errors[1] == base + other_id + ": ID: \"" + id1 + "\" does not match the file name");
    CHECK(loaded.errors[2] == base + dir_id + ": not a regular file");
    CHECK_THAT(loaded.errors[3], Catch::StartsWith(base + big_id + ": larger than"));
}

TEST_CASE("record: load_records does not follow symlinks", "[record]") {
    rsm::test::TempDir dir;
    const auto target = dir.write("target", minimal);
    std::filesystem::create_directory(dir.path() / "records");
    std::filesystem::create_symlink(target, dir.path() / "records" / id1);
    const LoadedRecords loaded = rsm::session::load_records(dir.path() / "records");
    CHECK(loaded.records.empty());
    REQUIRE(loaded.errors.size() == 1);
    CHECK_THAT(loaded.errors[0], Catch::EndsWith(": not a regular file"));
}

TEST_CASE("record: load_records of a missing directory is empty, of a file is an error", "[record]") {
    rsm::test::TempDir dir;
    const LoadedRecords missing = rsm::session::load_records(dir.path() / "none");
    CHECK(missing.records.empty());
    CHECK(missing.errors.empty());
    const auto file = dir.write("file", "");
    const LoadedRecords not_dir = rsm::session::load_records(file);
    CHECK(not_dir.records.empty());
    CHECK(not_dir.errors.size() == 1);
}
