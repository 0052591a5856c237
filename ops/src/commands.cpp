#include "provbridge/ops/commands.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "provbridge/consumers/curl_scim_client.hpp"
#include "provbridge/consumers/redis_source_progress.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/core/redact.hpp"
#include "provbridge/ops/bridge.hpp"
#include "provbridge/ops/embedded_broker.hpp"
#include "provbridge/ops/local_services.hpp"
#include "provbridge/ops/metrics.hpp"
#include "provbridge/ops/ops_server.hpp"
#include "provbridge/ops/preview.hpp"
#include "provbridge/ops/test_connection.hpp"
#include "provbridge/ops/text_output.hpp"
#include "provbridge/producers/event_file.hpp"
#include "provbridge/producers/kafka.hpp"
#include "provbridge/producers/ldap_source.hpp"

namespace provbridge::ops {

std::optional<OperatorConfig> load_operator_config(const std::string& path, spdlog::logger& log) {
    const Environment env = current_environment();
    try {
        OperatorConfig out;
        out.config = load_config(path, env);
        if (!out.config.redis.password.empty()) {
            out.redis_password = resolve_secret(out.config.redis.password, env, out.config.source, "redis.password");
        }
        return out;
    } catch (const ConfigError& e) {
        log.error("configuration refused: {}", e.what());
        return std::nullopt;
    }
}

namespace {

using nlohmann::json;

// Blocks the calling thread until a stop signal (or release()).
class StopLatch {
public:
    void release() {
        {
            std::lock_guard lock(mutex_);
            released_ = true;
        }
        cv_.notify_all();
    }
    void wait() {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return released_; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool released_ = false;
};

std::optional<Config> load_or_report(const std::string& path, const Environment& env,
                                     const std::shared_ptr<spdlog::logger>& log) {
    try {
        return load_config(path, env);
    } catch (const ConfigError& e) {
        log->error("configuration refused: {}", e.what());
        return std::nullopt;
    }
}

std::vector<EmbeddedBroker::Topic> broker_topics(const KafkaConfig& kafka) {
    return {{kafka.events_topic, kafka.embedded.events_partitions},
            {kafka.dead_letter_topic, kafka.embedded.dead_letter_partitions}};
}

producers::KafkaLogFn kafka_log(const std::shared_ptr<spdlog::logger>& log) {
    return [log](int level, const std::string& facility, const std::string& message) {
        // syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug.
        const auto lvl = level <= 3 ? spdlog::level::err : level == 4 ? spdlog::level::warn : spdlog::level::debug;
        log->log(lvl, "kafka {}: {}", facility, message);
    };
}

void write_file_atomically(const std::string& path, const std::string& content) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << content << "\n";
    }
    std::filesystem::rename(tmp, path);
}

// The local SCIM target's /_admin API (demo set-up); a refusal is a start-up failure. Returns
// the answer's JSON (null when it has none).
json admin_call(const LocalScimTarget& target, const std::string& token, HttpMethod method, const std::string& path,
                json body = nullptr) {
    consumers::ScimClientOptions options;
    options.base_url = target.root_url();
    options.token = token;
    consumers::CurlScimClient client(options);
    ScimRequest request;
    request.method = method;
    request.path = path;
    if (!body.is_null()) request.body = std::move(body);
    const auto response = client.send(request);
    if (response.status / 100 != 2) {
        throw std::runtime_error("the local SCIM target refused " + path + ": HTTP " + std::to_string(response.status));
    }
    return json::parse(response.body, nullptr, false);
}

std::string random_token() {
    std::random_device rd;
    std::ostringstream out;
    for (int i = 0; i < 4; ++i) out << std::hex << rd();
    return out.str();
}

void print_banner(const std::string& bootstrap) {
    std::cout << "Embedded development broker (librdkafka mock cluster): in memory, for development and\n"
                 "tests only; production points kafka.bootstrap_servers at a real Kafka or Redpanda cluster.\n"
              << "bootstrap.servers=" << bootstrap << std::endl;
}

// The secrets this command can know: each one that resolves (an offline preview may run
// without the tokens set). What a target answers is printed only through it.
Redactor known_secrets(const Config& config, const Environment& env) {
    Redactor redactor;
    for (const auto& app : config.apps) {
        try {
            redactor.add(resolve_app_token(config, app, env));
        } catch (const ConfigError&) {
        }
    }
    if (!config.redis.password.empty()) {
        try {
            redactor.add(resolve_secret(config.redis.password, env, config.source, "redis.password"));
        } catch (const ConfigError&) {
        }
    }
    return redactor;
}

}  // namespace

std::string default_demo_events() { return std::string(PROVBRIDGE_SOURCE_DIR) + "/examples/demo-events.jsonl"; }

int broker_command(const BrokerOptions& options, std::shared_ptr<spdlog::logger> log) {
    KafkaConfig kafka;
    if (!options.config_path.empty()) {
        auto config = load_or_report(options.config_path, current_environment(), log);
        if (!config) return kExitBadConfig;
        kafka = config->kafka;
    }
    const int brokers = options.brokers > 0 ? options.brokers : kafka.embedded.brokers;
    StopLatch latch;
    StopSignals signals([&](int) { latch.release(); });
    try {
        EmbeddedBroker broker(brokers, broker_topics(kafka), kafka_log(log));
        // The file first: whoever waits for the printed address may read the file at once.
        if (!options.bootstrap_file.empty()) write_file_atomically(options.bootstrap_file, broker.bootstrap_servers());
        print_banner(broker.bootstrap_servers());
        // Workers reach this broker by address; they recognise it by its cluster id and use these
        // unless configured otherwise, so a restart costs seconds rather than librdkafka's 45 s.
        std::cout << "Workers connecting to it use session.timeout.ms=" << Bridge::kEmbeddedSessionTimeoutMs
                  << " heartbeat.interval.ms=" << Bridge::kEmbeddedHeartbeatIntervalMs
                  << " fetch.wait.max.ms=10 unless configured (a worker restarted after kill -9 gets its "
                     "partitions back in about 5 s).\n";
        for (const auto& t : broker_topics(kafka)) {
            std::cout << "topic " << t.name << " (" << t.partitions << " partitions)\n";
        }
        std::cout << "Try: kcat -b " << broker.bootstrap_servers() << " -L\nStop with Ctrl-C." << std::endl;
        latch.wait();
        log->info("stopping the embedded broker");
    } catch (const std::exception& e) {
        log->error("cannot start the embedded broker: {}", e.what());
        return kExitUnavailable;
    }
    return kExitOk;
}

int produce_command(const ProduceOptions& options, std::shared_ptr<spdlog::logger> log) {
    std::optional<Config> config;
    if (!options.config_path.empty()) {
        config = load_or_report(options.config_path, current_environment(), log);
        if (!config) return kExitBadConfig;
    }
    const KafkaConfig kafka = config ? config->kafka : KafkaConfig{};
    const std::string bootstrap = !options.bootstrap.empty() ? options.bootstrap : kafka.bootstrap_servers;
    if (bootstrap.empty()) {
        log->error("no Kafka to send to: pass --bootstrap (the embedded broker prints its address) or set "
                   "kafka.bootstrap_servers in the configuration");
        return kExitBadConfig;
    }
    const std::string topic = !options.topic.empty() ? options.topic : kafka.events_topic;
    std::map<std::string, std::string> kafka_secrets;
    try {
        if (config) {
            Bridge::check_kafka_properties(*config, current_environment());
            kafka_secrets = resolve_kafka_secrets(*config, current_environment());
        }
    } catch (const ConfigError& e) {
        log->error("configuration refused: {}", e.what());
        return kExitBadConfig;
    }
    std::ifstream file;
    std::istream* in = &std::cin;
    if (options.input != "-") {
        file.open(options.input);
        if (!file) {
            log->error("cannot read {}", options.input);
            return kExitBadConfig;
        }
        in = &file;
    }
    try {
        producers::KafkaProducer::Options popts;
        popts.log = kafka_log(log);
        producers::KafkaProducer producer(producer_properties(config.value_or(Config{}), bootstrap, kafka_secrets), popts);
        const bool interactive = isatty(STDERR_FILENO) != 0;
        const auto report = producers::produce_event_lines(
            *in, producer, topic, config ? &*config : nullptr, [&](const producers::ProduceProgress& p) {
                if (p.done) return;
                if (interactive) {
                    std::cerr << "\r" << p.lines_read << " lines read, " << p.sent << " sent, " << p.rejected
                              << " rejected" << std::flush;
                } else {
                    log->info("{} lines read, {} sent, {} rejected", p.lines_read, p.sent, p.rejected);
                }
            });
        if (interactive && report.sent + report.rejected >= 1000) std::cerr << "\n";
        for (const auto& problem : report.problems) {
            std::cerr << options.input << ":" << problem.line_number << ": " << problem.reason << "\n";
        }
        std::cout << "sent " << report.sent << " event(s) to " << topic << "; rejected " << report.rejected
                  << "; delivery failed " << report.failed << std::endl;
        return report.rejected == 0 && report.failed == 0 ? kExitOk : kExitFailure;
    } catch (const std::exception& e) {
        log->error("cannot produce: {}", e.what());
        return kExitUnavailable;
    }
}

int run_command(const RunOptions& options, std::shared_ptr<spdlog::logger> log) {
    const Environment env = current_environment();
    auto config = load_or_report(options.config_path, env, log);
    if (!config) return kExitBadConfig;
    if (options.dry_run) {
        // Its own consumer group: a dry run must take no partition from the live workers, and
        // what it reads stays unread for them.
        for (auto& app : config->apps) app.dry_run = true;
        config->kafka.group_id += kDryRunGroupSuffix;
        config->kafka.group_instance_id.clear();
        log->warn("dry run: every app's operations are decided and recorded (marked dry run), no write is sent to "
                  "any app; consuming as group {} so that the live group's progress is untouched",
                  config->kafka.group_id);
    }
    for (const auto& app : config->apps) {
        if (app.dry_run && !options.dry_run) {
            log->warn("app {} is in dry run (apps[].dry_run): its operations are recorded, not sent", app.id);
        }
    }
    std::string redis_password;
    std::string ops_token;
    try {
        // Profiles, mappings, scoping, Kafka properties and secrets are checked before anything
        // starts.
        (void)consumers::build_app_runtimes(*config);
        Bridge::check_kafka_properties(*config, env);
        for (const auto& app : config->apps) (void)resolve_app_token(*config, app, env);
        if (!config->redis.password.empty()) {
            redis_password = resolve_secret(config->redis.password, env, config->source, "redis.password");
        }
        ops_token = resolve_ops_token(*config, env);
        (void)resolve_notification_secrets(*config, env);
    } catch (const ConfigError& e) {
        log->error("configuration refused: {}", e.what());
        return kExitBadConfig;
    }
    std::unique_ptr<EmbeddedBroker> broker;
    std::string bootstrap = config->kafka.bootstrap_servers;
    try {
        if (bootstrap.empty()) {
            broker = std::make_unique<EmbeddedBroker>(config->kafka.embedded.brokers, broker_topics(config->kafka),
                                                      kafka_log(log));
            bootstrap = broker->bootstrap_servers();
            log->warn("kafka.bootstrap_servers is empty: started the embedded development broker at {} "
                      "(in memory, for development and tests only)", bootstrap);
            if (!options.bootstrap_file.empty()) write_file_atomically(options.bootstrap_file, bootstrap);
            if (options.json_progress) {
                // A dry run's stdout carries its events; its progress goes beside them.
                (options.dry_run ? std::cerr : std::cout) << json{{"event", "broker"}, {"bootstrap", bootstrap}}.dump() << std::endl;
            } else {
                print_banner(bootstrap);
            }
        }
    } catch (const std::exception& e) {
        log->error("cannot start the embedded broker: {}", e.what());
        return kExitUnavailable;
    }
    // Before the bridge, whose SCIM clients report to it; the server after, once the bridge is up.
    OpsMetrics metrics;
    std::unique_ptr<Bridge> bridge;
    std::atomic<bool> running{false};
    std::unique_ptr<OpsServer> server;
    try {
        bridge = std::make_unique<Bridge>(*config, env, bootstrap, log,
                                          options.json_progress ? std::chrono::milliseconds(200)
                                                                : std::chrono::milliseconds(5000),
                                          &metrics);
        if (config->ops.enabled) {
            OpsServerOptions ops;
            ops.host = config->ops.host;
            ops.port = config->ops.port;
            ops.token = ops_token;
            ops.bootstrap = bootstrap;
            ops.not_ready = [&running]() -> std::optional<std::string> {
                if (running) return std::nullopt;
                return std::string("the worker is not consuming (starting or stopping)");
            };
            try {
                server = std::make_unique<OpsServer>(*config, redis_password, ops, metrics, log);
            } catch (const ListenError& e) {
                // An address the operator chose is theirs to fix; the default one taken (two
                // workers on one host) is replaced by any free port, said below.
                if (config->ops.listen_set) {
                    log->error("{}", e.what());
                    return kExitBadConfig;
                }
                log->warn("{}: the ops server takes a free port instead", e.what());
                ops.port = 0;
                server = std::make_unique<OpsServer>(*config, redis_password, std::move(ops), metrics, log);
            }
        }
        if (server) {
            bridge->set_dashboard_url(server->url());
            log->info("ops server at {} (dashboard; /metrics, /healthz, /readyz, /api/v1){}", server->url(),
                      ops_token.empty() ? "; no ops token is configured: replay, clear and allow are disabled there"
                                        : "");
            if (options.json_progress) {
                // A dry run's stdout carries its events; its progress goes beside them.
                (options.dry_run ? std::cerr : std::cout) << json{{"event", "ops"}, {"url", server->url()}}.dump() << std::endl;
            }
        }
    } catch (const ConfigError& e) {
        log->error("configuration refused: {}", e.what());
        return kExitBadConfig;
    } catch (const std::exception& e) {
        log->error("cannot start: {}", e.what());
        return kExitUnavailable;
    }
    if (options.json_progress) {
        bridge->worker().set_progress([&bridge](const consumers::WorkerCounters& c, std::size_t in_flight,
                                                bool final) {
            json limits = json::object();
            for (const auto& [app, l] : bridge->rate_limits()) {
                limits[app] = {{"configured", l.configured}, {"burst", l.burst}, {"workers", l.workers},
                               {"rate", l.rate > 0 ? json(l.rate) : json(nullptr)}, {"lowered", l.lowered},
                               {"requests", l.requests}, {"delayed", l.delayed}, {"throttled", l.throttled},
                               {"slowdowns", l.slowdowns}};
            }
            std::cout << json{{"event", final ? "stopped" : "progress"},
                              {"consumed", c.consumed},
                              {"applied", c.applied},
                              {"skipped", c.skipped},
                              {"dead_lettered", c.dead_lettered},
                              {"warnings", c.warnings},
                              {"follow_ups", c.follow_ups},
                              {"dry_run", c.dry_run},
                              {"duplicates", c.duplicates},
                              {"parked", c.parked},
                              {"retried", c.retried},
                              {"lease_lost", c.lease_lost},
                              {"held", c.held},
                              {"offset_gaps", c.offset_gaps},
                              {"events_lost_to_retention", c.events_lost_to_retention},
                              {"finished", c.finished()},
                              {"in_flight", in_flight},
                              {"rate_limits", std::move(limits)}}
                             .dump()
                      << std::endl;
        });
    }
    std::atomic<int> signals_seen{0};
    StopSignals signals([&](int signo) {
        if (signals_seen++ == 0) {
            log->info("received signal {}: finishing in-flight events, committing and leaving the group "
                      "(signal again to exit at once)", signo);
            bridge->request_stop();
        } else {
            std::_Exit(130);
        }
    });
    log->info("consuming {} as group {} with {} lane(s), {} app(s)", config->kafka.events_topic,
              config->kafka.group_id, config->worker.concurrency, config->apps.size());
    running = true;
    const auto fatal = bridge->run();
    running = false;
    if (fatal) {
        log->error("stopped: {}; unfinished events were not committed and will be redelivered", *fatal);
        return kExitUnavailable;
    }
    log->info("stopped cleanly");
    return kExitOk;
}

int dashboard_command(const DashboardOptions& options, std::shared_ptr<spdlog::logger> log) {
    const Environment env = current_environment();
    Environment overrides = env;
    if (!options.listen.empty()) overrides["PROVBRIDGE__OPS__LISTEN"] = options.listen;
    std::optional<Config> config;
    std::string redis_password;
    std::string ops_token;
    try {
        config = load_config(options.config_path, overrides);
        if (!config->redis.password.empty()) {
            redis_password = resolve_secret(config->redis.password, env, config->source, "redis.password");
        }
        ops_token = resolve_ops_token(*config, env);
        (void)resolve_kafka_secrets(*config, env);
    } catch (const ConfigError& e) {
        log->error("configuration refused: {}", e.what());
        return kExitBadConfig;
    }
    if (!config->ops.enabled) {
        log->error("ops.listen is \"off\" in {}: give --listen HOST:PORT to serve the dashboard", config->source);
        return kExitBadConfig;
    }
    OpsMetrics metrics;
    std::unique_ptr<OpsServer> server;
    try {
        OpsServerOptions ops;
        ops.host = config->ops.host;
        ops.port = config->ops.port;
        ops.token = ops_token;
        ops.bootstrap = !options.bootstrap.empty() ? options.bootstrap : config->kafka.bootstrap_servers;
        server = std::make_unique<OpsServer>(*config, redis_password, std::move(ops), metrics, log);
    } catch (const ListenError& e) {
        log->error("{}", e.what());
        return kExitBadConfig;
    } catch (const std::exception& e) {
        log->error("cannot start: {}", e.what());
        return kExitUnavailable;
    }
    std::cout << "dashboard at " << server->url() << " (reading " << config->redis.url() << ")" << std::endl;
    StopLatch latch;
    StopSignals signals([&latch](int) { latch.release(); });
    latch.wait();
    log->info("stopped");
    return kExitOk;
}

int test_connection_command(const TestConnectionOptions& options, std::shared_ptr<spdlog::logger> log) {
    const Environment env = current_environment();
    auto config = load_or_report(options.config_path, env, log);
    if (!config) return kExitBadConfig;
    const AppConfig* app = config->find_app(options.app);
    if (app == nullptr) {
        std::string known;
        for (const auto& a : config->apps) known += (known.empty() ? "" : ", ") + a.id;
        log->error("no app \"{}\" in {} (configured: {})", options.app, config->source, known);
        return kExitBadConfig;
    }
    std::string token;
    try {
        token = resolve_app_token(*config, *app, env);
    } catch (const ConfigError& e) {
        log->error("configuration refused: {}", e.what());
        return kExitBadConfig;
    }
    consumers::CurlScimClient client(consumers::scim_client_options(*app, token));
    const auto verdict = test_connection(client, random_guid());
    // The verdict quotes what the target said, which may echo the token.
    const Redactor redactor = known_secrets(*config, env);
    std::cout << app->id << " (" << app->scim.base_url << "): " << (verdict.ok ? "OK" : "FAILED") << " - "
              << redactor.redact(verdict.summary) << "\n";
    for (const auto& d : verdict.details) std::cout << "  " << redactor.redact(d) << "\n";
    std::cout << std::flush;
    return verdict.ok ? kExitOk : kExitFailure;
}

int preview_command(const PreviewOptions& options, std::shared_ptr<spdlog::logger> log) {
    const Environment env = current_environment();
    auto config = load_or_report(options.config_path, env, log);
    if (!config) return kExitBadConfig;
    std::vector<consumers::AppRuntime> apps;
    try {
        apps = consumers::build_app_runtimes(*config);
    } catch (const ConfigError& e) {
        log->error("configuration refused: {}", e.what());
        return kExitBadConfig;
    }
    std::string text;
    if (options.event_path == "-") {
        std::ostringstream ss;
        ss << std::cin.rdbuf();
        text = ss.str();
    } else {
        std::ifstream in(options.event_path);
        if (!in) {
            log->error("cannot read {}", options.event_path);
            return kExitBadConfig;
        }
        std::ostringstream ss;
        ss << in.rdbuf();
        text = ss.str();
    }
    InboundRecord record;
    record.topic = config->kafka.events_topic;
    record.value = text;
    std::string app_id = options.app;
    if (app_id.empty()) {
        auto parsed = parse_structured_event(text);
        if (parsed) app_id = parsed->app;
    }
    const consumers::AppRuntime* app = nullptr;
    for (const auto& a : apps) {
        if (a.config.id == app_id) app = &a;
    }
    if (app == nullptr) {
        std::string known;
        for (const auto& a : apps) known += (known.empty() ? "" : ", ") + a.config.id;
        log->error("no app \"{}\" in {} (configured: {})", app_id, config->source, known);
        return kExitBadConfig;
    }
    std::unique_ptr<consumers::CurlScimClient> client;
    std::unique_ptr<consumers::RedisStateStore> store;
    SystemClock clock;
    if (options.live) {
        try {
            client = std::make_unique<consumers::CurlScimClient>(
                consumers::scim_client_options(app->config, resolve_app_token(*config, app->config, env)));
            const std::string password = config->redis.password.empty()
                                             ? std::string()
                                             : resolve_secret(config->redis.password, env, config->source, "redis.password");
            store = std::make_unique<consumers::RedisStateStore>(
                consumers::redis_options(config->redis, password), KeyScheme(config->redis.key_prefix),
                std::chrono::duration_cast<std::chrono::seconds>(config->redis.dedupe_ttl), config->redis.log_max_entries,
                clock);
        } catch (const ConfigError& e) {
            log->error("configuration refused: {}", e.what());
            return kExitBadConfig;
        } catch (const std::exception& e) {
            log->error("cannot read live state: {}", e.what());
            return kExitUnavailable;
        }
    }
    const Redactor redactor = known_secrets(*config, env);
    consumers::ProcessorOptions processing;
    processing.limits = ParseLimits{config->worker.max_event_bytes, config->worker.max_event_depth};
    processing.redactor = &redactor;
    const auto result = preview_event(*app, apps, record, client.get(), store.get(), processing);
    // Responses are shown in full; a target may quote the token back in them.
    std::ostringstream page;
    print_preview(result, app->config.scim.base_url, page);
    std::cout << redactor.redact(page.str()) << std::flush;
    return result.event ? kExitOk : kExitFailure;
}

namespace {

// What the demo's directory source needs to reach the demo's Redis, broker and target.
struct DemoDirectory {
    std::string workdir;
    int redis_port = 0;
    std::string bootstrap;
    std::string scim_base_url;
    std::string token_file;
    std::string config_path() const { return workdir + "/ldap-source.json"; }
    static constexpr const char* kSource = "urn:directory:demo-ldap";
};

// A small company: twelve people; app-demo holds four of them and the sales group, which holds
// three others, so the demo app gets seven accounts and one group.
std::string demo_directory_ldif(const std::string& suffix) {
    const std::vector<std::pair<std::string, std::string>> people = {
        {"ada", "Engineer"},   {"grace", "Architect"}, {"alan", "Researcher"}, {"edsger", "Engineer"},
        {"barbara", "Sales"},  {"ken", "Sales"},       {"dennis", "Sales"},    {"linus", "Support"},
        {"margaret", "Lead"},  {"donald", "Writer"},   {"frances", "Analyst"}, {"john", "Intern"}};
    std::string ldif = "dn: ou=people," + suffix + "\nobjectClass: organizationalUnit\nou: people\n\n";
    ldif += "dn: ou=groups," + suffix + "\nobjectClass: organizationalUnit\nou: groups\n\n";
    for (const auto& [uid, title] : people) {
        std::string given = uid;
        given[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(given[0])));
        ldif += "dn: uid=" + uid + ",ou=people," + suffix + "\nobjectClass: inetOrgPerson\nuid: " + uid +
                "\ncn: " + given + " Example\ngivenName: " + given + "\nsn: Example\ndisplayName: " + given +
                " Example\nmail: " + uid + "@example.org\ntitle: " + title + "\n\n";
    }
    const auto member = [&](const std::string& uid) { return "member: uid=" + uid + ",ou=people," + suffix + "\n"; };
    ldif += "dn: cn=sales,ou=groups," + suffix + "\nobjectClass: groupOfNames\ncn: sales\ndescription: Sales team\n" +
            member("barbara") + member("ken") + member("dennis") + "\n";
    ldif += "dn: cn=app-demo,ou=groups," + suffix + "\nobjectClass: groupOfNames\ncn: app-demo\n" + member("ada") +
            member("grace") + member("alan") + member("margaret") + "member: cn=sales,ou=groups," + suffix + "\n\n";
    return ldif;
}

std::unique_ptr<ChildProcess> start_demo_directory(LocalSlapd& slapd, const DemoDirectory& demo) {
    auto seeded = slapd.apply(demo_directory_ldif(slapd.suffix()));
    if (!seeded.ok()) throw std::runtime_error("cannot seed the demo directory: " + seeded.error().message);
    const json config = {
        {"redis", {{"url", "redis://127.0.0.1:" + std::to_string(demo.redis_port)}}},
        {"kafka", {{"bootstrap_servers", demo.bootstrap}}},
        {"apps", {{{"id", "demo"}, {"profile", "generic"},
                   {"scim", {{"base_url", demo.scim_base_url}, {"token_file", demo.token_file}}}}}},
        {"sources",
         {{"ldap",
           {{"url", slapd.url()},
            {"bind_dn", slapd.admin_dn()},
            {"password_file", slapd.password_file()},
            {"source", DemoDirectory::kSource},
            {"users", {{"base_dn", "ou=people," + slapd.suffix()}}},
            {"groups", {{"base_dn", "ou=groups," + slapd.suffix()}}},
            {"assignments", {{{"app", "demo"}, {"group", "cn=app-demo,ou=groups," + slapd.suffix()}, {"role", "User"}}}}}}}}};
    std::ofstream out(demo.config_path());
    out << config.dump(2) << "\n";
    if (!out.flush()) throw std::runtime_error("cannot write " + demo.config_path());
    ChildProcess::Options options;
    options.argv = {std::filesystem::read_symlink("/proc/self/exe").string(), "source", "ldap", "--config",
                    demo.config_path(), "--json-progress", "--log-level", "warn"};
    return std::make_unique<ChildProcess>(std::move(options));
}

// Reads the source's progress lines until its initial sync is done; the events it sent then.
std::optional<std::uint64_t> wait_directory_synced(ChildProcess& source) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
        auto line = source.read_line(std::chrono::milliseconds(2000));
        if (!line) {
            if (source.wait(std::chrono::milliseconds(0))) return std::nullopt;  // it stopped: it said why
            continue;
        }
        const auto doc = json::parse(*line, nullptr, false);
        if (doc.is_discarded() || !doc.is_object()) continue;
        if (doc.value("connected", false) && !doc.value("refreshing", true) && doc.value("events_sent", 0) > 0) {
            return doc["events_sent"].get<std::uint64_t>();
        }
    }
    return std::nullopt;
}

// What the app holds of the demo directory: its people's accounts (userName @example.org) and
// the sales group's members.
struct DirectoryInApp {
    std::size_t accounts = 0;
    std::size_t sales_members = 0;
    bool complete() const { return accounts == 7 && sales_members == 3; }
};

DirectoryInApp directory_in_app(const LocalScimTarget& target, const std::string& token) {
    DirectoryInApp out;
    try {
        for (const auto& user : admin_call(target, token, HttpMethod::Get, "/_admin/users")) {
            const auto name = user.value("userName", "");
            if (name.size() > 12 && name.substr(name.size() - 12) == "@example.org") ++out.accounts;
        }
        for (const auto& group : admin_call(target, token, HttpMethod::Get, "/_admin/groups")) {
            if (group.value("displayName", "") == "sales") out.sales_members = group.value("members", json::array()).size();
        }
    } catch (const std::exception&) {
        // Not there yet, or the target is busy: looked at again after the next event.
    }
    return out;
}

void print_demo_directory(const LocalSlapd& slapd, const DemoDirectory& demo, std::uint64_t events_sent,
                          const DirectoryInApp& seen) {
    const std::string s = slapd.suffix();
    const std::string modify = "ldapmodify -x -H " + slapd.url() + " -D " + slapd.admin_dn() + " -y " + slapd.password_file();
    std::cout << "\nDirectory (--ldap): OpenLDAP at " << slapd.url() << " (" << s << "), followed by\n"
              << "  provbridge source ldap --config " << demo.config_path() << "\n"
              << "  initial sync: " << events_sent << " events sent (4 users and the sales group, with its 3 members,"
              << " assigned through cn=app-demo); the app now holds " << seen.accounts << " of the directory's accounts and"
              << " the group sales with " << seen.sales_members << " members"
              << (seen.complete() ? "" : " (not all yet: see the dashboard)") << ".\n"
              << "  Try a change, and see it in the app within seconds:\n"
              << "    printf 'dn: cn=sales,ou=groups," << s << "\\nchangetype: modify\\nadd: member\\nmember: uid=linus,ou=people,"
              << s << "\\n' | " << modify << "\n"
              << "    printf 'dn: uid=ada,ou=people," << s << "\\nchangetype: modify\\nreplace: title\\ntitle: CTO\\n' | "
              << modify << "\n"
              << "  The source's state:   provbridge status --config " << demo.config_path() << "\n";
}

}  // namespace

int demo_command(const DemoOptions& options, std::shared_ptr<spdlog::logger> log) {
    try {
        std::cout << "Starting the demo: embedded Kafka broker, throwaway Redis, local SCIM target, bridge\n" << std::flush;
        LocalRedis redis;
        const std::string token = random_token();
        LocalScimTarget target(options.scim_target, token);
        TempDir workdir("provbridge-demo-");
        const std::string token_file = workdir.path() + "/scim-token";
        {
            std::ofstream out(token_file);
            out << token << "\n";
        }
        std::filesystem::permissions(token_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
        // The dashboard's token: in the printed URL's fragment, which the browser keeps to itself.
        const std::string ops_token = random_token();
        const std::string ops_token_file = workdir.path() + "/ops-token";
        {
            std::ofstream out(ops_token_file);
            out << ops_token << "\n";
        }
        std::filesystem::permissions(ops_token_file,
                                     std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

        Config config;
        config.source = "(demo)";
        config.kafka.embedded.events_partitions = 6;
        config.redis.port = redis.port();
        config.worker.concurrency = options.concurrency;
        AppConfig app;
        app.id = "demo";
        app.profile = "generic";
        app.scim.base_url = target.base_url();
        app.scim.token.file = token_file;
        config.apps.push_back(app);
        config.ops.token.file = ops_token_file;
        // --inject-failure: crm, on a target of its own, whose token is rotated there later.
        std::unique_ptr<LocalScimTarget> crm_target;
        if (options.inject_failure) {
            crm_target = std::make_unique<LocalScimTarget>(options.scim_target, token);
            AppConfig crm = app;
            crm.id = "crm";
            crm.scim.base_url = crm_target->base_url();
            config.apps.push_back(crm);
            // Probes every 10 s: the quarantine ends soon after the token is restored.
            config.quarantine.probe_intervals = {std::chrono::seconds(10)};
        }

        EmbeddedBroker broker(config.kafka.embedded.brokers, broker_topics(config.kafka), kafka_log(log));
        const std::string bootstrap = broker.bootstrap_servers();

        std::ifstream events(options.events_path);
        if (!events) {
            log->error("cannot read the sample events {}", options.events_path);
            return kExitBadConfig;
        }
        producers::KafkaProducer producer(producer_properties(config, bootstrap));
        if (options.inject_failure) {
            // The demo app's first create is refused once: a dead letter the page can replay.
            admin_call(target, token, HttpMethod::Post, "/_admin/faults",
                       json{{"status", 400}, {"count", 1}, {"match", "POST /Users"}, {"scimType", "invalidValue"},
                            {"detail", "jobTitle is too long (refused once by --inject-failure)"}});
        }
        // The sample set deliberately holds one malformed line: send every line as it is, so the
        // bridge shows what it does with it (dead-letter with the reason).
        std::size_t sent = 0;
        std::string line;
        while (std::getline(events, line)) {
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
            auto prepared = producers::prepare_event_line(line, &config);
            const std::optional<std::string> key = prepared ? std::optional<std::string>(prepared->key) : std::nullopt;
            auto delivered = producer.send_and_wait(config.kafka.events_topic, key, line, {}, std::chrono::seconds(30));
            if (!delivered) throw std::runtime_error("cannot produce the sample events: " + delivered.error().message);
            ++sent;
        }
        std::cout << "Produced " << sent << " sample events to " << config.kafka.events_topic << "\n" << std::flush;

        OpsMetrics metrics;
        Bridge bridge(config, current_environment(), bootstrap, log, std::chrono::seconds(5), &metrics);
        std::atomic<bool> running{false};
        OpsServerOptions ops;
        ops.host = config.ops.host;
        ops.token = ops_token;
        ops.bootstrap = bootstrap;
        ops.not_ready = [&running]() -> std::optional<std::string> {
            if (running) return std::nullopt;
            return std::string("the worker is not consuming");
        };
        std::unique_ptr<OpsServer> server;
        try {
            server = std::make_unique<OpsServer>(config, "", ops, metrics, log);
        } catch (const ListenError& e) {
            // The usual port is taken (another demo, say): any free one will do.
            log->warn("{}: the dashboard takes a free port instead", e.what());
            ops.port = 0;
            server = std::make_unique<OpsServer>(config, "", ops, metrics, log);
        }
        const std::string dashboard_url = server->url() + "#token=" + ops_token;
        std::cout << "Dashboard: " << dashboard_url << "\n" << std::flush;
        std::mutex mutex;
        std::condition_variable done_cv;
        bool processed = false;
        // The events to wait for: the samples.
        const std::uint64_t expected = sent;
        std::uint64_t events_seen = 0;  // under mutex: every processed event, for --ldap's wait
        bridge.worker().set_observer([&](const consumers::ProcessResult&) {
            // Follow-ups the bridge parks itself finish too, but are none of the sample events.
            const auto c = bridge.worker().counters();
            std::lock_guard lock(mutex);
            ++events_seen;
            if (c.finished() >= expected + c.follow_ups) processed = true;
            done_cv.notify_all();
        });
        std::atomic<int> signals_seen{0};
        StopSignals signals([&](int) {
            if (signals_seen++ > 0) std::_Exit(130);
            bridge.request_stop();
            std::lock_guard lock(mutex);
            processed = true;
            done_cv.notify_all();
        });
        std::optional<std::string> fatal;
        std::thread worker([&] {
            running = true;
            auto stopped = bridge.run();
            running = false;
            std::lock_guard lock(mutex);
            fatal = std::move(stopped);
            processed = true;
            done_cv.notify_all();
        });
        {
            std::unique_lock lock(mutex);
            done_cv.wait(lock, [&] { return processed; });
        }

        consumers::ProvisioningLogReader reader(consumers::redis_options(config.redis, ""), KeyScheme(config.redis.key_prefix));
        auto stats = reader.stats("demo");
        auto invalid = reader.stats(std::string(KeyScheme::kInvalidApp));
        const auto count = [&](const char* name) -> std::int64_t {
            std::int64_t n = 0;
            if (stats && stats->count(name)) n += stats->at(name);
            if (invalid && invalid->count(name)) n += invalid->at(name);
            return n;
        };
        const auto c = bridge.worker().counters();
        std::cout << "\nSummary (" << c.finished() - std::min(c.follow_ups, c.finished()) << " of " << sent << " events processed"
                  << (c.follow_ups > 0 ? ", and " + std::to_string(c.follow_ups) + " follow-up" +
                                             (c.follow_ups > 1 ? "s" : "")
                                       : std::string())
                  << ")\n"
                  << "  created       " << count("created") << "\n"
                  << "  updated       " << count("updated") << "\n"
                  << "  linked        " << count("linked") << "\n"
                  << "  disabled      " << count("disabled") << "\n"
                  << "  deleted       " << count("deleted") << "\n"
                  << "  soft-deleted  " << count("scheduled_deletes")
                  << " (disabled; deleted for good after hard_delete_after_days)\n"
                  << "  skipped       " << count("skipped") << "\n"
                  << "  failed        " << count("dead_lettered") << " (dead-lettered)\n"
                  << "  warnings      " << count("warnings") << " (references still unresolved)\n"
                  << "  duplicates    " << count("duplicates") << " (redelivered event ids, not applied twice)\n";
        const auto print_reasons = [](const std::vector<OutcomeRecord>& records) {
            for (auto it = records.rbegin(); it != records.rend(); ++it) {
                if (it->status == OutcomeStatus::Applied) continue;
                const std::string what = it->event_id.empty()
                                             ? "record " + it->topic + "[" + std::to_string(it->partition) + "]@" +
                                                   std::to_string(it->offset)
                                             : it->event_type + " " + it->object_id;
                std::cout << "  " << what << ": " << to_string(it->status) << " (" << it->code << ") " << it->reason
                          << "\n";
            }
        };
        std::cout << "\nSkipped and failed events, with their reasons:\n";
        if (auto log_entries = reader.recent_log("demo", 200)) print_reasons(*log_entries);
        if (auto bad = reader.recent_log(std::string(KeyScheme::kInvalidApp), 20)) print_reasons(*bad);
        const std::string log_key = KeyScheme(config.redis.key_prefix).log("demo");
        std::cout << "\nWhere to look next:\n"
                  << "  Dashboard:             " << dashboard_url << "\n"
                  << "  Metrics:               curl -s " << server->url() << "metrics\n"
                  << "  SCIM target (SCIMMY):  curl -s -H \"Authorization: Bearer $(cat " << token_file << ")\" "
                  << target.base_url() << "/Users | head -c 2000\n"
                  << "  Provisioning log:      redis-cli -p " << redis.port() << " XREVRANGE '" << log_key
                  << "' + - COUNT 5\n"
                  << "  Outcome counters:      redis-cli -p " << redis.port() << " HGETALL '"
                  << KeyScheme(config.redis.key_prefix).stats("demo") << "'\n"
                  << "  Kafka topics:          kcat -b " << bootstrap << " -L\n"
                  << "  Dead-letter topic:     kcat -b " << bootstrap << " -C -t " << config.kafka.dead_letter_topic
                  << " -e -f '%k %h\\n%s\\n'\n"
                  << "  Send more events:      provbridge produce --bootstrap " << bootstrap
                  << " --input more-events.jsonl   (app \"demo\")\n";
        const bool failed_already = [&] {
            std::lock_guard lock(mutex);
            return fatal.has_value();
        }();
        if (options.inject_failure && !failed_already) try {
            // The rotation: crm's target takes another token from now on; the bridge still has the
            // old one, so crm's next events are answered 401 and crm is quarantined.
            const std::string rotated = random_token();
            admin_call(*crm_target, token, HttpMethod::Put, "/_admin/token", json{{"token", rotated}});
            std::size_t crm_sent = 0;
            std::ifstream again(options.events_path);
            while (std::getline(again, line) && crm_sent < 3) {
                auto doc = json::parse(line, nullptr, false);
                if (doc.is_discarded() || doc.value("type", "") != "provisioning.user.assigned") continue;
                if (!doc.contains("id") || !doc["id"].is_string()) continue;
                doc["id"] = "crm-" + doc["id"].get<std::string>();
                doc["data"]["app"] = "crm";
                const auto text = doc.dump();
                auto prepared = producers::prepare_event_line(text, &config);
                if (!prepared) continue;
                if (producer.send_and_wait(config.kafka.events_topic, prepared->key, text, {}, std::chrono::seconds(30))) {
                    ++crm_sent;
                }
            }
            const std::string restore = workdir.path() + "/restore-crm-token.sh";
            {
                std::ofstream out(restore);
                out << "#!/bin/sh\n# Gives crm's SCIM target back the token the bridge has.\n"
                    << "curl -s -X PUT -H \"Authorization: Bearer $(cat " << token_file << ")\" -H 'Content-Type: "
                    << "application/json' -d \"{\\\"token\\\": \\\"$(cat " << token_file << ")\\\"}\" "
                    << crm_target->root_url() << "/_admin/token\necho\n";
            }
            std::cout << "\nInjected failures (--inject-failure):\n"
                      << "  - the first create of app demo was refused once: its dead letter can be replayed from "
                         "the dashboard (Replay), and this time it is applied;\n"
                      << "  - app crm's token was rotated at its target and " << crm_sent
                      << " events were sent for it: they are answered 401, so crm is quarantined (red on the "
                         "dashboard, the reason one click away) and its events wait.\n"
                      << "    Restore the token, and the next probe (within 10 s) lifts the quarantine and the "
                         "waiting events are applied:\n"
                      << "      sh " << restore << "\n";
        } catch (const std::exception& e) {
            log->error("--inject-failure could not be set up: {}", e.what());
        }
        std::unique_ptr<LocalSlapd> directory;
        std::unique_ptr<ChildProcess> directory_source;
        if (options.ldap && !failed_already) try {
            DemoDirectory demo_directory{workdir.path(), redis.port(), bootstrap, target.base_url(), token_file};
            directory = std::make_unique<LocalSlapd>(LocalSlapd::Options{});
            directory_source = start_demo_directory(*directory, demo_directory);
            const auto events_sent = wait_directory_synced(*directory_source);
            if (!events_sent) throw std::runtime_error("the directory source did not complete its initial sync");
            // The directory's people reach the app through the worker (the sales group's members
            // after its membership, by reevaluation): looked at again after each processed event.
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
            DirectoryInApp seen = directory_in_app(target, token);
            while (!seen.complete() && std::chrono::steady_clock::now() < deadline) {
                {
                    std::unique_lock lock(mutex);
                    const auto before = events_seen;
                    done_cv.wait_for(lock, std::chrono::seconds(1), [&] { return events_seen != before; });
                }
                seen = directory_in_app(target, token);
            }
            print_demo_directory(*directory, demo_directory, *events_sent, seen);
        } catch (const std::exception& e) {
            log->error("--ldap could not be set up: {}", e.what());
        }
        if (!options.exit_when_done && !failed_already) {
            std::cout << "\nThe bridge keeps running; press Ctrl-C to stop everything." << std::endl;
            worker.join();
        } else {
            bridge.request_stop();
            worker.join();
        }
        if (fatal) {
            log->error("the bridge stopped: {}", *fatal);
            return kExitUnavailable;
        }
        return c.finished() >= sent ? kExitOk : kExitFailure;
    } catch (const ConfigError& e) {
        log->error("{}", e.what());
        return kExitBadConfig;
    } catch (const std::exception& e) {
        log->error("demo failed to start: {}", e.what());
        return kExitUnavailable;
    }
}

namespace {

// A dry run's progress: read from where the source stands, never stored.
class ReadOnlyProgress final : public producers::SourceProgressStore {
public:
    explicit ReadOnlyProgress(producers::SourceProgressStore& stored) : stored_(stored) {}
    Result<producers::SourceProgress> load() override { return stored_.load(); }
    Result<bool> save(const producers::SourceProgressDelta& /*delta*/) override { return true; }

private:
    producers::SourceProgressStore& stored_;
};

// A dry run's events: printed as JSON lines, one per event, as they would be sent.
class PrintedEvents final : public producers::EventSink {
public:
    Result<bool> send(const std::vector<Event>& events) override {
        for (const auto& e : events) std::cout << to_json(e).dump() << "\n";
        std::cout << std::flush;
        return true;
    }
};

}  // namespace

// How often a running source reports itself to Redis (and at each change of state); the read
// side calls a report older than kSourceStaleAfter (ops/read_model) a source that is not running.
constexpr auto kSourceStatusInterval = std::chrono::seconds(2);

int source_ldap_command(const SourceOptions& options, std::shared_ptr<spdlog::logger> log) {
    const Environment env = current_environment();
    auto loaded = load_operator_config(options.config_path, *log);
    if (!loaded) return kExitBadConfig;
    const Config& config = loaded->config;
    if (!config.sources.ldap) {
        log->error("configuration refused: {}: sources.ldap: the configuration has no LDAP source", config.source);
        return kExitBadConfig;
    }
    const auto& ldap = *config.sources.ldap;
    std::string password;
    std::map<std::string, std::string> kafka_secrets;
    try {
        password = resolve_ldap_password(config, env);
        Bridge::check_kafka_properties(config, env);
        kafka_secrets = resolve_kafka_secrets(config, env);
    } catch (const ConfigError& e) {
        log->error("configuration refused: {}", e.what());
        return kExitBadConfig;
    }
    const std::string bootstrap = !options.bootstrap.empty() ? options.bootstrap : config.kafka.bootstrap_servers;
    if (bootstrap.empty() && !options.dry_run) {
        log->error("no Kafka to send to: pass --bootstrap (the embedded broker prints its address) or set "
                   "kafka.bootstrap_servers in the configuration");
        return kExitBadConfig;
    }
    std::atomic<bool> stop{false};
    StopSignals signals([&](int) { stop = true; });
    try {
        consumers::RedisSourceProgress stored(consumers::redis_options(config.redis, loaded->redis_password),
                                              KeyScheme(config.redis.key_prefix), ldap.source);
        ReadOnlyProgress read_only(stored);
        PrintedEvents printed;
        std::unique_ptr<producers::KafkaProducer> producer;
        std::unique_ptr<producers::KafkaEventSink> kafka_sink;
        if (!options.dry_run) {
            producers::KafkaProducer::Options popts;
            popts.log = kafka_log(log);
            producer = std::make_unique<producers::KafkaProducer>(producer_properties(config, bootstrap, kafka_secrets),
                                                                  popts);
            kafka_sink = std::make_unique<producers::KafkaEventSink>(*producer, config.kafka.events_topic,
                                                                     std::chrono::seconds(30));
        }
        producers::EventSink& sink = options.dry_run ? static_cast<producers::EventSink&>(printed) : *kafka_sink;
        producers::SourceProgressStore& progress =
            options.dry_run ? static_cast<producers::SourceProgressStore&>(read_only) : stored;
        SystemClock clock;
        producers::LdapSource source(ldap, password, sink, progress, clock);
        if (auto restored = source.load(); !restored.ok()) {
            log->error("cannot read the source's progress from Redis: {}", restored.error().message);
            return kExitUnavailable;
        }
        log->info("following {} (users under {}, groups under {}){}; {} objects known from before", ldap.url,
                  ldap.users_base_dn, ldap.groups_base_dn, options.dry_run ? " in dry run: events are printed, not sent" : "",
                  source.model().users().size() + source.model().groups().size());
        if (source.rejudging()) {
            log->warn("sources.ldap changed since the last run (assignments, attributes or ids): a full refresh judges "
                      "every entry again and sends what the change means{}",
                      options.dry_run ? " (printed, not sent)" : "");
        }
        const bool interactive = isatty(STDERR_FILENO) != 0;
        // The secrets the source holds never reach its report in Redis.
        Redactor redactor = known_secrets(config, env);
        redactor.add(password);
        redactor.add(loaded->redis_password);
        for (const auto& [name, secret] : kafka_secrets) redactor.add(secret);
        const auto redact = [&redactor](std::string text) { return redactor.redact(std::move(text)); };
        // What `status`, the page and the metrics show of the source; a dry run reports nothing.
        auto last_status = std::chrono::steady_clock::time_point{};
        auto publish_status = [&](bool stopped) {
            if (options.dry_run) return;
            auto doc = source.status(redact);
            if (stopped) doc["state"] = "stopped";
            doc["updated_ms"] = wall_now_ms();
            doc["pid"] = static_cast<std::int64_t>(getpid());
            if (auto saved = stored.save_status(doc); !saved.ok()) {
                log->warn("cannot store the source's status in Redis: {}", saved.error().message);
            }
            last_status = std::chrono::steady_clock::now();
        };
        auto last_report = std::chrono::steady_clock::now();
        std::int64_t last_entries = 0;
        bool was_refreshing = true, ever_synced = false;
        auto report = [&](bool final) {
            const auto& st = source.stats();
            const auto now = std::chrono::steady_clock::now();
            const double seconds = std::chrono::duration<double>(now - last_report).count();
            const double rate = seconds > 0 ? static_cast<double>(st.entries_read - last_entries) / seconds : 0;
            if (options.json_progress) {
                // A dry run's stdout carries its events; its progress goes beside them.
                (options.dry_run ? std::cerr : std::cout) << json{{"refreshing", st.refreshing}, {"connected", st.connected},
                                  {"entries_read", st.entries_read}, {"events_sent", st.events_sent},
                                  {"entries_per_second", rate}, {"connections", st.connections},
                                  {"full_refreshes", st.full_refreshes},
                                  {"deletions_confirmed", st.deletions_confirmed},
                                  {"deletions_refuted", st.deletions_refuted},
                                  {"listings", st.listings}}
                                 .dump()
                          << std::endl;
            } else if (interactive && !final) {
                std::cerr << "\r" << (st.refreshing ? "sync: " : "following: ") << st.entries_read << " entries read, "
                          << st.events_sent << " events sent, " << static_cast<long>(rate) << " entries/s   " << std::flush;
            } else {
                log->info("{}: {} entries read, {} events sent, {:.0f} entries/s", st.refreshing ? "sync" : "following",
                          st.entries_read, st.events_sent, rate);
            }
            last_report = now;
            last_entries = st.entries_read;
        };
        while (!stop) {
            auto stepped = source.step(std::chrono::milliseconds(200));
            const auto& st = source.stats();
            if (!stepped.ok()) {
                const auto& e = stepped.error();
                // Refused outright before the first sync: the configuration or the server must change.
                if (!ever_synced && (e.kind == ErrorKind::Permanent || e.kind == ErrorKind::Auth)) {
                    log->error("{}", e.message);
                    return e.kind == ErrorKind::Auth ? kExitBadConfig : kExitUnavailable;
                }
                log->warn("{}; trying again", e.message);
            }
            if (was_refreshing && !st.refreshing && st.connected) {
                if (interactive && !options.json_progress) std::cerr << "\n";
                log->info("in sync with {}: {} entries read, {} events sent; following changes", ldap.url,
                          st.entries_read, st.events_sent);
                ever_synced = true;
            }
            if (std::chrono::steady_clock::now() - last_status >= kSourceStatusInterval ||
                (was_refreshing != (st.refreshing || !st.connected))) {
                publish_status(false);
            }
            was_refreshing = st.refreshing || !st.connected;
            if (std::chrono::steady_clock::now() - last_report >= std::chrono::seconds(interactive || options.json_progress ? 1 : 10)) report(false);
        }
        report(true);
        publish_status(true);
        log->info("stopped: {} entries read, {} events sent", source.stats().entries_read, source.stats().events_sent);
    } catch (const std::exception& e) {
        log->error("cannot start the LDAP source: {}", e.what());
        return kExitUnavailable;
    }
    return kExitOk;
}

}  // namespace provbridge::ops
