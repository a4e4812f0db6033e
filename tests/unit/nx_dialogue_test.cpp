// Tests for daemons/rsm-nxserver/dialogue: the nxserver dialogue as a state
// machine (lines in, replies and requests out), with rsm's answers fed in
// by hand: banner and prompts, hello's version rule, login without the
// password written back, what may come before and after login, listsession's
// table, startsession/restoresession's session info, terminate, bye.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "dialogue.hpp"

using namespace rsm::nx;

namespace {

const std::string prompt = "NX> 105 ";

Dialogue logged_in() {
    Dialogue d;
    d.on_line("hello NXCLIENT - Version 3.5.0");
    d.on_line("login");
    d.on_line("alice");
    auto out = d.on_line("secret");
    REQUIRE(out.request.kind == RequestKind::login);
    d.on_login(Dialogue::LoginResult::ok);
    return d;
}

SessionRow row(std::string id, std::string state, std::string type = "nxagent") {
    SessionRow s;
    s.id = std::move(id);
    s.state = std::move(state);
    s.type = std::move(type);
    s.display = 730;
    s.width = 1024;
    s.height = 768;
    return s;
}

const std::string sid = "0123456789abcdef0123456789abcdef";

}  // namespace

TEST_CASE("nx dialogue: banner, hello accepted on the first two numbers", "[nxserver]") {
    Dialogue d;
    CHECK(d.greeting() == "HELLO NXSERVER - Version 3.5.0 - GPL\nNX> 105 ");
    auto out = d.on_line("hello NXCLIENT - Version 3.5.2");
    CHECK(out.text == "Hello nxclient - version 3.5.2\nNX> 134 Accepted protocol: 3.5.2\n" + prompt);
    CHECK_FALSE(out.quit);
    CHECK(d.on_line("   ").text == prompt);  // blank lines: just the prompt again
}

TEST_CASE("nx dialogue: another version or a malformed hello is refused and ends", "[nxserver]") {
    for (const char* line : {"hello NXCLIENT - Version 3.4.0", "hello NXCLIENT - Version 2.5.0", "hello there"}) {
        Dialogue d;
        auto out = d.on_line(line);
        CHECK(out.quit);
        CHECK(out.text.find("NX> 500 Protocol you requested is not supported") != std::string::npos);
        CHECK(out.text.ends_with("NX> 999 Bye.\n"));
        CHECK(d.on_line("login").text.empty());  // nothing after the end
    }
}

TEST_CASE("nx dialogue: login prompts, the password never written back", "[nxserver]") {
    Dialogue d;
    auto out = d.on_line("login");
    CHECK(out.text == "Login\nNX> 101 User: ");
    out = d.on_line("alice");
    CHECK(out.text == "alice\nNX> 102 Password: ");
    out = d.on_line("s3cr3t-Pw");
    CHECK(out.text == "**********\n");
    CHECK(out.text.find("s3cr3t") == std::string::npos);
    REQUIRE(out.request.kind == RequestKind::login);
    CHECK(out.request.user == "alice");
    CHECK(out.request.password == "s3cr3t-Pw");
    CHECK(d.busy());
    CHECK(d.on_line("listsession").text.empty());  // held back while rsm answers
    out = d.on_login(Dialogue::LoginResult::ok);
    CHECK(out.text.starts_with("NX> 103 Welcome to: localhost user: alice\n"));
    CHECK(out.text.ends_with(prompt));
    CHECK(d.user() == "alice");
}

TEST_CASE("nx dialogue: a wrong password is 404 and the end, an rsm error 503", "[nxserver]") {
    Dialogue d;
    d.on_line("login");
    d.on_line("alice");
    d.on_line("wrong");
    auto out = d.on_login(Dialogue::LoginResult::refused);
    CHECK(out.text == "NX> 404 ERROR: wrong password or login.\n");
    CHECK(out.quit);
    CHECK(d.on_line("startsession").text.empty());

    Dialogue e;
    e.on_line("login");
    e.on_line("alice");
    e.on_line("pw");
    out = e.on_login(Dialogue::LoginResult::error);
    CHECK(out.text == "NX> 503 ERROR: Internal error.\n");
    CHECK(out.quit);
}

TEST_CASE("nx dialogue: bad user names and empty passwords end the dialogue", "[nxserver]") {
    for (const char* user : {"", "NX> 105 x", "a b", "a:b"}) {
        Dialogue d;
        d.on_line("login");
        auto out = d.on_line(user);
        CHECK(out.quit);
        CHECK(out.request.kind == RequestKind::none);
        CHECK(out.text.starts_with("NX> 500 "));
    }
    Dialogue d;
    d.on_line("login");
    d.on_line("alice");
    auto out = d.on_line("");
    CHECK(out.quit);
    CHECK(out.request.kind == RequestKind::none);
}

TEST_CASE("nx dialogue: session commands before login are 554, unknown ones 503", "[nxserver]") {
    Dialogue d;
    for (const char* c : {"startsession", "listsession", "bye", "restoresession --id=\"x\"", "attachsession"}) {
        auto out = d.on_line(c);
        CHECK(out.text.find("NX> 554 Error: the command '") != std::string::npos);
        CHECK(out.text.find("' cannot be called before to login\n") != std::string::npos);
        CHECK(out.request.kind == RequestKind::none);
        CHECK_FALSE(out.quit);
    }
    auto out = d.on_line("frobnicate now");
    CHECK(out.text == "Frobnicate now\nNX> 503 Error: undefined command: 'frobnicate'\n" + prompt);
    // set: the two values NX clients send, others refused.
    CHECK(d.on_line("set auth_mode password").text == "Set auth_mode: password\n" + prompt);
    CHECK(d.on_line("SET SHELL_MODE shell").text == "Set shell_mode: shell\n" + prompt);
    CHECK(d.on_line("set color blue").text.find("NX> 500 ERROR: unknown variable 'color'") != std::string::npos);
    out = d.on_line("quit");
    CHECK(out.quit);
    CHECK(out.text.ends_with("NX> 999 Bye.\n"));
}

TEST_CASE("nx dialogue: echoes carry no control characters and are bounded", "[nxserver]") {
    Dialogue d;
    auto out = d.on_line("xx\x1b[2J\rNX> 999 Bye." + std::string(1000, 'a'));
    CHECK(out.text.find('\x1b') == std::string::npos);
    CHECK(out.text.find('\r') == std::string::npos);
    CHECK(out.text.size() < 600);
}

TEST_CASE("nx dialogue: after login, login/hello/set are 554, bad parameters 597", "[nxserver]") {
    auto d = logged_in();
    CHECK(d.on_line("login").text.find("NX> 554 Error: the command 'login' cannot be called after login") !=
          std::string::npos);
    auto out = d.on_line("listsession --type=unix");
    CHECK(out.text.find("NX> 597 Error: Parsing parameters: string \"--type=unix\" has invalid format") !=
          std::string::npos);
    CHECK(out.request.kind == RequestKind::none);
    CHECK(d.on_line("nonsense").text.find("NX> 503 Error: undefined command: 'nonsense'") != std::string::npos);
}

TEST_CASE("nx dialogue: listsession prints Neatx's table of nxagent sessions", "[nxserver]") {
    auto d = logged_in();
    auto out = d.on_line("listsession --type=\"unix-gnome\" --status=\"suspended,running\"");
    CHECK(out.request.kind == RequestKind::list);
    CHECK(out.text == "Listsession --type=\"unix-gnome\" --status=\"suspended,running\"\n");
    out = d.on_list({row(sid, "disconnected"), row("ffffffffffffffffffffffffffffffff", "active", "xvnc")});
    const std::string expect =
        "NX> 127 Session list of user 'alice':\n"
        "Display Type             Session ID                       Options  Depth Screen         Status      Session Name\n"
        "------- ---------------- -------------------------------- -------- ----- -------------- ----------- ------------------------------\n"
        "730     unix-desktop     0123456789abcdef0123456789abcdef --D--PSA    24 1024x768       Suspended   rsm\n"
        "\n"
        "NX> 148 Server capacity: not reached for user: alice\n" +
        prompt;
    CHECK(out.text == expect);
    CHECK(Dialogue::session_table("alice", {row(sid, "active")}).find("Running     rsm") != std::string::npos);
}

TEST_CASE("nx dialogue: listsession --status lists only the sessions in those states", "[nxserver]") {
    auto d = logged_in();
    const std::string other = "ffffffffffffffffffffffffffffffff";
    auto out = d.on_line("listsession --status=\"Suspended\"");
    REQUIRE(out.request.kind == RequestKind::list);
    out = d.on_list({row(sid, "disconnected"), row(other, "active")});
    CHECK(out.text.find(sid) != std::string::npos);
    CHECK(out.text.find(other) == std::string::npos);
    out = d.on_line("listsession --status=\"running\"");
    out = d.on_list({row(sid, "disconnected"), row(other, "active")});
    CHECK(out.text.find(sid) == std::string::npos);
    CHECK(out.text.find(other) != std::string::npos);
    out = d.on_line("listsession --status=\"suspended,running\"");
    out = d.on_list({row(sid, "disconnected"), row(other, "active")});
    CHECK(out.text.find(sid) != std::string::npos);
    CHECK(out.text.find(other) != std::string::npos);
    out = d.on_line("listsession --type=\"unix-desktop\"");  // no status filter: every state
    out = d.on_list({row(sid, "disconnected"), row(other, "active")});
    CHECK(out.text.find(other) != std::string::npos);
}

TEST_CASE("nx dialogue: startsession takes the geometry, answers with the session info, bye relays", "[nxserver]") {
    auto d = logged_in();
    auto out = d.on_line("startsession --session=\"x\" --type=\"unix-desktop\" --geometry=\"1280x800+0+0\"");
    CHECK(out.text.starts_with("Start session with: --session=\"x\""));
    REQUIRE(out.request.kind == RequestKind::start);
    CHECK(out.request.width == 1280);
    CHECK(out.request.height == 800);
    SessionInfo info;
    info.id = sid;
    info.display = 731;
    info.cookie = "00112233445566778899aabbccddeeff";
    out = d.on_session(info);
    CHECK(out.text.starts_with("NX> 700 Session id: " + sid + "\nNX> 705 Session display: 731\n"));
    CHECK(out.text.find("NX> 701 Proxy cookie: 00112233445566778899aabbccddeeff\n") != std::string::npos);
    CHECK(out.text.find("NX> 706 Agent cookie: 00112233445566778899aabbccddeeff\n") != std::string::npos);
    CHECK(out.text.find("NX> 707 SSL tunneling: 1\n") != std::string::npos);
    CHECK(out.text.ends_with("NX> 710 Session status: running\n" + prompt));
    // One session per dialogue.
    CHECK(d.on_line("startsession").text.find("NX> 500 Error: a session is ready already") != std::string::npos);
    out = d.on_line("bye");
    CHECK(out.text == "Bye\nNX> 999 Bye.\n");
    CHECK(out.quit);
    CHECK(out.relay);
}

TEST_CASE("nx dialogue: geometry defaults, out-of-range sizes ignored", "[nxserver]") {
    for (const char* g : {" --type=\"unix-desktop\"", " --geometry=\"fullscreen\"", " --geometry=\"10x10\"",
                          " --geometry=\"99999x768\""}) {
        Dialogue d{Dialogue::Settings{800, 600, "h"}};
        d.on_line("login");
        d.on_line("alice");
        d.on_line("pw");
        d.on_login(Dialogue::LoginResult::ok);
        auto out = d.on_line(std::string{"startsession"} + g);
        REQUIRE(out.request.kind == RequestKind::start);
        CHECK(out.request.width == 800);
        CHECK(out.request.height == 600);
    }
}

TEST_CASE("nx dialogue: restoresession needs a session id, failures go on", "[nxserver]") {
    auto d = logged_in();
    CHECK(d.on_line("restoresession --type=\"unix-desktop\"").text.find(
              "NX> 500 Restore session requested, but no session specified") != std::string::npos);
    CHECK(d.on_line("restoresession --id=\"../../etc\"").text.find("NX> 500 Failed to load session") !=
          std::string::npos);
    auto out = d.on_line("restoresession --id=\"0123456789ABCDEF0123456789ABCDEF\"");
    REQUIRE(out.request.kind == RequestKind::restore);
    CHECK(out.request.session_id == sid);  // NX clients upper-case ids
    out = d.on_failure("Failed to load session");
    CHECK(out.text == "NX> 500 Failed to load session\n" + prompt);
    CHECK_FALSE(out.quit);
    // bye without a session: no relay.
    out = d.on_line("bye");
    CHECK(out.quit);
    CHECK_FALSE(out.relay);
}

TEST_CASE("nx dialogue: terminate", "[nxserver]") {
    auto d = logged_in();
    CHECK(d.on_line("terminate").text.find("NX> 500 Error: terminate needs --sessionid") != std::string::npos);
    auto out = d.on_line("terminate --sessionid=\"" + sid + "\"");
    REQUIRE(out.request.kind == RequestKind::terminate);
    CHECK(out.request.session_id == sid);
    out = d.on_terminated(sid);
    CHECK(out.text == "NX> 716 Terminating session " + sid + " on user request.\n" + prompt);
}

TEST_CASE("nx dialogue: answers nobody asked for are ignored", "[nxserver]") {
    Dialogue d;
    CHECK(d.on_login(Dialogue::LoginResult::ok).text.empty());
    CHECK(d.on_list({}).text.empty());
    CHECK(d.on_session(SessionInfo{}).text.empty());
    CHECK(d.on_failure("x").text.empty());
    CHECK(d.on_line("startsession").text.find("554") != std::string::npos);  // still not logged in
}

TEST_CASE("nx dialogue: listsession --type: unix-* desktops, shadow lists running ones, --user ignored", "[nxserver]") {
    auto d = logged_in();
    const std::string other = "ffffffffffffffffffffffffffffffff";
    const std::vector<SessionRow> rows{row(sid, "disconnected"), row(other, "active")};
    auto out = d.on_line("listsession --type=\"shadow\" --status=\"suspended\"");
    REQUIRE(out.request.kind == RequestKind::list);
    out = d.on_list(rows);
    CHECK(out.text.find(sid) == std::string::npos);  // suspended: nothing to look at
    CHECK(out.text.find(other) != std::string::npos);
    d.on_line("listsession --type=\"windows\"");
    out = d.on_list(rows);
    CHECK(out.text.find(sid) == std::string::npos);
    CHECK(out.text.find(other) == std::string::npos);
    d.on_line("listsession --type=\"unix-kde\" --user=\"bob\"");
    out = d.on_list(rows);
    CHECK(out.text.find("Session list of user 'alice'") != std::string::npos);
    CHECK(out.text.find(sid) != std::string::npos);
    CHECK(out.text.find(other) != std::string::npos);
    d.on_line("listsession --type=\"unix-application\"");
    CHECK(d.on_list(rows).text.find(other) == std::string::npos);
}

TEST_CASE("nx dialogue: attachsession asks rsm to shadow the session and answers with a shadow session", "[nxserver]") {
    auto d = logged_in();
    auto out = d.on_line("attachsession --type=\"shadow\"");
    CHECK(out.text.find("NX> 500 Shadow session requested, but no session specified") != std::string::npos);
    CHECK(out.request.kind == RequestKind::none);
    out = d.on_line("attachsession --id=\"nope\"");
    CHECK(out.text.find("NX> 500 Failed to load session") != std::string::npos);
    CHECK(out.request.kind == RequestKind::none);

    out = d.on_line("attachsession --id=\"" + std::string{"0123456789ABCDEF0123456789abcdef"} + "\" --type=\"shadow\"");
    REQUIRE(out.request.kind == RequestKind::shadow);
    CHECK(out.request.session_id == sid);
    CHECK(d.busy());
    // The owner refused: the dialogue goes on.
    out = d.on_failure("Error: the owner of session " + sid + " refused");
    CHECK(out.text == "NX> 500 Error: the owner of session " + sid + " refused\n" + prompt);
    CHECK_FALSE(d.busy());

    out = d.on_line("attachsession --id=\"" + sid + "\"");
    REQUIRE(out.request.kind == RequestKind::shadow);
    SessionInfo info{sid, 731, "00ff00ff00ff00ff00ff00ff00ff00ff", true};
    out = d.on_session(info);
    CHECK(out.text.find("NX> 700 Session id: " + sid) != std::string::npos);
    CHECK(out.text.find("NX> 705 Session display: 731") != std::string::npos);
    CHECK(out.text.find("NX> 703 Session type: shadow") != std::string::npos);
    CHECK(out.text.find("NX> 701 Proxy cookie: 00ff00ff00ff00ff00ff00ff00ff00ff") != std::string::npos);
    CHECK(out.text.find("NX> 710 Session status: running") != std::string::npos);
    out = d.on_line("bye");
    CHECK(out.quit);
    CHECK(out.relay);
}

TEST_CASE("nx dialogue: a command sent without parameters asks for them (106)", "[nxserver]") {
    auto d = logged_in();
    auto out = d.on_line("listsession");
    CHECK(out.text == "Listsession\nNX> 106 Parameters: ");
    CHECK(out.request.kind == RequestKind::none);
    CHECK_FALSE(d.busy());
    out = d.on_line("--status=\"running\"");
    CHECK(out.text == "\n");
    REQUIRE(out.request.kind == RequestKind::list);
    out = d.on_list({row(sid, "disconnected"), row("ffffffffffffffffffffffffffffffff", "active")});
    CHECK(out.text.find(sid) == std::string::npos);  // the answer's filter applies
    CHECK(out.text.find("ffffffffffffffffffffffffffffffff") != std::string::npos);

    out = d.on_line("startsession");
    CHECK(out.text == "Start session with: \nNX> 106 Parameters: ");
    out = d.on_line("--geometry=\"800x600\"");
    REQUIRE(out.request.kind == RequestKind::start);
    CHECK((out.request.width == 800 && out.request.height == 600));
    d.on_failure("no");

    out = d.on_line("restoresession");
    CHECK(out.text.ends_with("NX> 106 Parameters: "));
    out = d.on_line("bad parameters");  // the answer is parsed like any
    CHECK(out.text.find("NX> 597 ") != std::string::npos);
    CHECK(out.text.ends_with(prompt));

    out = d.on_line("attachsession");
    CHECK(out.text.ends_with("NX> 106 Parameters: "));
    out = d.on_line("");
    CHECK(out.text.find("NX> 500 Shadow session requested, but no session specified") != std::string::npos);
    // Commands that take no parameters are not asked.
    CHECK(d.on_line("terminate").text.find("NX> 106") == std::string::npos);
}
