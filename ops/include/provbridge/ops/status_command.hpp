#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>

namespace provbridge::ops {

// `provbridge status [--app ID] [--json] [--bootstrap HOST:PORT]`: per app its state (healthy,
// degraded, quarantined, staged deletes), events/s, failure share and p50/p99 latency over the
// last minutes, retries waiting, parked events, dead letters, references waiting, reference
// failures of the last hour and the last success; then the consumer group's lag per partition.
// Data from Redis (every worker's) and the Kafka cluster.
// Exit codes: 0 every app healthy; 1 an app is not (usable as a probe); 2 bad config or
// arguments; 3 Redis down. Kafka down is reported, not fatal: the apps' state is still known.
struct StatusOptions {
    std::string config_path;
    std::string app;
    std::string bootstrap;  // overrides kafka.bootstrap_servers (the embedded broker's address)
    int window_minutes = 5;
    bool json = false;
};
int status_command(const StatusOptions& options, std::shared_ptr<spdlog::logger> log);

}  // namespace provbridge::ops
