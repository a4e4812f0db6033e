// The one Catch2 main of the unit suite, and the TAP reporter meson reads
// (tests/unit/meson.build runs unit-tests --reporter tap, protocol 'tap').
//
// Why not Catch's own catch_reporter_tap.hpp: in Catch2 v2 it writes one TAP
// line per *assertion* (meson would count thousands of "tests" that are not
// tests), and it prints multi-line expansions as bare lines that meson
// rejects as unknown TAP. This reporter writes one "ok"/"not ok" line per
// test case and every failure detail as a "#" comment line, plan last.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

namespace {

class TapCaseReporter : public Catch::StreamingReporterBase<TapCaseReporter> {
public:
    using StreamingReporterBase::StreamingReporterBase;

    static std::string getDescription() { return "TAP, one line per test case (for meson)"; }

    void assertionStarting(const Catch::AssertionInfo&) override {}

    bool assertionEnded(const Catch::AssertionStats& stats) override {
        const auto& result = stats.assertionResult;
        if (result.isOk())
            return true;
        std::ostringstream detail;
        detail << result.getSourceInfo() << ": ";
        if (result.getResultType() == Catch::ResultWas::ThrewException)
            detail << "unexpected exception: " << result.getMessage();
        else if (result.hasExpression())
            detail << result.getExpressionInMacro() << " with expansion " << result.getExpandedExpression();
        if (result.hasMessage() && result.getResultType() != Catch::ResultWas::ThrewException)
            detail << (result.hasExpression() ? "; " : "") << result.getMessage();
        for (const auto& info : stats.infoMessages)
            detail << "\n  with " << info.message;
        failures_.push_back(detail.str());
        return true;
    }

    void testCaseEnded(const Catch::TestCaseStats& stats) override {
        ++count_;
        const bool ok = stats.totals.assertions.allOk() && failures_.empty();
        stream << (ok ? "ok " : "not ok ") << count_ << " - " << escape(stats.testInfo.name) << '\n';
        for (const auto& failure : failures_)
            comment(failure);
        if (!stats.stdOut.empty())
            comment("stdout: " + stats.stdOut);
        failures_.clear();
        StreamingReporterBase::testCaseEnded(stats);
    }

    void testRunEnded(const Catch::TestRunStats& stats) override {
        stream << "1.." << count_ << '\n' << std::flush;
        StreamingReporterBase::testRunEnded(stats);
    }

private:
    // '#' would start a TAP directive (SKIP, TODO) in a description.
    static std::string escape(const std::string& name) {
        std::string out;
        for (char c : name) {
            if (c == '#' || c == '\\')
                out += '\\';
            out += (c == '\n') ? ' ' : c;
        }
        return out;
    }

    // Every line of `text` as a TAP comment, so meson never sees a bare line.
    void comment(const std::string& text) {
        std::istringstream lines{text};
        for (std::string line; std::getline(lines, line);)
            stream << "# " << line << '\n';
    }

    std::size_t count_ = 0;
    std::vector<std::string> failures_;
};

}  // namespace

CATCH_REGISTER_REPORTER("tap", TapCaseReporter)
