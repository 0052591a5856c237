// The fuzz target's harness (tests/fuzz) in the ordinary unit-test build: its input format,
// every committed seed, the hostile records scripts/fuzz generates, and each finding of the
// fuzzer as a regression test. The fuzz target itself runs the same inputs under ASan/UBSan.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "provbridge/transforms/expression.hpp"
#include "provbridge/transforms/scoping.hpp"
#include "record_harness.hpp"

namespace provbridge::fuzz {
namespace {

using consumers::ProcessResult;

const RecordHarness& harness() {
    static const RecordHarness instance;
    return instance;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string joined(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& l : lines) text += l + "\n";
    return text;
}

// Runs one input and checks what holds for every input; returns the outcome of each record.
std::vector<OutcomeRecord> run_clean(const std::string& input) {
    const auto run = harness().run(input);
    EXPECT_TRUE(run.violations.empty()) << joined(run.violations);
    std::vector<OutcomeRecord> outcomes;
    for (const auto& step : run.records) {
        EXPECT_NE(step.result.status, ProcessResult::Status::Fatal) << step.result.fatal_reason;
        outcomes.push_back(step.result.record.value_or(OutcomeRecord{}));
    }
    return outcomes;
}

std::string event(const std::string& attributes, const std::string& id = "evt-1") {
    return R"({"specversion":"1.0","id":")" + id +
           R"(","source":"urn:directory:contoso","type":"provisioning.user.assigned","data":{"app":"demo",)"
           R"("object":{"type":"user","id":"u-001","version":1,"attributes":)" +
           attributes + R"(},"assignment":{"role":"User"}}})";
}

std::string keyed(const std::string& value, const std::string& scim = {}) {
    return "@key: demo/user/u-001\n" + (scim.empty() ? std::string() : "@scim: " + scim + "\n") + value;
}

TEST(FuzzInput, HeaderLinesKeyScriptAndSeparatedRecords) {
    const auto records = decode_input("@key: demo/user/u-1\n@scim: EC\n@ce_id:x\n@flag\n{\"a\":1}\n@not a header"
                                      "\n%%\n"
                                      "plain value");
    ASSERT_EQ(records.size(), 2U);
    EXPECT_EQ(records[0].record.key, "demo/user/u-1");
    EXPECT_EQ(records[0].scim_script, "EC");
    ASSERT_EQ(records[0].record.headers.size(), 2U);
    EXPECT_EQ(records[0].record.headers[0].name, "ce_id");
    EXPECT_EQ(records[0].record.headers[0].value, "x");
    EXPECT_EQ(records[0].record.headers[1].name, "flag");
    EXPECT_EQ(records[0].record.headers[1].value, "");
    // Header lines only open a record; the value keeps everything after them as it is.
    EXPECT_EQ(records[0].record.value, "{\"a\":1}\n@not a header");
    EXPECT_FALSE(records[1].record.key.has_value());
    EXPECT_EQ(records[1].record.value, "plain value");
    EXPECT_NE(records[0].record.offset, records[1].record.offset);
}

TEST(FuzzInput, AtMostEightRecordsPerInput) {
    std::string input = "a";
    for (int i = 0; i < 20; ++i) input += "\n%%\na";
    EXPECT_EQ(decode_input(input).size(), kMaxRecordsPerInput);
    EXPECT_EQ(decode_input("").size(), 1U);
}

TEST(FuzzCorpus, EverySeedEndsInOneRecordedOutcomePerRecord) {
    const std::filesystem::path dir = std::filesystem::path(PROVBRIDGE_SOURCE_DIR) / "tests/fuzz/corpus";
    std::size_t seeds = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        SCOPED_TRACE(entry.path().filename().string());
        const auto input = read_file(entry.path());
        const auto outcomes = run_clean(input);
        EXPECT_EQ(outcomes.size(), decode_input(input).size());
        ++seeds;
    }
    EXPECT_GE(seeds, 40U);
}

TEST(FuzzCorpus, DemoEventsSeedsAreCreatedThroughTheScriptedTarget) {
    const auto outcomes = run_clean(
        read_file(std::filesystem::path(PROVBRIDGE_SOURCE_DIR) / "tests/fuzz/corpus/lifecycle-generic"));
    ASSERT_EQ(outcomes.size(), 5U);
    EXPECT_EQ(outcomes[0].action, Action::Create);
    EXPECT_EQ(outcomes[1].action, Action::Update);
    EXPECT_EQ(outcomes[2].action, Action::Disable);
    EXPECT_EQ(outcomes[3].action, Action::Update);
    EXPECT_EQ(outcomes[4].action, Action::Delete);
    for (const auto& out : outcomes) EXPECT_EQ(out.status, OutcomeStatus::Applied) << out.reason;
}

// The large records scripts/fuzz generates at run time (not committed).
TEST(FuzzCorpus, HundredThousandLevelNestingInAMappedAttributeIsDeadLettered) {
    const std::string deep = std::string(100'000, '[') + "\"x\"" + std::string(100'000, ']');
    for (const auto& attributes : {R"({"userPrincipalName":)" + deep + "}",
                                   R"({"userPrincipalName":"ada@contoso.com","givenName":)" + deep + "}"}) {
        const auto outcomes = run_clean(keyed(event(attributes)));
        ASSERT_EQ(outcomes.size(), 1U);
        EXPECT_EQ(outcomes[0].status, OutcomeStatus::DeadLettered);
        EXPECT_EQ(outcomes[0].code, "InvalidEvent");
        EXPECT_EQ(outcomes[0].scim_requests, 0);
    }
}

TEST(FuzzCorpus, RecordOverOneMebibyteIsDeadLetteredBeforeAnyRequest) {
    const auto outcomes =
        run_clean(keyed(event(R"({"userPrincipalName":"ada@contoso.com","displayName":")" +
                              std::string(1'153'434, 'a') + "\"}")));
    ASSERT_EQ(outcomes.size(), 1U);
    EXPECT_EQ(outcomes[0].status, OutcomeStatus::DeadLettered);
    EXPECT_EQ(outcomes[0].scim_requests, 0);
}

TEST(FuzzCorpus, ScimResponseNestedHundredThousandLevelsFailsTheRequestNotTheWorker) {
    // E answers the SelectUniqueValue lookup; J answers the userName match with the nesting.
    const auto outcomes =
        run_clean(keyed(event(R"({"userPrincipalName":"ada@contoso.com","mailNickname":"ada","accountEnabled":true})"), "EJ"));
    ASSERT_EQ(outcomes.size(), 1U);
    EXPECT_EQ(outcomes[0].status, OutcomeStatus::DeadLettered);
    EXPECT_EQ(outcomes[0].code, "ServiceIncompatible");
}

// Findings of the fuzzer (and of the hostile sizes its seeds probe), one test each.

// Finding 1: the demo app's title is Replace([jobTitle], , "[ \t]+", , " ", , ). libstdc++'s
// regex matcher recurses once per character of a match, so a jobTitle of 1,000,000 spaces (a
// record under the 1 MiB limit) overflowed the stack: a SIGSEGV in the worker lane, which would
// take the worker down and come back with every redelivery.
TEST(FuzzFindings, RegexReplaceOnAMegabyteOfSpacesKeepsTheTitleInsteadOfCrashing) {
    const auto outcomes = run_clean(keyed(event(R"({"userPrincipalName":"ada@contoso.com","mailNickname":"ada",)"
                                                R"("accountEnabled":true,"jobTitle":")" +
                                                std::string(1'000'000, ' ') + R"("})")));
    ASSERT_EQ(outcomes.size(), 1U);
    EXPECT_EQ(outcomes[0].status, OutcomeStatus::Applied);
    EXPECT_EQ(outcomes[0].action, Action::Create);
    // Too long for the regex: the title goes as it came, never removed nor crashing the lane.
    bool title = false;
    for (const auto& change : outcomes[0].changes) title = title || change.path == "title";
    EXPECT_TRUE(title);
}

TEST(FuzzFindings, RegexFunctionsRefuseSourcesOverTheRegexInputLimit) {
    const auto pattern = transforms::detail::compile_pattern("(?<word>[a-z]+) +");
    ASSERT_NE(pattern.pattern, nullptr) << pattern.error;
    const std::string at_limit = std::string(transforms::kMaxRegexInputBytes - 2, 'a') + "  ";
    const std::string over = at_limit + " ";
    EXPECT_EQ(transforms::detail::regex_replace_all(*pattern.pattern, at_limit, "x"), "x");
    EXPECT_EQ(transforms::detail::regex_replace_all(*pattern.pattern, over, "x"), over);
    EXPECT_EQ(transforms::detail::regex_replace_group(*pattern.pattern, over, "word", "x"), over);
    EXPECT_EQ(transforms::detail::regex_extract_group(*pattern.pattern, over, "word"), std::nullopt);
    EXPECT_EQ(transforms::detail::regex_extract_group(*pattern.pattern, at_limit, "word"),
              std::string(transforms::kMaxRegexInputBytes - 2, 'a'));
}

}  // namespace
}  // namespace provbridge::fuzz
