#pragma once

#include <string>

#include "provbridge/consumers/redis.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/core/quarantine.hpp"

namespace provbridge::consumers {

// QuarantineStore on one Redis connection: the state is a hash per app, the probe lock a key
// with an expiry, the window one small hash per time bucket. Each call is one script (atomic,
// one round trip). Not thread-safe: one owner thread, like RedisStateStore.
class RedisQuarantineStore final : public QuarantineStore {
public:
    // Connects; throws std::runtime_error at start-up like RedisConnection.
    RedisQuarantineStore(RedisOptions options, KeyScheme keys);

    Result<QuarantineState> load(const std::string& app) override;
    Result<QuarantineState> enter(const std::string& app, const std::string& code, const std::string& reason,
                                  std::int64_t now_ms, std::int64_t next_probe_ms) override;
    Result<bool> claim_probe(const std::string& app, std::int64_t now_ms, std::chrono::milliseconds lease) override;
    Result<bool> probe_failed(const std::string& app, const std::string& what, std::int64_t next_probe_ms) override;
    Result<bool> lift(const std::string& app) override;
    Result<OperationWindow> record_operation(const std::string& app, bool failed, std::int64_t now_ms,
                                             std::chrono::milliseconds window) override;

private:
    Result<RedisValue> run(const std::string& script, std::string& sha, RedisArgv keys, RedisArgv args);

    RedisConnection connection_;
    KeyScheme keys_;
    std::string enter_sha_, claim_sha_, failed_sha_, record_sha_;
};

}  // namespace provbridge::consumers
