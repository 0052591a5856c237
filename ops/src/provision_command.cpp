// `provbridge provision`: Entra's "provision on demand" for one object, through the worker's own
// pipeline, now, with every step and every SCIM exchange printed.
#include "provbridge/ops/provision_command.hpp"

#include <chrono>
#include <iostream>

#include <nlohmann/json.hpp>

#include "provbridge/consumers/curl_scim_client.hpp"
#include "provbridge/consumers/event_processor.hpp"
#include "provbridge/consumers/follow_up.hpp"
#include "provbridge/consumers/redis.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/clock.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/core/redact.hpp"
#include "provbridge/ops/bridge.hpp"
#include "provbridge/ops/commands.hpp"
#include "provbridge/ops/test_connection.hpp"
#include "provbridge/ops/text_output.hpp"
#include "provbridge/producers/producer.hpp"
#include "provbridge/transforms/log_view.hpp"

namespace provbridge::ops {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

// A response body is shown up to this much: enough for a SCIM resource or an error.
constexpr std::size_t kBodyShown = 4000;

// Passes every request to the app and keeps each exchange for the printout.
class RecordingClient final : public ScimClient {
public:
    struct Exchange {
        ScimRequest request;
        ScimResponse response;
    };
    explicit RecordingClient(ScimClient& inner) : inner_(inner) {}
    ScimResponse send(const ScimRequest& request) override {
        auto response = inner_.send(request);
        exchanges.push_back({request, response});
        return response;
    }
    std::vector<Exchange> exchanges;

private:
    ScimClient& inner_;
};

std::string request_line(const ScimRequest& r) {
    std::string line = std::string(to_string(r.method)) + " " + r.path;
    for (std::size_t i = 0; i < r.query.size(); ++i) {
        line += (i == 0 ? "?" : "&") + r.query[i].first + "=" + r.query[i].second;
    }
    return line;
}

std::string status_text(const ScimResponse& r) {
    if (r.transport != TransportStatus::Ok) {
        return std::string(to_string(r.transport)) + (r.transport_error.empty() ? "" : ": " + r.transport_error);
    }
    return "HTTP " + std::to_string(r.status);
}

std::string shown_body(const std::string& body) {
    auto doc = json::parse(body, nullptr, false);
    std::string text = doc.is_discarded() ? body : dump_json(doc, 2);
    if (text.size() > kBodyShown) text = text.substr(0, kBodyShown) + "\n… (" + std::to_string(text.size()) + " bytes)";
    return text;
}

std::string indented(const std::string& text, const std::string& prefix) {
    std::string out = prefix;
    for (char c : text) {
        out += c;
        if (c == '\n') out += prefix;
    }
    return out;
}

}  // namespace

int provision_command(const ProvisionOptions& options, std::shared_ptr<spdlog::logger> log) {
    if (options.user.empty() == options.group.empty()) {
        log->error("give one object: --user SOURCE_ID or --group SOURCE_ID");
        return kExitBadConfig;
    }
    const ObjectType type = options.user.empty() ? ObjectType::Group : ObjectType::User;
    const std::string& id = options.user.empty() ? options.group : options.user;
    const Environment env = current_environment();
    Config config;
    std::vector<consumers::AppRuntime> apps;
    std::string token;
    std::string redis_password;
    std::map<std::string, std::string> kafka_secrets;
    Redactor redactor;
    try {
        config = load_config(options.config_path, env);
        apps = consumers::build_app_runtimes(config);
        for (const auto& secret : configured_secrets(config, env)) redactor.add(secret);
        const AppConfig* app = config.find_app(options.app);
        if (app == nullptr) {
            log->error("no app \"{}\" in {}", options.app, config.source);
            return kExitBadConfig;
        }
        token = resolve_app_token(config, *app, env);
        if (!config.redis.password.empty()) {
            redis_password = resolve_secret(config.redis.password, env, config.source, "redis.password");
        }
        kafka_secrets = resolve_kafka_secrets(config, env);
    } catch (const ConfigError& e) {
        log->error("configuration refused: {}", e.what());
        return kExitBadConfig;
    }
    const AppConfig& app = *config.find_app(options.app);
    const std::string bootstrap = !options.bootstrap.empty() ? options.bootstrap : config.kafka.bootstrap_servers;
    if (bootstrap.empty()) {
        log->error("provision needs Kafka for what cannot succeed (the dead-letter topic), and "
                   "kafka.bootstrap_servers is empty in {}: pass --bootstrap", config.source);
        return kExitBadConfig;
    }
    const auto started = SteadyClock::now();
    const std::string object = std::string(to_string(type)) + "/" + id;
    std::cout << "Provision " << shown(object) << " in " << app.id << " (" << app.scim.base_url << ") now\n";

    consumers::CurlScimClient curl(consumers::scim_client_options(app, token));
    // 1. Test connection, as Entra does before provisioning on demand.
    const auto verdict = test_connection(curl, random_guid());
    std::cout << "1. Test connection  " << (verdict.ok ? "OK" : "FAILED") << ": " << redactor.redact(verdict.summary)
              << " (" << verdict.elapsed.count() << " ms)\n";
    if (!verdict.ok) {
        for (const auto& d : verdict.details) std::cout << "     " << redactor.redact(d) << "\n";
        std::cout << "Stopped: the app must answer the connection test first.\n";
        return kExitFailure;
    }

    SystemClock clock;
    std::unique_ptr<consumers::RedisStateStore> store;
    std::unique_ptr<consumers::ProvisioningLogReader> reader;
    try {
        reader = std::make_unique<consumers::ProvisioningLogReader>(
            consumers::redis_options(config.redis, redis_password), KeyScheme(config.redis.key_prefix));
        store = std::make_unique<consumers::RedisStateStore>(
            consumers::redis_options(config.redis, redis_password), KeyScheme(config.redis.key_prefix),
            std::chrono::duration_cast<std::chrono::seconds>(config.redis.dedupe_ttl), config.redis.log_max_entries,
            clock);
        store->set_log_max_age(config.redis.log_max_age);
    } catch (const std::exception& e) {
        log->error("cannot reach Redis: {}", e.what());
        return kExitUnavailable;
    }
    // The relative deletion limit asks for the app's linked accounts: counted once, as a
    // worker does at start, so that a disable sent from here is judged like a worker's.
    if (app.deletion_threshold.max_percent > 0) {
        if (auto linked = store->count_linked(app.id); !linked) {
            log->error("cannot count the linked accounts of {} in Redis: {}", app.id, linked.error().message);
            return kExitUnavailable;
        }
    }
    // 2. Import: the latest state the directory sent for the object.
    auto link = store->load_link(app.id, type, id);
    if (!link) {
        log->error("cannot read {} from Redis: {}", object, link.error().message);
        return kExitUnavailable;
    }
    const bool known = link->has_value() && ((*link)->snapshot.is_object() || type == ObjectType::Group);
    if (!known) {
        std::cout << "2. Import           nothing known: the directory has sent no state of " << shown(object)
                  << " for " << app.id << " yet (nothing to provision)\n";
        return kExitFailure;
    }
    const auto& l = **link;
    std::cout << "2. Import           " << shown(object) << ", version " << l.version
              << (type == ObjectType::Group ? std::string()
                  : l.assigned_role ? ", assigned (role " + shown(l.assigned_role->empty() ? "-" : *l.assigned_role) + ")"
                                    : ", not assigned directly")
              << (l.snapshot.is_object() ? ", " + std::to_string(l.snapshot.size()) + " attributes" : std::string())
              << (l.scim_id.empty() ? ", no account in the app yet" : ", account " + shown(l.scim_id)) << "\n";
    // Per-object order: never overtake events of the object that wait (a retry, a quarantine).
    auto waiting = reader->connection().call({"LLEN", KeyScheme(config.redis.key_prefix).queue(app.id, type, id)});
    if (!waiting) {
        log->error("cannot read {}'s queue from Redis: {}", object, waiting.error().message);
        return kExitUnavailable;
    }
    if (waiting->integer > 0) {
        std::cout << "Stopped: " << waiting->integer << " event(s) of " << shown(object)
                  << " wait in its queue (a retry, a quarantine or a staged delete); provisioning now would overtake "
                     "them. See `provbridge logs --app "
                  << app.id << " --object " << shown(object) << "`.\n";
        return kExitFailure;
    }

    std::unique_ptr<producers::KafkaProducer> producer;
    std::unique_ptr<producers::DeadLetterPublisher> dead_letters;
    try {
        producer = std::make_unique<producers::KafkaProducer>(
            Bridge::dead_letter_producer_properties(config, bootstrap, kafka_secrets));
        dead_letters = std::make_unique<producers::DeadLetterPublisher>(
            *producer, config.kafka.dead_letter_topic, config.kafka.lost_timeout + std::chrono::seconds(5));
    } catch (const std::exception& e) {
        log->error("cannot create the Kafka producer: {}", e.what());
        return kExitUnavailable;
    }
    RecordingClient recording(curl);
    consumers::EventProcessor::Options processing;
    processing.limits = ParseLimits{config.worker.max_event_bytes, config.worker.max_event_depth};
    processing.redactor = &redactor;
    processing.retry = config.retry;
    processing.membership = store.get();
    consumers::EventProcessor processor(apps, {{app.id, &recording}}, *store, *dead_letters, clock, log, processing);
    // The worker's own reevaluation (a user) or members sync (a group): the stored state, now.
    const auto now = clock.wall_ms();
    const auto event = consumers::follow_up_event(
        app.id, type, id, type == ObjectType::User ? EventType::UserReevaluate : EventType::GroupMembersSync,
        "provision:" + std::string(to_string(type)) + ":" + id + ":" + std::to_string(now), now);
    const auto result = processor.process(event.record);
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started).count();

    if (result.status == consumers::ProcessResult::Status::Fatal) {
        log->error("the outcome could not be recorded: {}", redactor.redact(result.fatal_reason));
        return kExitUnavailable;
    }
    int step = 3;
    if (result.record) {
        const auto view = transforms::log_view(*result.record);
        for (const auto& s : view.steps) {
            if (s.step == transforms::LogStep::Import) continue;  // shown above, with the stored state
            std::string name(transforms::to_string(s.step));
            name.resize(std::max<std::size_t>(name.size(), 19), ' ');
            std::cout << step++ << ". " << name << std::string(transforms::to_string(s.status))
                      << (s.detail.empty() ? "" : ": " + one_line(redactor.redact(s.detail), 300)) << "\n";
        }
    }
    std::cout << "\nSCIM requests (" << recording.exchanges.size() << "):\n";
    for (const auto& x : recording.exchanges) {
        std::cout << "  " << request_line(x.request) << "  ->  " << status_text(x.response) << " ("
                  << std::chrono::duration_cast<std::chrono::milliseconds>(x.response.elapsed).count() << " ms)\n";
        if (x.request.body) std::cout << indented(redactor.redact(dump_json(*x.request.body, 2)), "    > ") << "\n";
        if (!x.response.body.empty()) std::cout << indented(redactor.redact(shown_body(x.response.body)), "    < ") << "\n";
    }
    std::cout << "\n";
    switch (result.status) {
        case consumers::ProcessResult::Status::Parked:
            std::cout << "Result: not done yet: it waits in " << shown(object) << "'s queue"
                      << (result.due_ms > 0 ? " for a retry at " + time_text(result.due_ms) : std::string())
                      << "; a worker runs it (" << elapsed << " ms)\n";
            return kExitFailure;
        case consumers::ProcessResult::Status::Duplicate:
        case consumers::ProcessResult::Status::LeaseLost:
            std::cout << "Result: nothing was done (" << elapsed << " ms)\n";
            return kExitFailure;
        case consumers::ProcessResult::Status::Recorded:
        case consumers::ProcessResult::Status::Fatal:
            break;
    }
    if (!result.record) return kExitFailure;
    const auto& o = *result.record;
    const auto view = transforms::log_view(o);
    std::cout << "Result: " << transforms::to_string(view.status) << " (" << view.action << ")"
              << (o.scim_id.empty() ? "" : ", account " + shown(o.scim_id))
              << (o.code.empty() ? "" : ", " + o.code + ": " + one_line(o.reason, 300)) << "; recorded in the "
              << "provisioning log as " << shown(o.event_id) << " (" << elapsed << " ms)\n";
    return o.status == OutcomeStatus::Applied || o.status == OutcomeStatus::Skipped ? kExitOk : kExitFailure;
}

}  // namespace provbridge::ops
