#include "provbridge/ops/quarantine_command.hpp"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <iostream>

#include <nlohmann/json.hpp>

#include "provbridge/consumers/redis.hpp"
#include "provbridge/consumers/redis_quarantine.hpp"
#include "provbridge/core/text.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/config.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/ops/commands.hpp"

namespace provbridge::ops {
namespace {

using nlohmann::json;

// A gap found this recently makes `status` exit 1: it still needs an operator (a replay from
// the source or a full sync); older ones stay listed as history.
constexpr std::chrono::milliseconds kRecentGap = std::chrono::hours(24);

std::string local_time(std::int64_t ms) { return utc_timestamp(ms); }

std::string in_words(std::int64_t ms) {
    if (ms <= 0) return "due now";
    if (ms < 120000) return "in " + std::to_string((ms + 999) / 1000) + " s";
    return "in " + std::to_string((ms + 59999) / 60000) + " min";
}

json gap_json(const consumers::OffsetGapRecord& record, std::int64_t now) {
    json row{{"topic", record.topic}, {"partition", record.partition}};
    if (!record.decode_error.empty()) {
        // Nobody can tell when or how much: it needs an operator as much as a new gap does.
        row["decode_error"] = record.decode_error;
        row["recent"] = true;
        return row;
    }
    row.update({{"group", record.group},
                {"committed", record.gap.committed},
                {"log_start", record.gap.log_start},
                {"lost", record.gap.lost},
                {"detected_at", local_time(record.detected_at_ms)},
                {"detected_at_ms", record.detected_at_ms},
                {"recent", now - record.detected_at_ms < kRecentGap.count()},
                {"gaps", record.gaps},
                {"total_lost", record.total_lost},
                {"first_detected_at", local_time(record.first_detected_at_ms)}});
    return row;
}

}  // namespace

int quarantine_command(const QuarantineOptions& options, std::shared_ptr<spdlog::logger> log) {
    auto loaded = load_operator_config(options.config_path, *log);
    if (!loaded) return kExitBadConfig;
    const Config& config = loaded->config;
    const std::string& password = loaded->redis_password;
    std::vector<std::string> apps;
    for (const auto& app : config.apps) {
        if (options.app.empty() || app.id == options.app) apps.push_back(app.id);
    }
    if (apps.empty()) {
        log->error("unknown app \"{}\": it is not in {}", options.app, config.source);
        return kExitBadConfig;
    }
    if (options.action == "clear" && options.app.empty()) {
        log->error("quarantine clear needs --app");
        return kExitBadConfig;
    }
    const KeyScheme keys(config.redis.key_prefix);
    std::unique_ptr<consumers::RedisQuarantineStore> store;
    std::unique_ptr<consumers::ProvisioningLogReader> reader;
    try {
        const auto redis_options = consumers::redis_options(config.redis, password);
        store = std::make_unique<consumers::RedisQuarantineStore>(redis_options, keys);
        reader = std::make_unique<consumers::ProvisioningLogReader>(redis_options, keys);
    } catch (const std::exception& e) {
        log->error("cannot reach Redis: {}", e.what());
        return kExitUnavailable;
    }

    if (options.action == "clear") {
        auto lifted = store->lift(options.app);
        if (!lifted) {
            log->error("cannot lift the quarantine: {}", lifted.error().message);
            return kExitUnavailable;
        }
        if (!*lifted) {
            std::cout << options.app << " is not quarantined\n";
            return kExitFailure;
        }
        std::cout << options.app << ": quarantine lifted; its waiting events run again (workers see it within "
                  << config.retry.poll_interval.count() << " ms)\n";
        return kExitOk;
    }

    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    json report = json::array();
    for (const auto& app : apps) {
        auto state = store->load(app);
        auto parked = reader->connection().call({"HLEN", keys.parked(app)});
        if (!state || !parked) {
            log->error("cannot read app {} from Redis: {}", app, !state ? state.error().message : parked.error().message);
            return kExitUnavailable;
        }
        report.push_back({{"app", app},
                          {"quarantined", state->quarantined},
                          {"code", state->code},
                          {"reason", state->reason},
                          {"since", state->quarantined ? json(local_time(state->since_ms)) : json(nullptr)},
                          {"next_probe", state->quarantined ? json(local_time(state->next_probe_ms)) : json(nullptr)},
                          {"next_probe_in_ms", state->quarantined ? json(state->next_probe_ms - now) : json(nullptr)},
                          {"failed_probes", state->failed_probes},
                          {"last_probe", state->last_probe},
                          {"waiting_events", parked->integer}});
    }
    // Not per app: a partition carries every app's events, so they are shown whatever --app says.
    auto gaps = reader->offset_gaps();
    if (!gaps) {
        log->error("cannot read the offset gaps from Redis: {}", gaps.error().message);
        return kExitUnavailable;
    }
    json gap_report = json::array();
    bool recent_gap = false;
    for (const auto& record : *gaps) {
        gap_report.push_back(gap_json(record, now));
        recent_gap = recent_gap || gap_report.back().value("recent", false);
    }
    const int exit_code = recent_gap ? kExitFailure : kExitOk;
    if (options.json) {
        std::cout << json{{"apps", report}, {"offset_gaps", gap_report}}.dump(2) << "\n";
        return exit_code;
    }
    const bool colour = isatty(STDOUT_FILENO) != 0;
    for (const auto& row : report) {
        const bool q = row["quarantined"].get<bool>();
        std::cout << row["app"].get<std::string>() << ": "
                  << (q ? (colour ? "\033[31mquarantined\033[0m" : "quarantined") : (colour ? "\033[32mhealthy\033[0m" : "healthy"))
                  << ", " << row["waiting_events"].get<std::int64_t>() << " event(s) waiting\n";
        if (!q) continue;
        std::cout << "  reason      " << row["code"].get<std::string>() << ": " << row["reason"].get<std::string>() << "\n"
                  << "  since       " << row["since"].get<std::string>() << "\n"
                  << "  next probe  " << row["next_probe"].get<std::string>() << " ("
                  << in_words(row["next_probe_in_ms"].get<std::int64_t>()) << ")\n"
                  << "  probes      " << row["failed_probes"].get<int>() << " failed"
                  << (row["last_probe"].get<std::string>().empty() ? std::string()
                                                                     : ", last: " + row["last_probe"].get<std::string>())
                  << "\n";
    }
    if (gap_report.empty()) {
        std::cout << "offset gaps: none\n";
        return exit_code;
    }
    std::cout << (colour ? "\033[31moffset gaps\033[0m" : "offset gaps")
              << ": events retention removed from Kafka before the consumer group read them; they were never "
                 "provisioned. Send them again from the source or run a full sync.\n";
    for (const auto& row : gap_report) {
        std::cout << "  " << row["topic"].get<std::string>() << "[" << row["partition"].get<int>() << "]";
        if (row.contains("decode_error")) {
            std::cout << "  unreadable: " << row["decode_error"].get<std::string>() << "\n";
            continue;
        }
        const auto lost = row["lost"].get<std::int64_t>();
        std::cout << "  group " << row["group"].get<std::string>() << ": offsets "
                  << row["committed"].get<std::int64_t>() << " to " << row["log_start"].get<std::int64_t>() - 1 << " lost (" << lost << " event(s)), found "
                  << row["detected_at"].get<std::string>();
        if (row["gaps"].get<std::int64_t>() > 1) {
            std::cout << "; " << row["gaps"].get<std::int64_t>() << " gaps since "
                      << row["first_detected_at"].get<std::string>() << ", " << row["total_lost"].get<std::int64_t>()
                      << " event(s) lost in all";
        }
        std::cout << "\n";
    }
    return exit_code;
}

}  // namespace provbridge::ops
