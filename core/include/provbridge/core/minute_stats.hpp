#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace provbridge {

// Each app's outcomes are also counted per wall-clock minute (pb:{app}:minute:<epoch minute>,
// written by the commit that records them), with a histogram of their latency from the
// directory's change (the Kafka record's time) to the outcome: rates, failure ratios, p50/p99
// and the last hour's charts are read from these, by any process, for every worker at once.

// Upper bounds (ms) of the latency buckets; a last bucket takes everything above.
inline constexpr std::array<std::int64_t, 14> kLatencyBucketsMs = {5,    10,   25,    50,    100,   250,   500,
                                                                   1000, 2500, 5000, 10000, 30000, 60000, 300000};
// How long a minute's counters are kept: the dashboard charts the last hour.
inline constexpr std::chrono::seconds kMinuteCountersTtl{2 * 3600};

// The hash field of the bucket a latency falls in: "lat_le_<bound>", or "lat_inf".
std::string_view latency_bucket_field(std::int64_t latency_ms);

// One minute of one app, as read back.
struct MinuteStats {
    std::int64_t minute = 0;  // epoch minute
    std::int64_t events = 0;
    std::int64_t applied = 0;  // created, updated, disabled, deleted, linked, other
    std::int64_t skipped = 0;
    std::int64_t dead_lettered = 0;
    std::int64_t warnings = 0;
    std::int64_t dry_run_events = 0;  // decided by a dry run, counted apart from the rest
    std::int64_t latency_sum_ms = 0;
    // Counts per bucket, kLatencyBucketsMs order, then the last (above every bound).
    std::array<std::int64_t, kLatencyBucketsMs.size() + 1> latency{};
};

// Reads a minute's hash (field → count); unknown fields are ignored.
MinuteStats minute_stats_from(std::int64_t minute, const std::map<std::string, std::int64_t>& fields);

// The sum of several minutes (their histograms added).
MinuteStats sum_minutes(const std::vector<MinuteStats>& minutes);

// The q-quantile (0 < q < 1) of the histogram, interpolated inside its bucket; nullopt with no
// samples. Above the last bound it answers the last bound (a lower bound of the truth).
std::optional<double> latency_quantile_ms(const MinuteStats& stats, double q);

}  // namespace provbridge
