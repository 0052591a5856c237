// The quarantine state machine: entered on refused credentials or too many failures, held by
// every lane and by the retry claims, probed on an escalating interval, lifted by the first
// good probe, after which the waiting events run in order.
#include <gtest/gtest.h>

#include "fake_quarantine.hpp"
#include "fake_random.hpp"
#include "fake_scim_client.hpp"
#include "fakes.hpp"
#include "processor_setup.hpp"
#include "provbridge/consumers/event_processor.hpp"
#include "provbridge/consumers/parked_source.hpp"
#include "provbridge/consumers/quarantine_gate.hpp"
#include "provbridge/transforms/quarantine_policy.hpp"

namespace provbridge::consumers {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test_support::FakeScimClient;

QuarantineConfig policy() {
    QuarantineConfig q;
    q.failure_ratio = 0.5;
    q.min_operations = 4;
    q.window = 60s;
    q.probe_intervals = {10s, 30s, 60s};
    return q;
}

TEST(QuarantinePolicy, TheFailureRatioTripsOnlyAboveTheThresholdWithEnoughOperations) {
    QuarantineConfig q;  // defaults: more than 40% of at least 50
    EXPECT_FALSE(transforms::failure_ratio_exceeded({0, 49}, q)) << "too few operations to judge";
    EXPECT_TRUE(transforms::failure_ratio_exceeded({29, 21}, q));
    EXPECT_FALSE(transforms::failure_ratio_exceeded({30, 20}, q)) << "exactly 40% is not above it";
    EXPECT_FALSE(transforms::failure_ratio_exceeded({0, 0}, q));
    EXPECT_EQ(transforms::failure_ratio_reason({29, 21}, q),
              "42% of the last 50 SCIM operations failed (threshold 40% of at least 50)");
}

TEST(QuarantinePolicy, ProbesBackOffThroughTheIntervalsAndStayAtTheLast) {
    const auto q = policy();
    EXPECT_EQ(transforms::probe_delay_ms(q, 0), 10000);
    EXPECT_EQ(transforms::probe_delay_ms(q, 1), 30000);
    EXPECT_EQ(transforms::probe_delay_ms(q, 2), 60000);
    EXPECT_EQ(transforms::probe_delay_ms(q, 50), 60000);
    QuarantineConfig defaults;
    EXPECT_EQ(transforms::probe_delay_ms(defaults, 0), 60000);
    EXPECT_EQ(transforms::probe_delay_ms(defaults, 5), 3600000);
}

class QuarantineGateTest : public ::testing::Test {
protected:
    ScimResponse probe(const std::string& app) {
        probed_.push_back(app);
        return probe_answer_;
    }
    int tick() {
        return gate_.tick({"crm"}, [this](const std::string& app) { return probe(app); });
    }

    test_support::FakeQuarantineStore store_;
    test_support::FakeClock clock_;
    QuarantineGate gate_{store_, policy(), clock_, nullptr};
    std::vector<std::string> probed_;
    ScimResponse probe_answer_ = FakeScimClient::error(401, "bad token");
};

TEST_F(QuarantineGateTest, RefusedCredentialsHoldTheAppUntilAProbeGetsThrough) {
    ASSERT_TRUE(gate_.enter("crm", "Unauthorized", "HTTP 401: bad token").ok());
    EXPECT_TRUE(gate_.held("crm"));
    EXPECT_FALSE(gate_.held("other"));
    const auto state = gate_.state("crm");
    ASSERT_TRUE(state.has_value());
    EXPECT_EQ(state->code, "Unauthorized");
    EXPECT_EQ(state->since_ms, clock_.wall_ms());
    EXPECT_EQ(state->next_probe_ms, clock_.wall_ms() + 10000);

    EXPECT_EQ(tick(), 0);
    EXPECT_TRUE(probed_.empty()) << "the probe is not due yet";
    clock_.advance(10s);
    EXPECT_EQ(tick(), 0);
    ASSERT_EQ(probed_.size(), 1U);
    EXPECT_TRUE(gate_.held("crm"));
    EXPECT_EQ(store_.states["crm"].failed_probes, 1);
    EXPECT_EQ(store_.states["crm"].next_probe_ms, clock_.wall_ms() + 30000) << "the second interval";
    EXPECT_NE(store_.states["crm"].last_probe.find("Unauthorized"), std::string::npos);

    clock_.advance(29s);
    tick();
    EXPECT_EQ(probed_.size(), 1U);
    clock_.advance(1s);
    probe_answer_ = FakeScimClient::list();
    EXPECT_EQ(tick(), 1);
    EXPECT_EQ(probed_.size(), 2U);
    EXPECT_FALSE(gate_.held("crm"));
    EXPECT_TRUE(store_.states.empty());
}

TEST_F(QuarantineGateTest, TheFirstReasonStandsAndAnotherWorkersQuarantineIsSeenAtTheNextTick) {
    ASSERT_TRUE(gate_.enter("crm", "Unauthorized", "first").ok());
    ASSERT_TRUE(gate_.enter("crm", "FailureRate", "second").ok());
    EXPECT_EQ(gate_.state("crm")->reason, "first");

    // Lifted elsewhere (an operator, another worker's probe): this worker follows.
    store_.states.clear();
    tick();
    EXPECT_FALSE(gate_.held("crm"));
    // Quarantined elsewhere.
    store_.states["crm"] = QuarantineState{true, "FailureRate", "elsewhere", clock_.wall_ms(), clock_.wall_ms() + 5000, 0, ""};
    tick();
    EXPECT_TRUE(gate_.held("crm"));
}

TEST_F(QuarantineGateTest, OnlyOneWorkerProbesAtATime) {
    ASSERT_TRUE(gate_.enter("crm", "Unauthorized", "bad").ok());
    clock_.advance(10s);
    // Another worker holds the probe.
    ASSERT_TRUE(store_.claim_probe("crm", clock_.wall_ms(), 60s).value());
    tick();
    EXPECT_TRUE(probed_.empty());
}

TEST_F(QuarantineGateTest, AStoreOutageKeepsTheLastKnownState) {
    ASSERT_TRUE(gate_.enter("crm", "Unauthorized", "bad").ok());
    store_.down = true;
    tick();
    EXPECT_TRUE(gate_.held("crm"));
}

json ada(const std::string& title = "Engineer") {
    return {{"userPrincipalName", "ada@contoso.com"}, {"mailNickname", "ada"}, {"givenName", "Ada"},
            {"surname", "Lovelace"}, {"displayName", "Ada Lovelace"}, {"jobTitle", title}, {"accountEnabled", true}};
}

class QuarantinedProcessingTest : public ::testing::Test {
protected:
    QuarantinedProcessingTest() {
        apps_ = test_support::runtimes_of(test_support::test_app("crm"));
        auto options = test_support::retry_options(random_, 1000ms);
        options.quarantine = &gate_;
        options.operations = &windows_;
        processor_ = std::make_unique<EventProcessor>(apps_, std::map<std::string, ScimClient*>{{"crm", &scim_}}, store_,
                                                      dlq_, clock_, nullptr, options);
        parked_.set_hold([this](const std::string& held) { return gate_.held(held); });
    }

    InboundRecord record(const std::string& user, const std::string& type, std::int64_t version, json attributes) {
        ++sequence_;
        attributes["userPrincipalName"] = user + "@contoso.com";
        json event = {{"specversion", "1.0"}, {"id", "e" + std::to_string(sequence_)}, {"source", "urn:test"},
                      {"type", "provisioning.user." + type},
                      {"data", {{"app", "crm"},
                                {"object", {{"type", "user"}, {"id", user}, {"version", version}, {"attributes", attributes}}},
                                {"assignment", {{"role", "User"}}}}}};
        InboundRecord r;
        r.topic = "events";
        r.offset = sequence_;
        r.key = "crm/user/" + user;
        r.value = event.dump();
        return r;
    }

    // Runs every due head the source hands out until none is left; returns the outcomes.
    std::vector<OutcomeRecord> drain() {
        std::vector<OutcomeRecord> out;
        for (int round = 0; round < 20; ++round) {
            auto heads = parked_.claim(10, {});
            EXPECT_TRUE(heads.ok());
            if (!heads.ok() || heads->empty()) break;
            for (const auto& head : *heads) {
                auto result = processor_->process_parked(head);
                if (result.record) out.push_back(*result.record);
            }
        }
        return out;
    }

    FakeScimClient scim_;
    test_support::FakeStateStore store_;
    test_support::FakeDeadLetterSink dlq_;
    test_support::FakeClock clock_;
    test_support::FakeRandom random_ = test_support::FakeRandom::always_bound();
    test_support::FakeQuarantineStore quarantine_store_;
    test_support::FakeQuarantineStore windows_;  // the lane's view of the same data in Redis; separate here
    QuarantineGate gate_{quarantine_store_, policy(), clock_, nullptr};
    StoreParkedSource parked_{store_, {"crm"}, 60s, clock_, "w1"};
    std::vector<AppRuntime> apps_;
    std::unique_ptr<EventProcessor> processor_;
    int sequence_ = 0;
};

TEST_F(QuarantinedProcessingTest, A401QuarantinesTheAppAndEveryEventWaitsUntilTheProbeLiftsIt) {
    scim_.push(FakeScimClient::error(401, "token expired"));
    ASSERT_EQ(processor_->process(record("ada", "assigned", 1, ada())).status, ProcessResult::Status::Parked);
    EXPECT_TRUE(gate_.held("crm"));
    EXPECT_EQ(quarantine_store_.states["crm"].code, "Unauthorized");
    // Events of other objects are consumed and wait; nothing is sent to the app.
    ASSERT_EQ(processor_->process(record("bob", "assigned", 1, ada())).status, ProcessResult::Status::Parked);
    ASSERT_EQ(processor_->process(record("ada", "updated", 2, ada("Countess"))).status, ProcessResult::Status::Parked);
    EXPECT_EQ(scim_.requests().size(), 1U);
    clock_.advance(5s);
    EXPECT_TRUE(drain().empty()) << "no retry is claimed while the app is quarantined";
    EXPECT_EQ(scim_.requests().size(), 1U);

    clock_.advance(5s);
    EXPECT_EQ(gate_.tick({"crm"}, [](const std::string&) { return FakeScimClient::list(); }), 1);
    scim_.set_handler([n = 0](const ScimRequest& request) mutable {
        if (request.method == HttpMethod::Get) return FakeScimClient::list();
        return FakeScimClient::json(request.method == HttpMethod::Post ? 201 : 200, {{"id", "scim-" + std::to_string(++n)}});
    });
    const auto outcomes = drain();
    ASSERT_EQ(outcomes.size(), 3U);
    std::map<std::string, std::vector<std::int64_t>> versions;
    for (const auto& out : outcomes) {
        // ada's create was sent with the waiting update's title already: the update changes nothing.
        const bool update_of_ada = out.object_id == "ada" && out.version == 2;
        EXPECT_EQ(out.status, update_of_ada ? OutcomeStatus::Skipped : OutcomeStatus::Applied) << to_json(out).dump();
        versions[out.object_id].push_back(out.version);
    }
    EXPECT_EQ(versions["ada"], (std::vector<std::int64_t>{1, 2})) << "in order";
    EXPECT_EQ(versions["bob"], (std::vector<std::int64_t>{1}));
    EXPECT_EQ(store_.link("crm", "ada")->applied["title"], "Countess");
}

TEST_F(QuarantinedProcessingTest, TooManyFailuresInTheWindowQuarantineTheApp) {
    scim_.set_handler([](const ScimRequest&) { return FakeScimClient::error(503, "down"); });
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(processor_->process(record("u" + std::to_string(i), "assigned", 1, ada())).status,
                  ProcessResult::Status::Parked);
        EXPECT_FALSE(gate_.held("crm")) << "fewer than min_operations so far";
    }
    ASSERT_EQ(processor_->process(record("u3", "assigned", 1, ada())).status, ProcessResult::Status::Parked);
    EXPECT_TRUE(gate_.held("crm"));
    EXPECT_EQ(quarantine_store_.states["crm"].code, "FailureRate");
    EXPECT_NE(quarantine_store_.states["crm"].reason.find("100% of the last 4 SCIM operations failed"), std::string::npos)
        << quarantine_store_.states["crm"].reason;
}

TEST_F(QuarantinedProcessingTest, AParkedSourceRefusesALeaseThatEndsWhenItIsTaken) {
    // A lease of 0 makes a claimed head due again at once: the same poll would take it twice.
    EXPECT_THROW(StoreParkedSource(store_, {"crm"}, std::chrono::milliseconds(0), clock_, "w1"), std::invalid_argument);
}

}  // namespace
}  // namespace provbridge::consumers
