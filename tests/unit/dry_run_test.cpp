// The dry run's views (consumers/dry_run.hpp) under the real EventProcessor, as the worker wires
// them for an app in dry run: reads reach the app, writes do not; only the outcome is recorded,
// marked and keyed apart; nothing is linked, parked, dead-lettered or counted.
#include <gtest/gtest.h>

#include "fake_random.hpp"
#include "fake_scim_client.hpp"
#include "fakes.hpp"
#include "processor_setup.hpp"
#include "provbridge/consumers/dry_run.hpp"
#include "provbridge/consumers/event_processor.hpp"

namespace provbridge::consumers {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test_support::FakeScimClient;

class DryRunTest : public ::testing::Test {
protected:
    DryRunTest() {
        auto app = test_support::test_app("crm");
        app.dry_run = true;
        app.deletion_threshold.max_operations = 1;
        app.unassign_action = UnassignAction::Delete;
        apps_ = test_support::runtimes_of(app);
        auto options = test_support::retry_options(random_, 8000ms, 1);
        options.membership = &view_;
        processor_ = std::make_unique<EventProcessor>(apps_, std::map<std::string, ScimClient*>{{"crm", &client_}},
                                                      view_, dead_letters_, clock_, nullptr, options);
    }

    InboundRecord record(const std::string& id, const std::string& type, const std::string& object_type,
                         const std::string& object_id, json extra = json::object()) {
        json data = {{"app", "crm"},
                     {"object", {{"type", object_type}, {"id", object_id}, {"version", 1},
                                 {"attributes", object_type == "user"
                                                    ? json{{"userPrincipalName", object_id + "@contoso.com"},
                                                           {"mailNickname", object_id}, {"accountEnabled", true}}
                                                    : json{{"displayName", "Engineering"}}}}},
                     {"assignment", {{"role", "User"}}}};
        data.update(extra);
        InboundRecord r;
        r.topic = "events";
        r.partition = 0;
        r.offset = ++offset_;
        r.key = "crm/" + object_type + "/" + object_id;
        r.value = json{{"specversion", "1.0"}, {"id", id}, {"source", "urn:test"}, {"type", type}, {"data", data}}.dump();
        return r;
    }

    // The outcome as recorded (the dry run's view marks it on the way to the store).
    OutcomeRecord run(const InboundRecord& r) {
        const auto before = store_.log.size();
        auto result = processor_->process(r);
        EXPECT_EQ(result.status, ProcessResult::Status::Recorded) << result.fatal_reason;
        EXPECT_EQ(store_.log.size(), before + 1) << "one outcome recorded";
        return store_.log.size() > before ? store_.log.back() : OutcomeRecord{};
    }

    std::vector<HttpMethod> sent_methods() const {
        std::vector<HttpMethod> out;
        for (const auto& r : app_.requests()) out.push_back(r.method);
        return out;
    }

    FakeScimClient app_;  // the app itself
    test_support::FakeStateStore store_;
    std::vector<DryRunExchange> exchanges_;
    DryRunScimClient client_{&app_, &exchanges_};
    DryRunStore view_{store_, store_, exchanges_};
    DryRunDeadLetters dead_letters_;
    test_support::FakeClock clock_;
    test_support::FakeRandom random_ = test_support::FakeRandom::always_bound();
    std::vector<AppRuntime> apps_;
    std::unique_ptr<EventProcessor> processor_;
    std::int64_t offset_ = 0;
    const KeyScheme keys_{"pb"};
};

TEST_F(DryRunTest, ACreateIsDecidedWithARealReadAndRecordedApartWithoutBeingSent) {
    app_.push(FakeScimClient::list());
    const auto out = run(record("e1", "provisioning.user.assigned", "user", "ana"));
    EXPECT_TRUE(out.dry_run);
    EXPECT_EQ(out.status, OutcomeStatus::Applied);
    EXPECT_EQ(out.action, Action::Create);
    EXPECT_EQ(sent_methods(), std::vector<HttpMethod>{HttpMethod::Get}) << "only the match reached the app";
    EXPECT_EQ(out.event_id, "e1") << "shown under its own id";
    EXPECT_TRUE(out.scim_id.empty()) << out.scim_id;
    EXPECT_NE(out.reason.find("dry run: not sent: POST /Users"), std::string::npos) << out.reason;
    EXPECT_EQ(store_.outcomes.count(keys_.event("crm", "urn:test", "e1")), 0U) << "the real outcome is still to come";
    EXPECT_EQ(store_.outcomes.count(keys_.event("crm", "urn:test", KeyScheme::dry_run_name("e1"))), 1U);
    EXPECT_TRUE(store_.links.empty()) << "a dry run linked an account";

    // A redelivery is the dry run's duplicate; nothing is asked or sent again.
    const auto again = processor_->process(record("e1", "provisioning.user.assigned", "user", "ana"));
    EXPECT_EQ(again.status, ProcessResult::Status::Duplicate);
    EXPECT_EQ(app_.requests().size(), 1U);
}

TEST_F(DryRunTest, AFailedReadEndsTheEventAtOnceWithoutAQueueOrADeadLetter) {
    app_.push(FakeScimClient::http(503, "busy"));
    const auto out = run(record("e1", "provisioning.user.assigned", "user", "ana"));
    EXPECT_TRUE(out.dry_run);
    EXPECT_EQ(out.status, OutcomeStatus::DeadLettered);
    EXPECT_NE(out.reason.find("a live run retries this failure"), std::string::npos) << out.reason;
    EXPECT_TRUE(store_.queues.empty()) << "a dry run parked a retry";
    EXPECT_TRUE(store_.dead_letter_index.empty()) << "a dry run indexed a dead letter for replay";
}

TEST_F(DryRunTest, AnEventBehindAWaitingQueueIsJudgedNowAndTheQueueIsLeftAlone) {
    ParkedEvent waiting;
    waiting.app = "crm";
    waiting.object_id = "ana";
    waiting.source = "urn:test";
    waiting.event_id = "earlier";
    waiting.record = record("earlier", "provisioning.user.assigned", "user", "ana");
    ASSERT_EQ(*store_.park(waiting, ParkMode::Anywhere, 0), ParkStatus::Parked);
    store_.links[keys_.link("crm", ObjectType::User, "ana")] =
        LinkState{"t-ana", 0, LinkStatus::Active, {}, std::string("User"), nullptr};
    // Deleted where the app deletes, over a deletion threshold of one: admitted, not counted.
    const auto out = run(record("e2", "provisioning.user.unassigned", "user", "ana"));
    EXPECT_TRUE(out.dry_run);
    EXPECT_EQ(out.action, Action::Delete) << out.reason;
    EXPECT_NE(out.reason.find("not sent: DELETE /Users/t-ana"), std::string::npos) << out.reason;
    EXPECT_TRUE(app_.requests().empty());
    EXPECT_EQ(store_.queue("crm", ObjectType::User, "ana").size(), 1U);
    EXPECT_TRUE(store_.deletion_buckets.empty()) << "a dry run used up the deletion window";
    EXPECT_EQ(store_.links.at(keys_.link("crm", ObjectType::User, "ana")).status, LinkStatus::Active);
}

TEST_F(DryRunTest, AMembershipChangeIsJudgedWithItsOwnDeltaAndLeavesTheMembershipAlone) {
    store_.links[keys_.link("crm", ObjectType::Group, "g1")] =
        LinkState{"group-1", 0, LinkStatus::Active, {}, std::string("User"), nullptr};
    store_.links[keys_.link("crm", ObjectType::User, "ana")] =
        LinkState{"t-ana", 1, LinkStatus::Active, {}, std::string("User"), nullptr};
    store_.assigned_groups[{"crm", "g1"}] = "User";
    const auto out = run(record("m1", "provisioning.group.members.added", "group", "g1",
                                {{"members", json::array({"ana"})}}));
    EXPECT_TRUE(out.dry_run);
    EXPECT_EQ(out.status, OutcomeStatus::Applied) << out.reason;
    EXPECT_EQ(out.action, Action::Update);
    EXPECT_NE(out.reason.find("added 1 member"), std::string::npos) << out.reason;
    EXPECT_NE(out.reason.find("not sent: PATCH /Groups/group-1"), std::string::npos) << out.reason;
    EXPECT_TRUE(app_.requests().empty());
    const std::pair<std::string, std::string> group{"crm", "g1"};
    EXPECT_TRUE(store_.members[group].empty()) << "a dry run recorded the membership";
    EXPECT_TRUE(store_.applied_members[group].empty());
    EXPECT_TRUE(store_.queues.empty()) << "a dry run parked a follow-up";
}

TEST_F(DryRunTest, AMalformedRecordIsRecordedApartAndNeverPublished) {
    InboundRecord r;
    r.topic = "events";
    r.partition = 0;
    r.offset = 41;
    r.key = "crm/user/x";
    r.value = "{not json";
    const auto out = run(r);
    EXPECT_TRUE(out.dry_run);
    EXPECT_EQ(out.status, OutcomeStatus::DeadLettered);
    EXPECT_EQ(store_.outcomes.count(keys_.invalid_record("crm", "events", 0, 41)), 0U);
    EXPECT_EQ(store_.outcomes.count(keys_.invalid_record("crm", KeyScheme::dry_run_name("events"), 0, 41)), 1U);
    EXPECT_TRUE(store_.dead_letter_index.empty());
}

}  // namespace
}  // namespace provbridge::consumers
