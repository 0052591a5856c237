#include <gtest/gtest.h>

#include "fake_scim_client.hpp"
#include "fakes.hpp"
#include "provbridge/ops/preview.hpp"

namespace provbridge::ops {
namespace {

using nlohmann::json;
using test_support::FakeScimClient;

class PreviewTest : public ::testing::Test {
protected:
    PreviewTest() {
        AppConfig app;
        app.id = "crm";
        app.scim.base_url = "https://scim.example/v2";
        Config config;
        config.apps.push_back(app);
        apps_ = consumers::build_app_runtimes(config);
        record_.topic = "provisioning.events";
        record_.value = json{{"specversion", "1.0"}, {"id", "p-1"}, {"source", "urn:directory:x"},
                             {"type", "provisioning.user.assigned"},
                             {"data", {{"app", "crm"}, {"object", {{"type", "user"}, {"id", "u1"}, {"version", 2},
                                                                    {"attributes", {{"userPrincipalName", "a@x"}, {"jobTitle", "Countess"}}}}},
                                       {"assignment", {{"role", "User"}}}}}}
                            .dump();
    }
    std::vector<consumers::AppRuntime> apps_;
    InboundRecord record_;
    FakeScimClient reads_;
    test_support::FakeStateStore state_;
};

TEST_F(PreviewTest, OfflineShowsTheCreateWithoutSendingAnything) {
    const auto r = preview_event(apps_[0], apps_, record_, nullptr, nullptr);
    ASSERT_TRUE(r.outcome.has_value());
    EXPECT_EQ(r.outcome->action, Action::Create);
    ASSERT_EQ(r.exchanges.size(), 2U);
    EXPECT_FALSE(r.exchanges[0].sent);  // the filter query: not checked offline
    EXPECT_EQ(r.exchanges[1].request.method, HttpMethod::Post);
    EXPECT_FALSE(r.exchanges[1].sent);
    EXPECT_EQ((*r.exchanges[1].request.body)["title"], "Countess");
}

TEST_F(PreviewTest, LiveSendsReadsOnlyAndStillDecidesAnEventThatHasAnOutcome) {
    // The event was processed already: the account exists and the link is stored.
    Commit done;
    done.record.event_id = "p-1";
    done.record.source = "urn:directory:x";
    done.record.app = "crm";
    done.record.object_type = "user";
    done.record.object_id = "u1";
    done.record.status = OutcomeStatus::Applied;
    done.link = LinkState{"scim-1", 1, LinkStatus::Active, {{"userName", "a@x"}, {"title", "Engineer"}, {"active", true}}};
    ASSERT_TRUE(state_.commit(done).ok());

    const auto r = preview_event(apps_[0], apps_, record_, &reads_, &state_);
    ASSERT_TRUE(r.already.has_value());
    EXPECT_EQ(r.already->status, OutcomeStatus::Applied);
    ASSERT_TRUE(r.outcome.has_value());
    EXPECT_EQ(r.outcome->action, Action::Update);
    ASSERT_EQ(r.exchanges.size(), 1U);
    EXPECT_EQ(r.exchanges[0].request.method, HttpMethod::Patch);
    EXPECT_FALSE(r.exchanges[0].sent);
    EXPECT_TRUE(reads_.requests().empty());  // nothing reached the target
    EXPECT_EQ(state_.log.size(), 1U);        // and nothing was recorded
}

}  // namespace
}  // namespace provbridge::ops
