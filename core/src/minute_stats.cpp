#include "provbridge/core/minute_stats.hpp"

#include <string>

namespace provbridge {
namespace {

constexpr std::array<std::string_view, kLatencyBucketsMs.size() + 1> kFields = {
    "lat_le_5",    "lat_le_10",   "lat_le_25",    "lat_le_50",    "lat_le_100",   "lat_le_250",    "lat_le_500",
    "lat_le_1000", "lat_le_2500", "lat_le_5000", "lat_le_10000", "lat_le_30000", "lat_le_60000", "lat_le_300000",
    "lat_inf"};

}  // namespace

std::string_view latency_bucket_field(std::int64_t latency_ms) {
    for (std::size_t i = 0; i < kLatencyBucketsMs.size(); ++i) {
        if (latency_ms <= kLatencyBucketsMs[i]) return kFields[i];
    }
    return kFields.back();
}

MinuteStats minute_stats_from(std::int64_t minute, const std::map<std::string, std::int64_t>& fields) {
    MinuteStats out;
    out.minute = minute;
    for (const auto& [name, value] : fields) {
        if (name == "events") {
            out.events = value;
        } else if (name == "skipped") {
            out.skipped = value;
        } else if (name == "dead_lettered") {
            out.dead_lettered = value;
        } else if (name == "warnings") {
            out.warnings = value;
        } else if (name == "latency_sum_ms") {
            out.latency_sum_ms = value;
        } else if (name == "dry_run_events") {
            out.dry_run_events = value;
        } else if (name == "created" || name == "updated" || name == "disabled" || name == "deleted" ||
                   name == "linked" || name == "applied_other") {
            out.applied += value;
        } else {
            for (std::size_t i = 0; i < kFields.size(); ++i) {
                if (name == kFields[i]) out.latency[i] = value;
            }
        }
    }
    return out;
}

MinuteStats sum_minutes(const std::vector<MinuteStats>& minutes) {
    MinuteStats out;
    for (const auto& m : minutes) {
        out.events += m.events;
        out.applied += m.applied;
        out.skipped += m.skipped;
        out.dead_lettered += m.dead_lettered;
        out.warnings += m.warnings;
        out.dry_run_events += m.dry_run_events;
        out.latency_sum_ms += m.latency_sum_ms;
        for (std::size_t i = 0; i < out.latency.size(); ++i) out.latency[i] += m.latency[i];
    }
    return out;
}

std::optional<double> latency_quantile_ms(const MinuteStats& stats, double q) {
    std::int64_t total = 0;
    for (const auto n : stats.latency) total += n;
    if (total == 0) return std::nullopt;
    const double rank = q * static_cast<double>(total);
    std::int64_t below = 0;
    for (std::size_t i = 0; i < stats.latency.size(); ++i) {
        const auto n = stats.latency[i];
        if (n > 0 && static_cast<double>(below + n) >= rank) {
            if (i == kLatencyBucketsMs.size()) return static_cast<double>(kLatencyBucketsMs.back());
            const double low = i == 0 ? 0.0 : static_cast<double>(kLatencyBucketsMs[i - 1]);
            const double high = static_cast<double>(kLatencyBucketsMs[i]);
            return low + (high - low) * ((rank - static_cast<double>(below)) / static_cast<double>(n));
        }
        below += n;
    }
    return static_cast<double>(kLatencyBucketsMs.back());
}

}  // namespace provbridge
