// Failed SCIM calls through the one failure policy: parked for a retry in the object's queue,
// later events of the object parked behind, claimed heads re-decided under their lease, and
// dead letters with the whole error trail once the limits are reached.
#include <gtest/gtest.h>

#include "fake_random.hpp"
#include "fake_scim_client.hpp"
#include "fakes.hpp"
#include "processor_setup.hpp"
#include "provbridge/consumers/event_processor.hpp"

namespace provbridge::consumers {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test_support::FakeScimClient;

json ada_attributes() {
    return {{"userPrincipalName", "ada@contoso.com"}, {"mail", "ada@contoso.com"}, {"mailNickname", "ada"},
            {"givenName", "Ada"}, {"surname", "Lovelace"}, {"displayName", "Ada Lovelace"},
            {"jobTitle", "Engineer"}, {"accountEnabled", true}};
}

ScimResponse with_retry_after(ScimResponse response, std::string value) {
    response.retry_after = std::move(value);
    return response;
}

class RetryTest : public ::testing::Test {
protected:
    RetryTest() { configure(nullptr); }

    void configure(json user_mappings) {
        auto app = test_support::test_app("leapsome");
        if (!user_mappings.is_null()) app.mappings = ConfigFragment{{{"users", user_mappings}}, "test.json", "apps[0].mappings"};
        apps_ = test_support::runtimes_of(app);
        const auto options = test_support::retry_options(random_, 8000ms, 4, 1h);
        processor_ = std::make_unique<EventProcessor>(apps_, std::map<std::string, ScimClient*>{{"leapsome", &scim_}},
                                                      store_, dlq_, clock_, nullptr, options);
    }

    InboundRecord record(const std::string& type, std::int64_t version, json attributes = ada_attributes()) {
        ++sequence_;
        json event = {{"specversion", "1.0"},
                      {"id", "evt-" + std::to_string(sequence_)},
                      {"source", "urn:directory:contoso"},
                      {"type", "provisioning.user." + type},
                      {"data",
                       {{"app", "leapsome"},
                        {"object", {{"type", "user"}, {"id", "u1"}, {"version", version}, {"attributes", attributes}}},
                        {"assignment", {{"role", "User"}}}}}};
        InboundRecord r;
        r.topic = "provisioning.events";
        r.partition = 2;
        r.offset = 100 + sequence_;
        r.key = "leapsome/user/u1";
        r.value = event.dump();
        return r;
    }

    // The due heads at the fake clock's now.
    std::vector<ClaimedHead> claim(const std::string& owner = "w1", std::chrono::milliseconds lease = 60s) {
        auto heads = store_.claim_due("leapsome", clock_.wall_ms(), lease, 10, owner);
        EXPECT_TRUE(heads.ok());
        return heads.ok() ? std::move(heads).value() : std::vector<ClaimedHead>{};
    }

    // Runs the one due head and expects it recorded.
    OutcomeRecord run_head() {
        auto heads = claim();
        EXPECT_EQ(heads.size(), 1U);
        if (heads.empty()) return {};
        auto result = processor_->process_parked(heads.front());
        EXPECT_EQ(result.status, ProcessResult::Status::Recorded) << result.fatal_reason;
        return result.record.value_or(OutcomeRecord{});
    }

    Event parsed(const InboundRecord& r) { return parse_record(r).value(); }

    FakeScimClient scim_;
    test_support::FakeStateStore store_;
    test_support::FakeDeadLetterSink dlq_;
    test_support::FakeClock clock_;
    test_support::FakeRandom random_ = test_support::FakeRandom::always_bound();
    std::vector<AppRuntime> apps_;
    std::unique_ptr<EventProcessor> processor_;
    int sequence_ = 0;
};

TEST_F(RetryTest, ServerErrorParksTheEventInsteadOfDeadLetteringIt) {
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::error(503, "down for maintenance"));
    const auto r = record("assigned", 1);
    const auto result = processor_->process(r);
    ASSERT_EQ(result.status, ProcessResult::Status::Parked) << result.fatal_reason;
    EXPECT_EQ(result.due_ms, clock_.wall_ms() + 1000);  // first backoff: the base delay (jitter at its bound)
    EXPECT_TRUE(dlq_.published.empty());
    EXPECT_TRUE(store_.log.empty()) << "a parked event has no outcome yet";

    const auto prior = store_.load(parsed(r));
    ASSERT_TRUE(prior.ok());
    EXPECT_TRUE(prior->object_queued);
    EXPECT_TRUE(prior->event_parked);
    EXPECT_TRUE(claim().empty()) << "not due yet";
    clock_.advance(1000ms);
    const auto heads = claim();
    ASSERT_EQ(heads.size(), 1U);
    EXPECT_EQ(heads[0].event.record.value, r.value);  // the original bytes, to be decided again
    EXPECT_EQ(heads[0].event.attempts, 1);
    ASSERT_EQ(heads[0].event.trail.size(), 1U);
    EXPECT_EQ(heads[0].event.trail[0].code, "ServiceUnavailable");
    EXPECT_EQ(heads[0].event.trail[0].http_status, 503);
    EXPECT_NE(heads[0].event.trail[0].detail.find("down for maintenance"), std::string::npos);
}

TEST_F(RetryTest, TheTargetsRetryAfterIsHonoured) {
    scim_.push(FakeScimClient::list());
    scim_.push(with_retry_after(FakeScimClient::error(429, "slow down"), "30"));
    const auto result = processor_->process(record("assigned", 1));
    ASSERT_EQ(result.status, ProcessResult::Status::Parked);
    EXPECT_EQ(result.due_ms, clock_.wall_ms() + 30000);
}

TEST_F(RetryTest, ARetryIsDecidedAgainAndRecordedWithItsAttempts) {
    scim_.push(FakeScimClient::transport_failure(TransportStatus::Timeout, "timed out after 30000 ms"));
    ASSERT_EQ(processor_->process(record("assigned", 1)).status, ProcessResult::Status::Parked);
    clock_.advance(1s);
    // The retry starts from the match again: a create whose answer was lost is found, not repeated.
    scim_.push(FakeScimClient::list(json::array({{{"id", "scim-1"}, {"userName", "ada@contoso.com"}}})));
    scim_.push(FakeScimClient::json(200, {{"id", "scim-1"}}));
    const auto out = run_head();
    EXPECT_EQ(out.status, OutcomeStatus::Applied);
    EXPECT_EQ(out.scim_id, "scim-1");
    EXPECT_EQ(out.attempts, 2);
    ASSERT_EQ(out.trail.size(), 1U);
    EXPECT_EQ(out.trail[0].code, "Timeout");
    EXPECT_EQ(out.trail[0].http_status, 0);
    const auto requests = scim_.requests();
    ASSERT_EQ(requests.size(), 3U);
    EXPECT_EQ(requests[1].method, HttpMethod::Get);  // matched first on the retry
    EXPECT_EQ(store_.link("leapsome", "u1")->scim_id, "scim-1");
    const auto prior = store_.load(parsed(record("updated", 2)));
    EXPECT_FALSE(prior->object_queued) << "the finished head left its queue";
    clock_.advance(1h);
    EXPECT_TRUE(claim().empty());
}

TEST_F(RetryTest, LaterEventsOfTheObjectWaitBehindTheParkedOneAndRunInOrder) {
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::error(503, "busy"));
    ASSERT_EQ(processor_->process(record("assigned", 1)).status, ProcessResult::Status::Parked);
    auto attributes = ada_attributes();
    attributes["jobTitle"] = "Countess";
    // Neither may run now: the update would be skipped as not assigned, the unassign would find
    // no account; both must wait behind the create.
    const auto update = processor_->process(record("updated", 2, attributes));
    EXPECT_EQ(update.status, ProcessResult::Status::Parked);
    EXPECT_EQ(update.due_ms, 0);
    const auto unassign = processor_->process(record("unassigned", 3, attributes));
    EXPECT_EQ(unassign.status, ProcessResult::Status::Parked);
    EXPECT_EQ(scim_.requests().size(), 2U) << "nothing was sent for the waiting events";

    clock_.advance(1s);
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::json(201, {{"id", "scim-1"}}));
    // The retried create is sent with the newest attributes known, the waiting update's: never
    // an older state first.
    const auto created = run_head();
    EXPECT_EQ(created.action, Action::Create);
    EXPECT_NE(created.reason.find("decided with the attributes of version 2"), std::string::npos) << created.reason;
    ASSERT_TRUE(scim_.requests().back().body.has_value());
    EXPECT_NE(scim_.requests().back().body->dump().find("Countess"), std::string::npos)
        << scim_.requests().back().body->dump();
    // The next head is due at once, and finds the account as it wants it.
    const auto updated = run_head();
    EXPECT_EQ(updated.status, OutcomeStatus::Skipped);
    EXPECT_EQ(updated.code, "no_change");
    EXPECT_EQ(updated.attempts, 1);
    scim_.push(FakeScimClient::json(200, {{"id", "scim-1"}}));
    EXPECT_EQ(run_head().action, Action::Disable);
    EXPECT_TRUE(claim().empty());

    const auto link = store_.link("leapsome", "u1");
    EXPECT_EQ(link->status, LinkStatus::Disabled);
    EXPECT_EQ(link->version, 3);
    EXPECT_EQ(link->applied["title"], "Countess");
    ASSERT_EQ(store_.log.size(), 3U);
    EXPECT_EQ(store_.log[0].version, 1);
    EXPECT_EQ(store_.log[1].version, 2);
    EXPECT_EQ(store_.log[2].version, 3);
}

TEST_F(RetryTest, ARedeliveredParkedEventIsADuplicateAndSendsNothing) {
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::error(502, "bad gateway"));
    const auto r = record("assigned", 1);
    ASSERT_EQ(processor_->process(r).status, ProcessResult::Status::Parked);
    EXPECT_EQ(processor_->process(r).status, ProcessResult::Status::Duplicate);
    EXPECT_EQ(scim_.requests().size(), 2U);
    clock_.advance(1s);
    EXPECT_EQ(claim().size(), 1U) << "one head, not two";
}

TEST_F(RetryTest, AfterTheLastAttemptTheEventIsDeadLetteredWithItsWholeTrail) {
    scim_.set_handler([](const ScimRequest& request) {
        return request.method == HttpMethod::Get ? FakeScimClient::list() : FakeScimClient::error(503, "still down");
    });
    ASSERT_EQ(processor_->process(record("assigned", 1)).status, ProcessResult::Status::Parked);
    const std::int64_t first_failure = clock_.wall_ms();
    OutcomeRecord out;
    for (int attempt = 2; attempt <= 4; ++attempt) {
        clock_.advance(10s);  // past any backoff of this policy (at most 8 s)
        auto heads = claim();
        ASSERT_EQ(heads.size(), 1U) << "attempt " << attempt;
        auto result = processor_->process_parked(heads[0]);
        if (attempt < 4) {
            ASSERT_EQ(result.status, ProcessResult::Status::Parked) << "attempt " << attempt;
        } else {
            ASSERT_EQ(result.status, ProcessResult::Status::Recorded);
            out = *result.record;
        }
    }
    // Backoff grew: 1 s, 2 s, 4 s at the bound of full jitter.
    ASSERT_GE(random_.bounds().size(), 3U);
    EXPECT_EQ(random_.bounds()[0], 1000);
    EXPECT_EQ(random_.bounds()[1], 2000);
    EXPECT_EQ(random_.bounds()[2], 4000);

    EXPECT_EQ(out.status, OutcomeStatus::DeadLettered);
    EXPECT_EQ(out.code, "ServiceUnavailable");
    EXPECT_EQ(out.error_class, "transient");
    EXPECT_EQ(out.attempts, 4);
    EXPECT_NE(out.reason.find("gave up after 4 attempts"), std::string::npos) << out.reason;
    ASSERT_EQ(out.trail.size(), 4U);
    EXPECT_EQ(out.first_failed_at_ms, first_failure);
    ASSERT_EQ(dlq_.published.size(), 1U);
    const auto& why = dlq_.published[0].reason;
    EXPECT_EQ(why.attempts, 4);
    EXPECT_EQ(why.trail.size(), 4U);
    EXPECT_EQ(why.http_status, 503);
    EXPECT_EQ(why.error_class, "transient");
    EXPECT_EQ(why.first_failed_at_ms, first_failure);
    EXPECT_EQ(store_.dead_letter_index.size(), 1U);
    EXPECT_TRUE(claim().empty()) << "the dead-lettered head left its queue";
}

TEST_F(RetryTest, APermanentAnswerToARetryDeadLettersAtOnceKeepingEarlierFailures) {
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::error(500, "oops"));
    ASSERT_EQ(processor_->process(record("assigned", 1)).status, ProcessResult::Status::Parked);
    clock_.advance(1s);
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::error(400, "userName is invalid", "invalidValue"));
    const auto out = run_head();
    EXPECT_EQ(out.status, OutcomeStatus::DeadLettered);
    EXPECT_EQ(out.code, "BadRequest");
    EXPECT_EQ(out.error_class, "permanent");
    EXPECT_EQ(out.scim_type, "invalidValue");
    EXPECT_EQ(out.attempts, 2);
    ASSERT_EQ(out.trail.size(), 2U);
    EXPECT_EQ(out.trail[0].http_status, 500);
    EXPECT_EQ(out.trail[1].http_status, 400);
    ASSERT_EQ(dlq_.published.size(), 1U);
    EXPECT_EQ(dlq_.published[0].reason.scim_type, "invalidValue");
}

TEST_F(RetryTest, AClaimWhoseLeaseRanOutRecordsNothing) {
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::error(503, "busy"));
    ASSERT_EQ(processor_->process(record("assigned", 1)).status, ProcessResult::Status::Parked);
    clock_.advance(1s);
    const auto mine = claim("w1", 5s);
    ASSERT_EQ(mine.size(), 1U);
    clock_.advance(6s);
    const auto theirs = claim("w2", 5s);
    ASSERT_EQ(theirs.size(), 1U) << "an expired lease makes the head due again";
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::json(201, {{"id", "scim-1"}}));
    EXPECT_EQ(processor_->process_parked(mine[0]).status, ProcessResult::Status::LeaseLost);
    EXPECT_TRUE(store_.log.empty());
    EXPECT_FALSE(store_.link("leapsome", "u1").has_value());
    // The new owner finds the account its predecessor created and links it.
    scim_.push(FakeScimClient::list(json::array({{{"id", "scim-1"}, {"userName", "ada@contoso.com"}}})));
    scim_.push(FakeScimClient::json(200, {{"id", "scim-1"}}));
    const auto result = processor_->process_parked(theirs[0]);
    ASSERT_EQ(result.status, ProcessResult::Status::Recorded);
    EXPECT_EQ(result.record->scim_id, "scim-1");
    EXPECT_EQ(store_.log.size(), 1U);
}

TEST_F(RetryTest, AConflictOnCreateIsLinkedAndAFailedLookupAfterItIsRetried) {
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::error(409, "exists", "uniqueness"));
    scim_.push(FakeScimClient::error(503, "busy"));
    ASSERT_EQ(processor_->process(record("assigned", 1)).status, ProcessResult::Status::Parked);
    clock_.advance(1s);
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::error(409, "exists", "uniqueness"));
    scim_.push(FakeScimClient::list(json::array({{{"id", "scim-9"}, {"userName", "ada@contoso.com"}}})));
    scim_.push(FakeScimClient::json(200, {{"id", "scim-9"}}));
    const auto out = run_head();
    EXPECT_EQ(out.status, OutcomeStatus::Applied);
    EXPECT_EQ(out.scim_id, "scim-9");
    EXPECT_NE(out.reason.find("answered 409"), std::string::npos) << out.reason;
}

TEST_F(RetryTest, ACredentialRefusalWaitsInsteadOfBeingDeadLettered) {
    scim_.push(FakeScimClient::error(401, "token expired"));
    const auto result = processor_->process(record("assigned", 1));
    EXPECT_EQ(result.status, ProcessResult::Status::Parked);
    EXPECT_TRUE(dlq_.published.empty());
}

TEST_F(RetryTest, AFailedUniquenessLookupIsTransientNotTaken) {
    configure(json::array({{{"target", "userName"},
                            {"expression", R"(SelectUniqueValue(Join("@", [mailNickname], "contoso.com"), Join("@", Join(".", [mailNickname], "2"), "contoso.com")))"},
                            {"apply", "on_create"},
                            {"match", 1}}}));
    scim_.push(FakeScimClient::error(503, "busy"));  // is ada@contoso.com taken? unknown
    const auto result = processor_->process(record("assigned", 1));
    ASSERT_EQ(result.status, ProcessResult::Status::Parked);
    ASSERT_EQ(scim_.requests().size(), 1U) << "no second candidate was tried, nothing was created";
    clock_.advance(1s);
    scim_.push(FakeScimClient::list());                        // ada@contoso.com is free
    scim_.push(FakeScimClient::list());                        // the match finds nothing
    scim_.push(FakeScimClient::json(201, {{"id", "scim-1"}}));
    const auto out = run_head();
    EXPECT_EQ(out.action, Action::Create);
    EXPECT_EQ((*scim_.requests().back().body)["userName"], "ada@contoso.com");
}

TEST_F(RetryTest, AStoreFailureWhileResolvingTheManagerIsNotNoManager) {
    scim_.push(FakeScimClient::list());
    scim_.push(FakeScimClient::json(201, {{"id", "scim-1"}}));
    auto attributes = ada_attributes();
    attributes["manager"] = "u-boss";
    ASSERT_EQ(processor_->process(record("assigned", 1, attributes)).status, ProcessResult::Status::Recorded);
    const auto before = scim_.requests().size();
    store_.fail_load_link = true;
    attributes["jobTitle"] = "Countess";
    const auto result = processor_->process(record("updated", 2, attributes));
    store_.fail_load_link = false;
    EXPECT_EQ(result.status, ProcessResult::Status::Parked) << "a store failure must not read as 'no manager'";
    EXPECT_EQ(scim_.requests().size(), before) << "no PATCH that could remove the manager";
}

TEST_F(RetryTest, ATlsCertificateErrorIsNotRetried) {
    scim_.push(FakeScimClient::transport_failure(TransportStatus::TlsError, "certificate has expired"));
    const auto result = processor_->process(record("assigned", 1));
    ASSERT_EQ(result.status, ProcessResult::Status::Recorded);
    EXPECT_EQ(result.record->status, OutcomeStatus::DeadLettered);
    EXPECT_EQ(result.record->error_class, "permanent");
}

}  // namespace
}  // namespace provbridge::consumers
