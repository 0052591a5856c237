#pragma once

#include <string>
#include <string_view>

#include "provbridge/core/event.hpp"

namespace provbridge {

// The Redis key scheme. Every key of an app carries the app id as a hash tag ({app}) so
// that all of one app's keys land in one Redis Cluster slot and multi-key scripts keep
// working after a move to Redis Cluster.
class KeyScheme {
public:
    explicit KeyScheme(std::string prefix = "pb") : prefix_(std::move(prefix)) {}

    // Outcome of one event (idempotency key: source + id), string with a TTL.
    std::string event(std::string_view app, std::string_view source, std::string_view id) const;
    // Outcome of a record that could not be parsed, keyed by where it was read. `app` is the
    // app named by the record when that much could be read, else kInvalidApp.
    std::string invalid_record(std::string_view app, std::string_view topic, std::int32_t partition,
                               std::int64_t offset) const;
    // Link of one source object to its SCIM resource, hash.
    std::string link(std::string_view app, ObjectType type, std::string_view source_id) const;
    // Which source object owns a SCIM resource (string: source id), so one account is never
    // linked to two source objects.
    std::string owner(std::string_view app, ObjectType type, std::string_view scim_id) const;
    // Provisioning log, stream.
    std::string log(std::string_view app) const;
    // Outcome counters, hash.
    std::string stats(std::string_view app) const;
    // Dead-letter index, stream.
    std::string dead_letters(std::string_view app) const;

    // The app id used for records that name no known app (malformed events).
    static constexpr std::string_view kInvalidApp = "_invalid";

    const std::string& prefix() const { return prefix_; }

private:
    std::string app_base(std::string_view app) const;
    std::string prefix_;
};

}  // namespace provbridge
