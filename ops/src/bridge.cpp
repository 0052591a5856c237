#include "provbridge/ops/bridge.hpp"

#include <csignal>
#include <pthread.h>

#include "provbridge/consumers/curl_scim_client.hpp"
#include "provbridge/consumers/kafka_source.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/producers/kafka.hpp"

namespace provbridge::ops {
namespace {

// Everything one lane owns: a SCIM client per app, a Redis connection, and the processor
// that uses them from the lane's thread.
class LaneHandler final : public consumers::RecordHandler {
public:
    LaneHandler(std::map<std::string, std::unique_ptr<consumers::CurlScimClient>> clients,
                std::unique_ptr<consumers::RedisStateStore> store,
                const std::vector<consumers::AppRuntime>& apps, DeadLetterSink& dead_letters,
                const Clock& clock, std::shared_ptr<spdlog::logger> log)
        : clients_(std::move(clients)), store_(std::move(store)) {
        std::map<std::string, ScimClient*> views;
        for (auto& [app, client] : clients_) views[app] = client.get();
        processor_ = std::make_unique<consumers::EventProcessor>(apps, std::move(views), *store_, dead_letters,
                                                                 clock, std::move(log));
    }
    consumers::ProcessResult handle(const InboundRecord& record) override { return processor_->process(record); }

private:
    std::map<std::string, std::unique_ptr<consumers::CurlScimClient>> clients_;
    std::unique_ptr<consumers::RedisStateStore> store_;
    std::unique_ptr<consumers::EventProcessor> processor_;
};

}  // namespace

std::map<std::string, std::string> Bridge::consumer_properties(const Config& config,
                                                               const std::string& bootstrap) {
    auto props = producers::client_properties(config.kafka, bootstrap);
    for (const auto& [k, v] : config.kafka.consumer_properties) props[k] = v;
    props["group.id"] = config.kafka.group_id;
    if (config.kafka.bootstrap_servers.empty()) {
        // The mock cluster holds an empty Fetch for the whole fetch.wait.max.ms (500 ms by
        // default) instead of answering when data arrives, which would add up to half a
        // second to every event; a real broker answers at once.
        props.try_emplace("fetch.wait.max.ms", "10");
        if (props.count("session.timeout.ms") == 0) {
            props["session.timeout.ms"] = "6000";
            props["heartbeat.interval.ms"] = "1000";
        }
    }
    return props;
}

std::map<std::string, std::string> producer_properties(const Config& config, const std::string& bootstrap) {
    auto props = producers::client_properties(config.kafka, bootstrap);
    for (const auto& [k, v] : config.kafka.producer_properties) props[k] = v;
    return props;
}

Bridge::Bridge(const Config& config, const Environment& env, const std::string& bootstrap,
               std::shared_ptr<spdlog::logger> log, std::chrono::milliseconds progress_interval)
    : config_(config), log_(std::move(log)), apps_(consumers::build_app_runtimes(config)) {
    std::map<std::string, std::string> tokens;
    for (const auto& app : config_.apps) tokens[app.id] = resolve_app_token(config_, app, env);
    const std::string redis_password =
        config_.redis.password.empty()
            ? std::string()
            : resolve_secret(config_.redis.password, env, config_.source, "redis.password");

    producer_ = std::make_unique<producers::KafkaProducer>(producer_properties(config_, bootstrap));
    dead_letters_ = std::make_unique<producers::DeadLetterPublisher>(*producer_, config_.kafka.dead_letter_topic);

    const KeyScheme keys(config_.redis.key_prefix);
    const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(config_.redis.dedupe_ttl);
    for (int lane = 0; lane < config_.worker.concurrency; ++lane) {
        std::map<std::string, std::unique_ptr<consumers::CurlScimClient>> clients;
        for (const auto& app : config_.apps) {
            clients[app.id] = std::make_unique<consumers::CurlScimClient>(
                consumers::scim_client_options(app, tokens.at(app.id)));
        }
        auto store = std::make_unique<consumers::RedisStateStore>(
            consumers::redis_options(config_.redis, redis_password), keys, ttl, config_.redis.log_max_entries, clock_);
        handlers_.push_back(std::make_unique<LaneHandler>(std::move(clients), std::move(store), apps_,
                                                          *dead_letters_, clock_, log_));
    }

    consumers::WorkerOptions options;
    options.concurrency = config_.worker.concurrency;
    options.max_in_flight = config_.worker.max_in_flight;
    options.progress_interval = progress_interval;
    auto properties = consumer_properties(config_, bootstrap);
    std::vector<std::string> topics{config_.kafka.events_topic};
    worker_ = std::make_unique<consumers::Worker>(
        options,
        [properties, topics, log = log_](consumers::RebalanceListener& listener) {
            return std::make_unique<consumers::KafkaRecordSource>(properties, topics, listener, log);
        },
        [this](int lane) { return std::move(handlers_.at(static_cast<std::size_t>(lane))); }, log_);
}

Bridge::~Bridge() = default;

std::optional<std::string> Bridge::run() { return worker_->run(); }

void Bridge::request_stop() { worker_->request_stop(); }

void StopSignals::block_stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

StopSignals::StopSignals(std::function<void(int)> on_signal) {
    thread_ = std::thread([on_signal = std::move(on_signal)] {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGUSR2);  // private wake-up used by the destructor
        for (;;) {
            int signo = 0;
            if (sigwait(&set, &signo) != 0) continue;
            if (signo == SIGUSR2) return;
            on_signal(signo);
        }
    });
}

StopSignals::~StopSignals() {
    pthread_kill(thread_.native_handle(), SIGUSR2);
    thread_.join();
}

}  // namespace provbridge::ops
