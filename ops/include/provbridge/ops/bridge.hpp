#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "provbridge/consumers/event_processor.hpp"
#include "provbridge/consumers/worker.hpp"
#include "provbridge/core/clock.hpp"
#include "provbridge/core/config.hpp"
#include "provbridge/producers/producer.hpp"

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
           std::chrono::milliseconds progress_interval = std::chrono::seconds(5));
    ~Bridge();

    // Runs until request_stop() or a fatal error (returned).
    std::optional<std::string> run();
    void request_stop();
    consumers::Worker& worker() { return *worker_; }

    // Consumer properties: the configured librdkafka properties, group.id, and for the
    // embedded broker a short session timeout so rebalances take seconds, not 45 s.
    static std::map<std::string, std::string> consumer_properties(const Config& config,
                                                                  const std::string& bootstrap);

private:
    Config config_;
    std::shared_ptr<spdlog::logger> log_;
    SystemClock clock_;
    std::vector<consumers::AppRuntime> apps_;
    std::unique_ptr<producers::KafkaProducer> producer_;
    std::unique_ptr<producers::DeadLetterPublisher> dead_letters_;
    std::vector<std::unique_ptr<consumers::RecordHandler>> handlers_;
    std::unique_ptr<consumers::Worker> worker_;
};

// Producer properties: the configured librdkafka properties plus the producer-only ones.
std::map<std::string, std::string> producer_properties(const Config& config, const std::string& bootstrap);

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
