#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace provbridge::test_support {

// A consumer group's committed offsets against the topic's end offsets, read from outside the
// group (OffsetFetch does not join it). Lets a test check what a worker really committed.
struct GroupPosition {
    std::vector<std::int64_t> committed;  // per partition; 0 when nothing was committed
    std::vector<std::int64_t> end;        // high watermarks
    std::vector<std::int64_t> start;      // low watermarks: where each partition's log starts
    std::int64_t committed_total() const;
    std::int64_t end_total() const;
};

GroupPosition group_position(const std::string& bootstrap, const std::string& group, const std::string& topic,
                             int partitions);

}  // namespace provbridge::test_support
