// `provbridge status`: every app at a glance, from Redis and the Kafka cluster.
#include "provbridge/ops/status_command.hpp"

#include <cmath>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "provbridge/consumers/consumer_lag.hpp"
#include "provbridge/consumers/redis.hpp"
#include "provbridge/consumers/redis_quarantine.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/ops/bridge.hpp"
#include "provbridge/ops/commands.hpp"
#include "provbridge/ops/text_output.hpp"
#include "provbridge/transforms/app_health.hpp"

namespace provbridge::ops {
namespace {

using nlohmann::json;

constexpr std::chrono::milliseconds kKafkaTimeout{5000};

json optional_number(const std::optional<double>& value) {
    return value ? json(std::round(*value * 10) / 10) : json(nullptr);
}

std::string ms_text(const json& value) {
    if (value.is_null()) return "-";
    const double ms = value.get<double>();
    if (ms >= 10000) return std::to_string(static_cast<long long>(std::lround(ms / 1000))) + " s";
    return std::to_string(static_cast<long long>(std::lround(ms))) + " ms";
}

std::string fixed(double value, int decimals) {
    std::ostringstream out;
    out.setf(std::ios::fixed);
    out.precision(decimals);
    out << value;
    return out.str();
}

Colour colour_of(const std::string& state) {
    if (state == "healthy") return Colour::Green;
    if (state == "degraded") return Colour::Yellow;
    return Colour::Red;
}

}  // namespace

int status_command(const StatusOptions& options, std::shared_ptr<spdlog::logger> log) {
    if (options.window_minutes < 1 || options.window_minutes > 60) {
        log->error("--window must be 1 to 60 minutes");
        return kExitBadConfig;
    }
    auto loaded = load_operator_config(options.config_path, *log);
    if (!loaded) return kExitBadConfig;
    const Config& config = loaded->config;
    std::vector<std::string> apps;
    for (const auto& app : config.apps) {
        if (options.app.empty() || app.id == options.app) apps.push_back(app.id);
    }
    if (apps.empty()) {
        log->error("unknown app \"{}\": it is not in {}", options.app, config.source);
        return kExitBadConfig;
    }
    const KeyScheme keys(config.redis.key_prefix);
    std::unique_ptr<consumers::ProvisioningLogReader> reader;
    std::unique_ptr<consumers::RedisQuarantineStore> quarantine;
    try {
        const auto redis = consumers::redis_options(config.redis, loaded->redis_password);
        reader = std::make_unique<consumers::ProvisioningLogReader>(redis, keys);
        quarantine = std::make_unique<consumers::RedisQuarantineStore>(redis, keys);
    } catch (const std::exception& e) {
        log->error("cannot reach Redis: {}", e.what());
        return kExitUnavailable;
    }

    const auto now = wall_now_ms();
    const std::int64_t this_minute = now / 60000;
    json rows = json::array();
    bool all_healthy = true;
    for (const auto& app : apps) {
        auto state = quarantine->load(app);
        auto depths = reader->depths(app);
        auto stats = reader->stats(app);
        // The current minute is partly over: the window is the minutes before it plus it.
        auto recent = reader->minutes(app, this_minute - options.window_minutes + 1, this_minute);
        auto hour = reader->minutes(app, this_minute - 59, this_minute);
        if (!state || !depths || !stats || !recent || !hour) {
            const auto& error = !state ? state.error() : !depths ? depths.error() : !stats ? stats.error()
                                : !recent ? recent.error() : hour.error();
            log->error("cannot read app {} from Redis: {}", app, error.message);
            return kExitUnavailable;
        }
        const auto window = sum_minutes(*recent);
        const auto last_hour = sum_minutes(*hour);
        const auto health = transforms::judge_app_health(state->quarantined, depths->staged, window);
        all_healthy = all_healthy && health == transforms::AppHealth::Healthy;
        // Seconds the window covers: whole minutes before this one, and this one so far.
        const double seconds =
            std::max(1.0, (options.window_minutes - 1) * 60.0 + static_cast<double>(now % 60000) / 1000.0);
        const auto last_success = stats->find("last_applied_ms");
        json row = {{"app", app},
                    {"state", std::string(transforms::to_string(health))},
                    {"window_minutes", options.window_minutes},
                    {"events", window.events},
                    {"events_per_second", std::round(static_cast<double>(window.events) / seconds * 100) / 100},
                    {"failed", window.dead_lettered},
                    {"failure_rate", window.events > 0 ? std::round(static_cast<double>(window.dead_lettered) /
                                                                     static_cast<double>(window.events) * 1000) / 1000
                                                       : 0.0},
                    {"latency_p50_ms", optional_number(latency_quantile_ms(window, 0.5))},
                    {"latency_p99_ms", optional_number(latency_quantile_ms(window, 0.99))},
                    {"retry_queue", depths->due_heads},
                    {"parked", depths->waiting_events},
                    {"dlq", depths->dead_letters},
                    {"staged_deletes", depths->staged},
                    {"references_waiting", depths->reference_waits},
                    {"reference_failures_last_hour", last_hour.warnings},
                    {"last_success", last_success == stats->end() ? json(nullptr) : json(time_text(last_success->second))},
                    {"quarantine", state->quarantined ? json{{"code", state->code},
                                                             {"reason", state->reason},
                                                             {"since", time_text(state->since_ms)},
                                                             {"next_probe", time_text(state->next_probe_ms)}}
                                                      : json(nullptr)}};
        rows.push_back(std::move(row));
    }

    // The group's lag. The embedded broker lives inside `provbridge run`: its address is only
    // known when given.
    json lag = nullptr;
    std::string lag_problem;
    const std::string bootstrap = !options.bootstrap.empty() ? options.bootstrap : config.kafka.bootstrap_servers;
    if (bootstrap.empty()) {
        lag_problem = "kafka.bootstrap_servers is empty (the embedded broker lives inside `provbridge run`): pass "
                      "--bootstrap to see the lag";
    } else {
        try {
            const auto secrets = resolve_kafka_secrets(config, current_environment());
            const auto props = Bridge::consumer_properties(config, bootstrap, false, secrets);
            auto read = consumers::read_consumer_lag(props, std::vector<std::string>{config.kafka.events_topic}, kKafkaTimeout);
            if (!read) {
                lag_problem = read.error().message;
            } else {
                lag = json::array();
                for (const auto& p : *read) {
                    lag.push_back(json{{"topic", p.topic},
                                       {"partition", p.partition},
                                       {"committed", p.committed >= 0 ? json(p.committed) : json(nullptr)},
                                       {"log_end", p.log_end},
                                       {"lag", p.lag}});
                }
            }
        } catch (const std::exception& e) {
            lag_problem = e.what();
        }
    }
    const int exit_code = all_healthy ? kExitOk : kExitFailure;
    if (options.json) {
        json doc = {{"apps", rows}, {"group", config.kafka.group_id}, {"lag", lag}};
        if (!lag_problem.empty()) doc["lag_error"] = lag_problem;
        std::cout << dump_json(doc, 2) << "\n";
        return exit_code;
    }
    const bool colour = colour_on_stdout();
    std::vector<std::vector<std::string>> table;
    for (const auto& r : rows) {
        table.push_back({r["app"].get<std::string>(), r["state"].get<std::string>(),
                         fixed(r["events_per_second"].get<double>(), 2),
                         fixed(r["failure_rate"].get<double>() * 100, 1) + "%", ms_text(r["latency_p50_ms"]),
                         ms_text(r["latency_p99_ms"]), std::to_string(r["retry_queue"].get<std::int64_t>()),
                         std::to_string(r["parked"].get<std::int64_t>()), std::to_string(r["dlq"].get<std::int64_t>()),
                         std::to_string(r["references_waiting"].get<std::int64_t>()) + " / " +
                             std::to_string(r["reference_failures_last_hour"].get<std::int64_t>()),
                         r["last_success"].is_null() ? "-" : r["last_success"].get<std::string>()});
    }
    std::cout << "last " << options.window_minutes << " min:\n";
    print_table(std::cout,
                {"APP", "STATE", "EVENTS/S", "FAILED", "P50", "P99", "RETRIES", "PARKED", "DLQ", "REFS WAIT/FAILED",
                 "LAST SUCCESS"},
                table, [&](int r, std::size_t column, const std::string& cell) {
                    if (r < 0) return coloured(cell, Colour::Bold, colour);
                    if (column != 1) return cell;
                    return coloured(cell, colour_of(rows[static_cast<std::size_t>(r)]["state"].get<std::string>()),
                                    colour);
                });
    for (const auto& r : rows) {
        if (r["quarantine"].is_null()) continue;
        const auto& q = r["quarantine"];
        std::cout << r["app"].get<std::string>() << " is quarantined since " << q["since"].get<std::string>() << ": "
                  << q["code"].get<std::string>() << ": " << one_line(q["reason"].get<std::string>(), 200)
                  << "; next probe " << q["next_probe"].get<std::string>() << "\n";
    }
    if (lag.is_null()) {
        std::cout << "consumer lag: unknown: " << one_line(lag_problem, 300) << "\n";
        return exit_code;
    }
    std::int64_t total = 0;
    std::string parts;
    for (const auto& p : lag) {
        total += p["lag"].get<std::int64_t>();
        parts += (parts.empty() ? "" : ", ") + std::string("[") + std::to_string(p["partition"].get<int>()) + "] " +
                 std::to_string(p["lag"].get<std::int64_t>());
    }
    std::cout << "consumer lag of group " << config.kafka.group_id << " on " << config.kafka.events_topic << ": " << total
              << " (" << parts << ")\n";
    return exit_code;
}

}  // namespace provbridge::ops
