#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>

namespace provbridge::ops {

// `provbridge provision --config F --app ID (--user SOURCE_ID | --group SOURCE_ID)`: Entra's
// provision on demand. Runs the object's latest known state (what the directory last sent, kept
// in Redis) through the worker's own pipeline now: test connection, import, scoping, matching,
// processing, reference resolution, export, each printed with its result, then every SCIM
// request and response (bodies shown, secrets redacted). The outcome is recorded like any
// event's (the provisioning log shows it). It refuses to overtake events of the object that wait
// in its queue. Exit codes: 0 applied or skipped; 1 failed, parked or refused; 2 bad arguments;
// 3 Redis or Kafka unreachable.
struct ProvisionOptions {
    std::string config_path;
    std::string app;
    std::string user;
    std::string group;
    std::string bootstrap;  // Kafka (for dead letters); overrides kafka.bootstrap_servers
};
int provision_command(const ProvisionOptions& options, std::shared_ptr<spdlog::logger> log);

}  // namespace provbridge::ops
