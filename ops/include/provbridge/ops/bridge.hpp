#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <functional>
#include <memory>
#include <thread>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "provbridge/consumers/event_processor.hpp"
#include "provbridge/consumers/notifications.hpp"
#include "provbridge/consumers/redis_quarantine.hpp"
#include "provbridge/consumers/quarantine_gate.hpp"
#include "provbridge/consumers/rate_limiter.hpp"
#include "provbridge/consumers/worker_heartbeat.hpp"
#include "provbridge/consumers/worker.hpp"
#include "provbridge/core/clock.hpp"
#include "provbridge/core/config.hpp"
#include "provbridge/core/random.hpp"
#include "provbridge/core/redact.hpp"
#include "provbridge/producers/producer.hpp"

namespace provbridge::consumers {
class RedisOffsetGapStore;
}

namespace provbridge::ops {

// The worker of `provbridge run`, wired from a configuration: a consumer-group member on the
// events topic, one lane per unit of concurrency (each with its own SCIM clients and Redis
// connection), and the dead-letter publisher. All connections are made in the constructor, so
// a bad secret or an unreachable Redis is refused at start-up, before anything is consumed.
class Bridge {
public:
    // bootstrap: the Kafka bootstrap servers to use (the configured ones, or the embedded
    // broker's). Throws ConfigError for secrets and std::runtime_error for unreachable services.
    Bridge(const Config& config, const Environment& env, const std::string& bootstrap,
           std::shared_ptr<spdlog::logger> log,
           std::chrono::milliseconds progress_interval = std::chrono::seconds(5),
           ScimObserver* observer = nullptr);
    ~Bridge();

    // Runs until request_stop() or a fatal error (returned).
    std::optional<std::string> run();
    void request_stop();
    consumers::Worker& worker() { return *worker_; }
    // Each app's rate limiter in this worker: its share, current rate and what it did.
    std::map<std::string, consumers::RateLimitSnapshot> rate_limits() const;
    // Where notifications point operators to (the ops server's page); before run().
    void set_dashboard_url(std::string url) { dashboard_url_ = std::move(url); }
    // How often the notification watch looks at the apps' states.
    static constexpr std::chrono::milliseconds kNotificationInterval{2000};

    // Against the embedded broker (in-process, or `provbridge broker` recognised by its cluster
    // id) unless configured otherwise: a worker restarted after kill -9 gets its partitions
    // back after about 2 x session.timeout.ms there (measured 4.9 s with these, 10.9 s with 6 s).
    static constexpr int kEmbeddedSessionTimeoutMs = 3000;
    static constexpr int kEmbeddedHeartbeatIntervalMs = 1000;
    // librdkafka's default receive.message.max.bytes: the largest record a consumer takes in.
    static constexpr long long kConsumerReceiveMaxBytes = 100000000;
    // How often a worker tells Redis it is alive; the others count it for 3 of these.
    static constexpr std::chrono::milliseconds kHeartbeatInterval{1000};

    // Consumer properties: the configured librdkafka properties, the resolved Kafka secrets,
    // group.id, group.instance.id, and for the embedded broker short group timers and fetch wait.
    static std::map<std::string, std::string> consumer_properties(
        const Config& config, const std::string& bootstrap, bool embedded,
        const std::map<std::string, std::string>& secrets = {});
    // The dead-letter producer's: producer properties, message.max.bytes as large as what the
    // consumer can receive (unless configured), message.timeout.ms = kafka.lost_timeout_ms.
    static std::map<std::string, std::string> dead_letter_producer_properties(
        const Config& config, const std::string& bootstrap, const std::map<std::string, std::string>& secrets = {});

    // Lets librdkafka check every configured property without connecting: each value, and the
    // clients built from them (what librdkafka checks only then, e.g. fetch.max.bytes against
    // message.max.bytes). Resolves the Kafka secrets. Throws ConfigError naming the field, e.g.
    // kafka.consumer_properties.session.timeout.ms.
    static void check_kafka_properties(const Config& config, const Environment& env);

private:
    Config config_;
    std::shared_ptr<spdlog::logger> log_;
    SystemClock clock_;
    SystemRandom random_;  // retry jitter, shared by the lanes
    Redactor redactor_;  // every configured secret; before the lanes, which hold it by reference
    std::vector<consumers::AppRuntime> apps_;
    std::unique_ptr<producers::KafkaProducer> producer_;
    std::unique_ptr<producers::DeadLetterPublisher> dead_letters_;
    // Before the lanes, which hold the gate.
    std::unique_ptr<QuarantineStore> quarantine_store_;
    std::unique_ptr<consumers::QuarantineGate> gate_;
    std::map<std::string, std::unique_ptr<ScimClient>> probe_clients_;  // the probe's own connections
    // Before the lanes, which hold them: one per app, shared by every lane (and the probe).
    std::map<std::string, std::unique_ptr<consumers::AppRateLimiter>> limiters_;
    std::unique_ptr<consumers::RedisWorkerHeartbeat> heartbeat_;
    std::unique_ptr<consumers::RateShare> share_;
    std::vector<std::unique_ptr<consumers::RecordHandler>> handlers_;
    // Retention gaps the consumer finds: recorded in Redis and counted. Outlives the worker.
    std::unique_ptr<consumers::RedisOffsetGapStore> offset_gaps_;
    std::unique_ptr<consumers::Worker> worker_;
    // Notifications (when configured): their own Redis connections, used by their thread.
    std::unique_ptr<consumers::RedisQuarantineStore> alert_quarantine_;
    std::unique_ptr<consumers::RedisConnection> alert_staged_;
    std::unique_ptr<consumers::RedisAlertLedger> alert_ledger_;
    std::unique_ptr<consumers::CurlNotifier> notifier_;
    std::string dashboard_url_;
    std::mutex probe_mutex_;
    std::condition_variable probe_cv_;
    bool probe_stop_ = false;
};

// Producer properties: the configured librdkafka properties plus the producer-only ones and
// the resolved Kafka secrets.
std::map<std::string, std::string> producer_properties(const Config& config, const std::string& bootstrap,
                                                       const std::map<std::string, std::string>& secrets = {});

// Every secret a configuration resolves to (SCIM tokens, the Redis password, Kafka secret
// properties), for a Redactor. Throws ConfigError when one cannot be resolved (start-up only).
std::vector<std::string> configured_secrets(const Config& config, const Environment& env);

// Runs a stop callback when SIGINT or SIGTERM arrives. The signals are blocked in every thread
// (call block_stop_signals() before starting any) and taken by a dedicated sigwait thread, so
// no work happens in a signal handler.
class StopSignals {
public:
    static void block_stop_signals();
    explicit StopSignals(std::function<void(int)> on_signal);
    ~StopSignals();
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

private:
    std::thread thread_;
};

}  // namespace provbridge::ops
