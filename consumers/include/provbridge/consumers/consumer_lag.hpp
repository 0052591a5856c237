#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "provbridge/core/result.hpp"

namespace provbridge::consumers {

// How far a consumer group is behind on one partition: the log end (high watermark) minus the
// group's committed offset; with no committed offset, every record still in the log.
struct PartitionLag {
    std::string topic;
    std::int32_t partition = 0;
    std::int64_t committed = -1;  // -1: the group has committed nothing here
    std::int64_t log_start = 0;
    std::int64_t log_end = 0;
    std::int64_t lag = 0;
};

// Reads the lag of the group named by properties["group.id"] on every partition of `topics`,
// without joining the group (a status probe must not trigger a rebalance). An Error when the
// cluster cannot be reached or refuses, within `timeout` per request.
Result<std::vector<PartitionLag>> read_consumer_lag(const std::map<std::string, std::string>& properties,
                                                    const std::vector<std::string>& topics,
                                                    std::chrono::milliseconds timeout);

}  // namespace provbridge::consumers
