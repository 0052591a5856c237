// The deletion threshold: the pure rule (transforms/deletion_threshold), its window, and the
// processor staging disables and deletes in the one parking mechanism (FakeStateStore), with
// allowed and discarded operations running through the claim and commit paths like any retry.
#include <gtest/gtest.h>

#include "fake_random.hpp"
#include "fake_scim_client.hpp"
#include "fakes.hpp"
#include "processor_setup.hpp"
#include "provbridge/consumers/event_processor.hpp"
#include "provbridge/consumers/parked_source.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/transforms/deletion_threshold.hpp"
#include "provbridge/transforms/log_view.hpp"
#include "provbridge/transforms/mapping.hpp"
#include "provbridge/transforms/rolling_window.hpp"

namespace provbridge {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test_support::FakeObject;
using test_support::FakeScimClient;

DeletionThresholdConfig threshold(std::int64_t max, std::chrono::milliseconds window = 60min) {
    DeletionThresholdConfig t;
    t.max_operations = max;
    t.window = window;
    return t;
}

TEST(DeletionThreshold, AdmitsBelowTheThresholdAndStagesFromItOn) {
    const auto t = threshold(3);
    EXPECT_EQ(transforms::judge_deletion(t, 0, 0, 0, false), DeletionAdmission::Admitted);
    EXPECT_EQ(transforms::judge_deletion(t, 2, 0, 0, false), DeletionAdmission::Admitted);
    EXPECT_EQ(transforms::judge_deletion(t, 3, 0, 0, false), DeletionAdmission::Staged);
    EXPECT_EQ(transforms::judge_deletion(t, 40, 0, 0, false), DeletionAdmission::Staged);
}

TEST(DeletionThreshold, OnceSomethingIsStagedEverythingWaitsForTheOperator) {
    // The window may have slid below the threshold: what comes after a staged operation still
    // must not overtake the operator's answer.
    EXPECT_EQ(transforms::judge_deletion(threshold(3), 0, 1, 0, false), DeletionAdmission::Staged);
}

TEST(DeletionThreshold, AnAllowedOperationAndAThresholdThatIsOffAlwaysPass) {
    EXPECT_EQ(transforms::judge_deletion(threshold(3), 9, 4, 0, true), DeletionAdmission::Admitted);
    EXPECT_EQ(transforms::judge_deletion(threshold(0), 1000000, 7, 0, false), DeletionAdmission::Admitted);
}

TEST(DeletionThreshold, TheDefaultIsEntrasFiveHundredInAnHour) {
    const DeletionThresholdConfig t;
    EXPECT_TRUE(t.enabled());
    EXPECT_EQ(t.max_operations, 500);
    EXPECT_EQ(t.max_percent, 0) << "no relative limit unless configured";
    EXPECT_EQ(t.window, 60min);
}

DeletionThresholdConfig relative(std::int64_t percent, std::int64_t max = 0) {
    auto t = threshold(max);
    t.max_percent = percent;
    return t;
}

TEST(DeletionThreshold, TheRelativeLimitStagesOnceTheWindowHoldsItsShareOfTheLinkedAccounts) {
    const auto t = relative(10);
    EXPECT_TRUE(t.enabled()) << "max_percent alone turns the threshold on";
    // 10% of 40 linked accounts is 4: three counted admit a fourth, four counted stage the fifth.
    EXPECT_EQ(transforms::judge_deletion(t, 3, 0, 40, false), DeletionAdmission::Admitted);
    EXPECT_EQ(transforms::judge_deletion(t, 4, 0, 40, false), DeletionAdmission::Staged);
    // A small app: 10% of 5 is half an account, so the first passes and the second waits.
    EXPECT_EQ(transforms::judge_deletion(t, 0, 0, 5, false), DeletionAdmission::Admitted);
    EXPECT_EQ(transforms::judge_deletion(t, 1, 0, 5, false), DeletionAdmission::Staged);
    // The count limit still applies beside it, whichever comes first.
    EXPECT_EQ(transforms::judge_deletion(relative(10, 500), 4, 0, 40, false), DeletionAdmission::Staged);
    EXPECT_EQ(transforms::judge_deletion(relative(50, 3), 3, 0, 1000, false), DeletionAdmission::Staged);
    EXPECT_EQ(transforms::judge_deletion(relative(50, 3), 2, 0, 1000, false), DeletionAdmission::Admitted);
    // Off, the number of linked accounts means nothing; allowed, neither limit does.
    EXPECT_EQ(transforms::judge_deletion(threshold(500), 4, 0, 0, false), DeletionAdmission::Admitted);
    EXPECT_EQ(transforms::judge_deletion(t, 40, 0, 40, true), DeletionAdmission::Admitted);
}

TEST(DeletionThreshold, TheLimitReachedIsTheCountFirstThenTheShare) {
    EXPECT_EQ(transforms::reached_limit(relative(10, 4), 4, 40), transforms::DeletionLimit::Count);
    EXPECT_EQ(transforms::reached_limit(relative(10, 5), 4, 40), transforms::DeletionLimit::Percent);
    EXPECT_EQ(transforms::reached_limit(relative(10, 5), 3, 40), transforms::DeletionLimit::None);
    EXPECT_EQ(transforms::reached_limit(threshold(5), 4, 0), transforms::DeletionLimit::None);
}

// An account's change as diff_attributes reports it.
AttributeChange change(const std::string& path, const json& before, const json& after) { return {path, before, after}; }

transforms::PatchPlan plan_of(std::vector<AttributeChange> changes) {
    transforms::PatchPlan plan;
    plan.changes = std::move(changes);
    plan.operations = json::array({json::object()});
    return plan;
}

TEST(DeletionThreshold, AnUpdateDisablesWhenItsPatchSetsActiveToFalseFromTrueOrNothing) {
    EXPECT_TRUE(transforms::disables_account(plan_of({change("title", "A", "B"), change("active", true, false)})));
    EXPECT_TRUE(transforms::disables_account(plan_of({change("active", nullptr, false)})));
    // Entra's form without aadOptscim062020, as an expression may produce it.
    EXPECT_TRUE(transforms::disables_account(plan_of({change("active", "True", "False")})));
    EXPECT_TRUE(transforms::disables_account(plan_of({change("Active", true, false)})));

    EXPECT_FALSE(transforms::disables_account(plan_of({change("title", "A", "B")})));
    EXPECT_FALSE(transforms::disables_account(plan_of({change("active", false, true)})));
    EXPECT_FALSE(transforms::disables_account(plan_of({change("active", "False", false)}))) << "inactive already";
    EXPECT_FALSE(transforms::disables_account(plan_of({change("active", true, nullptr)}))) << "removed is not false";
    EXPECT_FALSE(transforms::disables_account(plan_of({change("emails[type eq \"work\"].primary", true, false)})));
    EXPECT_FALSE(transforms::disables_account(
        plan_of({change("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:active", true, false)})));
    EXPECT_FALSE(transforms::disables_account(transforms::PatchPlan{}));
}

TEST(DeletionThreshold, TheDiffOfTheDefaultMappingDisablesWhenAccountEnabledTurnsFalse) {
    // Through the real mapping (active from Switch([IsSoftDeleted], …)), not hand-made changes.
    const auto& mapping = transforms::default_user_mapping();
    const auto desired = [&](bool enabled, const std::string& title) {
        const json attributes = {{"userPrincipalName", "ada@contoso.com"}, {"jobTitle", title}, {"accountEnabled", enabled}};
        // The user rules set IsSoftDeleted from accountEnabled (user_rules.cpp).
        const transforms::SourceContext context{attributes, !enabled};
        return transforms::desired_attributes(mapping, context, transforms::Phase::Update);
    };
    const json applied = desired(true, "Engineer").to_json();
    EXPECT_TRUE(transforms::disables_account(transforms::diff_attributes(mapping, desired(false, "Engineer"), applied)));
    EXPECT_TRUE(transforms::disables_account(transforms::diff_attributes(mapping, desired(false, "Countess"), applied)));
    EXPECT_FALSE(transforms::disables_account(transforms::diff_attributes(mapping, desired(true, "Countess"), applied)));
    const json inactive = desired(false, "Engineer").to_json();
    EXPECT_FALSE(transforms::disables_account(transforms::diff_attributes(mapping, desired(false, "Countess"), inactive)));
}

TEST(DeletionThreshold, TheWindowIsThirtyBucketsOfAtLeastTenSeconds) {
    const auto hour = transforms::window_buckets(60min, 3'600'000LL * 1000 + 5);
    EXPECT_EQ(hour.bucket_ms, 120'000);
    EXPECT_EQ(hour.current - hour.first + 1, 30);
    EXPECT_EQ(hour.current, (3'600'000LL * 1000 + 5) / 120'000);
    EXPECT_EQ(hour.ttl_ms, 3'600'000 + 240'000);
    const auto short_window = transforms::window_buckets(1min, 0);
    EXPECT_EQ(short_window.bucket_ms, 10'000);
    EXPECT_EQ(short_window.current - short_window.first + 1, 6);
}

TEST(DeletionThreshold, TheReasonSaysWhatWasReachedOrWhatItWaitsBehind) {
    EXPECT_EQ(transforms::staged_reason(threshold(5), DeletionWindow{DeletionAdmission::Staged, 5, 0}),
              "5 disables and deletes within 60 min reached the app's deletion threshold (5)");
    EXPECT_EQ(transforms::staged_reason(threshold(5, 24h), DeletionWindow{DeletionAdmission::Staged, 1, 2}),
              "2 staged operations of the app wait for an operator");
    EXPECT_EQ(transforms::staged_reason(threshold(5), DeletionWindow{DeletionAdmission::Staged, 0, 1}),
              "1 staged operation of the app waits for an operator");
    EXPECT_EQ(transforms::staged_reason(relative(10, 500), DeletionWindow{DeletionAdmission::Staged, 4, 0, 40}),
              "4 disables and deletes within 60 min reached 10% of the app's 40 linked accounts");
    EXPECT_EQ(transforms::staged_reason(relative(10, 4), DeletionWindow{DeletionAdmission::Staged, 4, 0, 40}),
              "4 disables and deletes within 60 min reached the app's deletion threshold (4)");
    EXPECT_EQ(transforms::window_phrase(24h), "1 d");
    EXPECT_EQ(transforms::window_phrase(3h), "3 h");
    EXPECT_EQ(transforms::window_phrase(90min), "90 min");
}

}  // namespace
}  // namespace provbridge

namespace provbridge::consumers {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test_support::FakeObject;
using test_support::FakeScimClient;

json person(const std::string& user) {
    return {{"userPrincipalName", user + "@contoso.com"}, {"mail", user + "@contoso.com"}, {"mailNickname", user},
            {"givenName", user}, {"surname", "Tester"}, {"displayName", user + " Tester"},
            {"jobTitle", "Engineer"}, {"accountEnabled", true}};
}

class DeletionStagingTest : public ::testing::Test {
protected:
    DeletionStagingTest() : store_(clock_) { configure(3); }

    void configure(std::int64_t max, UnassignAction unassign = UnassignAction::Disable, std::int64_t percent = 0,
                   int hard_delete_after_days = 30) {
        auto app = test_support::test_app("crm");
        app.hard_delete_after_days = hard_delete_after_days;
        app.deletion_threshold.max_operations = max;
        app.deletion_threshold.max_percent = percent;
        app.unassign_action = unassign;
        apps_ = test_support::runtimes_of(app);
        auto options = test_support::retry_options(random_, 8000ms, 5, 1h);
        processor_ = std::make_unique<EventProcessor>(apps_, std::map<std::string, ScimClient*>{{"crm", &scim_}},
                                                      store_, dlq_, clock_, nullptr, options);
    }

    // A provisioned, active account for the user (as a create would have left it).
    void link(const std::string& user) {
        LinkState state;
        state.scim_id = "scim-" + user;
        state.version = 1;
        state.status = LinkStatus::Active;
        state.applied = {{"userName", user + "@contoso.com"}, {"active", true}};
        state.assigned_role = "User";  // assigned directly, as its assigned event left it
        store_.links[KeyScheme().link("crm", ObjectType::User, user)] = state;
    }

    InboundRecord record(const std::string& user, const std::string& type, std::int64_t version,
                         const json& attributes = nullptr) {
        ++sequence_;
        json data = {{"app", "crm"},
                     {"object",
                      {{"type", "user"}, {"id", user}, {"version", version},
                       {"attributes", attributes.is_null() ? person(user) : attributes}}}};
        if (type == "assigned" || type == "updated") data["assignment"] = {{"role", "User"}};
        const json event = {{"specversion", "1.0"},
                            {"id", "e" + std::to_string(sequence_) + "-" + user},
                            {"source", "urn:directory:contoso"},
                            {"type", "provisioning.user." + type},
                            {"data", data}};
        InboundRecord r;
        r.topic = "provisioning.events";
        r.partition = 0;
        r.offset = sequence_;
        r.key = "crm/user/" + user;
        r.value = event.dump();
        return r;
    }

    std::vector<ClaimedHead> claim() {
        auto heads = store_.claim_due("crm", clock_.wall_ms(), 60s, 100, "w1");
        EXPECT_TRUE(heads.ok());
        return heads.ok() ? std::move(heads).value() : std::vector<ClaimedHead>{};
    }

    std::size_t sent(HttpMethod method) const {
        std::size_t n = 0;
        for (const auto& r : scim_.requests()) n += r.method == method ? 1 : 0;
        return n;
    }

    static FakeObject user(const std::string& id) { return FakeObject{"crm", ObjectType::User, id}; }

    std::int64_t counted() const {
        std::int64_t n = 0;
        for (const auto& [key, count] : store_.deletion_buckets) n += key.first == "crm" ? count : 0;
        return n;
    }

    // Unassigns u0..u(n-1), each linked and active; the target answers every disable 200.
    std::vector<ProcessResult> unassign(int n) {
        std::vector<ProcessResult> results;
        for (int i = 0; i < n; ++i) {
            const std::string id = "u" + std::to_string(i);
            link(id);
            scim_.push(FakeScimClient::json(200, {{"id", "scim-" + id}, {"active", false}}));
            results.push_back(processor_->process(record(id, "unassigned", 2)));
        }
        return results;
    }

    // The user as the directory sends it once its account is disabled there (the HR feed's
    // accountEnabled false), with another attribute changed in the same event.
    static json disabled_person(const std::string& user, const std::string& title = "Countess") {
        json attributes = person(user);
        attributes["accountEnabled"] = false;
        attributes["jobTitle"] = title;
        return attributes;
    }

    // Sends a disabling user.updated for u0..u(n-1), each linked and active; the target answers
    // every PATCH 200.
    std::vector<ProcessResult> disable_by_update(int n) {
        std::vector<ProcessResult> results;
        for (int i = 0; i < n; ++i) {
            const std::string id = "u" + std::to_string(i);
            link(id);
            scim_.push(FakeScimClient::json(200, {{"id", "scim-" + id}, {"active", false}}));
            results.push_back(processor_->process(record(id, "updated", 2, disabled_person(id))));
        }
        return results;
    }

    // The PATCH operations sent for the user's account (every PATCH, in order).
    std::vector<json> patches_of(const std::string& user) const {
        std::vector<json> out;
        for (const auto& r : scim_.requests()) {
            if (r.method == HttpMethod::Patch && r.path == "/Users/scim-" + user && r.body) out.push_back((*r.body)["Operations"]);
        }
        return out;
    }

    static std::optional<json> operation_on(const json& operations, const std::string& path) {
        for (const auto& op : operations) {
            if (op.value("path", "") == path) return op;
        }
        return std::nullopt;
    }

    FakeScimClient scim_;
    test_support::FakeClock clock_;
    test_support::FakeStateStore store_;
    test_support::FakeDeadLetterSink dlq_;
    test_support::FakeRandom random_ = test_support::FakeRandom::always_bound();
    std::vector<AppRuntime> apps_;
    std::unique_ptr<EventProcessor> processor_;
    int sequence_ = 0;
};

TEST_F(DeletionStagingTest, DisablesBeyondTheThresholdAreStagedNotSent) {
    // Three answers are queued for five disables: the two staged ones must not ask for any.
    for (int i = 0; i < 3; ++i) scim_.push(FakeScimClient::json(200, {{"active", false}}));
    std::vector<ProcessResult> results;
    for (int i = 0; i < 5; ++i) {
        const std::string id = "u" + std::to_string(i);
        link(id);
        results.push_back(processor_->process(record(id, "unassigned", 2)));
    }
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(results[i].status, ProcessResult::Status::Recorded) << i << results[i].fatal_reason;
        EXPECT_EQ(results[i].record->action, Action::Disable);
    }
    for (int i = 3; i < 5; ++i) {
        EXPECT_EQ(results[i].status, ProcessResult::Status::Parked) << i;
        EXPECT_EQ(results[i].due_ms, 0);
    }
    EXPECT_EQ(sent(HttpMethod::Patch), 3U);
    // Three outcomes, then the two stagings: in the log when they happen, as Entra's StagedDelete,
    // yet no outcome (the events were parked, not recorded).
    ASSERT_EQ(store_.log.size(), 5U);
    for (std::size_t i = 3; i < 5; ++i) {
        EXPECT_EQ(store_.log[i].object_id, "u" + std::to_string(i));
        EXPECT_EQ(store_.log[i].code, "deletion_staged");
        EXPECT_EQ(store_.log[i].action, Action::Disable);
        EXPECT_EQ(store_.log[i].scim_requests, 0);
        EXPECT_EQ(transforms::log_view(store_.log[i]).action, "StagedDelete");
        EXPECT_NE(store_.log[i].reason.find("deletes allow|discard"), std::string::npos) << store_.log[i].reason;
    }
    EXPECT_EQ(counted(), 3) << "staged operations are not counted";

    // Staged: each the head of its object's queue, in the staged set, not due.
    ASSERT_EQ(store_.staged.size(), 2U);
    for (const char* id : {"u3", "u4"}) {
        EXPECT_EQ(store_.staged.count(user(id)), 1U) << id;
        EXPECT_FALSE(store_.due_at("crm", ObjectType::User, id).has_value()) << id;
        const auto queue = store_.queue("crm", ObjectType::User, id);
        ASSERT_EQ(queue.size(), 1U);
        EXPECT_EQ(queue[0].deletion.mark, DeletionMark::Staged);
        EXPECT_EQ(queue[0].deletion.action, Action::Disable);
        EXPECT_EQ(queue[0].deletion.staged_at_ms, clock_.wall_ms());
        EXPECT_EQ(queue[0].attempts, 0) << "staging is not an attempt";
    }
    EXPECT_TRUE(claim().empty()) << "no worker claims a staged head";
    EXPECT_EQ(store_.link("crm", "u3")->status, LinkStatus::Active) << "the link is left as it was";
}

TEST_F(DeletionStagingTest, LaterEventsOfAStagedObjectWaitBehindIt) {
    unassign(4);  // u3 is staged
    ASSERT_EQ(store_.staged.count(user("u3")), 1U);
    const auto update = processor_->process(record("u3", "updated", 3));
    EXPECT_EQ(update.status, ProcessResult::Status::Parked);
    const auto queue = store_.queue("crm", ObjectType::User, "u3");
    ASSERT_EQ(queue.size(), 2U);
    EXPECT_EQ(queue[1].deletion.mark, DeletionMark::None);
    EXPECT_TRUE(claim().empty());
}

TEST_F(DeletionStagingTest, OnceStagedTheNextOperationIsStagedTooEvenAfterTheWindowSlid) {
    unassign(4);
    clock_.advance(2h);  // the three counted ones have left the window
    link("u9");
    const auto result = processor_->process(record("u9", "unassigned", 2));
    EXPECT_EQ(result.status, ProcessResult::Status::Parked);
    EXPECT_EQ(store_.staged.count(user("u9")), 1U);
    EXPECT_EQ(sent(HttpMethod::Patch), 3U);
}

TEST_F(DeletionStagingTest, AnAllowedOperationIsSentOnceCountedAndRecordedWithItsHistory) {
    unassign(5);  // u3, u4 staged
    const auto released = store_.release_staged("crm", DeletionMark::Allowed, clock_.wall_ms(), user("u3"));
    ASSERT_EQ(released.size(), 1U);
    const auto heads = claim();
    ASSERT_EQ(heads.size(), 1U);
    EXPECT_EQ(heads[0].event.deletion.mark, DeletionMark::Allowed);
    scim_.push(FakeScimClient::json(200, {{"active", false}}));
    const auto result = processor_->process_parked(heads[0]);
    ASSERT_EQ(result.status, ProcessResult::Status::Recorded) << result.fatal_reason;
    EXPECT_EQ(result.record->action, Action::Disable);
    EXPECT_EQ(result.record->status, OutcomeStatus::Applied);
    EXPECT_NE(result.record->reason.find("staged by the deletion threshold, then allowed by an operator"),
              std::string::npos)
        << result.record->reason;
    EXPECT_EQ(sent(HttpMethod::Patch), 4U);
    EXPECT_EQ(counted(), 4) << "an allowed operation passes the threshold but is counted";
    EXPECT_EQ(store_.link("crm", "u3")->status, LinkStatus::Disabled);
    EXPECT_TRUE(store_.queue("crm", ObjectType::User, "u3").empty());
    EXPECT_EQ(store_.staged.count(user("u4")), 1U) << "only the object named was released";
}

TEST_F(DeletionStagingTest, AfterAnAllowedOperationTheObjectsNextEventRuns) {
    unassign(4);  // u3 staged
    ASSERT_EQ(processor_->process(record("u3", "updated", 3, person("u3"))).status, ProcessResult::Status::Parked);
    store_.release_staged("crm", DeletionMark::Allowed, clock_.wall_ms());
    auto heads = claim();
    ASSERT_EQ(heads.size(), 1U);
    scim_.push(FakeScimClient::json(200, {{"active", false}}));
    ASSERT_EQ(processor_->process_parked(heads[0]).status, ProcessResult::Status::Recorded);
    heads = claim();
    ASSERT_EQ(heads.size(), 1U) << "the update behind it is due now";
    EXPECT_EQ(heads[0].event.deletion.mark, DeletionMark::None);
    const auto update = processor_->process_parked(heads[0]);
    ASSERT_EQ(update.status, ProcessResult::Status::Recorded) << update.fatal_reason;
    // An update of a user who is no longer assigned: nothing to send.
    EXPECT_EQ(update.record->status, OutcomeStatus::Skipped);
    EXPECT_EQ(update.record->code, "not_assigned");
    EXPECT_TRUE(store_.queue("crm", ObjectType::User, "u3").empty());
}

TEST_F(DeletionStagingTest, ADiscardedOperationIsRecordedSkippedWithoutSendingAnything) {
    unassign(5);
    ASSERT_EQ(processor_->process(record("u4", "updated", 3)).status, ProcessResult::Status::Parked);
    const auto released = store_.release_staged("crm", DeletionMark::Discarded, clock_.wall_ms());
    ASSERT_EQ(released.size(), 2U);
    EXPECT_TRUE(store_.staged.empty());
    const auto before = scim_.requests().size();
    for (const auto& head : claim()) {
        const auto result = processor_->process_parked(head);
        ASSERT_EQ(result.status, ProcessResult::Status::Recorded) << result.fatal_reason;
        EXPECT_EQ(result.record->status, OutcomeStatus::Skipped);
        EXPECT_EQ(result.record->code, "deletion_discarded");
        EXPECT_EQ(result.record->action, Action::None);
        EXPECT_NE(result.record->reason.find("disable staged by the deletion threshold was discarded"),
                  std::string::npos)
            << result.record->reason;
    }
    EXPECT_EQ(scim_.requests().size(), before) << "a discarded operation sends nothing";
    EXPECT_EQ(counted(), 3);
    EXPECT_EQ(store_.link("crm", "u3")->status, LinkStatus::Active) << "the account is left as it was";
    EXPECT_TRUE(store_.queue("crm", ObjectType::User, "u3").empty());
    // u4's update behind the discarded head is due now, and runs against the untouched account.
    const auto next = claim();
    ASSERT_EQ(next.size(), 1U);
    EXPECT_EQ(next[0].lease.object_id, "u4");
    EXPECT_EQ(store_.log.size(), 7U) << "3 outcomes, 2 stagings, 2 discards";
}

TEST_F(DeletionStagingTest, DeletesAreStagedLikeDisables) {
    configure(1, UnassignAction::Delete, 0, /*hard_delete_after_days=*/0);
    link("u0");
    link("u1");
    scim_.push(FakeScimClient::http(204));
    ASSERT_EQ(processor_->process(record("u0", "deleted", 2)).status, ProcessResult::Status::Recorded);
    EXPECT_EQ(processor_->process(record("u1", "unassigned", 2)).status, ProcessResult::Status::Parked);
    EXPECT_EQ(sent(HttpMethod::Delete), 1U);
    const auto queue = store_.queue("crm", ObjectType::User, "u1");
    ASSERT_EQ(queue.size(), 1U);
    EXPECT_EQ(queue[0].deletion.action, Action::Delete);
}

TEST_F(DeletionStagingTest, AnOperationThatIsNotSentIsNotCounted) {
    LinkState inactive;
    inactive.scim_id = "scim-u0";
    inactive.version = 1;
    inactive.status = LinkStatus::Active;
    inactive.applied = {{"active", false}};
    store_.links[KeyScheme().link("crm", ObjectType::User, "u0")] = inactive;
    const auto result = processor_->process(record("u0", "unassigned", 2));
    ASSERT_EQ(result.status, ProcessResult::Status::Recorded);
    EXPECT_EQ(result.record->code, "no_change");
    EXPECT_EQ(counted(), 0);
}

TEST_F(DeletionStagingTest, WithTheThresholdOffNothingIsCountedOrStaged) {
    configure(0);
    const auto results = unassign(6);
    for (const auto& r : results) EXPECT_EQ(r.status, ProcessResult::Status::Recorded);
    EXPECT_TRUE(store_.deletion_buckets.empty());
    EXPECT_TRUE(store_.staged.empty());
}

TEST_F(DeletionStagingTest, AStoreThatCannotAnswerIsATransientFailureNotAnAnswer) {
    link("u0");
    store_.fail_admit = true;
    const auto result = processor_->process(record("u0", "unassigned", 2));
    ASSERT_EQ(result.status, ProcessResult::Status::Parked);
    EXPECT_GT(result.due_ms, clock_.wall_ms()) << "retried after a backoff, not staged";
    EXPECT_EQ(sent(HttpMethod::Patch), 0U);
    EXPECT_TRUE(store_.staged.empty());
    const auto queue = store_.queue("crm", ObjectType::User, "u0");
    ASSERT_EQ(queue.size(), 1U);
    ASSERT_EQ(queue[0].trail.size(), 1U);
    EXPECT_EQ(queue[0].trail[0].code, "StateStoreUnavailable");
    EXPECT_EQ(queue[0].deletion.mark, DeletionMark::None);

    store_.fail_admit = false;
    clock_.advance(1s);
    const auto heads = claim();
    ASSERT_EQ(heads.size(), 1U);
    scim_.push(FakeScimClient::json(200, {{"active", false}}));
    const auto retried = processor_->process_parked(heads[0]);
    ASSERT_EQ(retried.status, ProcessResult::Status::Recorded) << retried.fatal_reason;
    EXPECT_EQ(retried.record->action, Action::Disable);
    EXPECT_EQ(counted(), 1);
}

TEST_F(DeletionStagingTest, ARetryOfACountedOperationIsNotCountedAgain) {
    link("u0");
    scim_.push(FakeScimClient::error(503, "busy"));
    ASSERT_EQ(processor_->process(record("u0", "unassigned", 2)).status, ProcessResult::Status::Parked);
    EXPECT_EQ(counted(), 1);
    ASSERT_EQ(store_.queue("crm", ObjectType::User, "u0").front().deletion.mark, DeletionMark::Counted);
    for (int attempt = 0; attempt < 2; ++attempt) {
        clock_.advance(10s);
        const auto heads = claim();
        ASSERT_EQ(heads.size(), 1U);
        scim_.push(attempt == 0 ? FakeScimClient::error(503, "busy") : FakeScimClient::json(200, {{"active", false}}));
        (void)processor_->process_parked(heads[0]);
    }
    EXPECT_EQ(counted(), 1) << "one operation, however many attempts";
    EXPECT_EQ(store_.link("crm", "u0")->status, LinkStatus::Disabled);
}

TEST_F(DeletionStagingTest, AClaimedRetryThatBecomesADisableIsStagedInPlace) {
    unassign(3);  // the window is full, nothing staged yet
    link("u7");
    // u7's unassign fails the store's question once, so it waits as a retry; by its retry the
    // window is still full: the claimed head is staged under its lease.
    store_.fail_admit = true;
    ASSERT_EQ(processor_->process(record("u7", "unassigned", 2)).status, ProcessResult::Status::Parked);
    store_.fail_admit = false;
    clock_.advance(1s);
    auto heads = claim();
    ASSERT_EQ(heads.size(), 1U);
    const auto result = processor_->process_parked(heads[0]);
    EXPECT_EQ(result.status, ProcessResult::Status::Parked);
    EXPECT_EQ(store_.staged.count(user("u7")), 1U);
    EXPECT_FALSE(store_.due_at("crm", ObjectType::User, "u7").has_value());
    EXPECT_FALSE(store_.lease_of("crm", ObjectType::User, "u7").has_value()) << "the lease is released";
    const auto queue = store_.queue("crm", ObjectType::User, "u7");
    ASSERT_EQ(queue.size(), 1U);
    EXPECT_EQ(queue[0].deletion.mark, DeletionMark::Staged);
    EXPECT_EQ(queue[0].trail.size(), 1U) << "its history is kept";
    EXPECT_TRUE(claim().empty());
}

TEST_F(DeletionStagingTest, ARedeliveryOfAStagedEventIsADuplicate) {
    unassign(3);
    link("u5");
    const auto r = record("u5", "unassigned", 2);
    ASSERT_EQ(processor_->process(r).status, ProcessResult::Status::Parked);
    EXPECT_EQ(processor_->process(r).status, ProcessResult::Status::Duplicate);
    EXPECT_EQ(store_.queue("crm", ObjectType::User, "u5").size(), 1U);
}

TEST_F(DeletionStagingTest, AnUpdateThatDisablesTheAccountIsCountedAndLoggedAsADisable) {
    link("u0");
    scim_.push(FakeScimClient::json(200, {{"id", "scim-u0"}, {"active", false}}));
    const auto result = processor_->process(record("u0", "updated", 2, disabled_person("u0")));
    ASSERT_EQ(result.status, ProcessResult::Status::Recorded) << result.fatal_reason;
    EXPECT_EQ(result.record->status, OutcomeStatus::Applied) << result.record->code << ": " << result.record->reason;
    EXPECT_EQ(result.record->action, Action::Disable) << "Entra logs it as a Disable";
    EXPECT_EQ(transforms::log_view(*result.record).action, "Disable");
    EXPECT_EQ(counted(), 1);
    const auto patches = patches_of("u0");
    ASSERT_EQ(patches.size(), 1U);
    ASSERT_TRUE(operation_on(patches[0], "active"));
    EXPECT_EQ((*operation_on(patches[0], "active"))["value"], false);
    ASSERT_TRUE(operation_on(patches[0], "title")) << "its other changes go in the same PATCH";
    bool active_change = false;
    for (const auto& c : result.record->changes) active_change = active_change || (c.path == "active" && c.new_value == false);
    EXPECT_TRUE(active_change);
    EXPECT_EQ(store_.link("crm", "u0")->applied["active"], false);
    EXPECT_EQ(store_.link("crm", "u0")->status, LinkStatus::Active) << "still assigned: only the account is inactive";
}

TEST_F(DeletionStagingTest, AnUpdateThatLeavesTheAccountActiveIsNeitherCountedNorStaged) {
    disable_by_update(4);  // the window is full and u3 is staged
    ASSERT_EQ(store_.staged.size(), 1U);
    link("u8");
    scim_.push(FakeScimClient::json(200, {{"id", "scim-u8"}}));
    json attributes = person("u8");
    attributes["jobTitle"] = "Countess";
    const auto result = processor_->process(record("u8", "updated", 2, attributes));
    ASSERT_EQ(result.status, ProcessResult::Status::Recorded) << result.fatal_reason;
    EXPECT_EQ(result.record->action, Action::Update);
    EXPECT_EQ(counted(), 3);
    EXPECT_EQ(store_.staged.size(), 1U);
    // Nor is one for an account that is inactive already.
    LinkState inactive;
    inactive.scim_id = "scim-u9";
    inactive.version = 1;
    inactive.applied = {{"userName", "u9@contoso.com"}, {"active", false}};
    inactive.assigned_role = "User";
    store_.links[KeyScheme().link("crm", ObjectType::User, "u9")] = inactive;
    scim_.push(FakeScimClient::json(200, {{"id", "scim-u9"}}));
    const auto again = processor_->process(record("u9", "updated", 2, disabled_person("u9")));
    ASSERT_EQ(again.status, ProcessResult::Status::Recorded) << again.fatal_reason;
    EXPECT_EQ(again.record->action, Action::Update);
    EXPECT_EQ(counted(), 3);
}

TEST_F(DeletionStagingTest, DisablingUpdatesBeyondTheThresholdAreStagedWhole) {
    const auto results = disable_by_update(5);
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(results[i].status, ProcessResult::Status::Recorded) << i << results[i].fatal_reason;
        EXPECT_EQ(results[i].record->action, Action::Disable);
    }
    for (const char* id : {"u3", "u4"}) {
        EXPECT_TRUE(patches_of(id).empty()) << id << ": nothing of the update is sent, its title neither";
        EXPECT_EQ(store_.staged.count(user(id)), 1U) << id;
        const auto queue = store_.queue("crm", ObjectType::User, id);
        ASSERT_EQ(queue.size(), 1U);
        EXPECT_EQ(queue[0].deletion.mark, DeletionMark::Staged);
        EXPECT_EQ(queue[0].deletion.action, Action::Disable);
        EXPECT_EQ(store_.link("crm", id)->applied["active"], true);
    }
    EXPECT_EQ(counted(), 3);
    ASSERT_EQ(store_.log.size(), 5U) << "3 outcomes and the 2 stagings";
    EXPECT_EQ(store_.log[3].code, "deletion_staged");
    EXPECT_EQ(store_.log[3].event_type, "provisioning.user.updated") << "a disabling update is staged whole";
}

TEST_F(DeletionStagingTest, AnAllowedUpdateSendsTheWholeUpdate) {
    disable_by_update(4);  // u3 staged
    store_.release_staged("crm", DeletionMark::Allowed, clock_.wall_ms());
    const auto heads = claim();
    ASSERT_EQ(heads.size(), 1U);
    scim_.push(FakeScimClient::json(200, {{"id", "scim-u3"}, {"active", false}}));
    const auto result = processor_->process_parked(heads[0]);
    ASSERT_EQ(result.status, ProcessResult::Status::Recorded) << result.fatal_reason;
    EXPECT_EQ(result.record->action, Action::Disable);
    EXPECT_EQ(result.record->status, OutcomeStatus::Applied);
    EXPECT_NE(result.record->reason.find("then allowed by an operator"), std::string::npos) << result.record->reason;
    const auto patches = patches_of("u3");
    ASSERT_EQ(patches.size(), 1U);
    EXPECT_EQ((*operation_on(patches[0], "active"))["value"], false);
    ASSERT_TRUE(operation_on(patches[0], "title"));
    EXPECT_EQ((*operation_on(patches[0], "title"))["value"], "Countess");
    EXPECT_EQ(store_.link("crm", "u3")->applied["title"], "Countess");
    EXPECT_EQ(counted(), 4);
}

TEST_F(DeletionStagingTest, ADiscardedUpdateSendsNothingAndTheNextEventDecidesAgain) {
    disable_by_update(4);  // u3 staged
    store_.release_staged("crm", DeletionMark::Discarded, clock_.wall_ms());
    auto heads = claim();
    ASSERT_EQ(heads.size(), 1U);
    const auto before = scim_.requests().size();
    const auto result = processor_->process_parked(heads[0]);
    ASSERT_EQ(result.status, ProcessResult::Status::Recorded) << result.fatal_reason;
    EXPECT_EQ(result.record->status, OutcomeStatus::Skipped);
    EXPECT_EQ(result.record->code, "deletion_discarded");
    EXPECT_EQ(transforms::log_view(*result.record).action, "StagedDelete");
    EXPECT_EQ(scim_.requests().size(), before) << "the whole update is dropped, its title too";
    const auto kept = store_.link("crm", "u3");
    EXPECT_EQ(kept->applied["active"], true);
    EXPECT_FALSE(kept->applied.contains("title"));

    // The feed is fixed: the next event of u3 keeps it enabled and sends the title, uncounted.
    json attributes = person("u3");
    attributes["jobTitle"] = "Countess";
    scim_.push(FakeScimClient::json(200, {{"id", "scim-u3"}}));
    const auto next = processor_->process(record("u3", "updated", 3, attributes));
    ASSERT_EQ(next.status, ProcessResult::Status::Recorded) << next.fatal_reason;
    EXPECT_EQ(next.record->action, Action::Update);
    const auto patches = patches_of("u3");
    ASSERT_EQ(patches.size(), 1U);
    EXPECT_FALSE(operation_on(patches[0], "active")) << "active stays true: nothing to send for it";
    EXPECT_EQ((*operation_on(patches[0], "title"))["value"], "Countess");
    EXPECT_EQ(counted(), 3);
}

TEST_F(DeletionStagingTest, AnAdoptedAccountSetInactiveIsGuardedToo) {
    configure(1);
    disable_by_update(1);  // the window is full
    // u5 is assigned without a link: matched by userName in the target, live there, while the
    // directory says it is disabled: the PATCH that adopts it would disable it.
    scim_.push(FakeScimClient::list(json::array({{{"id", "scim-u5"}, {"userName", "u5@contoso.com"}, {"active", true}}})));
    const auto result = processor_->process(record("u5", "assigned", 1, disabled_person("u5")));
    EXPECT_EQ(result.status, ProcessResult::Status::Parked);
    EXPECT_EQ(store_.staged.count(user("u5")), 1U);
    EXPECT_TRUE(patches_of("u5").empty());
}

TEST_F(DeletionStagingTest, TheRelativeLimitStagesFromItsShareOfTheLinkedAccounts) {
    configure(0, UnassignAction::Disable, 10);
    for (int i = 10; i < 27; ++i) link("u" + std::to_string(i));  // 17 others linked, active
    // u0..u2 are linked as they are sent: with u2, 20 accounts are linked and 10% is 2, which
    // the window holds already: u2 waits (with 19 linked, u1 had passed at 1 counted).
    const auto results = disable_by_update(3);
    EXPECT_EQ(results[0].status, ProcessResult::Status::Recorded);
    EXPECT_EQ(results[1].status, ProcessResult::Status::Recorded);
    EXPECT_EQ(results[2].status, ProcessResult::Status::Parked);
    EXPECT_EQ(store_.staged.count(user("u2")), 1U);
    EXPECT_EQ(counted(), 2);
    // Unassignments share the window (and wait behind what is staged).
    link("u40");
    EXPECT_EQ(processor_->process(record("u40", "unassigned", 2)).status, ProcessResult::Status::Parked);
    EXPECT_EQ(store_.staged.size(), 2U);
}

TEST_F(DeletionStagingTest, LinkedAccountsNotCountedYetAreATransientFailureNotAnAnswer) {
    configure(0, UnassignAction::Disable, 10);
    store_.linked_unknown = true;
    link("u0");
    const auto result = processor_->process(record("u0", "updated", 2, disabled_person("u0")));
    ASSERT_EQ(result.status, ProcessResult::Status::Parked);
    EXPECT_GT(result.due_ms, clock_.wall_ms()) << "retried after a backoff, not staged";
    EXPECT_TRUE(store_.staged.empty());
    EXPECT_TRUE(patches_of("u0").empty());
    const auto queue = store_.queue("crm", ObjectType::User, "u0");
    ASSERT_EQ(queue.size(), 1U);
    ASSERT_EQ(queue[0].trail.size(), 1U);
    EXPECT_EQ(queue[0].trail[0].code, "StateStoreUnavailable");
}

TEST(StagedEntry, TheHoldRoundTripsAndAnEntryWithoutOneReadsAsNone) {
    ParkedEvent event;
    event.app = "crm";
    event.object_id = "u1";
    event.source = "urn:directory:contoso";
    event.event_id = "e1";
    event.record.key = "crm/user/u1";
    event.record.value = "{}";
    const auto plain = decode_parked(encode_parked(event), "test");
    ASSERT_TRUE(plain.ok()) << plain.error().message;
    EXPECT_EQ(plain->deletion.mark, DeletionMark::None);
    EXPECT_EQ(encode_parked(event).find("deletion"), std::string::npos) << "entries without a hold are unchanged";
    for (const auto mark : {DeletionMark::Staged, DeletionMark::Allowed, DeletionMark::Discarded, DeletionMark::Counted}) {
        event.deletion = DeletionHold{mark, Action::Delete, 1'790'000'000'123};
        const auto decoded = decode_parked(encode_parked(event), "test");
        ASSERT_TRUE(decoded.ok()) << decoded.error().message;
        EXPECT_EQ(decoded->deletion.mark, mark) << to_string(mark);
        EXPECT_EQ(decoded->deletion.action, Action::Delete);
        EXPECT_EQ(decoded->deletion.staged_at_ms, 1'790'000'000'123);
    }
    auto doc = json::parse(encode_parked(event));
    doc["deletion"]["mark"] = "forgotten";
    const auto unknown = decode_parked(doc.dump(), "pb:{crm}:queue:user:u1");
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.error().message.find("pb:{crm}:queue:user:u1"), std::string::npos) << unknown.error().message;
}


// The grace period (apps[].hard_delete_after_days): a deletion disables the account and schedules
// its hard delete; the schedule is swept into the user's queue when due, like a reference check.
class HardDeleteTest : public DeletionStagingTest {
protected:
    HardDeleteTest() { configure(1000); }

    // What the worker's retry loop does before it claims: parks the due hard deletes, then runs
    // every head that is due. The outcomes recorded meanwhile.
    std::vector<OutcomeRecord> sweep_and_run() {
        const auto before = store_.log.size();
        consumers::StoreParkedSource parked(store_, {"crm"}, 60s, clock_, "w1");
        EXPECT_TRUE(parked.claim(0, {}).ok());
        for (auto heads = claim(); !heads.empty(); heads = claim()) {
            for (const auto& head : heads) processor_->process_parked(head);
        }
        return {store_.log.begin() + static_cast<long>(before), store_.log.end()};
    }
    LinkState link_of(const std::string& user) { return store_.links[KeyScheme().link("crm", ObjectType::User, user)]; }
};

TEST_F(HardDeleteTest, ADeletionDisablesNowAndDeletesTheAccountWhenTheGracePeriodEnds) {
    link("u1");
    scim_.push(FakeScimClient::http(204));
    ASSERT_EQ(processor_->process(record("u1", "deleted", 2)).status, ProcessResult::Status::Recorded);
    ASSERT_EQ(scim_.requests().size(), 1U);
    EXPECT_EQ(scim_.requests()[0].method, HttpMethod::Patch) << "disabled, not deleted";
    const auto& scheduled = store_.log.back();
    EXPECT_EQ(scheduled.action, Action::ScheduledDelete);
    EXPECT_EQ(scheduled.status, OutcomeStatus::Applied);
    EXPECT_NE(scheduled.reason.find("deleted for good on"), std::string::npos) << scheduled.reason;
    EXPECT_EQ(transforms::log_view(scheduled).action, "ScheduledDelete");
    EXPECT_EQ(link_of("u1").status, LinkStatus::SoftDeleted);
    EXPECT_EQ(link_of("u1").scim_id, "scim-u1");
    EXPECT_EQ(counted(), 1) << "the disable is counted by the threshold";

    // 29 days on: nothing yet. A redelivered deletion changes nothing.
    clock_.advance(std::chrono::hours(24 * 29));
    EXPECT_TRUE(sweep_and_run().empty());
    EXPECT_EQ(store_.hard_deletes["crm"].size(), 1U);
    // 30 days: the hard delete runs, through the threshold, and deletes the same account.
    clock_.advance(std::chrono::hours(24));
    scim_.push(FakeScimClient::http(204));
    const auto ran = sweep_and_run();
    ASSERT_EQ(ran.size(), 1U);
    EXPECT_EQ(ran[0].event_type, "provisioning.user.hard_delete");
    EXPECT_EQ(ran[0].action, Action::Delete) << ran[0].reason;
    EXPECT_EQ(scim_.requests().back().method, HttpMethod::Delete);
    EXPECT_EQ(scim_.requests().back().path, "/Users/scim-u1");
    EXPECT_EQ(link_of("u1").status, LinkStatus::Deleted);
    EXPECT_TRUE(store_.hard_deletes["crm"].empty());
    EXPECT_EQ(counted(), 2) << "the hard delete is counted too";
}

TEST_F(HardDeleteTest, AnAssignmentWithinTheGracePeriodReEnablesTheSameAccountAndCancelsTheDelete) {
    link("u1");
    scim_.push(FakeScimClient::http(204));
    ASSERT_EQ(processor_->process(record("u1", "deleted", 2)).status, ProcessResult::Status::Recorded);
    clock_.advance(std::chrono::hours(24 * 3));
    scim_.push(FakeScimClient::json(200, {{"id", "scim-u1"}}));
    ASSERT_EQ(processor_->process(record("u1", "assigned", 3)).status, ProcessResult::Status::Recorded);
    const auto& back = store_.log.back();
    EXPECT_EQ(back.action, Action::Update) << back.reason;
    EXPECT_EQ(scim_.requests().back().method, HttpMethod::Patch);
    EXPECT_EQ(scim_.requests().back().path, "/Users/scim-u1") << "the same account, never a second one";
    EXPECT_EQ(link_of("u1").status, LinkStatus::Active);
    EXPECT_NE(back.reason.find("hard delete scheduled after the user's deletion is cancelled"), std::string::npos)
        << back.reason;
    EXPECT_TRUE(store_.hard_deletes["crm"].empty()) << "the schedule is gone";
    clock_.advance(std::chrono::hours(24 * 30));
    const auto requests = scim_.requests().size();
    EXPECT_TRUE(sweep_and_run().empty());
    EXPECT_EQ(scim_.requests().size(), requests) << "nothing sent";
}

TEST_F(HardDeleteTest, AHardDeleteThatFindsTheUserRestoredIsCancelled) {
    // The schedule came due and was parked just before the restore committed: the hard delete,
    // running after it, finds the link active and deletes nothing.
    link("u1");
    scim_.push(FakeScimClient::http(204));
    ASSERT_EQ(processor_->process(record("u1", "deleted", 2)).status, ProcessResult::Status::Recorded);
    clock_.advance(std::chrono::hours(24 * 30));
    consumers::StoreParkedSource parked(store_, {"crm"}, 60s, clock_, "w1");
    ASSERT_TRUE(parked.claim(0, {}).ok());
    ASSERT_EQ(store_.queue("crm", ObjectType::User, "u1").size(), 1U) << "parked in the user's queue";
    auto restored = link_of("u1");
    restored.status = LinkStatus::Active;
    store_.links[KeyScheme().link("crm", ObjectType::User, "u1")] = restored;
    const auto requests = scim_.requests().size();
    const auto ran = sweep_and_run();
    ASSERT_EQ(ran.size(), 1U);
    EXPECT_EQ(ran[0].status, OutcomeStatus::Skipped);
    EXPECT_EQ(ran[0].code, "hard_delete_cancelled") << ran[0].reason;
    EXPECT_EQ(transforms::log_view(ran[0]).action, "ScheduledDelete");
    EXPECT_EQ(scim_.requests().size(), requests) << "nothing sent";
}

TEST_F(HardDeleteTest, AnUpdateOfADeletedUserRestoresItButAnUnassignmentKeepsTheSchedule) {
    link("u1");
    link("u2");
    scim_.push(FakeScimClient::http(204));
    scim_.push(FakeScimClient::http(204));
    ASSERT_EQ(processor_->process(record("u1", "deleted", 2)).status, ProcessResult::Status::Recorded);
    ASSERT_EQ(processor_->process(record("u2", "deleted", 2)).status, ProcessResult::Status::Recorded);
    // u1 restored (its update comes back, still assigned); u2 also loses its assignment.
    scim_.push(FakeScimClient::json(200, {{"id", "scim-u1"}}));
    ASSERT_EQ(processor_->process(record("u1", "updated", 3)).status, ProcessResult::Status::Recorded);
    EXPECT_EQ(link_of("u1").status, LinkStatus::Active) << store_.log.back().reason;
    ASSERT_EQ(processor_->process(record("u2", "unassigned", 3)).status, ProcessResult::Status::Recorded);
    EXPECT_EQ(store_.log.back().code, "no_change");
    EXPECT_EQ(link_of("u2").status, LinkStatus::SoftDeleted);

    clock_.advance(std::chrono::hours(24 * 30));
    scim_.push(FakeScimClient::http(204));
    std::map<std::string, OutcomeRecord> by_user;
    for (const auto& out : sweep_and_run()) by_user[out.object_id] = out;
    ASSERT_EQ(by_user.size(), 1U) << "u1's schedule was cancelled by its restore";
    EXPECT_EQ(by_user["u2"].action, Action::Delete) << by_user["u2"].reason;
}

TEST_F(HardDeleteTest, AStagedDisableOfADeletionSchedulesItsHardDeleteOnlyOnceAllowed) {
    configure(1);
    link("u1");
    link("u2");
    scim_.push(FakeScimClient::http(204));
    ASSERT_EQ(processor_->process(record("u1", "deleted", 2)).status, ProcessResult::Status::Recorded);
    EXPECT_EQ(processor_->process(record("u2", "deleted", 2)).status, ProcessResult::Status::Parked);
    EXPECT_EQ(store_.hard_deletes["crm"].count("u2"), 0U) << "nothing scheduled while the disable is staged";
    EXPECT_EQ(link_of("u2").status, LinkStatus::Active);
}

TEST_F(HardDeleteTest, ZeroDaysDeletesAtOnceAndAProducerCannotAskForAHardDelete) {
    configure(0, UnassignAction::Disable, 0, 0);
    link("u1");
    scim_.push(FakeScimClient::http(204));
    ASSERT_EQ(processor_->process(record("u1", "deleted", 2)).status, ProcessResult::Status::Recorded);
    EXPECT_EQ(store_.log.back().action, Action::Delete);
    EXPECT_TRUE(store_.hard_deletes["crm"].empty());

    link("u2");
    auto forged = record("u2", "hard_delete", 3);
    EXPECT_EQ(processor_->process(forged).status, ProcessResult::Status::Recorded);
    EXPECT_EQ(store_.log.back().status, OutcomeStatus::DeadLettered);
    EXPECT_NE(store_.log.back().reason.find("written by the bridge only"), std::string::npos) << store_.log.back().reason;
    EXPECT_EQ(link_of("u2").status, LinkStatus::Active);
}

}  // namespace
}  // namespace provbridge::consumers
