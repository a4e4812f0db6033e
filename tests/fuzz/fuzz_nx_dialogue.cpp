// Fuzz target: rsm-nxserver's dialogue (daemons/rsm-nxserver/dialogue.*),
// the state machine behind every line an NX client sends, logged in or not.
//
// Input: lines ('\n'-separated). A line starting with '\x01' is not sent:
// its second byte answers the request that is out (login ok/refused/error,
// a list of sessions, a session ready or a failure). Checked: the password
// line is answered with stars only and the password is in no output; a
// reply is never given to a line while a request is out; nothing is said
// after the dialogue ended; a relay follows only a bye after a session;
// every output the client reads as replies is whole "NX> " lines or the
// prompts.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dialogue.hpp"
#include "fuzz_check.hpp"

namespace nx = rsm::nx;

namespace {

void check_output(const nx::Output& out, bool& ended) {
    FUZZ_CHECK(!ended || (out.text.empty() && out.request.kind == nx::RequestKind::none));
    if (out.quit) ended = true;
    FUZZ_CHECK(out.text.find('\r') == std::string::npos);
    FUZZ_CHECK(out.text.find('\x1b') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    nx::Dialogue d;
    bool ended = false, session = false;
    nx::RequestKind pending = nx::RequestKind::none;
    while (!rest.empty()) {
        const std::size_t nl = rest.find('\n');
        const std::string_view line = rest.substr(0, nl);
        rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
        nx::Output out;
        if (!line.empty() && line[0] == '\x01') {
            const unsigned choice = line.size() > 1 ? static_cast<unsigned char>(line[1]) : 0;
            switch (choice % 6) {
            case 0: out = d.on_login(choice & 8 ? nx::Dialogue::LoginResult::refused : nx::Dialogue::LoginResult::ok); break;
            case 1: out = d.on_login(nx::Dialogue::LoginResult::error); break;
            case 2: {
                nx::SessionRow r;
                r.id = std::string(line.substr(1));
                r.type = "nxagent";
                r.state = std::string(line.substr(1));
                out = d.on_list({r});
                break;
            }
            case 3: {
                nx::SessionInfo i;
                i.id = std::string(line.substr(1));
                i.cookie = std::string(line.substr(1));
                i.display = 7;
                out = d.on_session(i);
                if (!out.text.empty()) session = true;
                break;
            }
            case 4: out = d.on_failure(line.substr(1)); break;
            default: out = d.on_terminated(line.substr(1)); break;
            }
            if (!out.text.empty()) pending = nx::RequestKind::none;
        } else {
            const bool busy = d.busy();
            out = d.on_line(line);
            if (busy) FUZZ_CHECK(out.text.empty() && out.request.kind == nx::RequestKind::none);
            if (out.request.kind == nx::RequestKind::login) {
                FUZZ_CHECK(out.text == "**********\n");
                FUZZ_CHECK(out.request.password == line);
            }
            if (out.request.kind != nx::RequestKind::none) {
                FUZZ_CHECK(pending == nx::RequestKind::none);
                pending = out.request.kind;
            }
            if (out.relay) FUZZ_CHECK(session && out.quit);
        }
        check_output(out, ended);
    }
    return 0;
}
