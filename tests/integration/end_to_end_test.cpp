// The whole product against real parts: the provbridge binary as a separate process, the
// embedded Kafka broker, a throwaway redis-server and the SCIMMY target.
#include <csignal>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kafka_inspect.hpp"
#include "provbridge/consumers/curl_scim_client.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/core/text.hpp"
#include "provbridge/ops/embedded_broker.hpp"
#include "provbridge/ops/local_services.hpp"
#include "provbridge/ops/process.hpp"
#include "provbridge/producers/event_file.hpp"
#include "provbridge/producers/kafka.hpp"
#include "provbridge/producers/producer.hpp"
#include "redis_fixture.hpp"
#include "user_event_generator.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kApp = "e2e";
constexpr const char* kGroup = "provbridge-e2e";
constexpr const char* kTopic = "provisioning.events";
constexpr int kPartitions = 6;
constexpr const char* kEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

class EndToEnd : public ::testing::Test {
protected:
    void SetUp() override {
        redis_ = std::make_unique<ops::LocalRedis>();
        target_ = std::make_unique<ops::LocalScimTarget>(ops::default_scim_target_script(), "e2e-token-7b1f");
        broker_ = std::make_unique<ops::EmbeddedBroker>(
            3, std::vector<ops::EmbeddedBroker::Topic>{{kTopic, kPartitions}, {"provisioning.deadletter", 1}});
        dir_ = std::make_unique<ops::TempDir>("provbridge-e2e-");
        {
            std::ofstream(dir_->path() + "/token") << "e2e-token-7b1f\n";
        }
        config_path_ = dir_->path() + "/bridge.json";
        const json config = {
            {"kafka", {{"bootstrap_servers", broker_->bootstrap_servers()}, {"group_id", kGroup},
                       {"consumer_properties", {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "1000"},
                                                {"auto.commit.interval.ms", "1000"}, {"fetch.wait.max.ms", "10"}}}}},
            {"redis", {{"url", redis_->url()}}},
            {"worker", {{"concurrency", 8}, {"max_in_flight", 400}}},
            {"apps", json::array({{{"id", kApp},
                                   {"profile", "generic"},
                                   {"scim", {{"base_url", target_->base_url()}, {"token_file", dir_->path() + "/token"}}}}})}};
        std::ofstream(config_path_) << config.dump(2);
        producer_ = std::make_unique<producers::KafkaProducer>(
            std::map<std::string, std::string>{{"bootstrap.servers", broker_->bootstrap_servers()}});
        reader_ = std::make_unique<consumers::ProvisioningLogReader>(test_support::redis_options_for_port(redis_->port()),
                                                                     KeyScheme("pb"));
        consumers::ScimClientOptions admin;
        admin.base_url = target_->root_url();
        admin.token = "e2e-token-7b1f";
        admin_ = std::make_unique<consumers::CurlScimClient>(admin);
    }

    std::unique_ptr<ops::ChildProcess> start_worker() {
        ops::ChildProcess::Options options;
        options.argv = {PROVBRIDGE_BINARY, "run", "--config", config_path_, "--json-progress", "--log-level", "warn"};
        return std::make_unique<ops::ChildProcess>(std::move(options));
    }

    // Reads the worker's progress lines until `finished` reaches the target; returns the last line.
    json wait_finished(ops::ChildProcess& worker, std::uint64_t target, std::chrono::seconds timeout = 180s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        json last;
        while (std::chrono::steady_clock::now() < deadline) {
            auto line = worker.read_line(std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now()));
            if (!line) break;
            auto doc = json::parse(*line, nullptr, false);
            if (doc.is_discarded() || !doc.contains("finished")) continue;
            last = doc;
            if (doc["finished"].get<std::uint64_t>() >= target) return doc;
        }
        ADD_FAILURE() << "the worker did not finish " << target << " events; last progress: " << last.dump();
        return last;
    }

    void produce(const std::vector<std::string>& lines) {
        std::stringstream in;
        for (const auto& l : lines) in << l << "\n";
        const auto report = producers::produce_event_lines(in, *producer_, kTopic, nullptr, {});
        ASSERT_EQ(report.sent, lines.size());
        ASSERT_EQ(report.rejected, 0U);
    }

    json target_users() {
        ScimRequest request;
        request.path = "/_admin/users";
        const auto response = admin_->send(request);
        EXPECT_EQ(response.status, 200) << response.body;
        return json::parse(response.body);
    }

    json target_stats() {
        ScimRequest request;
        request.path = "/_admin/stats";
        return json::parse(admin_->send(request).body);
    }

    std::int64_t log_length() {
        auto n = reader_->count_log(kApp);
        EXPECT_TRUE(n.ok());
        return n.ok() ? *n : -1;
    }

    // The target holds exactly the expected accounts, with the mapped values.
    void expect_target_matches(const test_support::UserEventGenerator& gen) {
        const auto expected = gen.expected_accounts();
        const json users = target_users();
        std::set<std::string> seen;
        for (const auto& user : users) {
            const std::string name = ascii_lower(user["userName"].get<std::string>());
            EXPECT_TRUE(seen.insert(name).second) << "duplicate account in the target: " << name;
            const auto it = expected.find(name);
            if (it == expected.end()) {
                ADD_FAILURE() << "unexpected account in the target: " << user.dump();
                continue;
            }
            const auto& want = it->second;
            const json& a = want.attributes;
            SCOPED_TRACE(want.user_name);
            EXPECT_EQ(user["userName"], want.user_name);
            EXPECT_EQ(user["active"], want.active);
            EXPECT_EQ(user.value("displayName", json()), a["displayName"]);
            EXPECT_EQ(user.value("title", json()), a["jobTitle"]);
            EXPECT_EQ(user["name"]["givenName"], a["givenName"]);
            EXPECT_EQ(user["name"]["familyName"], a["surname"]);
            EXPECT_EQ(user["externalId"], a["mailNickname"]);
            json work_mail;
            for (const auto& e : user.value("emails", json::array())) {
                if (e.value("type", "") == "work") work_mail = e["value"];
            }
            EXPECT_EQ(work_mail, a["mail"]);
            json mobile;
            for (const auto& p : user.value("phoneNumbers", json::array())) {
                if (p.value("type", "") == "mobile") mobile = p["value"];
            }
            EXPECT_EQ(mobile, a["mobile"]);
            EXPECT_EQ(user[kEnterprise]["department"], a["department"]);
        }
        EXPECT_EQ(seen.size(), expected.size());
        for (const auto& [name, want] : expected) {
            EXPECT_TRUE(seen.count(name) > 0) << "missing account in the target: " << want.user_name;
        }
    }

    // Every generated event id has exactly one recorded outcome.
    void expect_one_outcome_each(const test_support::UserEventGenerator& gen) {
        std::size_t missing = 0;
        for (const auto& id : gen.event_ids()) {
            auto outcome = reader_->outcome(kApp, gen.source(), id);
            ASSERT_TRUE(outcome.ok()) << outcome.error().message;
            if (!outcome->has_value()) ++missing;
        }
        EXPECT_EQ(missing, 0U) << "events without an outcome";
        // One log entry per event: a second outcome for an event would be a second entry.
        EXPECT_EQ(log_length(), static_cast<std::int64_t>(gen.event_ids().size()));
        auto stats = reader_->stats(kApp);
        ASSERT_TRUE(stats.ok());
        EXPECT_EQ(stats->at("events"), static_cast<std::int64_t>(gen.event_ids().size()));
    }

    std::unique_ptr<ops::LocalRedis> redis_;
    std::unique_ptr<ops::LocalScimTarget> target_;
    std::unique_ptr<ops::EmbeddedBroker> broker_;
    std::unique_ptr<ops::TempDir> dir_;
    std::string config_path_;
    std::unique_ptr<producers::KafkaProducer> producer_;
    std::unique_ptr<consumers::ProvisioningLogReader> reader_;
    std::unique_ptr<consumers::CurlScimClient> admin_;
};

TEST_F(EndToEnd, ThousandUserEventsSurviveRedeliveryAndSigkill) {
    test_support::UserEventGenerator gen(kApp, 20261123, 250);
    const auto batch1 = gen.next(1000);

    // 1. A thousand events: the target ends in the expected state, one outcome per event.
    auto worker = start_worker();
    produce(batch1);
    auto progress = wait_finished(*worker, 1000);
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(progress["dead_lettered"], 0) << "no event of this set should fail";
    expect_target_matches(gen);
    expect_one_outcome_each(gen);
    const json users_before = target_users();
    const auto requests_before = target_stats()["requests"].get<std::int64_t>();
    EXPECT_GT(requests_before, 1000);

    // 2. The same thousand events again: recognised by id, nothing sent, nothing changed.
    produce(batch1);
    progress = wait_finished(*worker, 2000);
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(progress["duplicates"], 1000);
    EXPECT_EQ(target_users(), users_before) << "re-produced events changed the target";
    EXPECT_EQ(target_stats()["requests"].get<std::int64_t>(), requests_before) << "re-produced events sent requests";
    EXPECT_EQ(log_length(), 1000);

    // 3. A second batch; SIGKILL the worker halfway through, restart it: nothing lost, nothing
    //    applied twice.
    const auto batch2 = gen.next(1000);
    produce(batch2);
    wait_finished(*worker, 2500);
    ASSERT_FALSE(HasFailure());
    worker->signal(SIGKILL);
    ASSERT_TRUE(worker->wait(30s).has_value());
    const auto at_kill = test_support::group_position(broker_->bootstrap_servers(), kGroup, kTopic, kPartitions);
    EXPECT_EQ(at_kill.end_total(), 3000);
    const std::int64_t outcomes_at_kill = log_length();
    EXPECT_LT(outcomes_at_kill, 2000) << "the kill came too late to test anything";
    // Everything after the committed offsets comes again: some of it already has an outcome.
    const auto redelivered = static_cast<std::uint64_t>(at_kill.end_total() - at_kill.committed_total());
    ASSERT_GT(redelivered, 0U);

    worker = start_worker();
    progress = wait_finished(*worker, redelivered);
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(progress["consumed"].get<std::uint64_t>(), redelivered);
    expect_target_matches(gen);
    expect_one_outcome_each(gen);

    // A clean stop commits everything it consumed and leaves the group.
    worker->signal(SIGTERM);
    const auto status = worker->wait(60s);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
    const auto at_end = test_support::group_position(broker_->bootstrap_servers(), kGroup, kTopic, kPartitions);
    EXPECT_EQ(at_end.committed, at_end.end);
    std::cout << "[ e2e ] outcomes at SIGKILL: " << outcomes_at_kill << "/2000; records redelivered after restart: "
              << redelivered << " (" << progress["duplicates"] << " recognised as already done)\n";
}

}  // namespace
}  // namespace provbridge
