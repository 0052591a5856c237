#include "provbridge/ops/bridge.hpp"

#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <set>

#include "provbridge/consumers/curl_scim_client.hpp"
#include "provbridge/consumers/dry_run.hpp"
#include "provbridge/consumers/kafka_source.hpp"
#include "provbridge/consumers/parked_source.hpp"
#include "provbridge/consumers/redis_quarantine.hpp"
#include "provbridge/transforms/deletion_threshold.hpp"
#include "provbridge/transforms/scim_protocol.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/ops/embedded_broker.hpp"
#include "provbridge/producers/kafka.hpp"

namespace provbridge::ops {
namespace {

// The app a record's key names (<app>/<type>/<id>), or "" without one.
std::string keyed_app(const InboundRecord& record) {
    if (!record.key) return {};
    const auto slash = record.key->find('/');
    return slash == std::string::npos ? std::string() : record.key->substr(0, slash);
}

// Everything one lane owns: a SCIM client per app, a Redis connection, and the processor
// that uses them from the lane's thread. The records of dry-run apps go to a second processor
// over dry-run views of the same clients and store: the worker's one pipeline, not a copy.
class LaneHandler final : public consumers::RecordHandler {
public:
    LaneHandler(std::map<std::string, std::unique_ptr<ScimClient>> clients,
                std::unique_ptr<consumers::RedisStateStore> store,
                std::unique_ptr<consumers::RedisQuarantineStore> operations,
                const std::vector<consumers::AppRuntime>& apps, DeadLetterSink& dead_letters,
                const Clock& clock, std::shared_ptr<spdlog::logger> log,
                consumers::EventProcessor::Options options)
        : clients_(std::move(clients)), store_(std::move(store)), operations_(std::move(operations)) {
        std::map<std::string, ScimClient*> views;
        std::map<std::string, ScimClient*> dry_views;
        for (auto& [app, client] : clients_) {
            const bool dry = std::any_of(apps.begin(), apps.end(), [&app = app](const consumers::AppRuntime& a) {
                return a.config.id == app && a.config.dry_run;
            });
            if (!dry) {
                views[app] = client.get();
                continue;
            }
            dry_apps_.insert(app);
            dry_clients_[app] = std::make_unique<consumers::DryRunScimClient>(client.get(), &dry_exchanges_);
            dry_views[app] = dry_clients_[app].get();
        }
        if (!dry_apps_.empty()) {
            dry_store_ = std::make_unique<consumers::DryRunStore>(*store_, *store_, dry_exchanges_);
            auto dry = options;
            // Nothing waits in a dry run: a failed read ends the event at once (its outcome says a
            // live run would retry), the app is never quarantined by what a dry run saw, and a
            // held-back event is judged like any other.
            dry.retry.max_attempts = 1;
            dry.quarantine = nullptr;
            dry.operations = nullptr;
            dry.membership = dry_store_.get();
            dry_processor_ = std::make_unique<consumers::EventProcessor>(apps, std::move(dry_views), *dry_store_,
                                                                         dry_dead_letters_, clock, log, dry);
        }
        options.operations = operations_.get();
        options.membership = store_.get();
        processor_ = std::make_unique<consumers::EventProcessor>(apps, std::move(views), *store_, dead_letters,
                                                                 clock, std::move(log), options);
    }
    consumers::ProcessResult handle(const InboundRecord& record) override {
        auto& processor = processor_for(record);
        return marked(processor, processor.process(record));
    }
    consumers::ProcessResult handle_failure(const InboundRecord& record, std::string_view what) override {
        auto& processor = processor_for(record);
        return marked(processor, processor.dead_letter_internal(record, std::string(what)));
    }
    // The worker claims no heads of a dry-run app (Bridge leaves its queues out).
    consumers::ProcessResult handle_parked(const ClaimedHead& head) override { return processor_->process_parked(head); }
    consumers::ProcessResult handle_held(const InboundRecord& record) override {
        auto& processor = processor_for(record);
        return &processor == dry_processor_.get() ? marked(processor, processor.process(record))
                                                  : processor.process_held(record);
    }
    consumers::ProcessResult handle_parked_failure(const ClaimedHead& head, std::string_view what) override {
        return processor_->dead_letter_internal(head.event.record, std::string(what), &head);
    }

private:
    // The dry run's view marked the record it stored; the worker's counters read this copy.
    consumers::ProcessResult marked(const consumers::EventProcessor& processor, consumers::ProcessResult result) const {
        if (&processor == dry_processor_.get() && result.record) result.record->dry_run = true;
        return result;
    }
    // By the key, as the contract routes records: a record whose data names another app is
    // refused (KeyMismatch) by whichever processor the key chose.
    consumers::EventProcessor& processor_for(const InboundRecord& record) {
        if (dry_processor_ && dry_apps_.contains(keyed_app(record))) return *dry_processor_;
        return *processor_;
    }

    std::map<std::string, std::unique_ptr<ScimClient>> clients_;
    std::unique_ptr<consumers::RedisStateStore> store_;
    std::unique_ptr<consumers::RedisQuarantineStore> operations_;
    std::unique_ptr<consumers::EventProcessor> processor_;
    std::set<std::string> dry_apps_;
    std::vector<consumers::DryRunExchange> dry_exchanges_;
    std::map<std::string, std::unique_ptr<consumers::DryRunScimClient>> dry_clients_;
    std::unique_ptr<consumers::DryRunStore> dry_store_;
    consumers::DryRunDeadLetters dry_dead_letters_;
    std::unique_ptr<consumers::EventProcessor> dry_processor_;
};

}  // namespace

std::map<std::string, std::string> Bridge::consumer_properties(const Config& config, const std::string& bootstrap,
                                                               bool embedded,
                                                               const std::map<std::string, std::string>& secrets) {
    auto props = producers::client_properties(config.kafka, bootstrap);
    for (const auto& [k, v] : config.kafka.consumer_properties) props[k] = v;
    for (const auto& [k, v] : secrets) props[k] = v;
    props["group.id"] = config.kafka.group_id;
    if (!config.kafka.group_instance_id.empty()) props["group.instance.id"] = config.kafka.group_instance_id;
    if (embedded) {
        // The mock cluster holds an empty Fetch for the whole fetch.wait.max.ms (500 ms by
        // default) instead of answering when data arrives, which would add up to half a
        // second to every event; a real broker answers at once.
        props.try_emplace("fetch.wait.max.ms", "10");
        // The mock waits session.timeout.ms - 1000 after any join, and again after a dead
        // member's session expires: about 2 x session.timeout.ms before a worker restarted
        // after kill -9 gets its partitions back (89 s with librdkafka's 45 s default).
        if (props.count("session.timeout.ms") == 0) {
            props["session.timeout.ms"] = std::to_string(kEmbeddedSessionTimeoutMs);
            props.try_emplace("heartbeat.interval.ms", std::to_string(kEmbeddedHeartbeatIntervalMs));
        }
    }
    return props;
}

std::map<std::string, std::string> producer_properties(const Config& config, const std::string& bootstrap,
                                                       const std::map<std::string, std::string>& secrets) {
    auto props = producers::client_properties(config.kafka, bootstrap);
    for (const auto& [k, v] : config.kafka.producer_properties) props[k] = v;
    for (const auto& [k, v] : secrets) props[k] = v;
    return props;
}

std::map<std::string, std::string> Bridge::dead_letter_producer_properties(
    const Config& config, const std::string& bootstrap, const std::map<std::string, std::string>& secrets) {
    auto props = producer_properties(config, bootstrap, secrets);
    // A record the consumer could receive must never be too large to forward: without an explicit
    // message.max.bytes, the dead-letter producer takes whatever the consumer's receive limit lets
    // in. A broker's topic limit (max.message.bytes) may still refuse it; the publisher then
    // writes the truncated form.
    if (props.count("message.max.bytes") == 0) {
        const auto consumer = consumer_properties(config, bootstrap, false, secrets);
        const auto receive = consumer.find("receive.message.max.bytes");
        props["message.max.bytes"] =
            receive != consumer.end() ? receive->second : std::to_string(kConsumerReceiveMaxBytes);
    }
    // Lanes wait on a dead-letter write; a lost Kafka must fail it within the same bound that
    // stops the consumer, not after librdkafka's default of 300 s.
    props["message.timeout.ms"] = std::to_string(config.kafka.lost_timeout.count());
    return props;
}

namespace {

// Where a librdkafka property a client runs with came from in the configuration.
using Origins = std::map<std::string, std::string>;  // property -> config field

Origins origins_of(const Config& config, const std::map<std::string, std::string>& section) {
    Origins out;
    for (const auto& [k, v] : config.kafka.properties) out[k] = "kafka.properties." + k;
    for (const auto& [k, v] : section) {
        out[k] = std::string(&section == &config.kafka.consumer_properties ? "kafka.consumer_properties."
                                                                           : "kafka.producer_properties.") +
                 k;
    }
    for (const auto& [k, v] : config.kafka.secret_properties) out[k] = "kafka.secret_properties." + k;
    return out;
}

// Builds the client librdkafka would build and names the configured field it refuses. Which
// field is found by leaving one configured property out at a time, never from the message.
void check_client(rd_kafka_type_t type, std::map<std::string, std::string> props, const Origins& origins,
                  const std::string& section_field, const Config& config, const Redactor& redactor) {
    props.erase("bootstrap.servers");  // the probe must not connect
    const auto refused = producers::check_client_properties(type, props);
    if (!refused) return;
    std::vector<std::string> culprits;
    for (const auto& [name, field] : origins) {
        auto without = props;
        if (without.erase(name) == 0) continue;
        if (!producers::check_client_properties(type, without)) culprits.push_back(field);
    }
    std::string reason = redactor.redact(*refused);
    if (culprits.empty()) throw ConfigError(config.source, section_field, reason);
    for (std::size_t i = 1; i < culprits.size(); ++i) {
        reason += (i == 1 ? " (together with " : ", ") + culprits[i] + (i + 1 == culprits.size() ? ")" : "");
    }
    throw ConfigError(config.source, culprits.front(), reason);
}

}  // namespace

void Bridge::check_kafka_properties(const Config& config, const Environment& env) {
    const auto secrets = resolve_kafka_secrets(config, env);
    Redactor redactor;
    for (const auto& [name, value] : secrets) redactor.add(value);
    auto consumer_origins = origins_of(config, config.kafka.consumer_properties);
    if (!config.kafka.group_instance_id.empty()) consumer_origins["group.instance.id"] = "kafka.group_instance_id";
    check_client(RD_KAFKA_CONSUMER,
                 consumers::KafkaConsumer::effective_properties(
                     consumer_properties(config, "", config.kafka.bootstrap_servers.empty(), secrets)),
                 consumer_origins,
                 config.kafka.consumer_properties.empty() ? "kafka.properties" : "kafka.consumer_properties", config,
                 redactor);
    check_client(RD_KAFKA_PRODUCER,
                 producers::KafkaProducer::effective_properties(dead_letter_producer_properties(config, "", secrets)),
                 origins_of(config, config.kafka.producer_properties),
                 config.kafka.producer_properties.empty() ? "kafka.properties" : "kafka.producer_properties", config,
                 redactor);
}

std::vector<std::string> configured_secrets(const Config& config, const Environment& env) {
    std::vector<std::string> out;
    for (const auto& app : config.apps) out.push_back(resolve_app_token(config, app, env));
    if (!config.redis.password.empty()) {
        out.push_back(resolve_secret(config.redis.password, env, config.source, "redis.password"));
    }
    for (auto& [name, value] : resolve_kafka_secrets(config, env)) out.push_back(std::move(value));
    if (auto ops = resolve_ops_token(config, env); !ops.empty()) out.push_back(std::move(ops));
    auto notifications = resolve_notification_secrets(config, env);
    if (!notifications.smtp_password.empty()) out.push_back(std::move(notifications.smtp_password));
    if (!notifications.webhook_token.empty()) out.push_back(std::move(notifications.webhook_token));
    return out;
}

Bridge::Bridge(const Config& config, const Environment& env, const std::string& bootstrap,
               std::shared_ptr<spdlog::logger> log, std::chrono::milliseconds progress_interval,
               ScimObserver* observer)
    : config_(config), log_(std::move(log)), apps_(consumers::build_app_runtimes(config)) {
    check_kafka_properties(config_, env);
    const auto kafka_secrets = resolve_kafka_secrets(config_, env);
    std::map<std::string, std::string> tokens;
    for (const auto& app : config_.apps) tokens[app.id] = resolve_app_token(config_, app, env);
    const std::string redis_password =
        config_.redis.password.empty()
            ? std::string()
            : resolve_secret(config_.redis.password, env, config_.source, "redis.password");
    for (const auto& [app, token] : tokens) redactor_.add(token);
    redactor_.add(redis_password);
    for (const auto& [name, value] : kafka_secrets) redactor_.add(value);
    redactor_.add(resolve_ops_token(config_, env));

    producers::KafkaProducer::Options producer_options;
    producer_options.log = [log = log_](int level, const std::string& facility, const std::string& message) {
        log->log(level <= 3 ? spdlog::level::err : level == 4 ? spdlog::level::warn : spdlog::level::debug,
                 "kafka dead-letter producer {}: {}", facility, message);
    };
    producer_ = std::make_unique<producers::KafkaProducer>(
        dead_letter_producer_properties(config_, bootstrap, kafka_secrets), producer_options);
    // Nothing is consumed before a broker answered: an unreachable Kafka is reported after a
    // bound, not retried in the background forever while the worker looks alive.
    const auto cluster = producer_->cluster_id(config_.kafka.connect_timeout);
    if (!cluster) {
        throw std::runtime_error("Kafka unreachable at " + bootstrap + ": " + cluster.error().message +
                                 " (kafka.connect_timeout_ms)");
    }
    const bool embedded = config_.kafka.bootstrap_servers.empty() || EmbeddedBroker::is_embedded_cluster_id(*cluster);
    if (embedded && !config_.kafka.bootstrap_servers.empty()) {
        log_->info("{} is the embedded development broker (cluster {}): using its short group timers", bootstrap,
                   *cluster);
    }
    // The report comes within message.timeout.ms (the lost timeout); the margin covers the purge.
    dead_letters_ = std::make_unique<producers::DeadLetterPublisher>(
        *producer_, config_.kafka.dead_letter_topic, config_.kafka.lost_timeout + std::chrono::seconds(5));

    const KeyScheme keys(config_.redis.key_prefix);
    const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(config_.redis.dedupe_ttl);
    const auto redis = consumers::redis_options(config_.redis, redis_password);
    quarantine_store_ = std::make_unique<consumers::RedisQuarantineStore>(redis, keys);
    gate_ = std::make_unique<consumers::QuarantineGate>(*quarantine_store_, config_.quarantine, clock_, log_, &redactor_);
    // Every client of an app, the probe's too, is observed (the ops server's SCIM metrics).
    const auto client_for = [&](const AppConfig& app) -> std::unique_ptr<ScimClient> {
        auto client = std::make_unique<consumers::CurlScimClient>(consumers::scim_client_options(app, tokens.at(app.id)));
        if (observer == nullptr) return client;
        return std::make_unique<ObservedScimClient>(app.id, std::move(client), *observer);
    };
    for (const auto& app : config_.apps) probe_clients_[app.id] = client_for(app);
    // Split across the live workers, counted by a heartbeat in Redis (not a round trip per request).
    const std::string owner = consumers::worker_owner_id();
    std::vector<consumers::AppRateLimiter*> limiters;
    for (const auto& app : config_.apps) {
        limiters_[app.id] = std::make_unique<consumers::AppRateLimiter>(app.id, app.rate_limit, clock_, log_);
        limiters.push_back(limiters_[app.id].get());
    }
    heartbeat_ = std::make_unique<consumers::RedisWorkerHeartbeat>(redis, keys, owner, kHeartbeatInterval);
    share_ = std::make_unique<consumers::RateShare>(std::move(limiters), log_);
    // Each app has lanes of its own (its requests in flight), so a slow app holds up no other;
    // a few shared lanes take what names no app and the events held back from an app that is behind.
    consumers::WorkerOptions options;
    options.concurrency = std::max(2, config_.worker.concurrency / 4);
    int lanes = options.concurrency;
    int app_lanes = 0;
    for (const auto& app : config_.apps) {
        consumers::AppLanes group;
        group.app = app.id;
        group.lanes = app.max_in_flight > 0 ? app.max_in_flight : config_.worker.concurrency;
        group.max_queued = app.max_queued > 0 ? app.max_queued : 4 * group.lanes;
        lanes += group.lanes;
        app_lanes += group.lanes;
        options.apps.push_back(std::move(group));
    }
    for (int lane = 0; lane < lanes; ++lane) {
        std::map<std::string, std::unique_ptr<ScimClient>> clients;
        for (const auto& app : config_.apps) clients[app.id] = client_for(app);
        auto store = std::make_unique<consumers::RedisStateStore>(
            consumers::redis_options(config_.redis, redis_password), keys, ttl, config_.redis.log_max_entries, clock_);
        store->set_log_max_age(config_.redis.log_max_age);
        consumers::EventProcessor::Options processing;
        processing.limits = ParseLimits{config_.worker.max_event_bytes, config_.worker.max_event_depth};
        processing.redactor = &redactor_;
        processing.retry = config_.retry;
        processing.random = &random_;
        processing.quarantine = gate_.get();
        for (const auto& [app, limiter] : limiters_) processing.rate_limiters[app] = limiter.get();
        handlers_.push_back(std::make_unique<LaneHandler>(
            std::move(clients), std::move(store), std::make_unique<consumers::RedisQuarantineStore>(redis, keys), apps_,
            *dead_letters_, clock_, log_, processing));
    }

    options.max_in_flight = config_.worker.max_in_flight;
    options.spill_after = config_.worker.spill_after;
    options.progress_interval = progress_interval;
    options.parked_poll_interval = config_.retry.poll_interval;
    options.max_parked_in_flight = std::max(1, app_lanes * 2);
    auto properties = consumer_properties(config_, bootstrap, embedded, kafka_secrets);
    std::vector<std::string> topics{config_.kafka.events_topic};
    offset_gaps_ = std::make_unique<consumers::RedisOffsetGapStore>(redis, keys, clock_, log_);
    worker_ = std::make_unique<consumers::Worker>(
        options,
        [properties, topics, log = log_, lost = config_.kafka.lost_timeout,
         gaps = offset_gaps_.get()](consumers::RebalanceListener& listener) {
            return std::make_unique<consumers::KafkaRecordSource>(properties, topics, listener, log, lost, gaps);
        },
        [this](int lane) { return std::move(handlers_.at(static_cast<std::size_t>(lane))); }, log_);
    offset_gaps_->set_observer([worker = worker_.get()](const consumers::OffsetGap& gap) {
        worker->count_offset_gap(static_cast<std::uint64_t>(gap.lost));
    });
    // A dry-run app's queues wait for it to run for real: a dry run must not finish them.
    std::vector<std::string> app_ids;
    for (const auto& app : config_.apps) {
        if (!app.dry_run) app_ids.push_back(app.id);
    }
    auto parked_store = std::make_unique<consumers::RedisStateStore>(redis, keys, ttl, config_.redis.log_max_entries, clock_);
    parked_store->set_log_max_age(config_.redis.log_max_age);
    auto& deadlines = *parked_store;
    // An app's relative deletion limit needs its number of linked accounts: the links an
    // earlier version wrote are counted once here, before anything is consumed, so that the
    // admission never has to guess (nor scan).
    for (const auto& app : config_.apps) {
        if (app.deletion_threshold.max_percent == 0) continue;
        auto linked = parked_store->count_linked(app.id);
        if (!linked) {
            throw std::runtime_error("cannot count the linked accounts of app " + app.id +
                                     " (deletion_threshold.max_percent) in Redis: " + linked.error().message);
        }
        log_->info("app {}: {} linked accounts; disables and deletes are staged from {}% of them within {}", app.id,
                   *linked, app.deletion_threshold.max_percent, transforms::window_phrase(app.deletion_threshold.window));
    }
    auto parked = std::make_unique<consumers::StoreParkedSource>(std::move(parked_store), std::move(app_ids),
                                                                 effective_retry_lease(config_), clock_, owner);
    parked->set_hold([gate = gate_.get()](const std::string& app) { return gate->held(app); });
    parked->set_reference_deadlines(deadlines);
    worker_->set_parked_source(std::move(parked));

    if (config_.notifications.any()) {
        alert_quarantine_ = std::make_unique<consumers::RedisQuarantineStore>(redis, keys);
        alert_staged_ = std::make_unique<consumers::RedisConnection>(redis);
        alert_ledger_ = std::make_unique<consumers::RedisAlertLedger>(redis, keys);
        const auto secrets = resolve_notification_secrets(config_, env);
        redactor_.add(secrets.smtp_password);
        redactor_.add(secrets.webhook_token);
        notifier_ = std::make_unique<consumers::CurlNotifier>(config_.notifications, secrets, redactor_);
    }
}

Bridge::~Bridge() = default;

std::map<std::string, consumers::RateLimitSnapshot> Bridge::rate_limits() const {
    std::map<std::string, consumers::RateLimitSnapshot> out;
    for (const auto& [app, limiter] : limiters_) out[app] = limiter->snapshot();
    return out;
}

std::optional<std::string> Bridge::run() {
    // The probe loop: re-reads every app's quarantine (other workers enter and lift them too) and
    // probes a quarantined app when its probe is due.
    std::vector<std::string> apps;
    for (const auto& app : config_.apps) apps.push_back(app.id);
    // A dry run lifts no quarantine: the live workers probe their apps.
    std::vector<std::string> probed;
    for (const auto& app : config_.apps) {
        if (!app.dry_run) probed.push_back(app.id);
    }
    std::thread probes([this, apps = probed] {
        const consumers::QuarantineGate::Prober probe = [this](const std::string& app) {
            // Entra's test connection: a filter for a user nobody has must answer 200.
            const auto* runtime = &apps_.front();
            for (const auto& a : apps_) {
                if (a.config.id == app) runtime = &a;
            }
            const auto path = transforms::parse_scim_path("userName");
            // The probe takes its turn like any request: never refused, but never on top of the rate.
            auto& limiter = *limiters_.at(app);
            const auto turn = limiter.reserve();
            if (turn > clock_.steady_now()) clock_.wait_until(turn);
            auto response = probe_clients_.at(app)->send(transforms::find_request(
                runtime->profile.users.mapping.resource_path, *path, "provbridge-probe-" + std::to_string(clock_.wall_ms())));
            if (response.transport == TransportStatus::Ok && response.status == 429) limiter.throttled();
            return response;
        };
        std::unique_lock lock(probe_mutex_);
        while (!probe_stop_) {
            lock.unlock();
            gate_->tick(apps, probe);
            lock.lock();
            probe_cv_.wait_for(lock, config_.retry.poll_interval, [&] { return probe_stop_; });
        }
    });
    // Its own thread: a probe waiting on a slow app must not stop the heartbeat, or the other
    // workers would stop counting this one and take its share on top of what it sends.
    std::thread heartbeat([this] {
        std::unique_lock lock(probe_mutex_);
        while (!probe_stop_) {
            lock.unlock();
            share_->update(heartbeat_->beat());
            lock.lock();
            probe_cv_.wait_for(lock, heartbeat_->interval(), [&] { return probe_stop_; });
        }
    });
    std::thread notifications;
    if (notifier_) {
        notifications = std::thread([this, apps] {
            const KeyScheme keys(config_.redis.key_prefix);
            consumers::NotificationWatch watch(
                apps, *alert_quarantine_,
                [this, keys](const std::string& app) -> Result<std::int64_t> {
                    auto n = alert_staged_->call({"ZCARD", keys.staged(app)});
                    if (!n) return n.error();
                    return n->integer;
                },
                *alert_ledger_, *notifier_, clock_, log_, dashboard_url_);
            std::unique_lock lock(probe_mutex_);
            while (!probe_stop_) {
                lock.unlock();
                watch.tick();
                lock.lock();
                probe_cv_.wait_for(lock, kNotificationInterval, [&] { return probe_stop_; });
            }
        });
    }
    auto result = worker_->run();
    {
        std::lock_guard lock(probe_mutex_);
        probe_stop_ = true;
    }
    probe_cv_.notify_all();
    probes.join();
    heartbeat.join();
    if (notifications.joinable()) notifications.join();
    (void)heartbeat_->leave();
    return result;
}

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
