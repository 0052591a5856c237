#include "provbridge/ops/ops_server.hpp"

#include <httplib.h>

#include <atomic>
#include <charconv>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "provbridge/consumers/redis.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/dead_letter.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/ops/bridge.hpp"
#include "provbridge/ops/metrics.hpp"
#include "provbridge/ops/read_model.hpp"
#include "provbridge/ops/replay.hpp"
#include "provbridge/ops/text_output.hpp"
#include "provbridge/producers/producer.hpp"

namespace provbridge::ops {

// The dashboard's files (ops/web), built into the binary.
struct EmbeddedFile {
    std::string_view name;
    std::string_view text;
};
extern const EmbeddedFile kWebAssets[];
extern const std::size_t kWebAssetsCount;

namespace {

using nlohmann::json;

// The lag is read from the brokers with a client of its own: at most this often, however many
// pages refresh.
constexpr std::chrono::milliseconds kLagFreshFor{2000};
constexpr const char* kJson = "application/json";
constexpr std::size_t kMaxBody = 64 * 1024;

void send_json(httplib::Response& res, int status, const json& doc) {
    res.status = status;
    res.set_header("Cache-Control", "no-store");
    res.set_content(dump_json(doc), kJson);
}

void send_error(httplib::Response& res, int status, const std::string& why) {
    send_json(res, status, json{{"error", why}});
}

// A redis failure is never shown as an answer: the page says the data is unavailable.
void send_unavailable(httplib::Response& res, const Error& error) {
    send_error(res, 503, "Redis: " + error.message);
}

std::optional<int> window_of(const httplib::Request& req, httplib::Response& res) {
    if (!req.has_param("window")) return 5;
    const auto text = req.get_param_value("window");
    int value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > 60) {
        send_error(res, 400, "window must be 1 to 60 minutes, got \"" + one_line(text, 40) + "\"");
        return std::nullopt;
    }
    return value;
}

}  // namespace

int check_bearer(std::string_view authorization, std::string_view token) {
    constexpr std::string_view kScheme = "Bearer ";
    if (authorization.size() < kScheme.size()) return 401;
    for (std::size_t i = 0; i < kScheme.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
            std::tolower(static_cast<unsigned char>(kScheme[i]))) {
            return 401;
        }
    }
    std::string_view given = authorization.substr(kScheme.size());
    while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
    if (given.empty()) return 401;
    if (token.empty()) return 403;
    // Every byte is looked at whatever the first difference: the time says nothing of the token.
    unsigned char diff = given.size() == token.size() ? 0 : 1;
    for (std::size_t i = 0; i < given.size(); ++i) {
        diff |= static_cast<unsigned char>(given[i] ^ token[i % token.size()]);
    }
    return diff == 0 ? 200 : 403;
}

std::string_view content_type_of(std::string_view name) {
    const auto ends = [&](std::string_view ext) {
        return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
    };
    if (ends(".html")) return "text/html; charset=utf-8";
    if (ends(".js")) return "text/javascript; charset=utf-8";
    if (ends(".css")) return "text/css; charset=utf-8";
    if (ends(".svg")) return "image/svg+xml";
    if (ends(".json")) return "application/json";
    return "application/octet-stream";
}

struct OpsServer::Impl {
    Impl(const Config& config, const std::string& redis_password, OpsServerOptions opts, OpsMetrics& m,
         std::shared_ptr<spdlog::logger> l)
        : options(std::move(opts)), metrics(m), log(std::move(l)), model(config, redis_password) {}

    OpsServerOptions options;
    OpsMetrics& metrics;
    std::shared_ptr<spdlog::logger> log;
    httplib::Server server;
    std::thread thread;
    std::atomic<bool> listen_returned{false};
    int port = 0;

    // The read model's Redis connections serve one request at a time. Kafka (the lag, a replay's
    // send) has locks of its own, so a slow or absent broker never holds up /readyz or the API.
    std::mutex mutex;
    OpsReadModel model;
    std::mutex lag_mutex;
    json lag_cache;
    std::chrono::steady_clock::time_point lag_read_at{};
    std::mutex producer_mutex;
    std::unique_ptr<producers::KafkaProducer> producer;  // made on the first replay

    const Config& config() const { return model.config(); }

    json lag() {
        std::lock_guard lock(lag_mutex);
        const auto now = std::chrono::steady_clock::now();
        if (lag_cache.is_null() || now - lag_read_at > kLagFreshFor) {
            lag_cache = model.lag(options.bootstrap);
            lag_read_at = now;
        }
        return lag_cache;
    }

    bool known_app(const std::string& app) const {
        return config().find_app(app) != nullptr || app == KeyScheme::kInvalidApp;
    }

    // The mutating endpoints' gate: false when the answer (401/403) was sent.
    bool authorised(const httplib::Request& req, httplib::Response& res) {
        const int verdict = check_bearer(req.get_header_value("Authorization"), options.token);
        if (verdict == 200) return true;
        if (verdict == 401) {
            res.set_header("WWW-Authenticate", "Bearer realm=\"provbridge\"");
            send_error(res, 401, "this action needs the ops bearer token (Authorization: Bearer <token>)");
        } else if (options.token.empty()) {
            send_error(res, 403, "mutating endpoints are disabled: no ops token is configured (ops.token_env or "
                                 "ops.token_file)");
        } else {
            send_error(res, 403, "the bearer token is not the ops token");
        }
        log->warn("ops server: refused {} {} ({})", req.method, req.path, verdict);
        return false;
    }

    // The Host header's name when the server is bound to loopback: 127.0.0.1, ::1 or localhost.
    bool host_allowed(const std::string& host_header) const {
        const auto& bound = options.host;
        const bool loopback = bound == "127.0.0.1" || bound == "::1" || bound == "localhost";
        if (!loopback) return true;
        std::string name = host_header;
        if (!name.empty() && name.front() == '[') {
            name = name.substr(1, name.find(']') == std::string::npos ? 0 : name.find(']') - 1);
        } else if (const auto colon = name.rfind(':'); colon != std::string::npos) {
            name = name.substr(0, colon);
        }
        return name == "127.0.0.1" || name == "::1" || name == "localhost";
    }

    void routes();
    void fleet(const httplib::Request& req, httplib::Response& res);
    void app_page(const httplib::Request& req, httplib::Response& res);
    void logs(const httplib::Request& req, httplib::Response& res);
    void replay(const httplib::Request& req, httplib::Response& res);
    void clear_quarantine(const httplib::Request& req, httplib::Response& res);
    void release_deletes(const httplib::Request& req, httplib::Response& res, DeletionMark mark);
};

void OpsServer::Impl::fleet(const httplib::Request& req, httplib::Response& res) {
    const auto window = window_of(req, res);
    if (!window) return;
    std::unique_lock lock(mutex);
    const auto now = wall_now_ms();
    json apps = json::array();
    for (const auto& app : model.select_apps({})) {
        auto row = model.app_row(app, *window, now);
        if (!row) return send_unavailable(res, row.error());
        apps.push_back(std::move(*row));
    }
    auto unrouted = model.dead_letter_count(std::string(KeyScheme::kInvalidApp));
    if (!unrouted) return send_unavailable(res, unrouted.error());
    auto sources = model.source_rows(now);
    if (!sources) return send_unavailable(res, sources.error());
    json doc = {{"generated_at", time_text(now)},
                {"window_minutes", *window},
                {"group", config().kafka.group_id},
                {"mutations_enabled", !options.token.empty()},
                {"apps", std::move(apps)},
                {"unrouted_dlq", *unrouted},
                {"sources", std::move(*sources)}};
    lock.unlock();
    doc.update(lag());
    send_json(res, 200, doc);
}

void OpsServer::Impl::app_page(const httplib::Request& req, httplib::Response& res) {
    const std::string app = req.matches[1];
    if (config().find_app(app) == nullptr) return send_error(res, 404, "no app \"" + one_line(app, 80) + "\" is configured");
    const auto window = window_of(req, res);
    if (!window) return;
    std::lock_guard lock(mutex);
    auto detail = model.app_detail(app, *window, wall_now_ms());
    if (!detail) return send_unavailable(res, detail.error());
    send_json(res, 200, *detail);
}

void OpsServer::Impl::logs(const httplib::Request& req, httplib::Response& res) {
    const std::string app = req.matches[1];
    if (!known_app(app)) return send_error(res, 404, "no app \"" + one_line(app, 80) + "\" is configured");
    LogFilter filter;
    filter.status = req.get_param_value("status");
    filter.action = req.get_param_value("action");
    filter.object = req.get_param_value("object");
    if (const auto problem = log_filter_problem(filter); !problem.empty()) return send_error(res, 400, problem);
    std::size_t limit = 50;
    if (req.has_param("limit")) {
        const auto text = req.get_param_value("limit");
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
        if (ec != std::errc() || end != text.data() + text.size() || limit < 1 || limit > 1000) {
            return send_error(res, 400, "limit must be 1 to 1000");
        }
    }
    std::lock_guard lock(mutex);
    auto found = model.matching_log(app, filter, limit);
    if (!found) return send_unavailable(res, found.error());
    json entries = json::array();
    for (const auto& e : *found) entries.push_back(log_entry_json(e));
    send_json(res, 200, json{{"entries", std::move(entries)}});
}

void OpsServer::Impl::replay(const httplib::Request& req, httplib::Response& res) {
    if (!authorised(req, res)) return;
    const std::string app = req.matches[1];
    const std::string id = req.matches[2];
    if (!known_app(app)) return send_error(res, 404, "no app \"" + one_line(app, 80) + "\" is configured");
    if (options.bootstrap.empty()) {
        return send_error(res, 503, "replays need Kafka: kafka.bootstrap_servers is empty in " + config().source +
                                        " (start the dashboard with --bootstrap)");
    }
    std::optional<PreparedReplay> prepared;
    {
        std::lock_guard lock(mutex);
        auto found = model.reader().dead_letter(app, id);
        if (!found) return send_unavailable(res, found.error());
        if (!*found) return send_error(res, 404, "no dead letter " + id + " in " + app + "'s index (replayed already?)");
        auto original = consumers::original_record(**found);
        if (!original) return send_error(res, 409, "the stored original cannot be read: " + original.error().message);
        if (!*original) {
            return send_error(res, 409, "the original record is not stored with this entry; it is in the dead-letter "
                                        "topic " + config().kafka.dead_letter_topic);
        }
        prepared = prepare_replay(**original, id, app, config());
    }
    // The worker removes a replayed entry when it records the replay's outcome under the entry's
    // app; one it cannot remove (an unparseable record, an outcome under another app) would stay
    // listed: `dlq replay` waits for such outcomes and removes the entry itself.
    if (prepared->event_id.empty() || prepared->watch_app != app) {
        return send_error(res, 409, "this record's replay cannot be followed from here (it is unparseable or names "
                                    "another app): use `provbridge dlq replay " + id + " --app " + app + "`");
    }
    std::lock_guard send_lock(producer_mutex);
    if (!producer) {
        try {
            auto props = producer_properties(config(), options.bootstrap,
                                             resolve_kafka_secrets(config(), current_environment()));
            if (props.count("message.timeout.ms") == 0) {
                props["message.timeout.ms"] = std::to_string(config().kafka.lost_timeout.count());
            }
            producer = std::make_unique<producers::KafkaProducer>(props);
        } catch (const std::exception& e) {
            return send_error(res, 503, std::string("cannot create the Kafka producer: ") + e.what());
        }
    }
    auto report = producer->send_and_wait(config().kafka.events_topic, prepared->record.key, prepared->record.value,
                                          prepared->record.headers,
                                          config().kafka.lost_timeout + std::chrono::seconds(5));
    if (!report) {
        if (producer->fatal_error()) producer.reset();
        return send_error(res, 503, "Kafka did not take the replay: " + report.error().message);
    }
    log->info("ops server: replayed dead letter {} of {} as {} ({}[{}]@{})", id, app, prepared->event_id,
              report->topic, report->partition, report->offset);
    send_json(res, 202, json{{"id", id},
                             {"app", app},
                             {"replay_event_id", prepared->event_id},
                             {"topic", report->topic},
                             {"partition", report->partition},
                             {"offset", report->offset}});
}

void OpsServer::Impl::clear_quarantine(const httplib::Request& req, httplib::Response& res) {
    if (!authorised(req, res)) return;
    const std::string app = req.matches[1];
    if (config().find_app(app) == nullptr) return send_error(res, 404, "no app \"" + one_line(app, 80) + "\" is configured");
    std::lock_guard lock(mutex);
    auto lifted = model.quarantine().lift(app);
    if (!lifted) return send_unavailable(res, lifted.error());
    log->info("ops server: {} quarantine of {}", *lifted ? "lifted the" : "found no", app);
    send_json(res, 200, json{{"app", app}, {"lifted", *lifted}});
}

void OpsServer::Impl::release_deletes(const httplib::Request& req, httplib::Response& res, DeletionMark mark) {
    if (!authorised(req, res)) return;
    const std::string app = req.matches[1];
    if (config().find_app(app) == nullptr) return send_error(res, 404, "no app \"" + one_line(app, 80) + "\" is configured");
    std::optional<QueueMember> object;
    if (!req.body.empty()) {
        const auto body = json::parse(req.body, nullptr, false);
        if (body.is_discarded() || !body.is_object()) return send_error(res, 400, "the body must be a JSON object");
        if (body.contains("object")) {
            if (!body["object"].is_string()) return send_error(res, 400, "object must be \"user/ID\" or \"group/ID\"");
            object = parse_object_ref(body["object"].get<std::string>());
            if (!object) return send_error(res, 400, "object must be \"user/ID\" or \"group/ID\"");
        }
    }
    std::lock_guard lock(mutex);
    auto released = model.deletions().release(app, object, mark, wall_now_ms());
    if (!released) return send_unavailable(res, released.error());
    json list = json::array();
    for (const auto& op : *released) {
        list.push_back({{"object", std::string(to_string(op.object_type)) + "/" + op.object_id},
                        {"action", std::string(to_string(op.action))},
                        {"event_id", op.event_id}});
    }
    log->info("ops server: {} {} staged operation(s) of {}", mark == DeletionMark::Allowed ? "allowed" : "discarded",
              list.size(), app);
    send_json(res, 200, json{{"app", app}, {"released", std::move(list)}});
}

void OpsServer::Impl::routes() {
    server.set_default_headers({{"X-Content-Type-Options", "nosniff"}, {"Referrer-Policy", "no-referrer"}});
    // Bodies are small JSON documents: a large one is refused before it is read into memory, and
    // idle connections do not hold the pool's threads for long.
    server.set_payload_max_length(kMaxBody);
    server.set_keep_alive_max_count(100);
    server.set_keep_alive_timeout(5);
    server.set_read_timeout(10, 0);
    // DNS rebinding: a page elsewhere may point its own name at 127.0.0.1 and read the API from
    // the browser of someone on this host. On a loopback address only loopback names are served.
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (host_allowed(req.get_header_value("Host"))) return httplib::Server::HandlerResponse::Unhandled;
        send_error(res, 421, "this server answers only to its loopback address (Host header refused)");
        return httplib::Server::HandlerResponse::Handled;
    });
    server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
    server.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
        if (options.not_ready) {
            if (auto why = options.not_ready()) {
                res.status = 503;
                return res.set_content("not ready: " + *why + "\n", "text/plain");
            }
        }
        std::lock_guard lock(mutex);
        if (auto pong = model.ping(); !pong) {
            res.status = 503;
            return res.set_content("not ready: Redis: " + pong.error().message + "\n", "text/plain");
        }
        res.set_content("ready\n", "text/plain");
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        const auto group_lag = lag();
        std::lock_guard lock(mutex);
        res.set_content(metrics.scrape(model, group_lag), "text/plain; version=0.0.4; charset=utf-8");
    });
    server.Get("/api/v1/apps", [this](const httplib::Request& req, httplib::Response& res) { fleet(req, res); });
    server.Get(R"(/api/v1/apps/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) { app_page(req, res); });
    server.Get(R"(/api/v1/apps/([^/]+)/logs)", [this](const httplib::Request& req, httplib::Response& res) { logs(req, res); });
    server.Post(R"(/api/v1/apps/([^/]+)/dlq/([0-9]+-[0-9]+)/replay)",
                [this](const httplib::Request& req, httplib::Response& res) { replay(req, res); });
    server.Post(R"(/api/v1/apps/([^/]+)/quarantine/clear)",
                [this](const httplib::Request& req, httplib::Response& res) { clear_quarantine(req, res); });
    server.Post(R"(/api/v1/apps/([^/]+)/deletes/allow)", [this](const httplib::Request& req, httplib::Response& res) {
        release_deletes(req, res, DeletionMark::Allowed);
    });
    server.Post(R"(/api/v1/apps/([^/]+)/deletes/discard)", [this](const httplib::Request& req, httplib::Response& res) {
        release_deletes(req, res, DeletionMark::Discarded);
    });
    server.Get(R"(/([A-Za-z0-9_.-]*))", [](const httplib::Request& req, httplib::Response& res) {
        const std::string name = req.matches[1].str().empty() ? "index.html" : req.matches[1].str();
        for (std::size_t i = 0; i < kWebAssetsCount; ++i) {
            if (kWebAssets[i].name != name) continue;
            res.set_header("Content-Security-Policy",
                           "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
            res.set_header("Cache-Control", "no-cache");
            res.set_content(std::string(kWebAssets[i].text), std::string(content_type_of(name)));
            return;
        }
        send_error(res, 404, "no such page");
    });
    server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return;
        if (res.status == 404) return send_error(res, 404, "no such endpoint");
        if (res.status == 400) return send_error(res, 400, "bad request (a POST needs a Content-Length, 0 for none)");
        send_error(res, res.status, "HTTP " + std::to_string(res.status));
    });
    server.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown";
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        log->error("ops server: {} {} failed: {}", req.method, req.path, what);
        send_error(res, 500, "internal error");
    });
}

OpsServer::OpsServer(const Config& config, const std::string& redis_password, OpsServerOptions options,
                     OpsMetrics& metrics, std::shared_ptr<spdlog::logger> log)
    : impl_(std::make_unique<Impl>(config, redis_password, std::move(options), metrics, std::move(log))) {
    impl_->routes();
    // One owner per port: cpp-httplib's default sets SO_REUSEPORT, with which a second process
    // binds the same port and the kernel splits the connections between the two (a dashboard
    // showing another process's apps, scrapes split between workers). SO_REUSEADDR alone only
    // lets a restart rebind past TIME_WAIT; a live listener keeps its port to itself.
    impl_->server.set_socket_options([](socket_t sock) {
        int yes = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    const auto& host = impl_->options.host;
    if (impl_->options.port == 0) {
        impl_->port = impl_->server.bind_to_any_port(host);
        if (impl_->port <= 0) throw ListenError("ops.listen: cannot bind a port on " + host);
    } else {
        if (!impl_->server.bind_to_port(host, impl_->options.port)) {
            throw ListenError("ops.listen: cannot listen on " + host + ":" + std::to_string(impl_->options.port) +
                              " (in use by another process, or not an address of this host; set ops.listen, "
                              "\"127.0.0.1:0\" for any free port, or \"off\")");
        }
        impl_->port = impl_->options.port;
    }
    impl_->thread = std::thread([impl = impl_.get()] {
        impl->server.listen_after_bind();
        impl->listen_returned = true;
    });
}

OpsServer::~OpsServer() {
    // stop() only acts on a running server, and must be called once: the listening thread may
    // not have started listening yet (it does at once, so this wait is short).
    while (!impl_->server.is_running() && !impl_->listen_returned) std::this_thread::yield();
    if (!impl_->listen_returned) impl_->server.stop();
    impl_->thread.join();
}

int OpsServer::port() const { return impl_->port; }

std::string OpsServer::url() const {
    const auto& host = impl_->options.host;
    const bool v6 = host.find(':') != std::string::npos;
    return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(impl_->port) + "/";
}

}  // namespace provbridge::ops
