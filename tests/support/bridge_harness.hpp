#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"
#include "provbridge/consumers/curl_scim_client.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/ops/embedded_broker.hpp"
#include "provbridge/ops/local_services.hpp"
#include "provbridge/ops/process.hpp"
#include "provbridge/producers/producer.hpp"
#include "user_event_generator.hpp"

namespace provbridge::test_support {

// Everything an integration test of the real binary needs: a throwaway redis-server, the
// SCIMMY target (optionally behaving like a given app), an embedded broker, a configuration
// file wiring one app to them, and the clients to look at the results.
class BridgeHarness {
public:
    struct Options {
        std::string app = "app";
        std::string profile = "generic";
        std::string behave_like = "generic";
        nlohmann::json app_extra = nlohmann::json::object();  // merged into the app's config
        nlohmann::json scim_extra = nlohmann::json::object();  // merged into the app's scim section
        std::string group = "test";
        int brokers = 1;
        int partitions = 3;
        int concurrency = 4;
        int max_in_flight = 1000;
        // Extra consumer properties. None are needed for the embedded broker: the worker
        // recognises it and sets short group timers and fetch wait itself.
        nlohmann::json consumer_properties = nlohmann::json::object();
        nlohmann::json kafka_extra = nlohmann::json::object();  // merged into the kafka section
        // The retry section: short backoff so that tests of retries take seconds, not minutes.
        nlohmann::json retry = {{"base_delay_ms", 50}, {"max_delay_ms", 1000}, {"poll_interval_ms", 50}};
        // The quarantine section: probes a second apart instead of minutes.
        nlohmann::json quarantine = {{"probe_intervals_seconds", {1, 1, 2}}};
        // A second app with a SCIM target of its own (none when empty), for isolation tests.
        std::string second_app;
        nlohmann::json second_app_extra = nlohmann::json::object();
        nlohmann::json worker_extra = nlohmann::json::object();  // merged into the worker section
        nlohmann::json config_extra = nlohmann::json::object();  // merged into the whole document
    };
    // The test producer's message.max.bytes: records well over the worker's limits can be sent.
    static constexpr int kProducerMaxBytes = 16 * 1024 * 1024;

    static constexpr const char* kTopic = "provisioning.events";
    static constexpr const char* kDeadLetterTopic = "provisioning.deadletter";

    explicit BridgeHarness(Options options);

    // `provbridge run --json-progress` on the configuration; stderr merged when asked.
    std::unique_ptr<ops::ChildProcess> start_worker(bool merge_stderr = false,
                                                    const std::string& log_level = "warn",
                                                    std::vector<std::string> extra_env = {},
                                                    std::vector<std::string> extra_args = {}) const;
    // Reads progress lines until the named counter (consumed, finished, parked, retried, ...)
    // reaches n; returns the last line read. A timeout is a test failure.
    static nlohmann::json wait_counter(ops::ChildProcess& worker, const char* counter, std::uint64_t n,
                                       std::chrono::seconds timeout = std::chrono::seconds(60),
                                       std::string* transcript = nullptr);
    // Like wait_finished, for the `consumed` counter: the worker has the records in hand.
    static nlohmann::json wait_consumed(ops::ChildProcess& worker, std::uint64_t n,
                                        std::chrono::seconds timeout = std::chrono::seconds(60),
                                        std::string* transcript = nullptr);
    // Reads the worker's progress lines until `finished` reaches n; returns the last line read.
    // A timeout or the worker's exit is a test failure. Every line read is appended to
    // `transcript` when given (to check the output for secrets, say).
    static nlohmann::json wait_finished(ops::ChildProcess& worker, std::uint64_t n,
                                        std::chrono::seconds timeout = std::chrono::seconds(180),
                                        std::string* transcript = nullptr);

    // Reads the worker's lines up to its ops server's announcement; returns the URL (http://…/).
    // Call it first: the announcement comes before any progress line.
    static std::string wait_ops_url(ops::ChildProcess& worker, std::chrono::seconds timeout = std::chrono::seconds(60));

    // Runs `provbridge <args> --config <this config>` to its end.
    CliResult cli(std::vector<std::string> args, std::chrono::seconds timeout = std::chrono::seconds(60)) const;

    // Sends one record and waits for the broker's acknowledgement (a failure fails the test).
    void send(const std::optional<std::string>& key, const std::string& value, const std::vector<Header>& headers = {});
    void send_event(const nlohmann::json& event);  // keyed <app>/<type>/<id>

    // The SCIM target's admin API; a non-2xx answer fails the test.
    nlohmann::json admin(HttpMethod method, const std::string& path,
                         std::vector<std::pair<std::string, std::string>> query = {},
                         std::optional<nlohmann::json> body = std::nullopt);
    nlohmann::json users() { return admin(HttpMethod::Get, "/_admin/users"); }
    // The second app's target's admin API (Options::second_app).
    nlohmann::json second_admin(HttpMethod method, const std::string& path,
                                std::optional<nlohmann::json> body = std::nullopt);
    nlohmann::json requests() { return admin(HttpMethod::Get, "/_admin/requests", {{"limit", "1000"}}); }
    nlohmann::json stats() { return admin(HttpMethod::Get, "/_admin/stats"); }
    nlohmann::json user_named(const std::string& user_name);  // null when absent

    // Sends JSON event lines as `provbridge produce` does (keyed, checked); all must be sent.
    void produce_lines(const std::vector<std::string>& lines);
    // The target holds exactly the generator's expected accounts, once each, with the generic
    // profile's mapped values and the expected active state.
    void expect_target_matches(const UserEventGenerator& gen);

    // Waits for the outcome of an event of the app (blocking reads on its log, no sleep loop);
    // a timeout is a test failure and returns a default record.
    OutcomeRecord wait_outcome(const std::string& source, const std::string& event_id,
                               std::chrono::seconds timeout = std::chrono::seconds(60));

    // Entries in the app's provisioning log (-1 and a test failure when Redis cannot say).
    std::int64_t log_length();
    // Every generated event id has exactly one recorded outcome: one outcome key each, and as
    // many log entries and counted events as ids (a second outcome would add one).
    void expect_one_outcome_each(const UserEventGenerator& gen);

    ops::LocalRedis& redis() { return *redis_; }
    ops::LocalScimTarget& target() { return *target_; }
    ops::EmbeddedBroker& broker() { return *broker_; }
    producers::KafkaProducer& producer() { return *producer_; }
    consumers::ProvisioningLogReader& reader() { return *reader_; }
    const std::string& config_path() const { return config_path_; }
    const std::string& token() const { return token_; }
    const std::string& ops_token() const { return ops_token_; }
    const Options& options() const { return options_; }

private:
    Options options_;
    std::string token_;
    std::string ops_token_;
    ops::TempDir dir_;
    std::unique_ptr<ops::LocalRedis> redis_;
    std::unique_ptr<ops::LocalScimTarget> target_;
    std::unique_ptr<ops::LocalScimTarget> second_target_;
    std::unique_ptr<ops::EmbeddedBroker> broker_;
    std::string config_path_;
    std::unique_ptr<producers::KafkaProducer> producer_;
    std::unique_ptr<consumers::ProvisioningLogReader> reader_;
    std::unique_ptr<consumers::CurlScimClient> admin_;
    std::unique_ptr<consumers::CurlScimClient> second_admin_;
};

}  // namespace provbridge::test_support
