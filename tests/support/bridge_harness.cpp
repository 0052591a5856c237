#include "bridge_harness.hpp"

#include <sys/wait.h>

#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "provbridge/core/keys.hpp"
#include "provbridge/core/text.hpp"
#include "provbridge/producers/event_file.hpp"
#include "redis_fixture.hpp"

namespace provbridge::test_support {

using nlohmann::json;

namespace {

std::string fresh_token() {
    std::random_device rd;
    return "harness-" + std::to_string(rd()) + std::to_string(rd());
}

}  // namespace

BridgeHarness::BridgeHarness(Options options)
    : options_(std::move(options)), token_(fresh_token()), ops_token_(fresh_token()), dir_("provbridge-harness-") {
    redis_ = std::make_unique<ops::LocalRedis>();
    target_ = std::make_unique<ops::LocalScimTarget>(ops::default_scim_target_script(), token_, options_.behave_like);
    broker_ = std::make_unique<ops::EmbeddedBroker>(
        options_.brokers, std::vector<ops::EmbeddedBroker::Topic>{{kTopic, options_.partitions}, {kDeadLetterTopic, 1}});
    std::ofstream(dir_.path() + "/token") << token_ << "\n";
    std::ofstream(dir_.path() + "/ops-token") << ops_token_ << "\n";
    json app = {{"id", options_.app},
                {"profile", options_.profile},
                {"scim", {{"base_url", target_->base_url()}, {"token_file", dir_.path() + "/token"}}}};
    app["scim"].update(options_.scim_extra);
    app.update(options_.app_extra);
    json apps = json::array({app});
    if (!options_.second_app.empty()) {
        second_target_ = std::make_unique<ops::LocalScimTarget>(ops::default_scim_target_script(), token_, "generic");
        json second = {{"id", options_.second_app},
                       {"profile", "generic"},
                       {"scim", {{"base_url", second_target_->base_url()}, {"token_file", dir_.path() + "/token"}}}};
        second.update(options_.second_app_extra);
        apps.push_back(std::move(second));
    }
    json worker = {{"concurrency", options_.concurrency}, {"max_in_flight", options_.max_in_flight}};
    worker.update(options_.worker_extra);
    config_path_ = dir_.path() + "/bridge.json";
    json kafka = {{"bootstrap_servers", broker_->bootstrap_servers()},
                  {"group_id", options_.group},
                  {"consumer_properties", options_.consumer_properties}};
    kafka.update(options_.kafka_extra);
    json document = {{"kafka", kafka},
                     {"redis", {{"url", redis_->url()}}},
                     {"worker", worker},
                     {"retry", options_.retry},
                     {"quarantine", options_.quarantine},
                     // Any free port: several workers and tests run side by side.
                     {"ops", {{"listen", "127.0.0.1:0"}, {"token_file", dir_.path() + "/ops-token"}}},
                     {"apps", apps}};
    document.merge_patch(options_.config_extra);
    std::ofstream(config_path_) << document.dump(2);
    producer_ = std::make_unique<producers::KafkaProducer>(std::map<std::string, std::string>{
        {"bootstrap.servers", broker_->bootstrap_servers()}, {"message.max.bytes", std::to_string(kProducerMaxBytes)}});
    reader_ = std::make_unique<consumers::ProvisioningLogReader>(redis_options_for_port(redis_->port()), KeyScheme("pb"));
    consumers::ScimClientOptions admin;
    admin.base_url = target_->root_url();
    admin.token = token_;
    admin_ = std::make_unique<consumers::CurlScimClient>(admin);
    if (second_target_) {
        admin.base_url = second_target_->root_url();
        second_admin_ = std::make_unique<consumers::CurlScimClient>(admin);
    }
}

json BridgeHarness::second_admin(HttpMethod method, const std::string& path, std::optional<json> body) {
    if (!second_admin_) {
        ADD_FAILURE() << "the harness has no second app";
        return nullptr;
    }
    ScimRequest request;
    request.method = method;
    request.path = path;
    request.body = std::move(body);
    const auto response = second_admin_->send(request);
    EXPECT_EQ(response.status / 100, 2) << to_string(method) << " " << path << ": " << response.body;
    return json::parse(response.body, nullptr, false);
}

std::unique_ptr<ops::ChildProcess> BridgeHarness::start_worker(bool merge_stderr, const std::string& log_level,
                                                               std::vector<std::string> extra_env,
                                                               std::vector<std::string> extra_args) const {
    ops::ChildProcess::Options options;
    options.argv = {PROVBRIDGE_BINARY, "run", "--config", config_path_, "--json-progress", "--log-level", log_level};
    options.argv.insert(options.argv.end(), extra_args.begin(), extra_args.end());
    options.merge_stderr = merge_stderr;
    options.extra_env = std::move(extra_env);
    return std::make_unique<ops::ChildProcess>(std::move(options));
}

CliResult BridgeHarness::cli(std::vector<std::string> args, std::chrono::seconds timeout) const {
    args.insert(args.end(), {"--config", config_path_});
    return run_cli(std::move(args), timeout);
}

json BridgeHarness::wait_counter(ops::ChildProcess& worker, const char* counter, std::uint64_t n,
                                 std::chrono::seconds timeout, std::string* transcript) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    json last;
    while (std::chrono::steady_clock::now() < deadline) {
        auto line = worker.read_line(
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
        if (!line) break;
        if (transcript != nullptr) transcript->append(*line).append("\n");
        auto doc = json::parse(*line, nullptr, false);
        if (doc.is_discarded() || !doc.contains(counter)) continue;
        last = doc;
        if (doc[counter].get<std::uint64_t>() >= n) return doc;
    }
    ADD_FAILURE() << "the worker's " << counter << " count did not reach " << n << "; last progress: " << last.dump();
    return last;
}

std::string BridgeHarness::wait_ops_url(ops::ChildProcess& worker, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        auto line = worker.read_line(
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
        if (!line) break;
        auto doc = json::parse(*line, nullptr, false);
        if (!doc.is_discarded() && doc.value("event", "") == "ops") return doc["url"].get<std::string>();
    }
    ADD_FAILURE() << "the worker announced no ops server";
    return {};
}

OutcomeRecord BridgeHarness::wait_outcome(const std::string& source, const std::string& event_id,
                                          std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        auto last = reader_->last_log_id(options_.app);
        EXPECT_TRUE(last.ok());
        auto found = reader_->outcome(options_.app, source, event_id);
        EXPECT_TRUE(found.ok());
        if (found.ok() && found->has_value()) return **found;
        (void)reader_->log_since(options_.app, last.ok() ? *last : "0-0", 10, std::chrono::milliseconds(500));
    }
    ADD_FAILURE() << "no outcome for " << event_id;
    return {};
}

json BridgeHarness::wait_finished(ops::ChildProcess& worker, std::uint64_t n, std::chrono::seconds timeout,
                                  std::string* transcript) {
    return wait_counter(worker, "finished", n, timeout, transcript);
}

json BridgeHarness::wait_consumed(ops::ChildProcess& worker, std::uint64_t n, std::chrono::seconds timeout,
                                  std::string* transcript) {
    return wait_counter(worker, "consumed", n, timeout, transcript);
}

void BridgeHarness::send(const std::optional<std::string>& key, const std::string& value,
                         const std::vector<Header>& headers) {
    const auto delivered = producer_->send_and_wait(kTopic, key, value, headers, std::chrono::seconds(30));
    ASSERT_TRUE(delivered.ok()) << delivered.error().message;
}

void BridgeHarness::send_event(const json& event) {
    const auto& data = event["data"];
    send(data["app"].get<std::string>() + "/" + data["object"]["type"].get<std::string>() + "/" +
             data["object"]["id"].get<std::string>(),
         event.dump());
}

json BridgeHarness::admin(HttpMethod method, const std::string& path,
                          std::vector<std::pair<std::string, std::string>> query, std::optional<json> body) {
    ScimRequest request;
    request.method = method;
    request.path = path;
    request.query = std::move(query);
    request.body = std::move(body);
    const auto response = admin_->send(request);
    EXPECT_EQ(response.status / 100, 2) << to_string(method) << " " << path << ": " << response.body;
    return json::parse(response.body, nullptr, false);
}

json BridgeHarness::user_named(const std::string& user_name) {
    for (const auto& u : users()) {
        if (u["userName"] == user_name) return u;
    }
    return nullptr;
}

void BridgeHarness::produce_lines(const std::vector<std::string>& lines) {
    std::stringstream in;
    for (const auto& l : lines) in << l << "\n";
    const auto report = producers::produce_event_lines(in, *producer_, kTopic, nullptr, {});
    ASSERT_EQ(report.sent, lines.size());
    ASSERT_EQ(report.rejected, 0U);
}

void BridgeHarness::expect_target_matches(const UserEventGenerator& gen) {
    constexpr const char* kEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    const auto expected = gen.expected_accounts();
    std::set<std::string> seen;
    for (const auto& user : users()) {
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

std::int64_t BridgeHarness::log_length() {
    auto n = reader_->count_log(options_.app);
    EXPECT_TRUE(n.ok()) << n.error().message;
    return n.ok() ? *n : -1;
}

void BridgeHarness::expect_one_outcome_each(const UserEventGenerator& gen) {
    std::size_t missing = 0;
    for (const auto& id : gen.event_ids()) {
        auto outcome = reader_->outcome(options_.app, gen.source(), id);
        ASSERT_TRUE(outcome.ok()) << outcome.error().message;
        if (!outcome->has_value()) ++missing;
    }
    EXPECT_EQ(missing, 0U) << "events without an outcome";
    EXPECT_EQ(log_length(), static_cast<std::int64_t>(gen.event_ids().size()));
    auto stats = reader_->stats(options_.app);
    ASSERT_TRUE(stats.ok()) << stats.error().message;
    EXPECT_EQ(stats->at("events"), static_cast<std::int64_t>(gen.event_ids().size()));
}

}  // namespace provbridge::test_support
