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

// Runs one input and checks what holds for every input; returns the run.
FuzzRun run_checked(const std::string& input) {
    auto run = harness().run(input);
    EXPECT_TRUE(run.violations.empty()) << joined(run.violations);
    for (const auto& step : run.records) {
        EXPECT_NE(step.result.status, ProcessResult::Status::Fatal) << step.result.fatal_reason;
        EXPECT_TRUE(step.outcome.has_value());
    }
    return run;
}

// The outcome each record ended with, once the queues were drained.
std::vector<OutcomeRecord> run_clean(const std::string& input) {
    const auto run = run_checked(input);
    std::vector<OutcomeRecord> outcomes;
    for (const auto& step : run.records) outcomes.push_back(step.outcome.value_or(OutcomeRecord{}));
    return outcomes;
}

std::string event(const std::string& attributes, const std::string& id = "evt-1", int version = 1) {
    return R"({"specversion":"1.0","id":")" + id +
           R"(","source":"urn:directory:contoso","type":"provisioning.user.assigned","data":{"app":"demo",)"
           R"("object":{"type":"user","id":"u-001","version":)" +
           std::to_string(version) + R"(,"attributes":)" + attributes + R"(},"assignment":{"role":"User"}}})";
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
        const auto run = run_checked(input);
        EXPECT_EQ(run.records.size(), decode_input(input).size());
        for (const auto& step : run.records) {
            EXPECT_TRUE(step.result.status != ProcessResult::Status::Parked || step.head_runs > 0);
        }
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
    // Deleted: disabled, its hard delete scheduled after the default 30 days.
    EXPECT_EQ(outcomes[4].action, Action::ScheduledDelete);
    for (const auto& out : outcomes) EXPECT_EQ(out.status, OutcomeStatus::Applied) << out.reason;
}

TEST(FuzzCorpus, ErrorsSeedParksTransientFailuresAndDeadLettersPermanentOnes) {
    const auto run =
        run_checked(read_file(std::filesystem::path(PROVBRIDGE_SOURCE_DIR) / "tests/fuzz/corpus/errors"));
    ASSERT_EQ(run.records.size(), 8U);
    // B 400, R 429 (Retry-After), S 500, W timeout, U 401, e 400, r 429 (past date), J nesting.
    const bool parks[] = {false, true, true, true, true, false, true, false};
    for (std::size_t i = 0; i < run.records.size(); ++i) {
        SCOPED_TRACE(i);
        const auto& step = run.records[i];
        ASSERT_TRUE(step.outcome);
        if (parks[i]) {
            EXPECT_EQ(step.result.status, ProcessResult::Status::Parked);
            EXPECT_EQ(step.dead_letters, 0U);
            EXPECT_EQ(step.head_runs, 1U);
            EXPECT_EQ(step.outcome->status, OutcomeStatus::Applied) << step.outcome->reason;
            EXPECT_EQ(step.outcome->action, Action::Create);
            EXPECT_EQ(step.outcome->attempts, 2);
            EXPECT_EQ(step.outcome->trail.size(), 1U);
        } else {
            EXPECT_EQ(step.result.status, ProcessResult::Status::Recorded);
            EXPECT_EQ(step.dead_letters, 1U);
            EXPECT_EQ(step.outcome->status, OutcomeStatus::DeadLettered);
            EXPECT_EQ(step.outcome->attempts, 1);
        }
    }
}

const std::string kAda = R"({"userPrincipalName":"ada@contoso.com","mailNickname":"ada","accountEnabled":true})";

// The event's requests: E the SelectUniqueValue lookup, E the userName match, then the POST.
TEST(FuzzRetries, A500OnCreateParksAndTheDrainCreatesTheAccount) {
    const auto run = run_checked(keyed(event(kAda), "EES"));
    ASSERT_EQ(run.records.size(), 1U);
    const auto& step = run.records[0];
    EXPECT_EQ(step.result.status, ProcessResult::Status::Parked);
    EXPECT_NE(step.result.due_ms, 0);
    EXPECT_FALSE(step.result.record);
    EXPECT_EQ(step.requests.size(), 3U);
    EXPECT_EQ(step.dead_letters, 0U);
    ASSERT_EQ(run.heads.size(), 1U);
    EXPECT_EQ(run.heads[0].result.status, ProcessResult::Status::Recorded);
    EXPECT_EQ(run.heads[0].attempt, 2);
    EXPECT_EQ(run.heads[0].requests.size(), 3U);  // the script is used up: a well-behaved target
    ASSERT_TRUE(step.outcome);
    EXPECT_EQ(step.outcome->status, OutcomeStatus::Applied);
    EXPECT_EQ(step.outcome->action, Action::Create);
    EXPECT_EQ(step.outcome->attempts, 2);
    EXPECT_EQ(step.outcome->scim_requests, 3);  // those of the attempt that succeeded
    ASSERT_EQ(step.outcome->trail.size(), 1U);
    EXPECT_EQ(step.outcome->trail[0].http_status, 500);
}

TEST(FuzzRetries, TheScriptTailAnswersLaterAttemptsAndTheLastOneDeadLetters) {
    const auto run = run_checked(keyed(event(kAda), "EESEEVEEW"));
    ASSERT_EQ(run.records.size(), 1U);
    const auto& step = run.records[0];
    EXPECT_EQ(step.result.status, ProcessResult::Status::Parked);
    ASSERT_EQ(run.heads.size(), 2U);
    EXPECT_EQ(run.heads[0].result.status, ProcessResult::Status::Parked);
    EXPECT_EQ(run.heads[0].dead_letters, 0U);
    EXPECT_EQ(run.heads[1].result.status, ProcessResult::Status::Recorded);
    EXPECT_EQ(run.heads[1].dead_letters, 1U);
    EXPECT_EQ(step.head_runs, 2U);
    ASSERT_TRUE(step.outcome);
    EXPECT_EQ(step.outcome->status, OutcomeStatus::DeadLettered);
    EXPECT_EQ(step.outcome->attempts, kRetryMaxAttempts);
    ASSERT_EQ(step.outcome->trail.size(), 3U);
    EXPECT_EQ(step.outcome->trail[0].http_status, 500);
    EXPECT_EQ(step.outcome->trail[1].http_status, 503);
    EXPECT_EQ(step.outcome->trail[2].http_status, 0);  // the timeout: no HTTP answer
    EXPECT_NE(step.outcome->reason.find("gave up after 3 attempts"), std::string::npos) << step.outcome->reason;
}

TEST(FuzzRetries, AnEchoedTokenStaysOutOfTheTrailOfEveryAttempt) {
    const auto run = run_checked(keyed(event(kAda), "EEuEEuEEu"));
    ASSERT_EQ(run.records.size(), 1U);
    const auto& out = run.records[0].outcome;
    ASSERT_TRUE(out);
    EXPECT_EQ(out->status, OutcomeStatus::DeadLettered);
    ASSERT_EQ(out->trail.size(), 3U);
    for (const auto& failure : out->trail) {
        EXPECT_EQ(failure.http_status, 401);
        EXPECT_EQ(failure.detail.find("S3cret"), std::string::npos) << failure.detail;
        EXPECT_NE(failure.detail.find("bad credentials"), std::string::npos) << failure.detail;
    }
}

// Finding of a 60 s run in CI: libFuzzer learnt the token the redactor searches for and wrote it
// into an event id, which the outcome rightly keeps. The token is now derived from each input.
TEST(FuzzRetries, AnInputCannotCarryTheTokenTheTargetEchoes) {
    const std::string id = "fuzz-t0ken/S3cret+";
    const auto run = run_checked(keyed(event(kAda, id), "EEu"));
    ASSERT_EQ(run.records.size(), 1U);
    const auto& out = run.records[0].outcome;
    ASSERT_TRUE(out);
    EXPECT_EQ(out->status, OutcomeStatus::Applied);
    EXPECT_EQ(out->event_id, id);  // the event's own data, not a secret
    ASSERT_EQ(out->trail.size(), 1U);
    EXPECT_EQ(out->trail[0].http_status, 401);
    EXPECT_EQ(out->trail[0].detail.find("S3cret"), std::string::npos) << out->trail[0].detail;
}

TEST(FuzzRetries, ARetryWaitsForTheTargetsRetryAfter) {
    const auto run = run_checked(keyed(event(kAda), "EER"));
    ASSERT_EQ(run.records.size(), 1U);
    const auto& out = run.records[0].outcome;
    ASSERT_TRUE(out);
    EXPECT_EQ(out->status, OutcomeStatus::Applied);
    ASSERT_EQ(out->trail.size(), 1U);
    EXPECT_EQ(out->trail[0].http_status, 429);
    // Retry-After: 120 is above the policy's 4 s ceiling; the target's estimate wins.
    EXPECT_GE(out->started_at_ms - out->trail[0].at_ms, 120'000);
    EXPECT_EQ(run.heads.size(), 1U);
}

TEST(FuzzRetries, LaterEventsOfAParkedObjectWaitBehindItAndRunInOrder) {
    const std::string titled =
        R"({"userPrincipalName":"ada@contoso.com","mailNickname":"ada","accountEnabled":true,"jobTitle":"Engineer"})";
    const auto run =
        run_checked(keyed(event(kAda), "EEV") + "\n%%\n" + keyed(event(titled, "evt-2", 2)) + "\n%%\n" +
                    keyed(event(kAda)));  // a redelivery of the parked first event
    ASSERT_EQ(run.records.size(), 3U);
    EXPECT_EQ(run.records[0].result.status, ProcessResult::Status::Parked);
    EXPECT_NE(run.records[0].result.due_ms, 0);
    EXPECT_EQ(run.records[1].result.status, ProcessResult::Status::Parked);
    EXPECT_EQ(run.records[1].result.due_ms, 0);  // behind the first: nothing sent
    EXPECT_TRUE(run.records[1].requests.empty());
    EXPECT_EQ(run.records[2].result.status, ProcessResult::Status::Duplicate);
    EXPECT_FALSE(run.records[2].result.record);
    ASSERT_EQ(run.heads.size(), 2U);
    EXPECT_EQ(run.heads[0].record, 0U);
    EXPECT_EQ(run.heads[1].record, 1U);
    ASSERT_TRUE(run.records[0].outcome && run.records[1].outcome && run.records[2].outcome);
    EXPECT_EQ(run.records[0].outcome->action, Action::Create);
    // The retried create was sent with the waiting update's title already: the update finds
    // nothing to change.
    EXPECT_NE(run.records[0].outcome->reason.find("attributes of version 2"), std::string::npos);
    EXPECT_EQ(run.records[1].outcome->status, OutcomeStatus::Skipped);
    EXPECT_EQ(run.records[1].outcome->code, "no_change");
    EXPECT_EQ(run.records[1].outcome->attempts, 1);  // waiting behind is no attempt
    EXPECT_EQ(run.records[2].outcome->event_id, "evt-1");
    EXPECT_EQ(run.records[2].outcome->action, Action::Create);
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

// Finding 2 (open, in the event processor): a record whose key names another object than its
// event is dead-lettered (KeyMismatch) under its event id without looking at the queues. When an
// event of another object with the same id is parked, that outcome now exists for the parked
// event's id too, and its head can never finish: process_parked finds the outcome and commits it
// under the head's lease, which the store refuses ("commit names the head of another object",
// the Redis store likewise): Fatal on every claim, and the object's queue is stuck. Enable once
// the processor handles it (e.g. process_invalid treating a parked event id as a duplicate, or
// finish_recorded_head removing a head whose id was recorded for another object).
TEST(FuzzFindings, AKeyMismatchReusingAParkedEventIdDoesNotStickItsQueue) {
    // The same event id for another object (u-002), under a key naming neither.
    std::string other = event(kAda);
    other.replace(other.find("\"u-001\""), 7, "\"u-002\"");
    const auto run = harness().run(keyed(event(kAda), "EEV") + "\n%%\n@key: demo/user/u-009\n" + other);
    EXPECT_TRUE(run.violations.empty()) << joined(run.violations);
    ASSERT_EQ(run.records.size(), 2U);
    EXPECT_EQ(run.records[0].result.status, ProcessResult::Status::Parked);
    EXPECT_TRUE(run.records[0].outcome);
    EXPECT_TRUE(run.records[1].outcome);
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
