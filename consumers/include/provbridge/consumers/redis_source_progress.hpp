#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "provbridge/consumers/redis.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/producers/ldap_source.hpp"

namespace provbridge::consumers {

// A source's progress in Redis: two hashes under one hash tag, changed in one MULTI/EXEC, so a
// crash leaves either the old cookies with the old objects or the new with the new.
class RedisSourceProgress final : public producers::SourceProgressStore {
public:
    // Connects; throws std::runtime_error at start-up like RedisConnection.
    RedisSourceProgress(RedisOptions options, KeyScheme keys, std::string source);

    Result<producers::SourceProgress> load() override;
    Result<bool> save(const producers::SourceProgressDelta& delta) override;

    // The source's report of itself (LdapSource::status), replaced at each call; nullopt when
    // no source ever reported.
    Result<bool> save_status(const nlohmann::json& status);
    Result<std::optional<nlohmann::json>> load_status();

private:
    RedisConnection connection_;
    KeyScheme keys_;
    std::string source_;
};

}  // namespace provbridge::consumers
