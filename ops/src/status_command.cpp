// `provbridge status`: every app at a glance, from Redis and the Kafka cluster.
#include "provbridge/ops/status_command.hpp"

#include <cmath>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "provbridge/ops/commands.hpp"
#include "provbridge/ops/read_model.hpp"
#include "provbridge/ops/text_output.hpp"

namespace provbridge::ops {
namespace {

using nlohmann::json;

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

Colour colour_of_source(const std::string& state) {
    if (state == "following" || state == "stopped") return Colour::Green;
    if (state == "initial sync" || state == "refreshing" || state == "connecting") return Colour::Yellow;
    return Colour::Red;
}

// One line per configured directory source, from its own report in Redis.
void print_sources(const json& sources, bool colour) {
    if (sources.empty()) return;
    std::vector<std::vector<std::string>> table;
    for (const auto& s : sources) {
        const auto number = [&](const char* field) {
            return s.contains(field) ? std::to_string(s[field].get<std::int64_t>()) : std::string("-");
        };
        std::string error = s.value("last_error", "");
        table.push_back({s["source"].get<std::string>(), s["state"].get<std::string>(), number("users"),
                         number("groups"), number("entries_read"), number("events_sent"), number("failures"),
                         s.value("updated_at", "-"), error.empty() ? "-" : one_line(error, 120)});
    }
    std::cout << "directory sources:\n";
    print_table(std::cout, {"SOURCE", "STATE", "USERS", "GROUPS", "READ", "SENT", "FAILURES", "REPORTED", "LAST ERROR"},
                table, [&](int r, std::size_t column, const std::string& cell) {
                    if (r < 0) return coloured(cell, Colour::Bold, colour);
                    if (column != 1) return cell;
                    return coloured(cell, colour_of_source(sources[static_cast<std::size_t>(r)]["state"].get<std::string>()),
                                    colour);
                });
}

}  // namespace

int status_command(const StatusOptions& options, std::shared_ptr<spdlog::logger> log) {
    if (options.window_minutes < 1 || options.window_minutes > 60) {
        log->error("--window must be 1 to 60 minutes");
        return kExitBadConfig;
    }
    std::unique_ptr<OpsReadModel> model;
    if (const int rc = open_read_model(options.config_path, options.app, *log, model); rc != kExitOk) return rc;
    const Config& config = model->config();
    const auto apps = model->select_apps(options.app);
    const auto now = wall_now_ms();
    json rows = json::array();
    bool all_healthy = true;
    for (const auto& app : apps) {
        auto row = model->app_row(app, options.window_minutes, now);
        if (!row) {
            log->error("cannot read app {} from Redis: {}", app, row.error().message);
            return kExitUnavailable;
        }
        all_healthy = all_healthy && (*row)["state"] == "healthy";
        rows.push_back(std::move(*row));
    }
    // The embedded broker lives inside `provbridge run`: its address is only known when given.
    const auto group_lag = model->lag(!options.bootstrap.empty() ? options.bootstrap : config.kafka.bootstrap_servers);
    const json& lag = group_lag["lag"];
    const std::string lag_problem = group_lag.value("lag_error", "");
    const int exit_code = all_healthy ? kExitOk : kExitFailure;
    auto sources = model->source_rows(now);
    if (!sources) {
        log->error("cannot read the directory sources from Redis: {}", sources.error().message);
        return kExitUnavailable;
    }
    if (options.json) {
        json doc = {{"apps", rows}, {"group", config.kafka.group_id}, {"lag", lag}, {"sources", *sources}};
        if (!lag_problem.empty()) doc["lag_error"] = lag_problem;
        std::cout << dump_json(doc, 2) << "\n";
        return exit_code;
    }
    const bool colour = colour_on_stdout();
    std::vector<std::vector<std::string>> table;
    for (const auto& r : rows) {
        table.push_back({r["app"].get<std::string>(),
                         r["state"].get<std::string>() + (r["dry_run"].get<bool>() ? " (dry run)" : ""),
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
    print_sources(*sources, colour);
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
