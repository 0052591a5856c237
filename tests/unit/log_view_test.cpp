// The provisioning log as Entra shows it (status, action, steps), and the per-minute counters
// that rates and latency percentiles are read from.
#include <gtest/gtest.h>

#include "provbridge/core/minute_stats.hpp"
#include "provbridge/transforms/app_health.hpp"
#include "provbridge/transforms/log_view.hpp"

namespace provbridge::transforms {
namespace {

OutcomeRecord record(OutcomeStatus status, Action action, std::string code = {}, int requests = 0) {
    OutcomeRecord r;
    r.status = status;
    r.action = action;
    r.code = std::move(code);
    r.scim_requests = requests;
    r.reason = "why";
    return r;
}

std::vector<std::string> steps(const LogView& view) {
    std::vector<std::string> out;
    for (const auto& s : view.steps) out.push_back(std::string(to_string(s.step)) + ":" + std::string(to_string(s.status)));
    return out;
}

TEST(LogView, AnAppliedCreateSucceedsInEveryStepItRan) {
    const auto view = log_view(record(OutcomeStatus::Applied, Action::Create, {}, 2));
    EXPECT_EQ(view.status, LogStatus::Success);
    EXPECT_EQ(view.action, "Create");
    EXPECT_EQ(steps(view), (std::vector<std::string>{"import:Success", "scoping:Success", "matching:Success",
                                                      "processing:Success", "export:Success"}));
    EXPECT_TRUE(view.error_code.empty());
}

TEST(LogView, ASkipStopsAtTheStepThatDecidedIt) {
    const auto scoped = log_view(record(OutcomeStatus::Skipped, Action::None, "out_of_scope"));
    EXPECT_EQ(scoped.status, LogStatus::Skipped);
    EXPECT_EQ(scoped.skip_reason, "out_of_scope");
    EXPECT_EQ(scoped.action, "Other");
    EXPECT_EQ(steps(scoped), (std::vector<std::string>{"import:Success", "scoping:Skipped"}));
    EXPECT_EQ(scoped.steps.back().detail, "why");
    const auto unchanged = log_view(record(OutcomeStatus::Skipped, Action::None, "no_change"));
    EXPECT_EQ(steps(unchanged).back(), "processing:Skipped");
}

TEST(LogView, FailuresArePlacedWhereTheyHappened) {
    EXPECT_EQ(steps(log_view(record(OutcomeStatus::DeadLettered, Action::None, "InvalidEvent"))),
              (std::vector<std::string>{"import:Failure"}));
    EXPECT_EQ(steps(log_view(record(OutcomeStatus::DeadLettered, Action::None, "DuplicateTargetEntries", 1))).back(),
              "matching:Failure");
    auto refused = record(OutcomeStatus::DeadLettered, Action::Create, "InvalidValue", 1);
    refused.http_status = 400;
    const auto view = log_view(refused);
    EXPECT_EQ(view.status, LogStatus::Failure);
    EXPECT_EQ(view.error_code, "InvalidValue");
    EXPECT_EQ(steps(view).back(), "export:Failure");
    EXPECT_EQ(steps(view).size(), 5U) << "no reference step where there was none";
}

TEST(LogView, AReferenceFailureIsAWarningOfTheReferenceStep) {
    const auto view = log_view(record(OutcomeStatus::Warning, Action::None, "UnresolvedReference"));
    EXPECT_EQ(view.status, LogStatus::Warning);
    EXPECT_EQ(view.error_code, "UnresolvedReference");
    EXPECT_EQ(steps(view).back(), "referenceResolution:Warning");
    // What could be sent was: the export follows.
    EXPECT_EQ(steps(log_view(record(OutcomeStatus::Warning, Action::Update, "UnresolvedReference", 1))).back(),
              "export:Success");
}

TEST(LogView, ADiscardedStagedDeleteIsAStagedDelete) {
    EXPECT_EQ(log_view(record(OutcomeStatus::Skipped, Action::None, "deletion_discarded")).action, "StagedDelete");
}

TEST(LogView, TheJsonCarriesTheRecordAndTheView) {
    const auto doc = log_view_json(record(OutcomeStatus::Skipped, Action::None, "stale"));
    EXPECT_EQ(doc["status"], "Skipped");
    EXPECT_EQ(doc["outcome"], "skipped");
    EXPECT_EQ(doc["skip_reason"], "stale");
    EXPECT_EQ(doc["steps"].back()["step"], "processing");
}

TEST(MinuteStats, LatenciesFallInTheirBuckets) {
    EXPECT_EQ(latency_bucket_field(0), "lat_le_5");
    EXPECT_EQ(latency_bucket_field(5), "lat_le_5");
    EXPECT_EQ(latency_bucket_field(6), "lat_le_10");
    EXPECT_EQ(latency_bucket_field(300000), "lat_le_300000");
    EXPECT_EQ(latency_bucket_field(300001), "lat_inf");
}

TEST(MinuteStats, CountsAreReadSummedAndGiveQuantiles) {
    const auto a = minute_stats_from(10, {{"events", 10}, {"created", 4}, {"updated", 3}, {"skipped", 2},
                                          {"dead_lettered", 1}, {"lat_le_100", 10}, {"unknown", 7}});
    EXPECT_EQ(a.applied, 7);
    EXPECT_EQ(a.skipped, 2);
    const auto b = minute_stats_from(11, {{"events", 10}, {"warnings", 1}, {"lat_le_1000", 10}});
    const auto sum = sum_minutes({a, b});
    EXPECT_EQ(sum.events, 20);
    EXPECT_EQ(sum.warnings, 1);
    // Half the samples are in (50, 100], half in (500, 1000].
    EXPECT_DOUBLE_EQ(*latency_quantile_ms(sum, 0.25), 75.0);
    EXPECT_DOUBLE_EQ(*latency_quantile_ms(sum, 0.5), 100.0);
    EXPECT_DOUBLE_EQ(*latency_quantile_ms(sum, 0.99), 990.0);
    EXPECT_FALSE(latency_quantile_ms(MinuteStats{}, 0.5).has_value());
    const auto slow = minute_stats_from(12, {{"lat_inf", 3}});
    EXPECT_DOUBLE_EQ(*latency_quantile_ms(slow, 0.5), 300000.0) << "a lower bound above the last bucket";
}

}  // namespace
}  // namespace provbridge::transforms

namespace provbridge::transforms {
namespace {

TEST(AppHealth, WorstFirstAndFewEventsSayNothing) {
    MinuteStats window;
    window.events = 9;
    window.dead_lettered = 9;
    EXPECT_EQ(judge_app_health(false, 0, window), AppHealth::Healthy) << "fewer than 10 events";
    window.events = 10;
    window.dead_lettered = 1;
    EXPECT_EQ(judge_app_health(false, 0, window), AppHealth::Degraded);
    window.dead_lettered = 0;
    EXPECT_EQ(judge_app_health(false, 0, window), AppHealth::Healthy);
    EXPECT_EQ(judge_app_health(false, 2, window), AppHealth::StagedDeletes);
    EXPECT_EQ(judge_app_health(true, 2, window), AppHealth::Quarantined);
    EXPECT_EQ(to_string(AppHealth::StagedDeletes), "staged deletes");
}

}  // namespace
}  // namespace provbridge::transforms
